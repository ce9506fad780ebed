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
	var sum store.Summary
	// one plain scan of the counts, summed in Go: SQLite's count(DISTINCT)
	// keeps two temporary b-trees, twice the time
	policies, controls := map[int64]struct{}{}, map[int64]struct{}{}
	err := s.query(ctx, `SELECT policy_id, control_id, passed, failed, errors, stale FROM counts_control NOT INDEXED`,
		func(st *sqlite3.Stmt) error {
			f := figures(st, 2)
			sum.Add(f)
			sum.StalePostures += st.ColumnInt64(5)
			if f.Total() > 0 {
				policies[st.ColumnInt64(0)] = struct{}{}
				controls[st.ColumnInt64(1)] = struct{}{}
			}
			return nil
		})
	sum.Policies, sum.Controls = int64(len(policies)), int64(len(controls))
	if err == nil {
		err = s.query(ctx, `SELECT count(*) FROM current_hosts`,
			func(st *sqlite3.Stmt) error { sum.Hosts = st.ColumnInt64(0); return nil })
	}
	if err == nil {
		err = s.query(ctx, `SELECT `+runColumns+` FROM runs ORDER BY id DESC LIMIT 1`, func(st *sqlite3.Stmt) error {
			r := scanRun(st)
			sum.LastRun = &r
			return nil
		})
	}
	return &sum, err
}

// Breakdown is the figures per criticality and per technology, summed in
// Go from one scan of the counts, with the controls' criticalities and the
// technologies' names read first: SQLite joined and grouped the same in
// twice the time (it looked up each count's row through an index).
func (s *Store) Breakdown(ctx context.Context) (*store.Breakdown, error) {
	crits := map[int64]compliance.Criticality{}
	err := s.query(ctx, `SELECT id, criticality_value, criticality_label FROM controls
		WHERE criticality_value IS NOT NULL`, func(st *sqlite3.Stmt) error {
		crits[st.ColumnInt64(0)] = compliance.Criticality{Value: st.ColumnInt64(1), Label: st.ColumnText(2)}
		return nil
	})
	names := map[int64]string{}
	if err == nil {
		err = s.query(ctx, `SELECT id, name FROM technologies`, func(st *sqlite3.Stmt) error {
			names[st.ColumnInt64(0)] = st.ColumnText(1)
			return nil
		})
	}
	crit := map[int64]*store.CriticalityFigures{}
	tech := map[int64]*store.TechnologyFigures{}
	if err == nil {
		err = s.query(ctx, `SELECT control_id, technology_id, passed, failed, errors FROM counts_control NOT INDEXED
			WHERE `+current, func(st *sqlite3.Stmt) error {
			f := figures(st, 2)
			c, ok := crits[st.ColumnInt64(0)]
			if !ok {
				c.Value = -1 // a control the catalogue has no criticality for
			}
			if crit[c.Value] == nil {
				crit[c.Value] = &store.CriticalityFigures{Criticality: compliance.Criticality{Value: c.Value}}
			}
			if c.Label > crit[c.Value].Label {
				crit[c.Value].Label = c.Label
			}
			crit[c.Value].Add(f)
			tid := st.ColumnInt64(1)
			if tech[tid] == nil {
				tech[tid] = &store.TechnologyFigures{Technology: compliance.Technology{ID: tid, Name: names[tid]}}
			}
			tech[tid].Add(f)
			return nil
		})
	}
	if err != nil {
		return nil, err
	}
	var b store.Breakdown
	for _, c := range crit {
		b.Criticality = append(b.Criticality, *c)
	}
	for _, t := range tech {
		b.Technology = append(b.Technology, *t)
	}
	slices.SortFunc(b.Criticality, func(x, y store.CriticalityFigures) int { return cmp.Compare(y.Value, x.Value) })
	slices.SortFunc(b.Technology, func(x, y store.TechnologyFigures) int {
		return cmp.Or(strings.Compare(x.Name, y.Name), cmp.Compare(x.ID, y.ID))
	})
	return &b, nil
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

// UnscannedHosts counts the hosts with current postures last scanned before t.
func (s *Store) UnscannedHosts(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.query(ctx, `SELECT count(*) FROM hosts h WHERE h.compliance_last_scan_date < ?
		AND h.id IN (SELECT host_id FROM current_hosts)`,
		func(st *sqlite3.Stmt) error { n = st.ColumnInt64(0); return nil }, before)
	return n, err
}
