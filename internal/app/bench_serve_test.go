package app

import (
	"math"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// bench serve says what CPU its processes and the rest of the machine used
// during the load: read from /proc, a process's busy loop shows in its own
// figure (as getrusage counts it) and in the machine's. The loop runs until
// the process has used 0.3 s of CPU, not for 0.3 s of time: with the other
// test packages on both cores it got a third of that once, and CI failed.
func TestBenchServeCountsCPU(t *testing.T) {
	t.Parallel()
	procs := map[string]int{"clients": os.Getpid()}
	own := func() float64 {
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
	}
	before, start := cpuOf(procs), own()
	if _, ok := before["machine"]; !ok {
		t.Fatal("no machine figure from /proc/stat")
	}
	x := 0
	for end := time.Now().Add(30 * time.Second); own()-start < 0.3 && time.Now().Before(end); {
		x++
	}
	d, used := cpuOf(procs).minus(before), own()-start
	if used < 0.3 {
		t.Fatalf("the loop got %.2f s of CPU in 30 s", used)
	}
	if math.Abs(d["clients"]-used) > 0.05 || d["machine"] < d["clients"]-0.02 {
		t.Fatalf("after a busy loop of %.2f s of CPU (%d turns), by getrusage: %v", used, x, d)
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
