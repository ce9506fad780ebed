package engine_test

import (
	"cmp"
	"context"
	"errors"
	"net/url"
	"slices"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"pcsync/internal/compliance"
	"pcsync/internal/emulator"
	"pcsync/internal/engine"
	"pcsync/internal/qualys"
)

func classicParams(truncation string) engine.ClassicParams {
	return engine.ClassicParams{
		Policies:      url.Values{"details": {"All"}},
		Controls:      url.Values{"details": {"All"}, "truncation_limit": {"7"}},
		PolicyDetails: url.Values{"show_user_controls": {"1"}, "show_appendix": {"1"}},
		Results: url.Values{"details": {"All"}, "cause_of_failure": {"1"}, "show_remediation_info": {"1"},
			"truncation_limit": {truncation}},
	}
}

func TestClassicAndPCRSPostureLandAsTheSameRows(t *testing.T) {
	t.Parallel()
	estate := testEstate(t)
	env := startEmulator(t, estate, emulator.Options{RateCalls: -1, Classic: emulator.ClassicLimits{Calls: -1, Concurrency: -1}})
	both := func(o *qualys.Options) { o.APIURL = env.url }

	pcrs := openStore(t)
	res, err := engine.New(env.client(t, both), pcrs, nil).Run(t.Context(), complete(engine.Options{Source: "pcrs", Evidence: true,
		Compression: true, HostsPerRequest: 7, Classic: classicParams("40")}))
	if err != nil || res.Run.Source != "pcrs" {
		t.Fatalf("pcrs run: %v (%+v)", err, res.Run)
	}
	classic := openStore(t)
	res, err = engine.New(env.client(t, both), classic, nil).Run(t.Context(), complete(engine.Options{Source: "classic", Concurrency: 2,
		Classic: classicParams("40")}))
	if err != nil || res.Run.Source != "classic" {
		t.Fatalf("classic run: %v (%+v)", err, res.Run)
	}
	want := expected(t, estate, emulator.StreamOptions{Evidence: true})
	fromPCRS, fromClassic := exported(t, pcrs), exported(t, classic)
	if len(fromClassic) != len(want) {
		t.Fatalf("classic stored %d postures, the estate has %d", len(fromClassic), len(want))
	}
	if diff := gocmp.Diff(fromPCRS, fromClassic); diff != "" {
		t.Fatalf("classic and PCRS rows differ (-pcrs +classic):\n%s", diff)
	}
	if diff := gocmp.Diff(want, fromClassic); diff != "" {
		t.Fatalf("classic rows differ from the estate (-estate +classic):\n%s", diff)
	}
	// 40 records a page: every policy took several pages
	if calls := env.server.Calls("classic/posture"); calls < 3*int(res.Run.Records/3/40) {
		t.Fatalf("%d posture/info calls for %d records at 40 a page", calls, res.Run.Records)
	}
	for _, s := range res.Policies {
		if c := estate.Counts(s.PolicyID); s.Records != c.Records || s.Failed != c.Failed || s.HostsReturned != 20 {
			t.Fatalf("classic summary %+v, estate %+v", s, c)
		}
	}
	var exceptions int
	_ = classic.Exceptions(t.Context(), func(int64, *compliance.Exception) error { exceptions++; return nil })
	if exceptions == 0 {
		t.Fatal("no exception stored from classic posture")
	}
}

func TestClassicCatalogueIsStored(t *testing.T) {
	t.Parallel()
	estate := testEstate(t)
	env := startEmulator(t, estate, emulator.Options{RateCalls: -1, Classic: emulator.ClassicLimits{Calls: -1, Concurrency: -1}})
	st := openStore(t)
	client := env.client(t, func(o *qualys.Options) { o.APIURL, o.GatewayURL = env.url, "" }) // classic only
	res, err := engine.New(client, st, nil).Run(t.Context(), complete(engine.Options{Classic: classicParams("500")}))
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if res.Run.Source != "classic" || len(res.Skipped) != 1 {
		t.Fatalf("a classic-only run: source %s, skipped %v", res.Run.Source, res.Skipped)
	}
	var got []compliance.Control
	_ = st.Controls(t.Context(), func(c *compliance.Control) error { got = append(got, *c); return nil })
	// every library control of the active policies, plus each policy's two user-defined ones
	lib := map[int64]bool{}
	active := 0
	for _, p := range estate.Policies() {
		if !p.Active() {
			continue
		}
		active++
		d, _ := estate.PolicyDetail(p.ID, false, false)
		for _, s := range d.Sections {
			for _, c := range s.Controls {
				lib[c.ControlID] = true
			}
		}
	}
	if len(got) != len(lib)+2*active {
		t.Fatalf("%d controls stored, want %d library + %d user-defined", len(got), len(lib), 2*active)
	}
	for _, c := range got {
		want, ok := estate.Control(c.ID)
		if !ok {
			t.Fatalf("control %d is not the estate's", c.ID)
		}
		if c.UserDefined {
			if c.Statement != want.Statement {
				t.Fatalf("user-defined control %d: statement %q", c.ID, c.Statement)
			}
			continue
		}
		if c.Statement != want.Statement || c.Category != want.Category || c.Criticality != want.Criticality ||
			len(c.Technologies) != len(want.Technologies) || c.Technologies[0].Rationale != want.Technologies[0].Rationale ||
			len(c.Frameworks) != len(want.Frameworks) || c.Remediation != want.Remediation || c.Active != want.Active {
			t.Fatalf("control %d stored as %+v\nthe estate has %+v", c.ID, c, want)
		}
	}
	n := 0
	_ = st.Sections(t.Context(), func(id int64, s *compliance.Section) error {
		d, _ := estate.PolicyDetail(id, true, true)
		want := d.Sections[s.Number-1]
		for _, c := range want.Controls { // technologies are stored as a set, by id
			slices.SortFunc(c.Technologies, func(a, b compliance.ControlTechnology) int { return cmp.Compare(a.TechnologyID, b.TechnologyID) })
		}
		if diff := gocmp.Diff(want, *s); diff != "" {
			t.Fatalf("policy %d section %d (-estate +stored):\n%s", id, s.Number, diff)
		}
		n++
		return nil
	})
	if n == 0 {
		t.Fatal("no sections stored")
	}
}

func TestPCRSOnlySkipsTheCatalogue(t *testing.T) {
	t.Parallel()
	env := startEmulator(t, testEstate(t), emulator.Options{RateCalls: -1})
	res, err := engine.New(env.client(t, nil), openStore(t), nil).Run(t.Context(), complete(engine.Options{Compression: true}))
	if err != nil || res.Run.Status != compliance.RunSucceeded || len(res.Skipped) != 1 {
		t.Fatalf("pcrs-only run: %v, skipped %v", err, res.Skipped)
	}
}

func TestClassicLimitsAreWaitedOut(t *testing.T) {
	t.Parallel()
	estate := testEstate(t)
	// 6 calls per 2 s and one at a time, while the client would run 3.
	env := startEmulator(t, estate, emulator.Options{RateCalls: -1,
		Classic: emulator.ClassicLimits{Calls: 6, Window: 2 * time.Second, Concurrency: 1}})
	st := openStore(t)
	client := env.client(t, func(o *qualys.Options) { o.APIURL, o.GatewayURL, o.ClassicConcurrency = env.url, "", 3 })
	start := time.Now()
	res, err := engine.New(client, st, nil).Run(t.Context(), complete(engine.Options{Concurrency: 3, Classic: classicParams("150")}))
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	calls := env.server.Calls("classic/policy") + env.server.Calls("classic/control") + env.server.Calls("classic/posture")
	if time.Since(start) < 2*time.Second || calls < 10 {
		t.Fatalf("%d calls in %s", calls, time.Since(start))
	}
	// The client learns the concurrency limit from the first answer and
	// stays within it (1960 is tested in the qualys package), but the rate
	// limit it can only wait out.
	if env.server.Calls("classic/1960") != 0 || env.server.Calls("classic/1965") == 0 {
		t.Fatalf("the emulator refused %d calls with 1960 (want none) and %d with 1965 (want some)",
			env.server.Calls("classic/1960"), env.server.Calls("classic/1965"))
	}
	if rl := client.LastRateLimit(); rl.Limit != 6 || rl.ConcurrencyLimit != 1 || rl.WindowSec != 2 {
		t.Fatalf("the client did not read the limit headers: %+v", rl)
	}
	checkSummaries(t, estate, res)
	if n := len(exported(t, st)); int64(n) != res.Run.Records {
		t.Fatalf("%d postures stored, %d reported", n, res.Run.Records)
	}
}

func classicOnly(env *env) func(*qualys.Options) {
	return func(o *qualys.Options) { o.APIURL, o.GatewayURL = env.url, "" }
}

// TestClassicIncrementalRunFindsTheChanges: after a scan cycle the classic
// path asks with status_changes_since and stores exactly the changes.
func TestClassicIncrementalRunFindsTheChanges(t *testing.T) {
	t.Parallel()
	cfg := emulator.DefaultConfig()
	cfg.Policies, cfg.InactivePolicies, cfg.Hosts, cfg.HostsPerPolicy, cfg.ControlsPerPolicy = 2, 0, 30, 20, 10
	cfg.FlipPermille, cfg.ChurnPercent = 150, 0 // the classic path has no host lists to see hosts come back
	estate, err := emulator.NewEstate(cfg)
	if err != nil {
		t.Fatal(err)
	}
	env := startEmulator(t, estate, emulator.Options{RateCalls: -1, Classic: emulator.ClassicLimits{Calls: -1, Concurrency: -1}})
	st := openStore(t)
	opts := engine.Options{Classic: classicParams("25")}
	if res, err := engine.New(env.client(t, classicOnly(env)), st, nil).Run(t.Context(), complete(opts)); err != nil || res.Run.Mode != compliance.ModeFull {
		t.Fatalf("first classic run: %v", err)
	}
	was := storedPostures(t, st, nil)
	after := records(t, env.server.Advance(time.Time{}))
	res, err := engine.New(env.client(t, classicOnly(env)), st, nil).Run(t.Context(), complete(opts))
	if err != nil || res.Run.Mode != compliance.ModeIncremental {
		t.Fatalf("incremental classic run: %v (%s)", err, res.Run.Mode)
	}
	changed := 0
	for id, r := range after {
		if was[id] != r.Status {
			changed++
		}
	}
	if changed == 0 || res.Run.Records == 0 || res.Run.Records >= int64(len(after)) {
		t.Fatalf("%d changes, the incremental run fetched %d of %d records", changed, res.Run.Records, len(after))
	}
	now := storedPostures(t, st, nil)
	for id, r := range after {
		if now[id] != r.Status {
			t.Fatalf("posture %d is %s, the estate says %s", id, now[id], r.Status)
		}
	}
	rows := 0
	for _, h := range history(t, st) {
		if h.RunID == res.Run.ID {
			rows++
		}
	}
	if rows != changed {
		t.Fatalf("%d history rows for %d changes", rows, changed)
	}
}

// TestInterruptedClassicRunResumesFromItsCursor: a classic listing stopped
// after some pages carries on from the first page not stored.
func TestInterruptedClassicRunResumesFromItsCursor(t *testing.T) {
	t.Parallel()
	estate := testEstate(t)
	opts := engine.Options{Classic: classicParams("20"), Concurrency: 1}
	limits := emulator.ClassicLimits{Calls: -1, Concurrency: -1}
	ref := startEmulator(t, estate, emulator.Options{RateCalls: -1, Classic: limits})
	clean := openStore(t)
	if _, err := engine.New(ref.client(t, classicOnly(ref)), clean, nil).Run(t.Context(), complete(opts)); err != nil {
		t.Fatal(err)
	}
	fullPages := ref.server.Calls("classic/posture")

	env := startEmulator(t, estate, emulator.Options{RateCalls: -1, Classic: limits,
		Faults: emulator.Faults{ClassicDelay: 30 * time.Millisecond}})
	st := openStore(t)
	eng := engine.New(env.client(t, classicOnly(env)), st, nil)
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		for eng.Progress.Stored.Load() < 50 {
			time.Sleep(2 * time.Millisecond)
		}
		cancel() // some pages of the first policy stored
	}()
	if _, err := eng.Run(ctx, complete(opts)); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted classic run: %v", err)
	}
	stopped := env.server.Calls("classic/posture")
	res, err := engine.New(env.client(t, classicOnly(env)), st, nil).Run(t.Context(), complete(opts))
	if err != nil || !res.Resumed {
		t.Fatalf("resumed classic run: %v", err)
	}
	if again := env.server.Calls("classic/posture") - stopped; again >= fullPages {
		t.Fatalf("the resumed run asked for %d pages, a whole run %d: it did not start from its cursor", again, fullPages)
	}
	sameAsClean(t, exported(t, clean), exported(t, st))
	checkSummaries(t, estate, res)
}
