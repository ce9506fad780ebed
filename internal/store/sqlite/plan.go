package sqlite

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ncruces/go-sqlite3"

	"pcsync/internal/compliance"
	"pcsync/internal/store"
)

// PlanRun records a run's plan and what is known of each policy before fetching.
func (s *Store) PlanRun(ctx context.Context, runID int64, plan *store.Plan) error {
	batches, policies := plan.Batches, plan.Policies
	return s.tx(ctx, "record the plan", func(conn *sqlite3.Conn) error {
		st, _, err := conn.Prepare(`INSERT INTO run_batches (run_id, batch_no, policy_id, kind, host_ids, hosts, filtered, cursor, subscription_id)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer st.Close()
		for _, b := range batches {
			if err := bindAll(st, runID, b.No, b.PolicyID, b.Kind, strings.Join(b.HostIDs, ","), len(b.HostIDs), b.Filtered, b.Cursor, b.SubscriptionID); err != nil {
				return err
			}
			if err := st.Exec(); err != nil {
				return fmt.Errorf("batch %d: %w", b.No, err)
			}
		}
		for i := range policies {
			if err := upsertRunPolicy(conn, runID, &policies[i]); err != nil {
				return err
			}
		}
		if err := exec(conn, `UPDATE run_policies SET plan_error = error WHERE run_id = ?`, runID); err != nil {
			return err
		}
		return exec(conn, `UPDATE runs SET batches = ?, policies = ?, planned = 1, problems = ? WHERE id = ?`,
			len(batches), len(policies), joinProblems(plan.Problems), runID)
	})
}

// UnfinishedRun returns the latest planned run that did not finish.
func (s *Store) UnfinishedRun(ctx context.Context) (*compliance.Run, []store.PlannedBatch, error) {
	var run *compliance.Run
	err := s.query(ctx, `SELECT `+runColumns+` FROM runs r WHERE planned AND (status IN ('running', 'interrupted')
		OR status = 'failed' AND EXISTS (SELECT 1 FROM run_batches b WHERE b.run_id = r.id AND b.status IN ('pending', 'failed')))
		AND NOT EXISTS (SELECT 1 FROM runs later WHERE later.id > r.id AND later.status <> 'abandoned')
		ORDER BY id DESC LIMIT 1`, func(st *sqlite3.Stmt) error {
		r := scanRun(st)
		run = &r
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	if run == nil {
		return nil, nil, store.ErrNotFound
	}
	var batches []store.PlannedBatch
	err = s.query(ctx, `SELECT batch_no, policy_id, kind, host_ids, filtered, cursor, subscription_id FROM run_batches
		WHERE run_id = ? AND status IN ('pending', 'failed') ORDER BY batch_no`, func(st *sqlite3.Stmt) error {
		b := store.PlannedBatch{No: st.ColumnInt64(0), PolicyID: st.ColumnInt64(1), Kind: st.ColumnText(2),
			Filtered: st.ColumnBool(4), Cursor: st.ColumnInt64(5), SubscriptionID: st.ColumnText(6)}
		if ids := st.ColumnText(3); ids != "" {
			b.HostIDs = strings.Split(ids, ",")
		}
		batches = append(batches, b)
		return nil
	}, run.ID)
	return run, batches, err
}

// ResumeRun marks r running again.
func (s *Store) ResumeRun(ctx context.Context, r *compliance.Run) error {
	r.Status, r.Resumed, r.Message = compliance.RunRunning, r.Resumed+1, ""
	return s.tx(ctx, fmt.Sprintf("resume run %d", r.ID), func(conn *sqlite3.Conn) error {
		return exec(conn, `UPDATE runs SET status = 'running', resumed = ?, message = NULL, finished_at = NULL WHERE id = ?`, r.Resumed, r.ID)
	})
}

// AbandonRun discards the pending batches of an unfinished run.
func (s *Store) AbandonRun(ctx context.Context, runID int64, why string) error {
	return s.tx(ctx, fmt.Sprintf("abandon run %d", runID), func(conn *sqlite3.Conn) error {
		if err := exec(conn, `UPDATE run_batches SET status = 'discarded' WHERE run_id = ? AND status IN ('pending', 'failed')`, runID); err != nil {
			return err
		}
		return exec(conn, `UPDATE runs SET status = 'abandoned', message = ?,
			finished_at = coalesce(finished_at, ?) WHERE id = ?`, why, time.Now().UTC().Format(time.RFC3339Nano), runID)
	})
}

// AbandonStopped marks abandoned the runs whose process is gone.
func (s *Store) AbandonStopped(ctx context.Context, except int64) error {
	return s.tx(ctx, "close stopped runs", func(conn *sqlite3.Conn) error {
		return exec(conn, `UPDATE runs SET status = 'abandoned', message = 'the process stopped before the run was planned or resumed',
			finished_at = ? WHERE status = 'running' AND id <> ?`, time.Now().UTC().Format(time.RFC3339Nano), except)
	})
}

func joinProblems(ps []string) any {
	if len(ps) == 0 {
		return nil
	}
	return strings.Join(ps, "\n")
}

// FailBatch records that a batch could not be fetched.
func (s *Store) FailBatch(ctx context.Context, runID, batchNo int64, msg string) error {
	return s.tx(context.WithoutCancel(ctx), fmt.Sprintf("record batch %d failed", batchNo), func(conn *sqlite3.Conn) error {
		return exec(conn, `UPDATE run_batches SET status = 'failed', error = ? WHERE run_id = ? AND batch_no = ? AND status <> 'done'`,
			msg, runID, batchNo)
	})
}

// RunSummaries computes the per-policy summary of a run from its plan.
func (s *Store) RunSummaries(ctx context.Context, runID int64) ([]compliance.PolicySummary, error) {
	var out []compliance.PolicySummary
	// A PCRS batch is stored whole, with its hosts that returned posture;
	// a classic listing's pages can split a host, so its hosts are counted
	// from the postures the run stored (classic estates are small).
	err := s.query(ctx, `SELECT p.policy_id, p.title, p.plan_error, p.stale_hosts, p.stale_postures,
		coalesce(sum(b.hosts), 0),
		CASE WHEN max(b.kind = 'classic') THEN (SELECT count(DISTINCT host_id) FROM postures x
			WHERE x.policy_id = p.policy_id AND x.last_run = p.run_id) ELSE coalesce(sum(b.hosts_returned), 0) END,
		coalesce(sum(b.records), 0),
		coalesce(sum(b.passed), 0), coalesce(sum(b.failed), 0), coalesce(sum(b.errors), 0),
		(SELECT group_concat('batch ' || f.batch_no || ': ' || f.error, '; ') FROM run_batches f
			WHERE f.run_id = p.run_id AND f.policy_id = p.policy_id AND f.status = 'failed'),
		coalesce(sum(b.rejects), 0), coalesce(sum(b.status = 'failed'), 0)
		FROM run_policies p LEFT JOIN run_batches b ON b.run_id = p.run_id AND b.policy_id = p.policy_id
		WHERE p.run_id = ? GROUP BY p.policy_id ORDER BY p.policy_id`, func(st *sqlite3.Stmt) error {
		ps := compliance.PolicySummary{PolicyID: st.ColumnInt64(0), Title: st.ColumnText(1), Error: st.ColumnText(2),
			StaleHosts: st.ColumnInt64(3), StalePostures: st.ColumnInt64(4), HostsRequested: st.ColumnInt64(5),
			HostsReturned: st.ColumnInt64(6), Records: st.ColumnInt64(7), Passed: st.ColumnInt64(8),
			Failed: st.ColumnInt64(9), Errors: st.ColumnInt64(10), Rejects: st.ColumnInt64(12), FailedBatches: st.ColumnInt64(13)}
		if failed := st.ColumnText(11); failed != "" {
			ps.Error = strings.TrimPrefix(ps.Error+"; "+failed, "; ")
		}
		out = append(out, ps)
		return nil
	}, runID)
	return out, err
}

// LastSucceeded returns the latest run that succeeded.
func (s *Store) LastSucceeded(ctx context.Context) (*compliance.Run, error) {
	var run *compliance.Run
	err := s.query(ctx, `SELECT `+runColumns+` FROM runs WHERE status = 'succeeded' ORDER BY id DESC LIMIT 1`, func(st *sqlite3.Stmt) error {
		r := scanRun(st)
		run = &r
		return nil
	})
	if err == nil && run == nil {
		err = store.ErrNotFound
	}
	return run, err
}

// UpdatePolicyHosts records the hosts a policy covers now and marks stale
// the ones (and their postures) it no longer does.
func (s *Store) UpdatePolicyHosts(ctx context.Context, runID, policyID int64, hostIDs []int64) ([]int64, int64, int64, error) {
	// A host is known (fetched filtered) only while it is live and a batch
	// that asked for all its postures was stored since it (re)joined: a
	// host recorded by a run that stopped before its batch is fetched whole
	// by the next one.
	known := map[int64]bool{} // host -> live and fetched whole
	err := s.query(ctx, `SELECT host_id, stale_run IS NULL AND NOT whole
		FROM policy_hosts WHERE policy_id = ?`, func(st *sqlite3.Stmt) error {
		known[st.ColumnInt64(0)] = st.ColumnBool(1)
		return nil
	}, policyID)
	if err != nil {
		return nil, 0, 0, err
	}
	var added []int64
	var left, stale int64
	for _, h := range hostIDs {
		if live, ok := known[h]; !ok || !live {
			added = append(added, h)
		}
	}
	err = s.tx(ctx, fmt.Sprintf("record the hosts of policy %d", policyID), func(conn *sqlite3.Conn) error {
		if err := exec(conn, seedPolicyHostsSQL, runID, policyID); err != nil {
			return err
		}
		if err := recordPolicyHosts(conn, runID, policyID, hostIDs); err != nil {
			return err
		}
		if err := exec(conn, `UPDATE policy_hosts SET stale_run = ? WHERE policy_id = ? AND last_run < ? AND stale_run IS NULL`,
			runID, policyID, runID); err != nil {
			return err
		}
		left = conn.Changes()
		if left == 0 {
			return nil
		}
		stale, _, err = markStale(conn, policyID, `UPDATE postures SET stale_run = ? WHERE policy_id = ? AND stale_run IS NULL AND host_id IN
			(SELECT host_id FROM policy_hosts WHERE policy_id = ? AND stale_run = ?)
			RETURNING host_id, control_id, technology_id, status`, runID, policyID, policyID, runID)
		return err
	})
	return added, left, stale, err
}

// seedPolicyHostsSQL records as members of policy ?2 the hosts that have
// current postures in it but no host list row: a classic run stores
// postures without the policy's host list, so without these rows the next
// host list could not tell that such a host left (its postures stayed
// current). They count as members of the last run that wrote, and are
// fetched whole when they are in the new list.
const seedPolicyHostsSQL = `INSERT INTO policy_hosts (policy_id, host_id, first_run, last_run, whole)
	SELECT c.policy_id, c.host_id, r.id, r.id, 1
	FROM counts_host c, (SELECT coalesce(max(id), 0) AS id FROM runs WHERE id < ?1 AND wrote) r
	WHERE c.policy_id = ?2 AND c.passed + c.failed + c.errors > 0
	ON CONFLICT DO NOTHING`

// MarkStale marks stale what a complete full run did not return.
func (s *Store) MarkStale(ctx context.Context, runID int64, policyIDs []int64) (map[int64]store.Stale, error) {
	out := map[int64]store.Stale{}
	// Before any earlier run stored a posture nothing can be stale: spare
	// the first (and largest) load a scan of every posture.
	earlier, err := s.scalarIntAt(ctx, `SELECT EXISTS (SELECT 1 FROM runs WHERE id < ? AND wrote)`, runID)
	if err != nil || earlier == 0 {
		return out, err
	}
	err = s.tx(ctx, "mark stale postures", func(conn *sqlite3.Conn) error {
		for _, id := range policyIDs {
			n, hosts, err := markStale(conn, id, `UPDATE postures SET stale_run = ? WHERE policy_id = ? AND last_run < ? AND stale_run IS NULL
				RETURNING host_id, control_id, technology_id, status`, runID, id, runID)
			if err != nil {
				return err
			}
			emptied, err := hostsWithoutCurrent(conn, id, hosts)
			if err != nil {
				return err
			}
			out[id] = store.Stale{Postures: n, Hosts: emptied}
		}
		return nil
	})
	return out, err
}

// hostsWithoutCurrent counts the hosts that have no current posture of
// policy left.
func hostsWithoutCurrent(conn *sqlite3.Conn, policy int64, hosts map[int64]bool) (int64, error) {
	if len(hosts) == 0 {
		return 0, nil
	}
	st, _, err := conn.Prepare(`SELECT EXISTS (SELECT 1 FROM counts_host WHERE policy_id = ? AND host_id = ?
		AND passed + failed + errors > 0)`)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	var n int64
	for h := range hosts {
		if err := bindAll(st, policy, h); err != nil {
			return 0, err
		}
		if st.Step() && st.ColumnInt64(0) == 0 {
			n++
		}
		if err := errors.Join(st.Err(), st.Reset()); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// policyHostsRowsPerStmt is how many hosts one recordPolicyHosts statement
// upserts: one a statement was 1.5 us a host, 0.3 s of a wide first load's
// plan, before any posture is fetched.
const policyHostsRowsPerStmt = 64

// policyHostsSQL upserts policyHostsRowsPerStmt hosts (?2..) of policy ?1
// as members in the run of the last parameter; a short list repeats its
// last host, which upserts it again to the same row.
var policyHostsSQL = `INSERT INTO policy_hosts (policy_id, host_id, first_run, last_run, whole) VALUES ` +
	func() string {
		var b strings.Builder
		for i := range policyHostsRowsPerStmt {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "(?1, ?%d, ?%d, ?%[2]d, 1)", i+2, policyHostsRowsPerStmt+2)
		}
		return b.String()
	}() + `
	ON CONFLICT DO UPDATE SET last_run = excluded.last_run, whole = whole OR stale_run IS NOT NULL, stale_run = NULL`

// recordPolicyHosts records hosts as members of policy in run.
func recordPolicyHosts(conn *sqlite3.Conn, run, policy int64, hosts []int64) error {
	st, _, err := conn.Prepare(policyHostsSQL)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := errors.Join(st.BindInt64(1, policy), st.BindInt64(policyHostsRowsPerStmt+2, run)); err != nil {
		return err
	}
	for len(hosts) > 0 {
		n := min(len(hosts), policyHostsRowsPerStmt)
		for i := range policyHostsRowsPerStmt {
			if err := st.BindInt64(i+2, hosts[min(i, n-1)]); err != nil {
				return err
			}
		}
		if err := st.Exec(); err != nil {
			return err
		}
		hosts = hosts[n:]
	}
	return nil
}
