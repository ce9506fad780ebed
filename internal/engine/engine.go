package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"pcsync/internal/compliance"
	"pcsync/internal/qualys"
	"pcsync/internal/store"
)

// Options say what a run fetches and how.
type Options struct {
	// PolicyIDs limits the run to these policies; empty means every active
	// policy of the policy list.
	PolicyIDs       []int64
	HostsPerRequest int  // host ids per postureInfo call
	Concurrency     int  // postureInfo streams at once
	Evidence        bool // evidenceRequired=1
	Compression     bool // compressionRequired=1

	// Filters sent with every postureInfo call.
	LastEvaluationDate time.Time
	LastScanDate       time.Time
	LastScanDateFrom   time.Time
	LastScanDateTo     time.Time
	StatusChangedSince time.Time
	ExtraParams        url.Values

	TxRecords    int // records per store transaction
	ChunkRecords int // records per chunk passed from a stream to the writer
	// TxBytes bounds the records in flight by size as TxRecords and
	// ChunkRecords do by count: a transaction commits once its records
	// came in TxBytes of JSON (or XML), and a stream hands over a chunk
	// once it holds a quarter of that. 0: counts only. A record with
	// evidence is several times the size of one without, and the records
	// in flight are most of the heap (BENCHMARKS.md, "Issue 12: memory with evidence").
	TxBytes          int64
	MaxStreamRetries int // fetches of a broken batch after the first
	// RetryBackoff spaces the refetches of a broken batch.
	RetryBackoff qualys.Backoff

	// Source picks the posture path: "pcrs" (default when the client has a
	// gateway URL) or "classic".
	Source string
	// Classic holds the parameters of the four classic REST messages, sent
	// as given (pcsync adds action, id, policy_id and id_min).
	Classic ClassicParams

	// Full forces a complete pull; otherwise a run after a successful one
	// asks only for what changed since it started, less Overlap, using
	// IncrementalFilter ("statusChangedSince", "lastEvaluationDate" or
	// "lastScanDate" on PCRS; the classic path always uses
	// status_changes_since).
	Full              bool
	Overlap           time.Duration
	IncrementalFilter string
	// Restart discards an unfinished run's plan instead of resuming it.
	Restart bool
	// HostIDsLastScanDate asks host id resolution only for hosts scanned
	// since; the host lists are then partial, so no host is marked stale.
	HostIDsLastScanDate time.Time

	// Rejects receives every record that does not decode; nil discards them
	// (they are still counted and fail the run).
	Rejects RejectSink
	// Params is recorded with the run (JSON, no credentials).
	Params string
	// Shard limits the run to one shard of the policies (ShardOf); the
	// store records it with the run and locks each policy the run writes
	// (store.PolicyLocker), so two processes never write one policy.
	Shard Shard
}

// check refuses options that cannot work. The engine sets no defaults:
// the caller passes complete values (pcsync's come from config.Default).
// Only the source is derived when empty: the PCRS path when the client
// knows a gateway URL, else the classic one.
func (o *Options) check(c *qualys.Client) error {
	if o.Source == "" {
		o.Source = "pcrs"
		if !c.HasGateway() {
			o.Source = "classic"
		}
	}
	switch {
	case o.HostsPerRequest < 1:
		return fmt.Errorf("hosts per request must be at least 1 (got %d)", o.HostsPerRequest)
	case o.Concurrency < 1:
		return fmt.Errorf("concurrency must be at least 1 (got %d)", o.Concurrency)
	case o.TxRecords < 1 || o.ChunkRecords < 1:
		return fmt.Errorf("records per transaction and per chunk must be at least 1 (got %d and %d)", o.TxRecords, o.ChunkRecords)
	case o.TxBytes < 0:
		return fmt.Errorf("bytes per transaction must not be negative (got %d)", o.TxBytes)
	case o.MaxStreamRetries < 0:
		return fmt.Errorf("stream retries must be 0 or more (got %d)", o.MaxStreamRetries)
	case o.RetryBackoff == nil:
		return errors.New("no backoff between stream retries")
	case o.Overlap < 0:
		return fmt.Errorf("the incremental overlap must not be negative (got %s)", o.Overlap)
	case !slices.Contains([]string{"statusChangedSince", "lastEvaluationDate", "lastScanDate"}, o.IncrementalFilter):
		return fmt.Errorf("unknown incremental filter %q", o.IncrementalFilter)
	}
	return nil
}

// ClassicParams are the parameters of ServiceNow's four classic messages.
type ClassicParams struct {
	Policies      url.Values // PC Policies
	Controls      url.Values // PC Controls
	PolicyDetails url.Values // PC Policies Detail
	Results       url.Values // PC Results
}

// RejectSink keeps records that could not be decoded, with where they were
// and why.
type RejectSink interface {
	Reject(runID int64, batch Batch, err *qualys.RecordError) error
}

// ErrIncomplete means the run finished but not everything was fetched: a
// policy or batch failed, or records were rejected. What was fetched is
// stored; the run summary says what is missing.
var ErrIncomplete = errors.New("the run is incomplete")

// ConfigError says the options cannot work as given (a posture path without
// its URL, a resume asked with other options); nothing was fetched.
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// StoreError wraps a failure of the database, which stops the run.
type StoreError struct{ Err error }

func (e *StoreError) Error() string { return "database: " + e.Err.Error() }
func (e *StoreError) Unwrap() error { return e.Err }

// Store is what a run needs of the database: somewhere to write (Sink) and
// its ledger (runs, plans, the sync lock). The engine never reads posture.
type Store interface {
	store.Sink
	store.Ledger
}

// Engine syncs Qualys posture into a store.
type Engine struct {
	client   *qualys.Client
	store    Store
	log      *slog.Logger
	Progress Progress
}

// New makes an engine.
func New(client *qualys.Client, st Store, log *slog.Logger) *Engine {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Engine{client: client, store: st, log: log}
}

// Result is what a run did.
type Result struct {
	Run      compliance.Run
	Policies []compliance.PolicySummary
	Skipped  []string // steps not taken, with why
	Resumed  bool     // the run continued an unfinished one
	// Elapsed and Fetched are this invocation's: a resumed run's Records
	// and times span every invocation.
	Elapsed time.Duration
	Fetched int64
}

// Batch is one unit of the plan: a postureInfo request for one policy and
// a slice of its hosts, or (Classic) a policy's posture/info pages.
type Batch struct {
	No       int64
	Policy   compliance.PolicyHosts
	Classic  bool
	Filtered bool  // ask only for what changed since the run's Since
	Cursor   int64 // classic: id_min of the next page
}

func (b *Batch) planned() store.PlannedBatch {
	kind := "pcrs"
	if b.Classic {
		kind = "classic"
	}
	return store.PlannedBatch{No: b.No, PolicyID: b.Policy.PolicyID, Kind: kind, HostIDs: b.Policy.HostIDs,
		SubscriptionID: b.Policy.SubscriptionID, Filtered: b.Filtered, Cursor: b.Cursor}
}

func batchOf(p store.PlannedBatch) Batch {
	return Batch{No: p.No, Classic: p.Kind == "classic", Filtered: p.Filtered, Cursor: p.Cursor,
		Policy: compliance.PolicyHosts{PolicyID: p.PolicyID, SubscriptionID: p.SubscriptionID, HostIDs: p.HostIDs}}
}

// maxResumes is how many times a failed run is resumed before the next
// sync gives up on its plan (a killed or interrupted run is always resumed).
const maxResumes = 2

// Run performs one sync, holding the database's sync lock: it resumes an
// unfinished run (unless Restart), or starts a full or incremental one. It
// always records the run's outcome in the store (unless the store itself
// fails) and returns the result with an error that says why the run did
// not fully succeed: ErrIncomplete, a *StoreError, a *store.LockedError,
// the context's error, or the Qualys error that stopped it.
func (e *Engine) Run(ctx context.Context, opts Options) (*Result, error) {
	if err := opts.check(e.client); err != nil {
		return nil, &ConfigError{err}
	}
	r := &run{e: e, opts: opts, log: e.log, summaries: map[int64]*compliance.PolicySummary{}, stale: map[int64]store.Stale{},
		started: time.Now(), throttles0: e.client.Throttles(), retries0: e.client.Retries()}
	defer r.unlockPolicies()
	if err := r.checkSource(); err != nil {
		return nil, &ConfigError{err}
	}
	release, err := e.store.AcquireSyncLock(ctx)
	if err != nil {
		var locked *store.LockedError
		if errors.As(err, &locked) {
			return nil, err
		}
		return nil, &StoreError{err}
	}
	defer release()
	prev, pending, err := e.store.UnfinishedRun(ctx)
	// A run that failed with batches Qualys keeps refusing would be resumed
	// forever: after MaxResumes the next sync plans afresh instead.
	exhausted := err == nil && prev.Status == compliance.RunFailed && prev.Resumed >= maxResumes
	switch {
	case err == nil && !opts.Restart && !exhausted:
		return r.resume(ctx, prev, pending)
	case err == nil:
		why := "its unfinished plan was discarded (--restart)"
		if exhausted {
			why = fmt.Sprintf("it failed again after %d resumes; a new run was planned", prev.Resumed)
			e.log.Warn("unfinished run failed again after resumes; planning a new run", "run_id", prev.ID, "resumed", prev.Resumed)
		}
		if err := e.store.AbandonRun(ctx, prev.ID, why); err != nil {
			return nil, &StoreError{err}
		}
		e.log.Info("unfinished run discarded", "run_id", prev.ID, "batches", len(pending))
	case !errors.Is(err, store.ErrNotFound):
		return nil, &StoreError{err}
	}
	if err := e.store.AbandonStopped(ctx, 0); err != nil {
		return nil, &StoreError{err}
	}
	r.rec = compliance.Run{Source: opts.Source, Params: opts.Params, Mode: compliance.ModeFull, Request: requestOf(&opts).encode()}
	if !opts.Full {
		last, err := e.store.LastSucceeded(ctx)
		switch {
		case err == nil:
			r.rec.Mode, r.rec.Since = compliance.ModeIncremental, last.StartedAt.Add(-opts.Overlap).Truncate(time.Second)
		case !errors.Is(err, store.ErrNotFound):
			return nil, &StoreError{err}
		}
	}
	if err := e.store.BeginRun(ctx, &r.rec); err != nil {
		return nil, &StoreError{err}
	}
	r.log = e.log.With("run_id", r.rec.ID)
	r.log.Info("run started", "source", opts.Source, "mode", r.rec.Mode, "since", compliance.FormatDate(r.rec.Since))
	err = r.execute(ctx)
	return r.finish(ctx, err)
}

// resume continues a run that was killed, failed or interrupted: only its
// batches not marked done are fetched (classic ones from their cursor).
func (r *run) resume(ctx context.Context, prev *compliance.Run, pending []store.PlannedBatch) (*Result, error) {
	r.rec = *prev
	if err := r.resumeOptions(prev); err != nil {
		return nil, &ConfigError{err}
	}
	if err := r.e.store.AbandonStopped(ctx, prev.ID); err != nil {
		return nil, &StoreError{err}
	}
	if err := r.e.store.ResumeRun(ctx, &r.rec); err != nil {
		return nil, &StoreError{err}
	}
	r.resumed = true
	r.log = r.e.log.With("run_id", r.rec.ID)
	r.log.Info("run resumed", "mode", r.rec.Mode, "batches_left", len(pending), "resumed", r.rec.Resumed)
	batches := make([]Batch, 0, len(pending))
	var ids []int64
	for _, p := range pending {
		batches = append(batches, batchOf(p))
		if !slices.Contains(ids, p.PolicyID) {
			ids = append(ids, p.PolicyID)
		}
	}
	if err := r.lockPolicies(ctx, ids); err != nil {
		return r.finish(ctx, err)
	}
	r.e.Progress.BatchesTotal.Store(r.rec.Batches)
	r.e.Progress.BatchesDone.Store(r.rec.Batches - int64(len(batches)))
	err := r.load(ctx, batches)
	return r.finish(ctx, err)
}

// resumeOptions makes the run ask as prev was planned to, refusing options
// that ask for something else: the batches left must be fetched as the
// stored ones were.
func (r *run) resumeOptions(prev *compliance.Run) error {
	if r.opts.Full && prev.Mode != compliance.ModeFull {
		return fmt.Errorf("run %d, an incremental run, stopped before it finished; resume it without --full, or discard it with --restart", prev.ID)
	}
	if prev.Request == "" { // a run of an older pcsync: only its source is known
		r.opts.Source = prev.Source
	} else {
		diffs, err := differences(prev.Request, requestOf(&r.opts).encode())
		if err != nil {
			return fmt.Errorf("run %d cannot be resumed: %w; discard it with --restart", prev.ID, err)
		}
		if len(diffs) > 0 {
			return fmt.Errorf("run %d stopped before it finished and is resumed with the options it started with (%s); "+
				"this command asks for a different %s: run it with those options to resume run %d, or add --restart to discard its unfinished part",
				prev.ID, describe(prev.Request), strings.Join(diffs, ", "), prev.ID)
		}
		var stored request
		if err := json.Unmarshal([]byte(prev.Request), &stored); err != nil {
			return fmt.Errorf("run %d cannot be resumed: its options are not readable (%w); discard it with --restart", prev.ID, err)
		}
		stored.apply(&r.opts)
	}
	if err := r.checkSource(); err != nil {
		return fmt.Errorf("cannot resume run %d: %w (or discard it with --restart)", prev.ID, err)
	}
	return nil
}

// run is the state of one Run call.
type run struct {
	e          *Engine
	opts       Options
	log        *slog.Logger
	rec        compliance.Run
	order      []int64 // policy ids in summary order
	summaries  map[int64]*compliance.PolicySummary
	slots      chan struct{}
	skipped    []string
	resumed    bool
	stale      map[int64]store.Stale // what a complete full run's end marked stale, per policy
	stepErrors []string              // steps that failed without stopping the run
	started    time.Time             // this invocation
	unlock     []func()              // releases the policy locks
	// the client's counts when this invocation started
	throttles0, retries0 int64
}

func (r *run) summary(id int64) *compliance.PolicySummary {
	s, ok := r.summaries[id]
	if !ok {
		s = &compliance.PolicySummary{PolicyID: id}
		r.summaries[id] = s
		r.order = append(r.order, id)
	}
	return s
}

// execute runs the chain in the order ServiceNow documents: policies,
// policy details, controls, host ids, posture. Steps the known URLs do not
// allow are skipped and said so.
func (r *run) execute(ctx context.Context) error {
	policies, err := r.policies(ctx)
	if err != nil {
		return err
	}
	if r.e.client.HasAPI() {
		if err := r.catalogue(ctx, policies); err != nil {
			return err
		}
	} else {
		r.skip("policy details and controls", "no classic API URL (--api or --platform)")
	}
	var batches []Batch
	incremental := r.rec.Mode == compliance.ModeIncremental
	if r.opts.Source == "classic" {
		r.skip("host ids", "classic posture is listed per policy")
		for _, id := range policies {
			batches = append(batches, Batch{No: int64(len(batches) + 1), Classic: true, Filtered: incremental,
				Policy: compliance.PolicyHosts{PolicyID: id}})
		}
	} else {
		hosts, err := r.resolveHosts(ctx, policies)
		if err != nil {
			return err
		}
		if batches, err = r.plan(ctx, hosts); err != nil {
			return err
		}
	}
	planned := make([]store.PlannedBatch, 0, len(batches))
	for i := range batches {
		planned = append(planned, batches[i].planned())
	}
	summaries := make([]compliance.PolicySummary, 0, len(r.order))
	for _, id := range r.order {
		summaries = append(summaries, *r.summaries[id])
	}
	if err := r.e.store.PlanRun(ctx, r.rec.ID, &store.Plan{Batches: planned, Policies: summaries, Problems: r.stepErrors}); err != nil {
		return &StoreError{err}
	}
	r.rec.Batches = int64(len(batches))
	r.e.Progress.BatchesTotal.Store(int64(len(batches)))
	r.log.Info("plan ready", "policies", len(policies), "batches", len(batches), "source", r.opts.Source)
	return r.load(ctx, batches)
}

// load fetches the batches into the store (in bulk-load mode when the store
// is empty) and, after a full run that fetched every batch, marks stale the
// postures Qualys no longer returned.
func (r *run) load(ctx context.Context, batches []Batch) error {
	if err := r.e.store.BeginLoad(ctx); err != nil {
		return &StoreError{err}
	}
	err := r.fetch(ctx, batches)
	// The records are stored: give the memory that held them in flight back
	// to the system before the index builds, whose sorter takes memory of
	// its own (SQLite's, outside Go's heap). Without it the process's peak
	// was both at once (BENCHMARKS.md, "Issue 12: memory with evidence").
	debug.FreeOSMemory()
	// Indexes dropped for a bulk load are rebuilt even when the run failed;
	// only an interrupted run leaves that to the next one.
	if lerr := r.e.store.EndLoad(ctx); lerr != nil && err == nil {
		err = &StoreError{lerr}
	}
	if err != nil || r.rec.Mode != compliance.ModeFull || r.narrowed() {
		return err // staleness needs every posture Qualys has
	}
	// The store's account covers every invocation of a resumed run.
	done, serr := r.e.store.RunSummaries(ctx, r.rec.ID)
	if serr != nil {
		return &StoreError{serr}
	}
	var ids []int64
	for _, s := range done {
		if s.Error == "" && s.FailedBatches == 0 && s.Rejects == 0 { // every posture, decoded
			ids = append(ids, s.PolicyID)
		}
	}
	marked, serr := r.e.store.MarkStale(ctx, r.rec.ID, ids)
	if serr != nil {
		return &StoreError{serr}
	}
	for id, m := range marked {
		s := r.stale[id]
		s.Postures += m.Postures
		// The classic API lists no hosts per policy: a host whose postures
		// a classic full run no longer returns is one that left. (Host id
		// resolution counts those of a PCRS run at plan time.)
		if r.rec.Source == "classic" {
			s.Hosts += m.Hosts
		}
		r.stale[id] = s
	}
	return nil
}

// narrowed reports whether the run asked for less than all posture (a
// filter, or parameters pcsync does not model), so that what it did not
// see cannot be called stale.
func (r *run) narrowed() bool {
	o := &r.opts
	if !o.LastEvaluationDate.IsZero() || !o.LastScanDate.IsZero() || !o.LastScanDateFrom.IsZero() ||
		!o.StatusChangedSince.IsZero() || !o.HostIDsLastScanDate.IsZero() || len(o.ExtraParams) > 0 {
		return true
	}
	if r.opts.Source == "classic" {
		for _, k := range []string{"status", "status_changes_since", "host_ids", "control_ids", "ips", "evaluation_date",
			"asset_group_ids", "criticality_labels", "criticality_values", "use_tags"} {
			if o.Classic.Results.Get(k) != "" {
				return true
			}
		}
	}
	return false
}

// checkSource refuses a posture path the client has no URL for.
func (r *run) checkSource() error {
	switch {
	case r.opts.Source == "pcrs" && !r.e.client.HasGateway():
		return errors.New("the PCRS posture path needs the gateway URL (--gateway or --platform); use --source classic with only --api")
	case r.opts.Source == "classic" && !r.e.client.HasAPI():
		return errors.New("the classic posture path needs the classic API URL (--api or --platform)")
	case r.opts.Source != "pcrs" && r.opts.Source != "classic":
		return fmt.Errorf("unknown source %q: use pcrs or classic", r.opts.Source)
	}
	return nil
}

// skip records a step the run does not take.
func (r *run) skip(step, why string) {
	r.skipped = append(r.skipped, step+" ("+why+")")
	r.log.Info("step skipped", "step", step, "why", why)
}

// policies fetches the policy list (classic when its URL is known, as
// ServiceNow does, else PCRS), stores it and picks the policies to sync.
func (r *run) policies(ctx context.Context) ([]int64, error) {
	var list []compliance.Policy
	var err error
	if r.e.client.HasAPI() {
		list, err = r.e.client.Classic.ListPolicies(ctx, r.opts.Classic.Policies)
	} else {
		list, _, err = r.e.client.PCRS.ListPolicies(ctx, nil)
	}
	if err != nil {
		return nil, err
	}
	if err := r.e.store.UpsertPolicies(ctx, r.rec.ID, list); err != nil {
		return nil, &StoreError{err}
	}
	titles := map[int64]string{}
	var ids []int64
	for _, p := range list {
		titles[p.ID] = p.Title
		if len(r.opts.PolicyIDs) == 0 && p.Active() {
			ids = append(ids, p.ID)
		}
	}
	for _, id := range r.opts.PolicyIDs { // once each, however often asked for
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	if r.opts.Shard.N > 1 {
		ids = slices.DeleteFunc(ids, func(id int64) bool { return !r.opts.Shard.Owns(id) })
	}
	if err := r.lockPolicies(ctx, ids); err != nil {
		return nil, err
	}
	for _, id := range ids {
		r.summary(id).Title = titles[id]
	}
	r.rec.Policies = int64(len(ids))
	r.log.Info("policies listed", "listed", len(list), "selected", len(ids), "shard", r.opts.Shard.String())
	return ids, nil
}

// resolveHosts asks for host ids in groups of at most ten policies. A policy
// Qualys reports an error for is recorded and skipped; the run goes on.
func (r *run) resolveHosts(ctx context.Context, ids []int64) ([]compliance.PolicyHosts, error) {
	var out []compliance.PolicyHosts
	hopts := &qualys.HostIDsOptions{LastScanDate: r.opts.HostIDsLastScanDate}
	for group := range slices.Chunk(ids, qualys.MaxPoliciesPerHostIDs) {
		res, err := r.e.client.PCRS.HostIDs(ctx, group, hopts)
		if err != nil {
			if fatal(ctx, err) {
				return nil, err
			}
			for _, id := range group { // these policies are reported; the others go on
				r.policyError(id, fmt.Errorf("host ids: %w", err))
			}
			continue
		}
		for _, ph := range res {
			s := r.summary(ph.PolicyID)
			if ph.Error != "" {
				s.Error = ph.Error
				r.log.Warn("policy skipped", "policy_id", ph.PolicyID, "error", ph.Error)
				continue
			}
			if len(ph.BadHostIDs) > 0 {
				r.policyError(ph.PolicyID, fmt.Errorf("%d entries of the host id list are not host ids (first: %.40q); left out",
					len(ph.BadHostIDs), ph.BadHostIDs[0]))
			}
			s.HostsRequested += int64(len(ph.HostIDs))
			out = append(out, ph)
		}
	}
	return out, nil
}

// plan records each policy's hosts (marking stale those that left) and
// splits them into batches of HostsPerRequest. An incremental run asks for
// changes only for hosts it already knew; new and returning hosts are
// fetched whole.
func (r *run) plan(ctx context.Context, hosts []compliance.PolicyHosts) ([]Batch, error) {
	var batches []Batch
	add := func(ph compliance.PolicyHosts, ids []string, filtered bool) {
		for chunk := range slices.Chunk(ids, r.opts.HostsPerRequest) {
			batches = append(batches, Batch{No: int64(len(batches) + 1), Filtered: filtered, Policy: compliance.PolicyHosts{
				PolicyID: ph.PolicyID, SubscriptionID: ph.SubscriptionID, HostIDs: chunk}})
		}
	}
	for _, ph := range hosts {
		if !r.opts.HostIDsLastScanDate.IsZero() { // partial host lists: no membership
			add(ph, ph.HostIDs, r.rec.Mode == compliance.ModeIncremental)
			continue
		}
		ids := make([]int64, 0, len(ph.HostIDs))
		for _, h := range ph.HostIDs {
			n, _ := strconv.ParseInt(h, 10, 64) // the client checked they are numbers
			ids = append(ids, n)
		}
		added, left, stale, err := r.e.store.UpdatePolicyHosts(ctx, r.rec.ID, ph.PolicyID, ids)
		if err != nil {
			return nil, &StoreError{err}
		}
		r.summary(ph.PolicyID).StaleHosts, r.summary(ph.PolicyID).StalePostures = left, stale
		if r.rec.Mode != compliance.ModeIncremental {
			add(ph, ph.HostIDs, false)
			continue
		}
		fresh := make(map[int64]bool, len(added))
		for _, h := range added {
			fresh[h] = true
		}
		var known, whole []string
		for i, h := range ph.HostIDs {
			if fresh[ids[i]] {
				whole = append(whole, h)
			} else {
				known = append(known, h)
			}
		}
		add(ph, known, true)
		add(ph, whole, false)
	}
	return batches, nil
}

// finish records the outcome of the run and builds the result. The
// per-policy figures come from the store, so that a resumed run counts the
// batches it finished before it stopped.
func (r *run) finish(ctx context.Context, err error) (*Result, error) {
	res := &Result{}
	// The plan's policies with what every invocation stored, failed and
	// rejected (the store keeps the account of every batch); what is known
	// in memory only when the run stopped before its plan was recorded.
	if stored, serr := r.e.store.RunSummaries(context.WithoutCancel(ctx), r.rec.ID); serr == nil && len(stored) > 0 {
		for i := range stored {
			// plan time (hosts that left) + end of a full run
			stored[i].StalePostures += r.stale[stored[i].PolicyID].Postures
			stored[i].StaleHosts += r.stale[stored[i].PolicyID].Hosts
		}
		res.Policies = stored
	} else {
		for _, id := range r.order {
			res.Policies = append(res.Policies, *r.summaries[id])
		}
	}
	if !r.resumed {
		r.rec.Problems = r.stepErrors
	}
	r.rec.Records, r.rec.Passed, r.rec.Failed, r.rec.Errors, r.rec.Rejects = 0, 0, 0, 0, 0
	var failedBatches int64
	for _, s := range res.Policies {
		r.rec.Records += s.Records
		r.rec.Passed += s.Passed
		r.rec.Failed += s.Failed
		r.rec.Errors += s.Errors
		r.rec.Rejects += s.Rejects
		failedBatches += s.FailedBatches
	}
	r.rec.Policies = int64(len(res.Policies))
	r.rec.WireBytes += r.e.Progress.WireBytes.Load()
	r.rec.DataBytes += r.e.Progress.DataBytes.Load()
	// this invocation's waits and retries, added to a resumed run's
	r.rec.Throttles += r.e.client.Throttles() - r.throttles0
	r.rec.Retries += r.e.client.Retries() - r.retries0 + r.e.Progress.Retries.Load()
	if err == nil {
		for _, s := range res.Policies {
			if s.Error != "" {
				err = ErrIncomplete
			}
		}
		if failedBatches > 0 || r.rec.Rejects > 0 || len(r.rec.Problems) > 0 {
			err = ErrIncomplete
		}
	}
	switch {
	case err == nil:
		r.rec.Status = compliance.RunSucceeded
	case errors.Is(err, context.Canceled):
		r.rec.Status = compliance.RunInterrupted
		r.rec.Message = "interrupted"
	default:
		r.rec.Status = compliance.RunFailed
		r.rec.Message = err.Error()
		if errors.Is(err, ErrIncomplete) {
			r.rec.Message = r.incompleteMessage(res.Policies, failedBatches)
		}
	}
	// The outcome is recorded even when ctx is cancelled.
	r.rec.FinishedAt = time.Time{}
	if ferr := r.e.store.FinishRun(context.WithoutCancel(ctx), &r.rec, res.Policies); ferr != nil {
		err = errors.Join(err, &StoreError{ferr})
	}
	res.Run = r.rec
	res.Skipped = r.skipped
	res.Resumed = r.resumed
	res.Elapsed, res.Fetched = time.Since(r.started), r.e.Progress.Records.Load()
	r.log.Info("run finished", "status", r.rec.Status, "records", r.rec.Records, "rejects", r.rec.Rejects)
	return res, err
}

func (r *run) incompleteMessage(ps []compliance.PolicySummary, failedBatches int64) string {
	var bad int
	for _, s := range ps {
		if s.Error != "" {
			bad++
		}
	}
	msg := fmt.Sprintf("incomplete: %d of %d policies reported errors, %d batches failed, %d records rejected",
		bad, len(ps), failedBatches, r.rec.Rejects)
	for _, e := range r.rec.Problems {
		msg += "; " + e
	}
	return msg
}
