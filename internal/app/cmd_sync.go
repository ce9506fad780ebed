package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"golang.org/x/sys/unix"

	"pcsync/internal/config"
	"pcsync/internal/engine"
	"pcsync/internal/qualys"
	"pcsync/internal/store"
	"pcsync/internal/store/sqlite"
)

// syncOptions are the flags of `pcsync sync`; a flag the user set overrides
// the config file.
type syncOptions struct {
	configFile      string
	platform        string
	gateway         string
	api             string
	caCert          string
	insecure        bool
	db              string
	policies        []string
	hostsPerRequest int
	concurrency     int
	evidence        bool
	compression     bool
	pcrsVersion     string
	classicVersion  string
	source          string
	rejects         string
	cpuProfile      string
	memProfile      string
	bareInsert      bool
	capture         string
	dbWriters       int
	shard           string
	shardRate       int
	full            bool
	restart         bool
	log             logFlags
}

func newSyncCmd(io IOStreams) *cobra.Command {
	o := &syncOptions{}
	cmd := &cobra.Command{
		Use:   "sync",
		Short: "Pull Qualys Policy Compliance posture into the database",
		Long: `Sync logs in to the Qualys gateway, lists policies, resolves the hosts of each
policy (up to 10 policies per call), and streams posture records in batches of
hosts, decoding them one at a time into the database (SQLite by default).

Credentials come from QUALYS_USERNAME and QUALYS_PASSWORD, or from the config
file; never from a flag. TLS certificates are verified, and no redirect is
followed away from the URLs you give.`,
		Example: `  QUALYS_USERNAME=me QUALYS_PASSWORD=... pcsync sync --platform US1
  pcsync sync --config pcsync.yaml --policy 1627436,94473 --evidence
  pcsync sync --gateway https://127.0.0.1:8443 --ca-cert emulator.pem`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return syncRun(cmd, io, o)
		},
	}
	f := cmd.Flags()
	o.registerQualysFlags(f)
	f.StringVar(&o.db, "db", config.Default().DB, dbFlagHelp)
	f.BoolVar(&o.full, "full", false, "pull everything, not only what changed since the last successful run")
	f.BoolVar(&o.restart, "restart", false, "discard an unfinished run's plan instead of resuming it")
	f.StringVar(&o.rejects, "rejects", "", "`file` for records that do not decode (default: <db>.rejects.ndjson, created only if needed)")
	f.StringVar(&o.capture, "capture", "", "write every request and answer of the run to `DIR` (new or empty), secrets replaced; replay it with pcsync emulate --replay DIR")
	f.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile to `file` (see BENCHMARKS.md)")
	_ = f.MarkHidden("cpuprofile")
	f.StringVar(&o.memProfile, "memprofile", "", "write an allocation profile to `file` at the end (see BENCHMARKS.md)")
	_ = f.MarkHidden("memprofile")
	f.BoolVar(&o.bareInsert, "bare-insert", false, "benchmark baseline: plain inserts into bare_postures (see BENCHMARKS.md)")
	_ = f.MarkHidden("bare-insert")
	f.IntVar(&o.dbWriters, "db-writers", 0, "PostgreSQL: transactions written at once (0: the default, 2; see BENCHMARKS.md)")
	f.StringVar(&o.shard, "shard", "", "sync only shard `K/N` of the policies, beside the other shards' processes (PostgreSQL; see docs/scaling.md)")
	f.IntVar(&o.shardRate, "shard-rate", 0, "PCRS `calls` per rate window for this shard (default: pcrs.rate_limit.calls / N)")
	o.log.register(f)
	return cmd
}

// registerQualysFlags adds the flags that say where Qualys is and what to
// ask it (sync and check share them).
func (o *syncOptions) registerQualysFlags(f *pflag.FlagSet) {
	def := config.Default() // the one source of defaults; flags show them
	f.StringVar(&o.configFile, "config", "", "YAML configuration `file` (see pcsync.example.yaml)")
	f.StringVar(&o.platform, "platform", "", "Qualys platform: "+strings.Join(config.PlatformNames(), ", "))
	f.StringVar(&o.gateway, "gateway", "", "gateway base `URL` (overrides --platform), e.g. https://gateway.qg1.apps.qualys.com")
	f.StringVar(&o.api, "api", "", "classic API base `URL` (overrides --platform)")
	f.StringVar(&o.caCert, "ca-cert", "", "PEM `file` of a CA to trust besides the system's (private CA, emulator)")
	f.BoolVar(&o.insecure, "insecure-skip-verify", false, "do not verify TLS certificates (warns on every run; never for real use)")
	f.StringSliceVar(&o.policies, "policy", nil, "policy `ID`s to sync, comma-separated (default: all active policies)")
	f.IntVar(&o.hostsPerRequest, "hosts-per-request", def.Sync.HostsPerRequest, "host ids per postureInfo request")
	f.IntVar(&o.concurrency, "concurrency", def.Sync.Concurrency, "postureInfo streams at once")
	f.BoolVar(&o.evidence, "evidence", *def.PCRS.Results.EvidenceRequired == 1, "ask for evidence (evidenceRequired=1): larger and slower")
	f.BoolVar(&o.compression, "compression", *def.PCRS.Results.CompressionRequired == 1, "ask for gzip (compressionRequired=1)")
	f.StringVar(&o.pcrsVersion, "pcrs-version", def.PCRS.Version, "PCRS API version: 1.0, 2.0, 3.0, 4.0 or 5.0")
	f.StringVar(&o.classicVersion, "classic-version", def.Classic.Version, "classic API version: 2.0, 3.0, 4.0 or 5.0")
	f.StringVar(&o.source, "source", "", "posture path: pcrs (streaming, the default when a gateway is known) or classic")
}

// resolveConfig merges the config file, the environment and the flags the
// user set, and validates the result.
func (o *syncOptions) resolveConfig(cmd *cobra.Command) (config.Config, error) {
	cfg, err := config.Load(o.configFile)
	if err != nil {
		return cfg, withCode(ExitUsage, err)
	}
	f := cmd.Flags()
	set := func(name string, apply func()) {
		if f.Changed(name) {
			apply()
		}
	}
	set("platform", func() { cfg.Qualys.Platform = o.platform })
	set("gateway", func() { cfg.Qualys.GatewayURL = o.gateway })
	set("api", func() { cfg.Qualys.APIURL = o.api })
	set("ca-cert", func() { cfg.Qualys.CACert = o.caCert })
	set("insecure-skip-verify", func() { cfg.Qualys.InsecureSkipVerify = o.insecure })
	set("db", func() { cfg.DB = o.db })
	set("hosts-per-request", func() { cfg.Sync.HostsPerRequest = o.hostsPerRequest })
	set("concurrency", func() { cfg.Sync.Concurrency = o.concurrency })
	set("rejects", func() { cfg.Sync.Rejects = o.rejects })
	set("pcrs-version", func() { cfg.PCRS.Version = o.pcrsVersion })
	set("classic-version", func() { cfg.Classic.Version = o.classicVersion })
	set("source", func() { cfg.Sync.Source = o.source })
	set("evidence", func() { v := b2i(o.evidence); cfg.PCRS.Results.EvidenceRequired = &v })
	set("compression", func() { v := b2i(o.compression); cfg.PCRS.Results.CompressionRequired = &v })
	if f.Changed("policy") {
		ids, err := parsePolicyIDs(o.policies)
		if err != nil {
			return cfg, err
		}
		cfg.Sync.Policies = ids
	}
	o.log.apply(f, &cfg.Log)
	if err := cfg.Validate(); err != nil {
		return cfg, withCode(ExitUsage, err)
	}
	return cfg, nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func parsePolicyIDs(vals []string) ([]int64, error) {
	var ids []int64
	for _, v := range vals {
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id <= 0 {
			return nil, usageErr("--policy: %q is not a policy id (policy ids are positive numbers, e.g. --policy 1627436,94473)", v)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// clientOptions builds the Qualys client settings from a validated config.
func clientOptions(cfg *config.Config) qualys.Options {
	gw, api, _ := cfg.Endpoints()
	return qualys.Options{
		GatewayURL: gw, APIURL: api, Username: cfg.Qualys.Username, Password: cfg.Qualys.Password,
		PCRSVersion: cfg.PCRS.Version, ClassicVersion: cfg.Classic.Version, ClassicConcurrency: cfg.Classic.Concurrency,
		CACertFile: cfg.Qualys.CACert, InsecureSkipVerify: cfg.Qualys.InsecureSkipVerify,
		TokenTTL: cfg.Qualys.TokenTTL, RateCalls: cfg.PCRS.RateLimit.Calls, RateWindow: cfg.PCRS.RateLimit.Window,
		IdleTimeout: cfg.Qualys.IdleTimeout, UserAgent: "pcsync/" + Version,
		MaxRetries: cfg.Qualys.MaxRetries, MaxRateWaits: cfg.Qualys.MaxRateWaits,
		CheckRetry: qualys.DefaultCheckRetry, Backoff: qualys.DefaultBackoff,
	}
}

// engineOptions turns the config into the engine's plan parameters.
func engineOptions(cfg *config.Config) engine.Options {
	r := &cfg.PCRS.Results
	dates := map[string]string{"lastEvaluationDate": r.LastEvaluationDate, "lastScanDate": r.LastScanDate,
		"lastScanDateFrom": r.LastScanDateFrom, "lastScanDateTo": r.LastScanDateTo, "statusChangedSince": r.StatusChangedSince}
	date := func(s string) time.Time {
		t, _ := config.ParseDate(s) // validated already
		return t
	}
	extra := url.Values{}
	for k, v := range r.Extra {
		extra.Set(k, v)
	}
	o := engine.Options{
		PolicyIDs: cfg.Sync.Policies, HostsPerRequest: cfg.Sync.HostsPerRequest, Concurrency: cfg.Sync.Concurrency,
		Evidence: r.EvidenceRequired != nil && *r.EvidenceRequired == 1, Compression: r.CompressionRequired == nil || *r.CompressionRequired == 1,
		LastEvaluationDate: date(r.LastEvaluationDate), LastScanDate: date(r.LastScanDate),
		LastScanDateFrom: date(r.LastScanDateFrom), LastScanDateTo: date(r.LastScanDateTo),
		StatusChangedSince: date(r.StatusChangedSince), ExtraParams: extra,
		TxRecords: cfg.Sync.TxRecords, ChunkRecords: cfg.Sync.ChunkRecords, TxBytes: txBytes(cfg), MaxStreamRetries: cfg.Sync.StreamRetries,
		RetryBackoff: qualys.DefaultBackoff, Source: cfg.Sync.Source,
		Overlap: cfg.Sync.Overlap, IncrementalFilter: cfg.Sync.IncrementalFilter,
		HostIDsLastScanDate: date(cfg.PCRS.PolicyHost.LastScanDate),
		Classic: engine.ClassicParams{Policies: params(cfg.Classic.Policies), Controls: params(cfg.Classic.Controls),
			PolicyDetails: params(cfg.Classic.PolicyDetails), Results: params(cfg.Classic.Results)},
	}
	gw, api, _ := cfg.Endpoints()
	params, _ := json.Marshal(map[string]any{
		"gateway": gw, "api": api, "pcrsVersion": cfg.PCRS.Version, "policies": cfg.Sync.Policies,
		"hostsPerRequest": o.HostsPerRequest, "concurrency": o.Concurrency, "evidence": o.Evidence,
		"compression": o.Compression, "filters": dates, "extra": r.Extra, "source": cfg.Sync.Source,
		"classicVersion": cfg.Classic.Version, "classic": cfg.Classic,
	})
	o.Params = string(params)
	return o
}

// params turns a config section into request parameters, leaving out
// empty values.
func params(m map[string]string) url.Values {
	p := url.Values{}
	for k, v := range m {
		if v != "" {
			p.Set(k, v)
		}
	}
	return p
}

func syncRun(cmd *cobra.Command, io IOStreams, o *syncOptions) error {
	cfg, err := o.resolveConfig(cmd)
	if err != nil {
		return err
	}
	log := newLogger(io, cfg.Log, true)
	for _, w := range cfg.Warnings() {
		io.warn(w)
	}
	for flag, path := range map[string]string{"--cpuprofile": o.cpuProfile, "--memprofile": o.memProfile} {
		if err := checkOutput(cfg.DB, flag, path); err != nil {
			return err
		}
	}
	if o.cpuProfile != "" {
		stop, err := startCPUProfile(o.cpuProfile)
		if err != nil {
			return withCode(ExitUsage, err)
		}
		defer stop()
	}
	if o.memProfile != "" {
		defer writeAllocProfile(io, o.memProfile)
	}
	shard, err := engine.ParseShard(o.shard)
	if err != nil {
		return usageErr("--shard: %v", err)
	}
	if err := checkShard(cfg.DB, shard, o.shardRate); err != nil {
		return err
	}
	if o.dbWriters < 0 || o.dbWriters > 32 {
		return usageErr("--db-writers %d is out of range: use 1 to 32, or 0 for the default (each writer holds a PostgreSQL connection)", o.dbWriters)
	}
	copts := clientOptions(&cfg)
	copts.Logger = log
	copts.RateCalls = shardRate(copts.RateCalls, shard, o.shardRate)
	capture, err := startCapture(&cfg, o.capture, &copts, log)
	if err != nil {
		return err
	}
	client, err := qualys.NewClient(copts)
	if err != nil {
		return withCode(ExitUsage, err)
	}
	eo := engineOptions(&cfg)
	eo.Full, eo.Restart, eo.Shard = o.full, o.restart, shard
	err = runSync(cmd.Context(), io, log, client, &cfg, eo, dbOptions{bareInsert: o.bareInsert, writers: o.dbWriters, shard: shard.String()})
	return endCapture(io, capture, o.capture, err)
}

// runSync opens the store, runs the engine with a progress display and
// prints the summary. sync and demo share it.
func runSync(ctx context.Context, io IOStreams, log *slog.Logger, client *qualys.Client, cfg *config.Config, eo engine.Options, dbo dbOptions) error {
	rejectsPath := rejectsPath(cfg)
	if err := checkOutput(cfg.DB, "--rejects", rejectsPath); err != nil {
		return err
	}
	st, err := openWriter(ctx, cfg.DB, dbo)
	if err != nil {
		return err
	}
	defer st.Close()
	rejects := engine.NewRejectFile(rejectsPath)
	if err := rejects.Check(); err != nil {
		return usageErr("%v: choose another --rejects (or sync.rejects)", err)
	}
	defer rejects.Close()
	eo.Rejects = rejects
	defer applyMemoryLimit(cfg, log)()
	eng := engine.New(client, st, log)
	stop := startProgress(io, &eng.Progress, log)
	res, err := eng.Run(ctx, eo)
	stop()
	if res != nil {
		printSummary(io.Out, res)
		if n := rejects.Count(); n > 0 {
			io.warn(fmt.Sprintf("%d records could not be decoded; they are in %s", n, rejectsPath))
		}
	}
	var auth *qualys.AuthError
	var se *engine.StoreError
	switch {
	case errors.As(err, &auth):
		err = fmt.Errorf("%w (the credentials came from %s)", err, cfg.CredentialsSource())
	case untrustedCert(err):
		err = fmt.Errorf("%w: for a private CA or an emulator give --ca-cert FILE (pcsync check says more)", err)
	case errors.As(err, &se):
		if free, dir, ok := lowDisk(cfg.DB); ok {
			err = fmt.Errorf("%w: the disk of %s has %d MiB free: free some space, then run pcsync sync again to finish the run", err, dir, free>>20)
		}
	}
	return classifyRunError(err)
}

// untrustedCert reports whether err is a TLS certificate that did not verify.
func untrustedCert(err error) bool {
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	return errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &hn)
}

// lowDisk reports whether the disk of a SQLite database has less free space
// than a sync needs: the likely cause of a failed write.
func lowDisk(db string) (free int64, dir string, ok bool) {
	d, err := store.ParseDSN(db)
	if err != nil || d.Driver != store.DriverSQLite {
		return 0, "", false
	}
	dir = filepath.Dir(d.Path)
	var fs unix.Statfs_t
	if unix.Statfs(dir, &fs) != nil {
		return 0, "", false
	}
	free = int64(fs.Bavail) * int64(fs.Bsize)
	return free, dir, free < sqlite.MinFreeBytes
}

// classifyRunError picks the exit code of a failed run.
func classifyRunError(err error) error {
	if err == nil {
		return nil
	}
	var auth *qualys.AuthError
	var se *engine.StoreError
	var locked *store.LockedError
	var ce *engine.ConfigError
	switch {
	case errors.As(err, &ce):
		return withCode(ExitUsage, err)
	case errors.As(err, &locked):
		return withCode(ExitBusy, err)
	case errors.Is(err, context.Canceled):
		return withCode(ExitInterrupted, errors.New("interrupted: committed batches are kept; run pcsync sync again to finish"))
	case errors.As(err, &auth):
		return withCode(ExitAuth, err)
	case errors.As(err, &se):
		return withCode(ExitDB, err)
	case errors.Is(err, engine.ErrIncomplete):
		return withCode(ExitIncomplete, errSummaryShown)
	}
	return withCode(ExitAPI, err)
}
