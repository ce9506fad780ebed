package storetest

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The suite kills writers mid-work: it starts the implementation's test
// again in a child process (the same test binary, -test.run naming the
// running test), which finds its role in these variables.
const (
	childEnv = "PCSYNC_STORETEST_CHILD" // the child's job
	dsnEnv   = "PCSYNC_STORETEST_DSN"
	runEnv   = "PCSYNC_STORETEST_RUN"
)

// childJob returns the DSN to work on when this process is the child doing
// job for this test.
func childJob(job string) (string, bool) {
	if os.Getenv(childEnv) != job {
		return "", false
	}
	return os.Getenv(dsnEnv), true
}

// child is a running child process: its standard input, and its standard
// output line by line.
type child struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	lines chan string
}

// startChild starts this test again as a child doing job on dsn.
func startChild(t *testing.T, job, dsn string, env ...string) *child {
	t.Helper()
	parts := strings.Split(t.Name(), "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	cmd := exec.Command(os.Args[0], "-test.run="+strings.Join(parts, "/"), "-test.count=1", "-test.timeout=2m")
	cmd.Env = append(os.Environ(), append(env, childEnv+"="+job, dsnEnv+"="+dsn)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, in: in, lines: make(chan string, 64)}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if line, ok := strings.CutPrefix(sc.Text(), "storetest: "); ok {
				c.lines <- line
			}
		}
		close(c.lines)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() && stderr.Len() > 0 {
			t.Logf("child's stderr:\n%s", stderr.String())
		}
	})
	return c
}

// expect waits for the child to say want.
func (c *child) expect(t *testing.T, want string) {
	t.Helper()
	select {
	case line, ok := <-c.lines:
		if !ok {
			t.Fatalf("the child ended before saying %q", want)
		}
		if line != want {
			t.Fatalf("the child said %q, want %q", line, want)
		}
	case <-time.After(time.Minute):
		t.Fatalf("the child did not say %q within a minute", want)
	}
}

// kill ends the child with SIGKILL, as a crash would.
func (c *child) kill(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = c.cmd.Wait()
}

// say is how a child reports to its parent.
func say(format string, args ...any) {
	fmt.Printf("storetest: "+format+"\n", args...)
}

// waitToBeKilled blocks the child until its parent kills it.
func waitToBeKilled(t *testing.T) {
	<-time.After(time.Minute)
	t.Fatal("the parent did not kill this child")
}
