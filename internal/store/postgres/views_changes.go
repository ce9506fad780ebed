package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"pcsync/internal/compliance"
	"pcsync/internal/store"
)

// changeOrder is the order of the change list: newly failing first.
var changeOrder = []compliance.Status{compliance.StatusFailed, compliance.StatusError, compliance.StatusPassed}

// ListChanges lists the status changes recorded by runs after f.From up to
// f.To: newly failing first, then newly in error, then newly passing, each
// in the order they were seen (history ids), read through the index on
// (new_status, id).
func (s *Store) ListChanges(ctx context.Context, f store.ChangeFilter, page store.Page, fn func(*compliance.StatusChange) error) (string, error) {
	c, _, ok, err := store.DecodeCursor("changes", page.After, 2, 0)
	if err != nil {
		return "", err
	}
	var lo, hi int64
	if err := s.pool.QueryRow(ctx, `SELECT coalesce(min(id), 0), coalesce(max(id), -1) FROM history WHERE run_id > $1 AND run_id <= $2`,
		f.From, f.To).Scan(&lo, &hi); err != nil {
		return "", err
	}
	rank, after := 0, lo-1
	if ok {
		if c[0] < 0 || c[0] >= int64(len(changeOrder)) { // edited: no such rank
			return "", store.ErrBadCursor
		}
		rank, after = int(c[0]), c[1]
	}
	pg := &pager{page: page}
	for ; rank < len(changeOrder); rank, after = rank+1, lo-1 {
		status := changeOrder[rank]
		if f.Status != "" && f.Status != status {
			continue
		}
		r := rank
		err := s.query(ctx, `SELECT `+changeColumns+` FROM history WHERE new_status = $1 AND id > $2 AND id <= $3
			AND run_id > $4 AND run_id <= $5 ORDER BY id LIMIT $6`, func(row pgx.Rows) error {
			if pg.full() {
				return errPageFull
			}
			ch, err := scanChange(row)
			if err != nil {
				return err
			}
			pg.last = store.EncodeCursor("changes", []int64{int64(r), ch.ID})
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
	c, strs, ok, err := store.DecodeCursor("exceptions", page.After, 2, 1)
	if err != nil {
		return "", err
	}
	const cols = `e.posture_id, p.policy_id, p.host_id, p.control_id, p.status, ` + exceptionColumns + `
		FROM exceptions e JOIN postures p ON p.policy_id = e.policy_id AND p.id = e.posture_id
		WHERE p.stale_run IS NULL AND ($1 = '' OR e.status = $1) AND `
	now := pgtype.Timestamptz{InfinityModifier: pgtype.NegativeInfinity, Valid: true}
	if !f.Now.IsZero() {
		now = pgtype.Timestamptz{Time: f.Now.UTC(), Valid: true}
	}
	first := 0
	if ok {
		if c[0] < 0 || c[0] > 2 { // edited: no such phase
			return "", store.ErrBadCursor
		}
		first = int(c[0])
	}
	pg := &pager{page: page}
	for phase := first; phase < 3; phase++ {
		var sql string
		args := []any{f.Status, now}
		switch phase {
		case 0:
			sql = `e.end_date >= $2 AND (e.end_date, e.posture_id) > ($3, $4) ORDER BY e.end_date, e.posture_id LIMIT $5`
			args = append(args, pgtype.Timestamptz{InfinityModifier: pgtype.NegativeInfinity, Valid: true}, int64(-1<<63))
		case 1:
			sql = `e.end_date < $2 AND (e.end_date, e.posture_id) < ($3, $4) ORDER BY e.end_date DESC, e.posture_id DESC LIMIT $5`
			args = append(args, pgtype.Timestamptz{InfinityModifier: pgtype.Infinity, Valid: true}, int64(1<<63-1))
		default:
			sql = `$2::timestamptz IS NOT NULL AND e.end_date IS NULL AND e.posture_id > $3 ORDER BY e.posture_id LIMIT $4`
			args = append(args, int64(-1<<63))
		}
		if ok && c[0] == int64(phase) {
			if phase == 2 {
				args[2] = c[1]
			} else {
				t, err := time.Parse(time.RFC3339Nano, strs[0])
				if err != nil {
					return "", store.ErrBadCursor
				}
				args[2], args[3] = t, c[1]
			}
		}
		ph := int64(phase)
		err := s.query(ctx, `SELECT `+cols+sql, func(row pgx.Rows) error {
			if pg.full() {
				return errPageFull
			}
			var v store.ExceptionView
			if err := row.Scan(append([]any{&v.PostureID, &v.PolicyID, &v.HostID, &v.ControlID, &v.Status},
				exceptionDest(&v.Exception)...)...); err != nil {
				return err
			}
			pg.last = store.EncodeCursor("exceptions", []int64{ph, v.PostureID}, compliance.FormatDate(v.EndDate))
			return fn(&v)
		}, append(args, limit(page))...)
		if err != nil {
			return pg.done(err)
		}
	}
	return "", nil
}
