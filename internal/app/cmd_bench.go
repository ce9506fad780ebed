package app

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"pcsync/internal/compliance"
	"pcsync/internal/store"
)

type benchOptions struct {
	records         int
	policies        int
	controls        int
	evidence        bool
	runs            int
	dir             string
	hostsPerRequest int
	concurrency     int
	baseline        bool
	shape           string
	incremental     bool
	config          string // the sync's config file (written by bench)
	postgres        string // also measure PostgreSQL: a server URL
	dbWriters       int
}

func newBenchCmd(io IOStreams) *cobra.Command {
	o := &benchOptions{}
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure a whole sync: records/s, MB/s and peak memory",
		Long: `Bench starts "pcsync emulate" as a separate process with a generated estate of
--records posture records and response caching on, syncs it once to warm the
cache (so that the emulator replays pre-generated answers and is not what is
measured), then runs "pcsync sync" --runs times into fresh SQLite files and
reports, for each run and as medians: records/s, MB/s of JSON and of the
wire, and the sync process's peak RSS.

--shape picks the estate:
  single  --policies x hosts x --controls, records host by host (the default)
  wide    400 policies, 200,000 hosts (500 a policy), controls to make
          --records, records in random order, posture ids of all policies
          interleaved
  churn   wide, and a host's address, DNS name and scan date vary from
          record to record (hosts rescanned during the run)
--incremental then moves the estate one scan cycle on and times a second,
incremental sync into the last run's database.`,
		Example: `  pcsync bench --records 1000000 --runs 3 --baseline
  pcsync bench --records 1000000 --evidence --shape wide --baseline
  pcsync bench --records 10000000 --runs 1 --shape wide --incremental`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return benchRun(cmd.Context(), io, o)
		},
	}
	cmd.AddCommand(withExitCodes(newBenchServeCmd(io), ExitOK, ExitError, ExitUsage, ExitInterrupted))
	f := cmd.Flags()
	f.IntVar(&o.records, "records", 1_000_000, "posture records in the estate")
	f.IntVar(&o.policies, "policies", 5, "policies the records are spread over")
	f.IntVar(&o.controls, "controls", 200, "controls per policy")
	f.BoolVar(&o.evidence, "evidence", false, "sync with evidence")
	f.IntVar(&o.runs, "runs", 3, "measured runs")
	f.StringVar(&o.dir, "dir", "", "keep the databases in `directory` (default: a temporary one; each database is removed after its run); each run still starts from a new file, replacing one an earlier bench left there")
	f.IntVar(&o.hostsPerRequest, "hosts-per-request", 5000, "passed to sync")
	f.IntVar(&o.concurrency, "concurrency", 2, "passed to sync")
	f.BoolVar(&o.baseline, "baseline", false, "alternate each run with a bare-pipeline run (plain inserts, no index, no upsert) and report the ratio")
	f.StringVar(&o.shape, "shape", "single", "estate shape: single, wide or churn")
	f.BoolVar(&o.incremental, "incremental", false, "after the runs, advance the estate a scan cycle and time an incremental sync of the last database")
	f.StringVar(&o.postgres, "postgres", "", "also sync into this PostgreSQL server (`URL`), alternating with the SQLite runs, each run into a fresh schema that is dropped after it")
	f.IntVar(&o.dbWriters, "db-writers", 0, "passed to sync for the PostgreSQL runs")
	return cmd
}

type benchResult struct {
	records   int64
	dur       time.Duration
	dataBytes int64
	wireBytes int64
	rssKiB    int64
}

func benchRun(ctx context.Context, io IOStreams, o *benchOptions) error {
	if o.records < 1 || o.policies < 1 || o.controls < 1 || o.runs < 1 {
		return usageErr("--records, --policies, --controls and --runs must be at least 1")
	}
	est, err := benchEstate(o)
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	dir := o.dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "pcsync-bench-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return withCode(ExitUsage, err)
	}
	// The emulator has no rate limit here, and neither has the client: the
	// 25 calls a minute of Qualys's default would time the budget, not the
	// sync, on estates of many policies.
	conf := filepath.Join(dir, "bench.yaml")
	if err := os.WriteFile(conf, []byte("pcrs:\n  rate_limit: {calls: 1000000, window: 1s}\n"), 0o644); err != nil {
		return err
	}
	o.config = conf
	url, stop, err := startBenchEmulator(ctx, exe, est)
	if err != nil {
		return err
	}
	defer stop()
	fmt.Fprintf(io.Out, "estate: %s shape, %d policies x %d hosts x %d controls = %d records, evidence %v, emulator at %s\n",
		o.shape, est.policies, est.perPolicy, est.controls, est.policies*est.perPolicy*est.controls, o.evidence, url)
	var results, bare []benchResult
	tw := tabwriter.NewWriter(io.Out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "run\trecords\tseconds\trecords/s\tJSON MB/s\twire MB/s\tpeak RSS MB\t")
	modes := []benchMode{{}}
	if o.baseline {
		modes = append(modes, benchMode{bare: true})
	}
	if o.postgres != "" {
		modes = append(modes, benchMode{pg: true})
	}
	var pgResults []benchResult
	for i := 0; i <= o.runs; i++ {
		for _, m := range modes {
			if i == 0 && m != (benchMode{}) {
				continue
			}
			db := filepath.Join(dir, fmt.Sprintf("bench-%d-%v.db", i, m.bare))
			if m.pg {
				db = benchSchema(o.postgres, i)
			}
			if err := benchFresh(db); err != nil {
				return err
			}
			// Start each run with no dirty pages of the previous one still
			// being written back, so runs do not pay for each other's I/O.
			syscall.Sync()
			r, err := benchSync(ctx, exe, o, url, db, m.bare)
			if err != nil {
				return err
			}
			if !(o.incremental && i == o.runs && m == (benchMode{})) {
				if err := benchRemove(ctx, o, db); err != nil {
					return err
				}
			}
			label := strconv.Itoa(i)
			switch {
			case i == 0:
				label = "warm-up"
			case m.bare:
				label += " bare"
				bare = append(bare, r)
			case m.pg:
				label += " postgres"
				pgResults = append(pgResults, r)
			default:
				results = append(results, r)
			}
			benchRow(tw, label, r)
			tw.Flush()
		}
	}
	med := benchMedian(results)
	benchRow(tw, "median", med)
	if len(bare) > 0 {
		bmed := benchMedian(bare)
		benchRow(tw, "median bare", bmed)
		tw.Flush()
		fmt.Fprintf(io.Out, "sync / bare pipeline: %.2f (records/s ratio of the medians, measured in this run)\n",
			bmed.dur.Seconds()/med.dur.Seconds())
	}
	if len(pgResults) > 0 {
		pmed := benchMedian(pgResults)
		benchRow(tw, "median postgres", pmed)
		tw.Flush()
		fmt.Fprintf(io.Out, "postgres / sqlite: %.2f (records/s ratio of the medians, measured in this run)\n",
			med.dur.Seconds()/pmed.dur.Seconds())
	}
	if o.incremental {
		if err := benchIncremental(ctx, tw, exe, o, url, filepath.Join(dir, fmt.Sprintf("bench-%d-false.db", o.runs))); err != nil {
			return err
		}
	}
	return tw.Flush()
}

// benchIncremental moves the emulated estate one scan cycle on and times an
// incremental sync into db, which holds a full sync.
func benchIncremental(ctx context.Context, tw *tabwriter.Writer, exe string, o *benchOptions, url, db string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/emulator/advance", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("advance the estate: %w", err)
	}
	resp.Body.Close()
	syscall.Sync()
	r, err := benchSync(ctx, exe, o, url, db, false)
	if err != nil {
		return err
	}
	benchRow(tw, "incremental", r)
	if o.dir == "" {
		for _, suffix := range []string{"", "-wal", "-shm"} {
			os.Remove(db + suffix)
		}
	}
	return nil
}

// benchShape is the estate a bench syncs.
type benchShape struct {
	policies, hosts, perPolicy, controls int
	flags                                []string // emulate's shape flags
}

// benchEstate sizes the estate of o.shape for o.records records.
func benchEstate(o *benchOptions) (benchShape, error) {
	switch o.shape {
	case "single":
		hosts := max(1, o.records/(o.policies*o.controls))
		return benchShape{policies: o.policies, hosts: hosts, perPolicy: hosts, controls: o.controls}, nil
	case "wide", "churn":
		const policies, hosts = 400, 200_000
		sh := benchShape{policies: policies, hosts: hosts, perPolicy: hosts / policies,
			controls: max(1, o.records/hosts), flags: []string{"--shuffle", "--scatter-ids"}}
		if o.shape == "churn" {
			sh.flags = append(sh.flags, "--host-churn")
		}
		return sh, nil
	}
	return benchShape{}, usageErr("--shape %q: want single, wide or churn", o.shape)
}

func benchRow(tw *tabwriter.Writer, label string, r benchResult) {
	s := r.dur.Seconds()
	fmt.Fprintf(tw, "%s\t%d\t%.2f\t%.0f\t%.1f\t%.1f\t%.1f\t\n", label, r.records, s, float64(r.records)/s,
		float64(r.dataBytes)/s/1e6, float64(r.wireBytes)/s/1e6, float64(r.rssKiB)/1024)
}

func benchMedian(rs []benchResult) benchResult {
	med := func(f func(benchResult) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		slices.Sort(v)
		if len(v)%2 == 1 {
			return v[len(v)/2]
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	// The median run by duration; RSS is the median of the runs' peaks.
	d := med(func(r benchResult) float64 { return r.dur.Seconds() })
	out := rs[0]
	for _, r := range rs {
		if r.dur.Seconds() == d {
			out = r
		}
	}
	out.dur = time.Duration(d * float64(time.Second))
	out.rssKiB = int64(med(func(r benchResult) float64 { return float64(r.rssKiB) }))
	return out
}

// startBenchEmulator runs "pcsync emulate" in its own process and returns
// its URL once it listens.
func startBenchEmulator(ctx context.Context, exe string, sh benchShape) (string, func(), error) {
	args := append([]string{"emulate", "--listen", "127.0.0.1:0", "--cache-responses", "--rate-calls", "-1",
		"--policies", strconv.Itoa(sh.policies), "--inactive-policies", "0", "--hosts", strconv.Itoa(sh.hosts),
		"--hosts-per-policy", strconv.Itoa(sh.perPolicy), "--controls", strconv.Itoa(sh.controls), "--db-share", "0",
		"--log-level", "warn"}, sh.flags...)
	cmd := exec.CommandContext(ctx, exe, args...)
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
		if url, ok := strings.CutPrefix(sc.Text(), "pcsync emulator serving "); ok {
			go func() {
				for sc.Scan() { // keep draining the banner
				}
			}()
			return url, stop, nil
		}
	}
	stop()
	return "", nil, errors.New("the emulator did not start")
}

// benchSync runs one "pcsync sync" process and reads its run record.
func benchSync(ctx context.Context, exe string, o *benchOptions, url, db string, bare bool) (benchResult, error) {
	args := []string{"sync", "--config", o.config, "--gateway", url, "--db", db, "--log-level", "warn",
		"--hosts-per-request", strconv.Itoa(o.hostsPerRequest), "--concurrency", strconv.Itoa(o.concurrency)}
	if bare {
		args = append(args, "--bare-insert")
	}
	if d, err := store.ParseDSN(db); err == nil && d.Driver == store.DriverPostgres && o.dbWriters > 0 {
		args = append(args, "--db-writers", strconv.Itoa(o.dbWriters))
	}
	if o.evidence {
		args = append(args, "--evidence")
	}
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Env = append(os.Environ(), "QUALYS_USERNAME=pcsync", "QUALYS_PASSWORD=emulator")
	var stderr strings.Builder
	cmd.Stderr = &stderr // the plain-http warning, every time; shown only on failure
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return benchResult{}, fmt.Errorf("sync: %w\n%s", err, stderr.String())
	}
	r := benchResult{dur: time.Since(start)}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.rssKiB = ru.Maxrss // KiB on Linux
	}
	st, err := openReader(ctx, db)
	if err != nil {
		return r, err
	}
	defer st.Close()
	err = st.Runs(ctx, func(run *compliance.Run) error {
		r.records, r.dataBytes, r.wireBytes = run.Records, run.DataBytes, run.WireBytes
		return nil
	})
	return r, err
}
