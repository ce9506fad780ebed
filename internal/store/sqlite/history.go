package sqlite

import (
	"context"

	"github.com/ncruces/go-sqlite3"

	"pcsync/internal/compliance"
)

// History calls fn for every status change, in the order they were seen.
func (s *Store) History(ctx context.Context, fn func(*compliance.StatusChange) error) error {
	return s.query(ctx, `SELECT id, posture_id, policy_id, host_id, control_id, old_status, new_status, changed_at, run_id
		FROM history ORDER BY id`, func(st *sqlite3.Stmt) error {
		c := compliance.StatusChange{ID: st.ColumnInt64(0), PostureID: st.ColumnInt64(1), PolicyID: st.ColumnInt64(2),
			HostID: st.ColumnInt64(3), ControlID: st.ColumnInt64(4), OldStatus: compliance.Status(st.ColumnText(5)),
			NewStatus: compliance.Status(st.ColumnText(6)), ChangedAt: date(st, 7), RunID: st.ColumnInt64(8)}
		return fn(&c)
	})
}

// changesSQL lists the changes after run ?1 up to run ?2: status changes
// from the history, postures first seen, postures marked stale and stale
// postures returned again (from their own history, so that a later return
// does not erase an earlier mark).
const changesSQL = `
SELECT CASE h.new_status WHEN 'Failed' THEN 'newly-failing' WHEN 'Passed' THEN 'newly-passing' ELSE 'newly-error' END,
	h.posture_id, h.policy_id, h.host_id, h.control_id, h.old_status, h.new_status, h.changed_at, h.run_id
FROM history h WHERE h.run_id > ?1 AND h.run_id <= ?2
UNION ALL
SELECT 'new', p.id, p.policy_id, p.host_id, p.control_id, NULL, p.status, p.created, p.first_run
FROM postures p WHERE p.first_run > ?1 AND p.first_run <= ?2
UNION ALL
SELECT CASE s.stale WHEN 1 THEN 'stale' ELSE 'revived' END, s.posture_id, s.policy_id, s.host_id, s.control_id,
	s.status, NULL, NULL, s.run_id
FROM stale_history s WHERE s.run_id > ?1 AND s.run_id <= ?2`

// Changes calls fn for every change after run from up to run to.
func (s *Store) Changes(ctx context.Context, from, to int64, fn func(*compliance.Change) error) error {
	return s.query(ctx, changesSQL+` ORDER BY 3, 1, 2`, func(st *sqlite3.Stmt) error {
		c := compliance.Change{Kind: st.ColumnText(0), PostureID: st.ColumnInt64(1), PolicyID: st.ColumnInt64(2),
			HostID: st.ColumnInt64(3), ControlID: st.ColumnInt64(4), OldStatus: compliance.Status(st.ColumnText(5)),
			NewStatus: compliance.Status(st.ColumnText(6)), ChangedAt: date(st, 7), RunID: st.ColumnInt64(8)}
		return fn(&c)
	}, from, to)
}

// Diff summarizes per policy what changed after run from up to run to.
func (s *Store) Diff(ctx context.Context, from, to int64) ([]compliance.PolicyDiff, error) {
	var out []compliance.PolicyDiff
	err := s.query(ctx, `WITH c(kind, posture_id, policy_id, host_id, control_id, old_status, new_status, changed_at, run_id)
		AS (`+changesSQL+`)
		SELECT c.policy_id, pol.title,
		sum(c.kind = 'newly-failing'), sum(c.kind = 'newly-passing'), sum(c.kind = 'newly-error'), sum(c.kind = 'new'),
		sum(c.kind = 'stale'), sum(c.kind = 'revived')
		FROM c LEFT JOIN policies pol ON pol.id = c.policy_id
		GROUP BY c.policy_id ORDER BY c.policy_id`, func(st *sqlite3.Stmt) error {
		out = append(out, compliance.PolicyDiff{PolicyID: st.ColumnInt64(0), Title: st.ColumnText(1),
			NewlyFailing: st.ColumnInt64(2), NewlyPassing: st.ColumnInt64(3), NewlyError: st.ColumnInt64(4),
			New: st.ColumnInt64(5), Stale: st.ColumnInt64(6), Revived: st.ColumnInt64(7)})
		return nil
	}, from, to)
	return out, err
}
