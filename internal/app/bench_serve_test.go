package app

import (
	"os"
	"os/exec"
	"slices"
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

// A bench into a --dir that an earlier bench left its databases in times
// fresh syncs again, not incremental syncs of nothing into the old files.
func TestBenchDirStartsEachRunAfresh(t *testing.T) {
	t.Parallel()
	bin := buildPcsync(t)
	dir := t.TempDir()
	for i := range 2 {
		out, err := exec.Command(bin, "bench", "--records", "2000", "--runs", "1", "--dir", dir).CombinedOutput()
		if err != nil {
			t.Fatalf("bench %d: %v\n%s", i+1, err, out)
		}
		var records []string
		for _, line := range strings.Split(string(out), "\n") {
			if f := strings.Fields(line); len(f) > 2 && (f[0] == "warm-up" || f[0] == "1" || f[0] == "median") {
				records = append(records, f[0]+" "+f[1])
			}
		}
		if want := []string{"warm-up 2000", "1 2000", "median 2000"}; !slices.Equal(records, want) {
			t.Fatalf("bench %d into the same --dir: rows %q, want %q\n%s", i+1, records, want, out)
		}
	}
}
