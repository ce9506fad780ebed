package sqlite

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"

	"github.com/ncruces/go-sqlite3"

	"pcsync/internal/compliance"
	"pcsync/internal/store"
)

// figures reads three status counts from columns i, i+1, i+2.
func figures(st *sqlite3.Stmt, i int) store.Figures {
	return store.Figures{Passed: st.ColumnInt64(i), Failed: st.ColumnInt64(i + 1), Errors: st.ColumnInt64(i + 2)}
}

// current is the SQL condition of a counts row with current postures.
const current = "(passed + failed + errors) > 0"

// Summary is the estate's figures and the last run.
func (s *Store) Summary(ctx context.Context) (*store.Summary, error) {
	var c countsRead
	err := c.read(ctx, s, false)
	return &c.sum, err
}

// Overview is the Summary and the Breakdown, from one read of the counts.
func (s *Store) Overview(ctx context.Context) (*store.Summary, *store.Breakdown, error) {
	var c countsRead
	if err := c.read(ctx, s, true); err != nil {
		return nil, nil, err
	}
	return &c.sum, c.breakdown(), nil
}

// countsRead sums the counts of current postures in Go, from one plain
// scan of counts_control: SQLite's count(DISTINCT) kept two temporary
// b-trees (twice the time), and its join and grouping per criticality
// looked each count row up through an index. A scan of the counts is most
// of what the overview's figures cost (1.2 ms of wasm SQLite for 5,000
// rows), so the summary and the breakdown share one.
type countsRead struct {
	sum   store.Summary
	crits map[int64]compliance.Criticality // the controls' criticalities
	names map[int64]string                 // the technologies' names
	crit  map[int64]*store.CriticalityFigures
	tech  map[int64]*store.TechnologyFigures
}

// read fills the summary and, with breakdown, the figures per criticality
// and technology.
func (c *countsRead) read(ctx context.Context, s *Store, breakdown bool) error {
	var err error
	if breakdown {
		c.crits, c.names = map[int64]compliance.Criticality{}, map[int64]string{}
		c.crit, c.tech = map[int64]*store.CriticalityFigures{}, map[int64]*store.TechnologyFigures{}
		err = s.query(ctx, `SELECT id, criticality_value, criticality_label FROM controls
			WHERE criticality_value IS NOT NULL`, func(st *sqlite3.Stmt) error {
			c.crits[st.ColumnInt64(0)] = compliance.Criticality{Value: st.ColumnInt64(1), Label: st.ColumnText(2)}
			return nil
		})
		if err == nil {
			err = s.query(ctx, `SELECT id, name FROM technologies`, func(st *sqlite3.Stmt) error {
				c.names[st.ColumnInt64(0)] = st.ColumnText(1)
				return nil
			})
		}
	}
	policies, controls := map[int64]struct{}{}, map[int64]struct{}{}
	if err == nil {
		err = s.query(ctx, `SELECT policy_id, control_id, technology_id, passed, failed, errors, stale FROM counts_control NOT INDEXED`,
			func(st *sqlite3.Stmt) error {
				f := figures(st, 3)
				c.sum.Add(f)
				c.sum.StalePostures += st.ColumnInt64(6)
				if f.Total() == 0 {
					return nil
				}
				policies[st.ColumnInt64(0)] = struct{}{}
				controls[st.ColumnInt64(1)] = struct{}{}
				if breakdown {
					c.add(st.ColumnInt64(1), st.ColumnInt64(2), f)
				}
				return nil
			})
	}
	c.sum.Policies, c.sum.Controls = int64(len(policies)), int64(len(controls))
	if err == nil {
		err = s.query(ctx, `SELECT count(*) FROM current_hosts`,
			func(st *sqlite3.Stmt) error { c.sum.Hosts = st.ColumnInt64(0); return nil })
	}
	if err == nil {
		err = s.query(ctx, `SELECT `+runColumns+` FROM runs ORDER BY id DESC LIMIT 1`, func(st *sqlite3.Stmt) error {
			r := scanRun(st)
			c.sum.LastRun = &r
			return nil
		})
	}
	return err
}

// add counts the figures of a control's postures on a technology.
func (c *countsRead) add(controlID, techID int64, f store.Figures) {
	cr, ok := c.crits[controlID]
	if !ok {
		cr.Value = -1 // a control the catalogue has no criticality for
	}
	if c.crit[cr.Value] == nil {
		c.crit[cr.Value] = &store.CriticalityFigures{Criticality: compliance.Criticality{Value: cr.Value}}
	}
	if cr.Label > c.crit[cr.Value].Label {
		c.crit[cr.Value].Label = cr.Label
	}
	c.crit[cr.Value].Add(f)
	if c.tech[techID] == nil {
		c.tech[techID] = &store.TechnologyFigures{Technology: compliance.Technology{ID: techID, Name: c.names[techID]}}
	}
	c.tech[techID].Add(f)
}

// breakdown is the figures per criticality (highest first) and per
// technology (by name).
func (c *countsRead) breakdown() *store.Breakdown {
	var b store.Breakdown
	for _, x := range c.crit {
		b.Criticality = append(b.Criticality, *x)
	}
	for _, x := range c.tech {
		b.Technology = append(b.Technology, *x)
	}
	slices.SortFunc(b.Criticality, func(x, y store.CriticalityFigures) int { return cmp.Compare(y.Value, x.Value) })
	slices.SortFunc(b.Technology, func(x, y store.TechnologyFigures) int {
		return cmp.Or(strings.Compare(x.Name, y.Name), cmp.Compare(x.ID, y.ID))
	})
	return &b
}

// Trend is the figures recorded at the end of each finished run.
func (s *Store) Trend(ctx context.Context, policyID, frameworkID int64) ([]store.TrendPoint, error) {
	var out []store.TrendPoint
	err := s.query(ctx, `SELECT `+prefixed("r.", runColumns)+`, k.passed, k.failed, k.errors
		FROM run_counts k JOIN runs r ON r.id = k.run_id
		WHERE k.policy_id = ? AND k.framework_id = ? ORDER BY k.run_id`, func(st *sqlite3.Stmt) error {
		out = append(out, store.TrendPoint{Run: scanRun(st), Figures: figures(st, runColumnCount)})
		return nil
	}, policyID, frameworkID)
	return out, err
}

// UnscannedHosts counts the hosts with current postures last scanned before
// t, or with no scan date at all: the hosts scanned before t, a range of hosts_scanned (SQLite's plan;
// a first load builds that index at its end), each checked for current
// postures, so that the cost follows the hosts not scanned lately
// (few, in an estate scanned on schedule). When every host was last scanned
// before t (an estate whose scans stopped, or the benchmark's fixed dates),
// it is the count of current hosts: 10,000 checks cost 2.9 ms, this 0.03.
func (s *Store) UnscannedHosts(ctx context.Context, before time.Time) (int64, error) {
	var all bool
	err := s.query(ctx, `SELECT (SELECT max(compliance_last_scan_date) FROM hosts) < ?1`,
		func(st *sqlite3.Stmt) error { all = st.ColumnBool(0); return nil }, before)
	var n int64
	count := func(st *sqlite3.Stmt) error { n = st.ColumnInt64(0); return nil }
	switch {
	case err != nil:
	case all: // every current host has its row in hosts: the sync writes it with the host's postures
		err = s.query(ctx, `SELECT count(*) FROM current_hosts`, count)
	default:
		err = s.query(ctx, `SELECT count(*) FROM hosts h WHERE (h.compliance_last_scan_date < ? OR h.compliance_last_scan_date IS NULL)
			AND EXISTS (SELECT 1 FROM current_hosts c WHERE c.host_id = h.id)`, count, before)
	}
	return n, err
}
