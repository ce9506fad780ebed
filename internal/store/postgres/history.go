package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"pcsync/internal/compliance"
)

const changeColumns = `id, posture_id, policy_id, host_id, control_id, coalesce(old_status, ''), new_status, changed_at, run_id`

func scanChange(row pgx.Rows) (compliance.StatusChange, error) {
	var c compliance.StatusChange
	err := row.Scan(&c.ID, &c.PostureID, &c.PolicyID, &c.HostID, &c.ControlID, &c.OldStatus, &c.NewStatus, dt{&c.ChangedAt}, &c.RunID)
	return c, err
}

// History calls fn for every status change, in the order they were seen.
func (s *Store) History(ctx context.Context, fn func(*compliance.StatusChange) error) error {
	return s.query(ctx, `SELECT `+changeColumns+` FROM history ORDER BY id`, func(row pgx.Rows) error {
		c, err := scanChange(row)
		if err != nil {
			return err
		}
		return fn(&c)
	})
}

// changesSQL lists the changes after run $1 up to run $2: status changes
// from the history, postures first seen, postures marked stale and stale
// postures returned again.
const changesSQL = `
SELECT CASE h.new_status WHEN 'Failed' THEN 'newly-failing' WHEN 'Passed' THEN 'newly-passing' ELSE 'newly-error' END AS kind,
	h.posture_id, h.policy_id, h.host_id, h.control_id, h.old_status, h.new_status, h.changed_at, h.run_id
FROM history h WHERE h.run_id > $1 AND h.run_id <= $2
UNION ALL
SELECT 'new', p.id, p.policy_id, p.host_id, p.control_id, NULL, p.status, p.created, p.first_run
FROM postures p WHERE p.first_run > $1 AND p.first_run <= $2
UNION ALL
SELECT CASE WHEN s.stale THEN 'stale' ELSE 'revived' END, s.posture_id, s.policy_id, s.host_id, s.control_id,
	s.status, NULL, NULL, s.run_id
FROM stale_history s WHERE s.run_id > $1 AND s.run_id <= $2`

// Changes calls fn for every change after run from up to run to.
func (s *Store) Changes(ctx context.Context, from, to int64, fn func(*compliance.Change) error) error {
	return s.query(ctx, `SELECT kind, posture_id, policy_id, host_id, control_id, coalesce(old_status, ''),
		coalesce(new_status, ''), changed_at, run_id FROM (`+changesSQL+`) c ORDER BY 3, 1, 2`, func(row pgx.Rows) error {
		var c compliance.Change
		if err := row.Scan(&c.Kind, &c.PostureID, &c.PolicyID, &c.HostID, &c.ControlID, &c.OldStatus, &c.NewStatus,
			dt{&c.ChangedAt}, &c.RunID); err != nil {
			return err
		}
		return fn(&c)
	}, from, to)
}

// Diff summarizes per policy what changed after run from up to run to.
func (s *Store) Diff(ctx context.Context, from, to int64) ([]compliance.PolicyDiff, error) {
	var out []compliance.PolicyDiff
	err := s.query(ctx, `WITH c AS (`+changesSQL+`)
		SELECT c.policy_id, coalesce(max(pol.title), ''),
		count(*) FILTER (WHERE c.kind = 'newly-failing'), count(*) FILTER (WHERE c.kind = 'newly-passing'),
		count(*) FILTER (WHERE c.kind = 'newly-error'), count(*) FILTER (WHERE c.kind = 'new'),
		count(*) FILTER (WHERE c.kind = 'stale'), count(*) FILTER (WHERE c.kind = 'revived')
		FROM c LEFT JOIN policies pol ON pol.id = c.policy_id
		GROUP BY c.policy_id ORDER BY c.policy_id`, func(row pgx.Rows) error {
		var d compliance.PolicyDiff
		if err := row.Scan(&d.PolicyID, &d.Title, &d.NewlyFailing, &d.NewlyPassing, &d.NewlyError, &d.New, &d.Stale, &d.Revived); err != nil {
			return err
		}
		out = append(out, d)
		return nil
	}, from, to)
	return out, err
}
