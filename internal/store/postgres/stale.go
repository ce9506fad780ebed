package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"pcsync/internal/store"
)

// staleSQL marks stale the current postures of policy $2 that cond
// selects (alias p), as run $1 noticed: each mark is a stale_history row,
// and the counts move from the posture's status to stale. It returns how
// many it marked, and their hosts.
func staleSQL(cond string) string {
	return `WITH m AS (
	UPDATE postures p SET stale_run = $1 WHERE p.policy_id = $2 AND p.stale_run IS NULL AND ` + cond + `
	RETURNING p.id, p.policy_id, p.host_id, p.control_id, p.technology_id, p.status
), sh AS (
	INSERT INTO stale_history (posture_id, policy_id, host_id, control_id, status, stale, run_id)
	SELECT id, policy_id, host_id, control_id, status, true, $1 FROM m ORDER BY policy_id, id
), d AS (
	SELECT policy_id, host_id, control_id, technology_id, -(status = 'Passed')::int AS passed,
		-(status = 'Failed')::int AS failed, -(status = 'Error')::int AS errors, 1 AS stale FROM m
)` + countsSQL + `
SELECT count(*), coalesce(array_agg(DISTINCT host_id), '{}') FROM m`
}

// UpdatePolicyHosts records the hosts a policy covers now and marks stale
// the ones (and their postures) it no longer does.
func (s *Store) UpdatePolicyHosts(ctx context.Context, runID, policyID int64, hostIDs []int64) ([]int64, int64, int64, error) {
	// A host is known (fetched filtered) only while it is live and a batch
	// that asked for all its postures was stored since it (re)joined.
	known := map[int64]bool{}
	err := s.query(ctx, `SELECT host_id, stale_run IS NULL AND NOT whole FROM policy_hosts WHERE policy_id = $1`,
		func(row pgx.Rows) error {
			var id int64
			var live bool
			if err := row.Scan(&id, &live); err != nil {
				return err
			}
			known[id] = live
			return nil
		}, policyID)
	if err != nil {
		return nil, 0, 0, err
	}
	var added []int64
	for _, h := range hostIDs {
		if !known[h] {
			added = append(added, h)
		}
	}
	var left, stale int64
	err = s.tx(ctx, fmt.Sprintf("record the hosts of policy %d", policyID), func(tx pgx.Tx) error {
		// the hosts with current postures but no host list row (a classic
		// run stores postures without the host list): members of the last
		// run that wrote, so that the new list can tell they left
		if _, err := tx.Exec(ctx, `INSERT INTO policy_hosts (policy_id, host_id, first_run, last_run, whole)
			SELECT c.policy_id, c.host_id, l.id, l.id, true
			FROM counts_host c, (SELECT coalesce(max(id), 0) AS id FROM runs WHERE id < $2 AND wrote) l
			WHERE c.policy_id = $1 AND c.passed + c.failed + c.errors > 0
			ON CONFLICT (policy_id, host_id) DO NOTHING`, policyID, runID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO policy_hosts AS ph (policy_id, host_id, first_run, last_run, whole)
			SELECT $1, h, $2, $2, true FROM unnest($3::bigint[]) AS u(h) ORDER BY h
			ON CONFLICT (policy_id, host_id) DO UPDATE SET last_run = excluded.last_run,
			whole = ph.whole OR ph.stale_run IS NOT NULL, stale_run = NULL`, policyID, runID, sortedIDs(hostIDs)); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE policy_hosts SET stale_run = $1 WHERE policy_id = $2 AND last_run < $1 AND stale_run IS NULL`,
			runID, policyID)
		if err != nil {
			return err
		}
		if left = tag.RowsAffected(); left == 0 {
			return nil
		}
		if err := tx.QueryRow(ctx, staleSQL(`p.host_id IN (SELECT host_id FROM policy_hosts
			WHERE policy_id = $2 AND stale_run = $1)`), runID, policyID).Scan(&stale, new([]int64)); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, goneHostsSQL)
		return err
	})
	return added, left, stale, err
}

func sortedIDs(ids []int64) []int64 {
	return sortedBy(ids, func(x int64) int64 { return x })
}

// MarkStale marks stale what a complete full run did not return.
func (s *Store) MarkStale(ctx context.Context, runID int64, policyIDs []int64) (map[int64]store.Stale, error) {
	out := map[int64]store.Stale{}
	// Before any earlier run stored a posture nothing can be stale: spare
	// the first (and largest) load a scan of every posture.
	var earlier bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM runs WHERE id < $1 AND wrote)`, runID).Scan(&earlier); err != nil || !earlier {
		return out, err
	}
	err := s.tx(ctx, "mark stale postures", func(tx pgx.Tx) error {
		for _, id := range sortedIDs(policyIDs) {
			var n, emptied int64
			var hosts []int64
			if err := tx.QueryRow(ctx, staleSQL(`p.last_run < $1`), runID, id).Scan(&n, &hosts); err != nil {
				return err
			}
			if len(hosts) > 0 {
				// the hosts left without a current posture of the policy
				if err := tx.QueryRow(ctx, `SELECT count(*) FROM unnest($2::bigint[]) AS u(h) WHERE NOT EXISTS
					(SELECT 1 FROM counts_host c WHERE c.policy_id = $1 AND c.host_id = u.h AND c.passed + c.failed + c.errors > 0)`,
					id, hosts).Scan(&emptied); err != nil {
					return err
				}
			}
			out[id] = store.Stale{Postures: n, Hosts: emptied}
		}
		_, err := tx.Exec(ctx, goneHostsSQL)
		return err
	})
	return out, err
}
