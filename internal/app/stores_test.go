package app

import (
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"pcsync/internal/compliance"
	"pcsync/internal/emulator"
	"pcsync/internal/store"
	"pcsync/internal/store/pgtest"
)

// TestBothStoresHoldTheSameRows syncs one estate into SQLite and into
// PostgreSQL, through both APIs, twice (the estate moving on in between,
// so that history, stale marks and an incremental run exist), and compares
// every table as pcsync export writes it, and what diff prints.
func TestBothStoresHoldTheSameRows(t *testing.T) {
	t.Parallel()
	pg := pgtest.New(t)
	cfg := emulator.DefaultConfig()
	cfg.Policies, cfg.InactivePolicies, cfg.Hosts, cfg.ControlsPerPolicy, cfg.FlipPermille, cfg.ChurnPercent = 2, 0, 30, 12, 200, 10
	srv := newEmulator(t, cfg)
	ts := httptest.NewServer(srv)
	defer ts.Close()
	lite := filepath.Join(t.TempDir(), "pcsync.db")
	creds := credentials(t, "emulator")
	sync := func(db string, args ...string) {
		t.Helper()
		code, out, errOut := run(t, append([]string{"sync", "--config", creds, "--gateway", ts.URL, "--api", ts.URL, "--db", db}, args...)...)
		if code != ExitOK {
			t.Fatalf("sync into %s exited %d\n%s\n%s", db, code, out, errOut)
		}
	}
	sync(lite)
	sync(pg)
	srv.Advance(time.Time{})
	sync(lite)
	sync(pg)
	for _, tab := range store.Tables {
		if tab.Name == "runs" || tab.Name == "run_batches" { // times of the runs themselves
			continue
		}
		// history is in the order the changes were seen, which depends on
		// which stream a run's workers finished first: compare as sets
		a, b := sortedLines(exportTable(t, lite, tab.Name)), sortedLines(exportTable(t, pg, tab.Name))
		if a != b {
			t.Errorf("table %s differs:\nsqlite:\n%.2000s\npostgres:\n%.2000s", tab.Name, a, b)
		}
	}
	if a, b := exportTable(t, lite, "postures"), exportTable(t, pg, "postures"); strings.Count(a, "\n") < 100 || a != b {
		t.Fatalf("postures: %d and %d lines", strings.Count(a, "\n"), strings.Count(b, "\n"))
	}
	sameViews(t, lite, pg)
	// the control page's groups come from the failing value the sync keeps
	// or, where it is not kept (a value too long, a row copied in by
	// migrate), from the posture's documents: the same groups either way
	if kept := count(pg, `SELECT count(*) FROM postures WHERE status = 'Failed' AND fail_value IS NOT NULL`); kept == 0 {
		t.Fatal("the sync into PostgreSQL kept no failing value")
	}
	if bad := pgRows(t, pg, `SELECT count(*) FROM postures WHERE status <> 'Failed' AND fail_value IS NOT NULL`); bad != "0\t\n" {
		t.Fatalf("postures that do not fail have a failing value: %s", bad)
	}
	pgRows(t, pg, `UPDATE postures SET fail_value = NULL WHERE id % 2 = 0`)
	sameViews(t, lite, pg)
	for _, args := range [][]string{{"diff"}, {"diff", "--changes", "ndjson"}} {
		_, a, _ := run(t, append(args, "--db", lite)...)
		_, b, _ := run(t, append(args, "--db", pg)...)
		if a, b = sortedLines(a), sortedLines(b); a != b || a == "" {
			t.Errorf("%v differs:\nsqlite:\n%.2000s\npostgres:\n%.2000s", args, a, b)
		}
	}
}

func sortedLines(s string) string {
	lines := strings.Split(s, "\n")
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// db init creates a schema; --citus refuses a SQLite database before
// touching it, and a PostgreSQL database without the citus extension with
// what to do, also before writing anything.
func TestDBInit(t *testing.T) {
	t.Parallel()
	lite := filepath.Join(t.TempDir(), "x.db")
	if code, _, errOut := run(t, "db", "init", "--db", lite, "--citus"); code != ExitUsage || !strings.Contains(errOut, "SQLite") {
		t.Fatalf("db init --citus on SQLite: exit %d %s", code, errOut)
	}
	if n := count(lite, "SELECT 1"); n != 0 {
		t.Fatal("db init --citus created the SQLite database it refused")
	}
	pg := pgtest.New(t)
	code, out, errOut := run(t, "db", "init", "--db", pg, "--citus")
	if code != ExitUsage || !strings.Contains(errOut, "CREATE EXTENSION citus") || out != "" {
		t.Fatalf("db init --citus without citus: exit %d\n%s\n%s", code, out, errOut)
	}
	if got := pgRows(t, pg, "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()"); got != "0\t\n" {
		t.Fatalf("db init --citus without citus wrote %s tables; exit 2 is nothing done", got)
	}
	if code, out, errOut := run(t, "db", "init", "--db", pg); code != ExitOK || !strings.Contains(out, "schema up to date") {
		t.Fatalf("db init: exit %d\n%s\n%s", code, out, errOut)
	}
	if n := count(pg, "SELECT count(*) FROM postures"); n != 0 || count(pg, "SELECT version FROM pcsync_schema") == 0 {
		t.Fatal("db init did not create the schema")
	}
}

// sameViews compares what the server's read model answers on the two
// databases: the figures, and every list walked page by page.
func sameViews(t *testing.T, a, b string) {
	t.Helper()
	answers := func(dsn string) map[string]string {
		ctx := t.Context()
		rd, err := openReader(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer rd.Close()
		out := map[string]string{}
		note := func(what string, v any, err error) {
			if err != nil {
				t.Fatalf("%s on %s: %v", what, dsn, err)
			}
			j, _ := json.Marshal(v)
			out[what] += string(j) + "\n"
		}
		sum, err := rd.Summary(ctx)
		if err == nil {
			sum.LastRun = nil // its times are the run's own
		}
		note("summary", sum, err)
		osum, bd, err := rd.Overview(ctx)
		if err == nil {
			osum.LastRun = nil
		}
		if err == nil && *osum != *sum {
			t.Errorf("the overview's summary %+v is not the summary %+v", osum, sum)
		}
		note("breakdown", bd, err)
		walk := func(what string, list func(store.Page) (string, error)) {
			for p := (store.Page{Limit: 7}); ; {
				next, err := list(p)
				note(what+" cursor", next != "", err)
				if next == "" {
					return
				}
				p.After = next
			}
		}
		var policies []int64
		walk("policies", func(p store.Page) (string, error) {
			return rd.ListPolicies(ctx, p, func(f *store.PolicyFigures) error {
				policies = append(policies, f.ID)
				note("policies", f, nil)
				return nil
			})
		})
		for _, id := range policies {
			v, err := rd.Policy(ctx, id)
			if err == nil {
				v.Policy = compliance.Policy{} // its dates: the policy list's
			}
			note("policy", v, err)
			var failing, controls []int64
			walk("controls", func(p store.Page) (string, error) {
				return rd.ListPolicyControls(ctx, id, store.ControlFilter{Criticality: -1, Section: -1}, p,
					func(c *store.ControlFigures) error {
						if c.Failed > 0 {
							failing = append(failing, c.ControlID)
						}
						controls = append(controls, c.ControlID)
						note("controls", c, nil)
						return nil
					})
			})
			statements, err := rd.ControlStatements(ctx, append(controls, -1)) // an unknown id is left out
			note("control statements", statements, err)
			if err == nil && len(statements) != len(controls) {
				t.Errorf("%d statements for %d controls on %s", len(statements), len(controls), dsn)
			}
			for _, c := range failing { // the control page's groups, in this policy and in all
				for _, in := range []int64{id, 0} {
					v, err := rd.FailingValues(ctx, c, in, 1000)
					note("failing values", v, err)
				}
			}
			walk("failing postures", func(p store.Page) (string, error) {
				return rd.ListPostures(ctx, store.PostureFilter{Policy: id, Status: compliance.StatusFailed}, p,
					func(v *store.PostureView) error { note("postures", v.ID, nil); return nil })
			})
		}
		var hosts []int64
		walk("hosts", func(p store.Page) (string, error) {
			return rd.ListHosts(ctx, store.HostFilter{Status: compliance.StatusFailed}, p,
				func(h *store.HostFigures) error { hosts = append(hosts, h.ID); note("hosts", h, nil); return nil })
		})
		names, err := rd.HostNames(ctx, append(hosts, -1)) // an unknown id is left out
		note("host names", names, err)
		if err == nil && (len(hosts) == 0 || len(names) != len(hosts) || names[hosts[0]] == "") {
			t.Errorf("%d host names for %d failing hosts on %s", len(names), len(hosts), dsn)
		}
		for _, id := range hosts[:min(len(hosts), 3)] { // a host's postures, a page across its policies
			walk("host postures", func(p store.Page) (string, error) {
				return rd.ListPostures(ctx, store.PostureFilter{Host: id}, p,
					func(v *store.PostureView) error { note("host postures", []any{v.PolicyID, v.ID}, nil); return nil })
			})
		}
		for _, id := range hosts { // the host page's exceptions
			_, err := rd.ListPostures(ctx, store.PostureFilter{Host: id, Excepted: true}, store.Page{},
				func(v *store.PostureView) error { note("host exceptions", []any{v.ID, v.Exception}, nil); return nil })
			note("host exceptions", id, err)
		}
		walk("frameworks", func(p store.Page) (string, error) {
			return rd.ListFrameworks(ctx, p, func(f *store.FrameworkFigures) error { note("frameworks", f, nil); return nil })
		})
		walk("changes", func(p store.Page) (string, error) {
			return rd.ListChanges(ctx, store.ChangeFilter{From: 1, To: 2}, p, func(c *compliance.StatusChange) error {
				c.ID = 0
				note("changes", c.PostureID, nil)
				return nil
			})
		})
		walk("exceptions", func(p store.Page) (string, error) {
			return rd.ListExceptions(ctx, store.ExceptionFilter{}, p, func(e *store.ExceptionView) error { note("exceptions", e, nil); return nil })
		})
		return out
	}
	got, want := answers(b), answers(a)
	for what, w := range want {
		g := got[what]
		if what == "changes" { // history's order is the order the changes were seen
			g, w = sortedLines(g), sortedLines(w)
		}
		if g != w {
			t.Errorf("%s differs between the stores:\npostgres:\n%.1200s\nsqlite:\n%.1200s", what, g, w)
		}
	}
	if want["postures"] == "" || want["controls"] == "" || want["failing values"] == "" {
		t.Fatal("the views had nothing to compare")
	}
}

// A password in a PostgreSQL URL is never shown: not by the demo's sync at
// debug level, not in the run ledger, not by export or diff. Each warns
// that a password on the command line is visible to other users.
func TestThePasswordInTheURLIsNeverShown(t *testing.T) {
	t.Parallel()
	dsn := pgtest.New(t)
	u, _ := url.Parse(dsn)
	password, ok := u.User.Password()
	if !ok {
		if os.Getenv("CI") == "true" {
			t.Fatal("the CI server must ask for a password")
		}
		t.Skip("the test server's URL has no password")
	}
	var all strings.Builder
	for _, args := range [][]string{{"demo", "--no-serve", "--log-level", "debug"}, {"export", "--table", "runs"}, {"diff"}} {
		code, out, errOut := run(t, append(args, "--db", dsn)...)
		if code != ExitOK {
			t.Fatalf("%v: exit %d\n%s\n%s", args, code, out, errOut)
		}
		all.WriteString(out + errOut)
		// the demo's hints quote the URL: its & would end a pasted command
		if args[0] == "demo" && !strings.Contains(out, "serve --db '"+store.RedactDSN(dsn)+"' ") {
			t.Errorf("the demo's serve hint does not quote the URL:\n%s", out)
		}
		if !strings.Contains(errOut, "warning: --db holds a password, which other users of this machine can read in the process list (ps): give it in PGPASSWORD or a ~/.pgpass file instead") {
			t.Errorf("%v: no warning that --db shows the password to ps; stderr %q", args, errOut)
		}
	}
	if strings.Contains(all.String(), password) {
		t.Fatal("the password was printed")
	}
	if !strings.Contains(all.String(), "xxxxx") {
		t.Fatal("the demo did not name the database (redacted) at all: the test proves nothing")
	}
	if n := count(dsn, `SELECT count(*) FROM runs WHERE concat(params::text, request::text, message, problems) LIKE '%`+password+`%'`); n != 0 {
		t.Fatalf("the password is in %d runs of the ledger", n)
	}
}
