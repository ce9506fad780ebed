package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"pcsync/internal/compliance"
	"pcsync/internal/store"
)

// current is the SQL condition of a counts row with current postures.
const current = "(passed + failed + errors) > 0"

// fig is the scan destination of three status counts.
func fig(f *store.Figures) []any { return []any{&f.Passed, &f.Failed, &f.Errors} }

// Summary is the estate's figures and the last run.
func (s *Store) Summary(ctx context.Context) (*store.Summary, error) {
	var sum store.Summary
	err := s.pool.QueryRow(ctx, `SELECT coalesce(sum(passed), 0)::bigint, coalesce(sum(failed), 0)::bigint,
		coalesce(sum(errors), 0)::bigint, coalesce(sum(stale), 0)::bigint,
		count(DISTINCT CASE WHEN `+current+` THEN policy_id END), count(DISTINCT CASE WHEN `+current+` THEN control_id END),
		(SELECT count(*) FROM current_hosts)
		FROM counts_control`).Scan(append(fig(&sum.Figures), &sum.StalePostures, &sum.Policies, &sum.Controls, &sum.Hosts)...)
	if err != nil {
		return nil, err
	}
	r, err := s.oneRun(ctx, `SELECT `+runColumns+` FROM runs ORDER BY id DESC LIMIT 1`)
	switch {
	case err == nil:
		sum.LastRun = r
	case !errors.Is(err, store.ErrNotFound):
		return nil, err
	}
	return &sum, nil
}

// Overview is the Summary and the figures per criticality and technology.
func (s *Store) Overview(ctx context.Context) (*store.Summary, *store.Breakdown, error) {
	sum, err := s.Summary(ctx)
	if err != nil {
		return nil, nil, err
	}
	b, err := s.breakdown(ctx)
	return sum, b, err
}

// breakdown is the figures per criticality and per technology.
func (s *Store) breakdown(ctx context.Context) (*store.Breakdown, error) {
	var b store.Breakdown
	err := s.query(ctx, `SELECT coalesce(c.criticality_value, -1), coalesce(max(c.criticality_label), ''),
		sum(k.passed)::bigint, sum(k.failed)::bigint, sum(k.errors)::bigint
		FROM counts_control k LEFT JOIN controls c ON c.id = k.control_id
		GROUP BY 1 HAVING sum(k.passed + k.failed + k.errors) > 0 ORDER BY 1 DESC`, func(row pgx.Rows) error {
		var c store.CriticalityFigures
		if err := row.Scan(append([]any{&c.Value, &c.Label}, fig(&c.Figures)...)...); err != nil {
			return err
		}
		b.Criticality = append(b.Criticality, c)
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = s.query(ctx, `SELECT k.technology_id, coalesce(t.name, ''), sum(k.passed)::bigint, sum(k.failed)::bigint, sum(k.errors)::bigint
		FROM counts_control k LEFT JOIN technologies t ON t.id = k.technology_id
		GROUP BY k.technology_id, t.name HAVING sum(k.passed + k.failed + k.errors) > 0 ORDER BY coalesce(t.name, '') COLLATE "C", k.technology_id`, func(row pgx.Rows) error {
		var t store.TechnologyFigures
		if err := row.Scan(append([]any{&t.ID, &t.Name}, fig(&t.Figures)...)...); err != nil {
			return err
		}
		b.Technology = append(b.Technology, t)
		return nil
	})
	return &b, err
}

// Trend is the figures recorded at the end of each finished run.
func (s *Store) Trend(ctx context.Context, policyID, frameworkID int64) ([]store.TrendPoint, error) {
	var out []store.TrendPoint
	err := s.query(ctx, `SELECT `+prefixed("r.", runColumns)+`, k.passed, k.failed, k.errors
		FROM run_counts k JOIN runs r ON r.id = k.run_id
		WHERE k.policy_id = $1 AND k.framework_id = $2 ORDER BY k.run_id`, func(row pgx.Rows) error {
		var p store.TrendPoint
		r, err := scanRun(row, fig(&p.Figures)...)
		p.Run = r
		out = append(out, p)
		return err
	}, policyID, frameworkID)
	return out, err
}

// UnscannedHosts counts the hosts with current postures last scanned before
// t, or with no scan date at all.
func (s *Store) UnscannedHosts(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM hosts h WHERE (h.compliance_last_scan_date < $1 OR h.compliance_last_scan_date IS NULL)
		AND h.id IN (SELECT host_id FROM current_hosts)`, before.UTC()).Scan(&n)
	return n, err
}

// limit is the SQL LIMIT of a page: one row more than asked, to know
// whether there is a next page; NULL (no limit) for a whole list.
func limit(p store.Page) any {
	if p.Limit <= 0 {
		return nil
	}
	return p.Limit + 1
}

// errPageFull stops a list query at the row after a full page.
var errPageFull = errors.New("page full")

// pager counts the rows of a page: full reports, at the start of each row,
// whether the page already has its rows (the query then stops, and the
// cursor of the last row is the next page's).
type pager struct {
	page       store.Page
	rows       int
	last, next string
}

func (pg *pager) full() bool {
	pg.rows++
	if pg.page.Limit > 0 && pg.rows > pg.page.Limit {
		pg.next = pg.last
		return true
	}
	return false
}

// done turns the query's end into the list's result.
func (pg *pager) done(err error) (string, error) {
	if err == errPageFull {
		return pg.next, nil
	}
	return "", err
}

// afterID is the id a list of ids continues after: the cursor's, or the
// smallest int64 at the start.
func afterID(list, after string) (int64, error) {
	ints, _, ok, err := store.DecodeCursor(list, after, 1, 0)
	if err != nil || !ok {
		return -1 << 63, err
	}
	return ints[0], nil
}

// ListRuns lists runs, latest first.
func (s *Store) ListRuns(ctx context.Context, page store.Page, fn func(*compliance.Run) error) (string, error) {
	ints, _, ok, err := store.DecodeCursor("runs", page.After, 1, 0)
	if err != nil {
		return "", err
	}
	before := int64(1<<63 - 1)
	if ok {
		before = ints[0]
	}
	pg := &pager{page: page}
	return pg.done(s.query(ctx, `SELECT `+runColumns+` FROM runs WHERE id < $1 ORDER BY id DESC LIMIT $2`, func(row pgx.Rows) error {
		if pg.full() {
			return errPageFull
		}
		r, err := scanRun(row)
		if err != nil {
			return err
		}
		pg.last = store.EncodeCursor("runs", []int64{r.ID})
		return fn(&r)
	}, before, limit(page)))
}

// Run is one run.
func (s *Store) Run(ctx context.Context, id int64) (*compliance.Run, error) {
	return s.oneRun(ctx, `SELECT `+runColumns+` FROM runs WHERE id = $1`, id)
}
