package app

import (
	"os"
	"strings"
	"testing"
	"time"
)

// bench serve says what CPU its processes and the rest of the machine used
// during the load: read from /proc, a process's busy loop shows in its own
// figure and in the machine's.
func TestBenchServeCountsCPU(t *testing.T) {
	t.Parallel()
	procs := map[string]int{"clients": os.Getpid()}
	before := cpuOf(procs)
	if _, ok := before["machine"]; !ok {
		t.Fatal("no machine figure from /proc/stat")
	}
	x := 0
	for end := time.Now().Add(300 * time.Millisecond); time.Now().Before(end); {
		x++
	}
	d := cpuOf(procs).minus(before)
	if d["clients"] < 0.1 || d["machine"] < d["clients"]-0.02 {
		t.Fatalf("after a 0.3 s busy loop (%d turns): %v", x, d)
	}
	if s := d.String(); !strings.Contains(s, "by the benchmark (clients ") || !strings.Contains(s, "by the rest of the machine") {
		t.Errorf("%q", s)
	}
}
