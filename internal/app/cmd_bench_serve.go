package app

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"pcsync/internal/store"
)

type benchServeOptions struct {
	records   int
	dir       string
	requests  int
	clients   int
	syncWhile bool
	postgres  string
	serveConc int
}

func newBenchServeCmd(io IOStreams) *cobra.Command {
	o := &benchServeOptions{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Measure pcsync serve: latency of every API call and page under load, while a sync writes",
		Long: `Bench serve builds (once, in --dir) a database of --records postures from the
emulator's generated estate, starts "pcsync serve" on it as a separate
process, starts a full "pcsync sync" into the same database (so that every
request is answered while a sync writes), and sends --requests requests from
--clients concurrent clients, round robin over every API call and page (a
page of postures deep in the list among them). It reports per route the
median, p95 and worst latency, and the server's resident memory before and
after the load. With --postgres the database is in PostgreSQL (the password
from PGPASSWORD or .pgpass, not the URL), built once and kept the same way.`,
		Example: `  pcsync bench serve --records 10000000 --dir /var/tmp/pcsync-bench
  pcsync bench serve --records 1000000 --requests 2000 --clients 8`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return benchServeRun(cmd.Context(), io, o)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.records, "records", 1_000_000, "posture records in the estate")
	f.StringVar(&o.dir, "dir", "", "`directory` for the database, kept between runs (default: a temporary one)")
	f.IntVar(&o.requests, "requests", 1000, "requests to send")
	f.IntVar(&o.clients, "clients", 8, "concurrent clients")
	f.BoolVar(&o.syncWhile, "sync-while", true, "run a full sync into the database while the requests are sent")
	f.StringVar(&o.postgres, "postgres", "", "use this PostgreSQL server (`URL`) instead of SQLite: the database lives in its schema pcsync_bench_serve_RECORDS (or the URL's search_path) and is kept between runs")
	f.IntVar(&o.serveConc, "serve-concurrency", 0, "the server's --concurrency (0: its default)")
	return cmd
}

// benchServeEstate are the emulator's flags of the serve benchmark's estate:
// 5 policies of 200 controls, hosts as many as --records needs.
func benchServeEstate(records int) []string {
	hosts := max(1, records/(5*200))
	return []string{"--policies", "5", "--inactive-policies", "0", "--controls", "200", "--hosts", strconv.Itoa(hosts),
		"--db-share", "0", "--flip-permille", "40", "--churn", "0"}
}

func benchServeRun(ctx context.Context, ios IOStreams, o *benchServeOptions) error {
	if o.records < 1 || o.requests < 1 || o.clients < 1 {
		return usageErr("--records, --requests and --clients must be at least 1")
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	dir := o.dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "pcsync-bench-serve-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return withCode(ExitUsage, err)
	}
	db := filepath.Join(dir, fmt.Sprintf("serve-%d.db", o.records))
	if o.postgres != "" {
		if db, err = benchServeSchema(o.postgres, o.records); err != nil {
			return withCode(ExitUsage, err)
		}
	}
	emuURL, stopEmu, err := startProcessURL(ctx, exe, "pcsync emulator serving ", append([]string{"emulate", "--listen", "127.0.0.1:0",
		"--rate-calls", "-1", "--log-level", "warn"}, benchServeEstate(o.records)...)...)
	if err != nil {
		return err
	}
	defer stopEmu()
	if !benchServeBuilt(ctx, db) {
		fmt.Fprintf(ios.Out, "building %s: a sync of %d records (once)\n", store.RedactDSN(db), o.records)
		start := time.Now()
		if err := benchServeSync(ctx, exe, emuURL, db, "--log-level", "error").Run(); err != nil {
			return fmt.Errorf("build the database: %w", err)
		}
		fmt.Fprintf(ios.Out, "built in %s\n", time.Since(start).Round(time.Second))
	}
	srvURL, stopSrv, err := startProcessURL(ctx, exe, "pcsync serve: dashboard at ", "serve", "--db", db, "--listen", "127.0.0.1:0", "--log-level", "warn",
		"--concurrency", strconv.Itoa(o.serveConc))
	if err != nil {
		return err
	}
	defer stopSrv()
	srvURL = strings.TrimSuffix(strings.Fields(srvURL)[0], "/")
	urls, err := benchURLs(srvURL)
	if err != nil {
		return err
	}
	pid := serverPID(srvURL)
	rssBefore := rssKiB(pid, "VmRSS")
	var syncer *exec.Cmd
	if o.syncWhile {
		var writing <-chan struct{}
		syncer, writing = benchServeWritingSync(ctx, exe, emuURL, db)
		select { // the load starts once the sync writes postures, not while it plans
		case <-writing:
		case <-time.After(2 * time.Minute):
			_ = syncer.Process.Kill()
			_ = syncer.Wait()
			return errors.New("the sync wrote no postures within 2 minutes")
		}
	}
	procs := map[string]int{"server": pid, "emulator": serverPID(strings.TrimSuffix(strings.Fields(emuURL)[0], "/")), "clients": os.Getpid()}
	if syncer != nil {
		procs["sync"] = syncer.Process.Pid
	}
	cpuBefore, start := cpuOf(procs), time.Now()
	lat, failures := loadRoutes(srvURL, urls, o.requests, o.clients)
	cpu := cpuOf(procs).minus(cpuBefore)
	loadTime := time.Since(start)
	if syncer != nil {
		still := syncer.ProcessState == nil
		_ = syncer.Process.Signal(syscall.SIGINT)
		_ = syncer.Wait()
		fmt.Fprintf(ios.Out, "a full sync wrote to the database during the load (still running at its end: %v)\n", still)
	}
	printLatencies(ios.Out, lat, o)
	fmt.Fprintf(ios.Out, "CPU during the load (%.1f s on %d cores): %s\n", loadTime.Seconds(), runtime.NumCPU(), cpu)
	fmt.Fprintf(ios.Out, "serve RSS: %.1f MB before the load, %.1f MB after (peak %.1f MB); %d failed requests\n",
		float64(rssBefore)/1024, float64(rssKiB(pid, "VmRSS"))/1024, float64(rssKiB(pid, "VmHWM"))/1024, failures)
	if failures > 0 {
		return errors.New("some requests failed")
	}
	return nil
}

// benchServeSchema is the PostgreSQL database of bench serve: the URL's
// search_path, else the schema pcsync_bench_serve_RECORDS.
func benchServeSchema(base string, records int) (string, error) {
	u, err := withSearchPath(base, fmt.Sprintf("pcsync_bench_serve_%d", records), false)
	if err != nil {
		return "", fmt.Errorf("--postgres: %w", err)
	}
	return u, nil
}

// benchServeBuilt reports whether db is a pcsync database with postures.
func benchServeBuilt(ctx context.Context, db string) bool {
	rd, err := openReader(ctx, db)
	if err != nil {
		return false
	}
	defer rd.Close()
	sum, err := rd.Summary(ctx)
	return err == nil && sum.Total() > 0
}

// startProcessURL starts exe with args and returns what follows prefix on
// the first line of its output that has it.
func startProcessURL(ctx context.Context, exe, prefix string, args ...string) (string, func(), error) {
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Env = append(os.Environ(), "PCSYNC_SERVE_TOKEN=")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), prefix); ok {
			go io.Copy(io.Discard, out)
			servePIDs.Store(strings.TrimSuffix(strings.Fields(rest)[0], "/"), cmd.Process.Pid)
			return rest, stop, nil
		}
	}
	stop()
	return "", nil, fmt.Errorf("%s %s did not start", exe, args[0])
}

var servePIDs sync.Map // URL -> pid of the process serving it

func serverPID(url string) int {
	pid, _ := servePIDs.Load(url)
	n, _ := pid.(int)
	return n
}

// rssKiB reads a memory figure of process pid from /proc (Linux).
func rssKiB(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return n
		}
	}
	return 0
}

// benchServeSync is a sync of the bench estate into db, with args added.
func benchServeSync(ctx context.Context, exe, url, db string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, exe, append([]string{"sync", "--gateway", url, "--db", db}, args...)...)
	cmd.Env = append(os.Environ(), "QUALYS_USERNAME=pcsync", "QUALYS_PASSWORD=emulator")
	return cmd
}

// benchServeWritingSync starts a full sync of the bench estate into db and
// returns with it a channel closed when it commits its first postures (its
// debug log says so): the requests must meet a sync that writes, and its
// plan (the policies' hosts recorded first) takes a time of its own. The
// sync is stopped at the end of the load, so it starts afresh each time
// (--restart): resumed, each bench would meet a later part of one run
// (its last policies, then its stale marks) and the runs would not compare.
func benchServeWritingSync(ctx context.Context, exe, url, db string) (*exec.Cmd, <-chan struct{}) {
	cmd := benchServeSync(ctx, exe, url, db, "--log-level", "debug", "--full", "--restart")
	writing := make(chan struct{})
	logs, err := cmd.StderrPipe()
	if err == nil {
		err = cmd.Start()
	}
	if err != nil {
		close(writing) // nothing to wait for: the load runs without a writer
		return nil, writing
	}
	go func() {
		sc := bufio.NewScanner(logs)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		once := sync.OnceFunc(func() { close(writing) })
		defer once()
		for sc.Scan() { // read to the end: a child whose log is not read blocks
			if strings.Contains(sc.Text(), "transaction committed") {
				once()
			}
		}
	}()
	return cmd, writing
}

// benchURLs are every API call and page, with ids taken from the API.
func benchURLs(base string) (map[string]string, error) {
	first := func(path string, field string) (string, string, error) {
		resp, err := http.Get(base + path)
		if err != nil {
			return "", "", err
		}
		defer resp.Body.Close()
		var page struct {
			Items []map[string]any `json:"items"`
			Next  *string          `json:"next"`
		}
		d := json.NewDecoder(resp.Body)
		d.UseNumber()
		if err := d.Decode(&page); err != nil || len(page.Items) == 0 {
			return "", "", fmt.Errorf("%s: no items (%v)", path, err)
		}
		next := ""
		if page.Next != nil {
			next = *page.Next
		}
		return fmt.Sprint(page.Items[len(page.Items)-1][field]), next, nil
	}
	policy, _, err := first("/api/v1/policies?limit=1000", "id") // the last policy
	if err != nil {
		return nil, err
	}
	control, _, err := first("/api/v1/policies/"+policy+"/controls?limit=1", "control_id")
	if err != nil {
		return nil, err
	}
	host, _, err := first("/api/v1/hosts?limit=500", "id")
	if err != nil {
		return nil, err
	}
	run, _, err := first("/api/v1/runs?limit=1", "id")
	if err != nil {
		return nil, err
	}
	_, deep, err := first("/api/v1/postures?limit=100&policy="+policy, "id") // a position deep in the list
	if err != nil {
		return nil, err
	}
	return map[string]string{
		"api summary": "/api/v1/summary", "api policies": "/api/v1/policies", "api policy": "/api/v1/policies/" + policy,
		"api policy controls": "/api/v1/policies/" + policy + "/controls", "api control": "/api/v1/controls/" + control,
		"api postures": "/api/v1/postures", "api postures deep": "/api/v1/postures?cursor=" + deep,
		"api postures failed in policy": "/api/v1/postures?status=Failed&policy=" + policy,
		"api postures of control":       "/api/v1/postures?control=" + control, "api hosts": "/api/v1/hosts",
		"api hosts of policy": "/api/v1/hosts?status=Failed&policy=" + policy, "api host": "/api/v1/hosts/" + host,
		"api frameworks": "/api/v1/frameworks", "api runs": "/api/v1/runs", "api run": "/api/v1/runs/" + run,
		"api changes": "/api/v1/changes", "api trend": "/api/v1/trend", "api exceptions": "/api/v1/exceptions",
		"page overview": "/", "page policy": "/policies/" + policy, "page control": "/controls/" + control,
		"page host": "/hosts/" + host, "page hosts": "/hosts", "page postures": "/postures?policy=" + policy,
		"page frameworks": "/frameworks", "page changes": "/changes", "page runs": "/runs", "page exceptions": "/exceptions",
	}, nil
}

// loadRoutes sends n requests from clients concurrent clients, round
// robin over urls, and returns the latencies per route.
func loadRoutes(base string, urls map[string]string, n, clients int) (map[string][]time.Duration, int) {
	names := slices.Sorted(func(yield func(string) bool) {
		for k := range urls {
			if !yield(k) {
				return
			}
		}
	})
	var mu sync.Mutex
	lat := map[string][]time.Duration{}
	failures := 0
	next := make(chan int)
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			c := &http.Client{Timeout: time.Minute}
			for i := range next {
				name := names[i%len(names)]
				start := time.Now()
				resp, err := c.Get(base + urls[name])
				ok := err == nil
				if ok {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					ok = resp.StatusCode == http.StatusOK
				}
				d := time.Since(start)
				mu.Lock()
				lat[name] = append(lat[name], d)
				if !ok {
					failures++
				}
				mu.Unlock()
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return lat, failures
}

func printLatencies(w io.Writer, lat map[string][]time.Duration, o *benchServeOptions) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "route\trequests\tmedian ms\tp95 ms\tworst ms\t\n")
	var all []time.Duration
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range lat {
			if !yield(k) {
				return
			}
		}
	}) {
		ds := lat[name]
		all = append(all, ds...)
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.1f\t%.1f\t\n", name, len(ds), ms(pctl(ds, 50)), ms(pctl(ds, 95)), ms(pctl(ds, 100)))
	}
	fmt.Fprintf(tw, "all\t%d\t%.1f\t%.1f\t%.1f\t\n", len(all), ms(pctl(all, 50)), ms(pctl(all, 95)), ms(pctl(all, 100)))
	tw.Flush()
	fmt.Fprintf(w, "%d records, %d requests from %d clients\n", o.records, o.requests, o.clients)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// pctl is the p-th percentile (nearest rank) of ds.
func pctl(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (p*len(s)+99)/100 - 1
	return s[max(0, min(i, len(s)-1))]
}

// cpuUse is CPU seconds (user + system) by process name, and "machine"
// for every process of the machine (Linux's /proc; empty elsewhere).
type cpuUse map[string]float64

// cpuOf reads the CPU used so far by procs (name -> pid) and the machine.
func cpuOf(procs map[string]int) cpuUse {
	const hz = 100 // USER_HZ, the unit of /proc's times on Linux
	u := cpuUse{}
	for name, pid := range procs {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if i := strings.LastIndexByte(string(b), ')'); err == nil && i > 0 {
			f := strings.Fields(string(b[i+1:])) // from the state on: utime and stime are the 12th and 13th
			if len(f) > 12 {
				ut, _ := strconv.ParseFloat(f[11], 64)
				st, _ := strconv.ParseFloat(f[12], 64)
				u[name] = (ut + st) / hz
			}
		}
	}
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		f := strings.Fields(strings.SplitN(string(b), "\n", 2)[0]) // cpu user nice system idle iowait irq softirq steal
		for i, v := range f {
			if n, err := strconv.ParseFloat(v, 64); err == nil && i >= 1 && i <= 8 && i != 4 && i != 5 {
				u["machine"] += n / hz
			}
		}
	}
	return u
}

func (u cpuUse) minus(before cpuUse) cpuUse {
	d := cpuUse{}
	for k, v := range u {
		d[k] = v - before[k]
	}
	return d
}

// String says what the benchmark's processes used and what the rest of
// the machine did meanwhile (another program's work makes the latencies
// of a run incomparable).
func (u cpuUse) String() string {
	var parts []string
	ours := 0.0
	for _, k := range []string{"server", "sync", "emulator", "clients"} {
		if v, ok := u[k]; ok {
			parts = append(parts, fmt.Sprintf("%s %.1f", k, v))
			ours += v
		}
	}
	if _, ok := u["machine"]; !ok {
		return strings.Join(parts, ", ") + " s"
	}
	return fmt.Sprintf("%.1f s by the benchmark (%s), %.1f s by the rest of the machine", ours, strings.Join(parts, ", "), max(0, u["machine"]-ours))
}
