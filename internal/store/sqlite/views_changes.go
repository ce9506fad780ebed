package sqlite

import (
	"context"
	"time"

	"github.com/ncruces/go-sqlite3"

	"pcsync/internal/compliance"
	"pcsync/internal/store"
)

// changeOrder is the order of the change list: newly failing first.
var changeOrder = []compliance.Status{compliance.StatusFailed, compliance.StatusError, compliance.StatusPassed}

// ListChanges lists the status changes recorded by runs after f.From up to
// f.To: newly failing first, then newly in error, then newly passing, each
// in the order they were seen. Runs write in turn, so the history rows of a
// range of runs are a range of history ids, read through the index on
// (new_status, id).
func (s *Store) ListChanges(ctx context.Context, f store.ChangeFilter, page store.Page, fn func(*compliance.StatusChange) error) (string, error) {
	c, ok, err := decodeCursor("changes", page.After, 2, 0)
	if err != nil {
		return "", err
	}
	var lo, hi int64
	err = s.query(ctx, `SELECT coalesce(min(id), 0), coalesce(max(id), -1) FROM history WHERE run_id > ? AND run_id <= ?`,
		func(st *sqlite3.Stmt) error { lo, hi = st.ColumnInt64(0), st.ColumnInt64(1); return nil }, f.From, f.To)
	if err != nil {
		return "", err
	}
	rank, after := 0, lo-1
	if ok {
		if c.Ints[0] < 0 || c.Ints[0] >= int64(len(changeOrder)) { // edited: no such rank
			return "", store.ErrBadCursor
		}
		rank, after = int(c.Ints[0]), c.Ints[1]
	}
	pg := &pager{page: page}
	for ; rank < len(changeOrder); rank, after = rank+1, lo-1 {
		status := changeOrder[rank]
		if f.Status != "" && f.Status != status {
			continue
		}
		r := rank
		err := s.query(ctx, `SELECT `+changeColumns+` FROM history WHERE new_status = ? AND id > ? AND id <= ?
			AND run_id > ? AND run_id <= ? ORDER BY id LIMIT ?`, func(st *sqlite3.Stmt) error {
			if pg.full() {
				return errPageFull
			}
			ch := scanChange(st)
			pg.mark("changes", []int64{int64(r), ch.ID})
			return fn(&ch)
		}, string(status), after, hi, f.From, f.To, limit(page))
		if err != nil {
			return pg.done(err)
		}
	}
	return "", nil
}

// ListExceptions lists exceptions ending at or after f.Now by end date,
// soonest first, then those ended before it, latest first, then those
// without an end date.
func (s *Store) ListExceptions(ctx context.Context, f store.ExceptionFilter, page store.Page, fn func(*store.ExceptionView) error) (string, error) {
	c, ok, err := decodeCursor("exceptions", page.After, 2, 1)
	if err != nil {
		return "", err
	}
	now := "0" // before every date ("" would bind NULL)
	if !f.Now.IsZero() {
		now = f.Now.UTC().Format(time.RFC3339)
	}
	const cols = `e.posture_id, p.policy_id, p.host_id, p.control_id, p.status, e.assignee, e.status, e.comments,
		e.created_by, e.created_date, e.modified_by, e.modified_date, e.end_date FROM exceptions e JOIN postures p ON p.policy_id = e.policy_id AND p.id = e.posture_id
		WHERE p.stale_run IS NULL AND (coalesce(?1, '') = '' OR e.status = ?1) AND `
	after := func(phase int64, def ...any) []any {
		if ok && c.Ints[0] == phase {
			if phase == 2 {
				return []any{c.Ints[1]}
			}
			return []any{c.Strs[0], c.Ints[1]}
		}
		return def
	}
	phases := []struct {
		sql  string
		args func() []any
	}{
		{`e.end_date >= ?2 AND (e.end_date, e.posture_id) > (?3, ?4) ORDER BY e.end_date, e.posture_id LIMIT ?5`,
			func() []any { return after(0, "0", int64(-1<<63)) }},
		{`e.end_date < ?2 AND (e.end_date, e.posture_id) < (?3, ?4) ORDER BY e.end_date DESC, e.posture_id DESC LIMIT ?5`,
			func() []any { return after(1, "9", int64(1<<63-1)) }},
		{`e.end_date IS NULL AND e.posture_id > ?3 ORDER BY e.posture_id LIMIT ?4`,
			func() []any { return after(2, int64(-1<<63)) }},
	}
	first := 0
	if ok {
		if c.Ints[0] < 0 || c.Ints[0] >= int64(len(phases)) { // edited: no such phase
			return "", store.ErrBadCursor
		}
		first = int(c.Ints[0])
	}
	pg := &pager{page: page}
	for phase := first; phase < len(phases); phase++ {
		ph := int64(phase)
		args := append(append([]any{f.Status, now}, phases[phase].args()...), limit(page))
		err := s.query(ctx, `SELECT `+cols+phases[phase].sql, func(st *sqlite3.Stmt) error {
			if pg.full() {
				return errPageFull
			}
			v := store.ExceptionView{PostureID: st.ColumnInt64(0), PolicyID: st.ColumnInt64(1), HostID: st.ColumnInt64(2),
				ControlID: st.ColumnInt64(3), Status: compliance.Status(st.ColumnText(4)),
				Exception: compliance.Exception{Assignee: st.ColumnText(5), Status: st.ColumnText(6), Comments: st.ColumnText(7),
					CreatedBy: st.ColumnText(8), CreatedDate: date(st, 9), ModifiedBy: st.ColumnText(10), ModifiedDate: date(st, 11),
					EndDate: date(st, 12)}}
			pg.mark("exceptions", []int64{ph, v.PostureID}, st.ColumnText(12))
			return fn(&v)
		}, args...)
		if err != nil {
			return pg.done(err)
		}
	}
	return "", nil
}
