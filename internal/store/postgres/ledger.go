package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"pcsync/internal/compliance"
	"pcsync/internal/store"
)

// BeginRun records a new run in state running and sets r.ID.
func (s *Store) BeginRun(ctx context.Context, r *compliance.Run) error {
	if r.StartedAt.IsZero() {
		r.StartedAt = time.Now().UTC()
	}
	if r.Status == "" {
		r.Status = compliance.RunRunning
	}
	if r.Params == "" {
		r.Params = "{}"
	}
	if r.Mode == "" {
		r.Mode = compliance.ModeFull
	}
	r.Shard = s.opts.Shard
	err := s.pool.QueryRow(ctx, `INSERT INTO runs (started_at, status, source, params, mode, since, request, shard)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`, r.StartedAt.UTC(), string(r.Status), r.Source, r.Params,
		r.Mode, nt(r.Since), ns(r.Request), ns(r.Shard)).Scan(&r.ID)
	if err != nil {
		return fmt.Errorf("begin run: %w", err)
	}
	return nil
}

// FinishRun records how run r ended, the summary of each policy and the
// run's figures (run_counts).
func (s *Store) FinishRun(ctx context.Context, r *compliance.Run, policies []compliance.PolicySummary) error {
	if r.FinishedAt.IsZero() {
		r.FinishedAt = time.Now().UTC()
	}
	return s.tx(ctx, fmt.Sprintf("finish run %d", r.ID), func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue(`UPDATE runs SET finished_at = $1, status = $2, message = $3, policies = $4, batches = $5,
			records = $6, passed = $7, failed = $8, errors = $9, rejects = $10, wire_bytes = $11, data_bytes = $12,
			problems = coalesce($13, problems), throttles = $14, retries = $15 WHERE id = $16`,
			r.FinishedAt.UTC(), string(r.Status), ns(r.Message), r.Policies, r.Batches, r.Records, r.Passed, r.Failed,
			r.Errors, r.Rejects, r.WireBytes, r.DataBytes, joinProblems(r.Problems), r.Throttles, r.Retries, r.ID)
		for i := range policies {
			queueRunPolicy(b, r.ID, &policies[i])
		}
		b.Queue(`DELETE FROM run_counts WHERE run_id = $1`, r.ID)
		b.Queue(snapshotCountsSQL, r.ID)
		return tx.SendBatch(ctx, b).Close()
	})
}

// snapshotCountsSQL records the current figures as run $1's, for trends:
// every policy (policy 0), each policy, each framework over every policy
// and each framework within each policy. A control counts once per
// framework however many of its sections it maps to.
const snapshotCountsSQL = `
INSERT INTO run_counts (policy_id, framework_id, run_id, passed, failed, errors)
SELECT 0, 0, $1::bigint, coalesce(sum(passed), 0), coalesce(sum(failed), 0), coalesce(sum(errors), 0) FROM counts_control
UNION ALL
SELECT policy_id, 0, $1, sum(passed), sum(failed), sum(errors) FROM counts_control GROUP BY policy_id
UNION ALL
SELECT 0, f.framework_id, $1, sum(c.passed), sum(c.failed), sum(c.errors)
FROM (SELECT DISTINCT control_id, framework_id FROM control_frameworks) f JOIN counts_control c ON c.control_id = f.control_id
GROUP BY f.framework_id
UNION ALL
SELECT c.policy_id, f.framework_id, $1, sum(c.passed), sum(c.failed), sum(c.errors)
FROM (SELECT DISTINCT control_id, framework_id FROM control_frameworks) f JOIN counts_control c ON c.control_id = f.control_id
GROUP BY c.policy_id, f.framework_id`

func queueRunPolicy(b *pgx.Batch, runID int64, p *compliance.PolicySummary) {
	b.Queue(`INSERT INTO run_policies (run_id, policy_id, title, hosts_requested, hosts_returned,
		records, passed, failed, errors, error, stale_hosts, stale_postures) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
		ON CONFLICT (run_id, policy_id) DO UPDATE SET title = excluded.title,
		hosts_requested = excluded.hosts_requested, hosts_returned = excluded.hosts_returned,
		records = excluded.records, passed = excluded.passed, failed = excluded.failed,
		errors = excluded.errors, error = excluded.error, stale_hosts = excluded.stale_hosts,
		stale_postures = excluded.stale_postures`,
		runID, p.PolicyID, ns(p.Title), p.HostsRequested, p.HostsReturned, p.Records, p.Passed, p.Failed, p.Errors, ns(p.Error),
		p.StaleHosts, p.StalePostures)
}

func joinProblems(ps []string) any {
	if len(ps) == 0 {
		return nil
	}
	return strings.Join(ps, "\n")
}

// PlanRun records a run's plan and what is known of each policy before fetching.
func (s *Store) PlanRun(ctx context.Context, runID int64, plan *store.Plan) error {
	return s.tx(ctx, "record the plan", func(tx pgx.Tx) error {
		rows := make([][]any, 0, len(plan.Batches))
		for _, b := range plan.Batches {
			rows = append(rows, []any{runID, b.No, b.PolicyID, b.Kind, ns(strings.Join(b.HostIDs, ",")), int64(len(b.HostIDs)),
				b.Filtered, b.Cursor, ns(b.SubscriptionID)})
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"run_batches"}, []string{"run_id", "batch_no", "policy_id", "kind",
			"host_ids", "hosts", "filtered", "cursor", "subscription_id"}, pgx.CopyFromRows(rows)); err != nil {
			return err
		}
		b := &pgx.Batch{}
		for i := range plan.Policies {
			queueRunPolicy(b, runID, &plan.Policies[i])
		}
		b.Queue(`UPDATE run_policies SET plan_error = error WHERE run_id = $1`, runID)
		b.Queue(`UPDATE runs SET batches = $1, policies = $2, planned = true, problems = $3 WHERE id = $4`,
			int64(len(plan.Batches)), int64(len(plan.Policies)), joinProblems(plan.Problems), runID)
		return tx.SendBatch(ctx, b).Close()
	})
}

// UnfinishedRun returns the latest planned run of this store's shard that
// did not finish, with no run of the shard after it.
func (s *Store) UnfinishedRun(ctx context.Context) (*compliance.Run, []store.PlannedBatch, error) {
	run, err := s.oneRun(ctx, `SELECT `+runColumns+` FROM runs r WHERE planned AND `+s.shardCond("r")+`
		AND (status IN ('running', 'interrupted') OR status = 'failed'
			AND EXISTS (SELECT 1 FROM run_batches b WHERE b.run_id = r.id AND b.status IN ('pending', 'failed')))
		AND NOT EXISTS (SELECT 1 FROM runs later WHERE later.id > r.id AND later.status <> 'abandoned' AND `+s.shardCond("later")+`)
		ORDER BY id DESC LIMIT 1`)
	if err != nil {
		return nil, nil, err
	}
	var batches []store.PlannedBatch
	err = s.query(ctx, `SELECT batch_no, policy_id, kind, coalesce(host_ids, ''), filtered, coalesce(cursor, 0),
		coalesce(subscription_id, '') FROM run_batches WHERE run_id = $1 AND status IN ('pending', 'failed') ORDER BY batch_no`,
		func(row pgx.Rows) error {
			var b store.PlannedBatch
			var ids string
			if err := row.Scan(&b.No, &b.PolicyID, &b.Kind, &ids, &b.Filtered, &b.Cursor, &b.SubscriptionID); err != nil {
				return err
			}
			if ids != "" {
				b.HostIDs = strings.Split(ids, ",")
			}
			batches = append(batches, b)
			return nil
		}, run.ID)
	return run, batches, err
}

// oneRun is the run sql selects; store.ErrNotFound if none.
func (s *Store) oneRun(ctx context.Context, sql string, args ...any) (*compliance.Run, error) {
	var run *compliance.Run
	err := s.query(ctx, sql, func(row pgx.Rows) error {
		r, err := scanRun(row)
		run = &r
		return err
	}, args...)
	if err == nil && run == nil {
		err = store.ErrNotFound
	}
	return run, err
}

// ResumeRun marks r running again.
func (s *Store) ResumeRun(ctx context.Context, r *compliance.Run) error {
	r.Status, r.Resumed, r.Message = compliance.RunRunning, r.Resumed+1, ""
	return s.exec(ctx, fmt.Sprintf("resume run %d", r.ID),
		`UPDATE runs SET status = 'running', resumed = $1, message = NULL, finished_at = NULL WHERE id = $2`, r.Resumed, r.ID)
}

// AbandonRun discards the pending batches of an unfinished run.
func (s *Store) AbandonRun(ctx context.Context, runID int64, why string) error {
	return s.tx(ctx, fmt.Sprintf("abandon run %d", runID), func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue(`UPDATE run_batches SET status = 'discarded' WHERE run_id = $1 AND status IN ('pending', 'failed')`, runID)
		b.Queue(`UPDATE runs SET status = 'abandoned', message = $1, finished_at = coalesce(finished_at, $2) WHERE id = $3`,
			why, time.Now().UTC(), runID)
		return tx.SendBatch(ctx, b).Close()
	})
}

// AbandonStopped marks abandoned the runs of this store's shard whose
// process is gone.
func (s *Store) AbandonStopped(ctx context.Context, except int64) error {
	return s.exec(ctx, "close stopped runs", `UPDATE runs r SET status = 'abandoned',
		message = 'the process stopped before the run was planned or resumed', finished_at = $1
		WHERE status = 'running' AND id <> $2 AND `+s.shardCond("r"), time.Now().UTC(), except)
}

// FailBatch records that a batch could not be fetched.
func (s *Store) FailBatch(ctx context.Context, runID, batchNo int64, msg string) error {
	return s.exec(context.WithoutCancel(ctx), fmt.Sprintf("record batch %d failed", batchNo),
		`UPDATE run_batches SET status = 'failed', error = $1 WHERE run_id = $2 AND batch_no = $3 AND status <> 'done'`,
		msg, runID, batchNo)
}

// exec runs one statement.
func (s *Store) exec(ctx context.Context, what, sql string, args ...any) error {
	if _, err := s.pool.Exec(ctx, sql, args...); err != nil {
		return s.lost(fmt.Errorf("%s: %w", what, err))
	}
	return nil
}

// RunSummaries computes the per-policy summary of a run from its plan.
func (s *Store) RunSummaries(ctx context.Context, runID int64) ([]compliance.PolicySummary, error) {
	var out []compliance.PolicySummary
	// A PCRS batch is stored whole, with its hosts that returned posture;
	// a classic listing's pages can split a host, so its hosts are counted
	// from the postures the run stored (classic estates are small).
	err := s.query(ctx, `SELECT p.policy_id, coalesce(p.title, ''), coalesce(p.plan_error, ''), p.stale_hosts, p.stale_postures,
		coalesce(sum(b.hosts), 0)::bigint,
		CASE WHEN bool_or(b.kind = 'classic') THEN (SELECT count(DISTINCT host_id) FROM postures x
			WHERE x.policy_id = p.policy_id AND x.last_run = p.run_id) ELSE coalesce(sum(b.hosts_returned), 0)::bigint END,
		coalesce(sum(b.records), 0)::bigint,
		coalesce(sum(b.passed), 0)::bigint, coalesce(sum(b.failed), 0)::bigint, coalesce(sum(b.errors), 0)::bigint,
		coalesce((SELECT string_agg('batch ' || f.batch_no || ': ' || f.error, '; ' ORDER BY f.batch_no) FROM run_batches f
			WHERE f.run_id = p.run_id AND f.policy_id = p.policy_id AND f.status = 'failed'), ''),
		coalesce(sum(b.rejects), 0)::bigint, count(*) FILTER (WHERE b.status = 'failed')
		FROM run_policies p LEFT JOIN run_batches b ON b.run_id = p.run_id AND b.policy_id = p.policy_id
		WHERE p.run_id = $1 GROUP BY p.run_id, p.policy_id ORDER BY p.policy_id`, func(row pgx.Rows) error {
		var ps compliance.PolicySummary
		var failed string
		if err := row.Scan(&ps.PolicyID, &ps.Title, &ps.Error, &ps.StaleHosts, &ps.StalePostures, &ps.HostsRequested,
			&ps.HostsReturned, &ps.Records, &ps.Passed, &ps.Failed, &ps.Errors, &failed, &ps.Rejects, &ps.FailedBatches); err != nil {
			return err
		}
		if failed != "" {
			ps.Error = strings.TrimPrefix(ps.Error+"; "+failed, "; ")
		}
		out = append(out, ps)
		return nil
	}, runID)
	return out, err
}

// LastSucceeded returns the latest run of this store's shard that succeeded.
func (s *Store) LastSucceeded(ctx context.Context) (*compliance.Run, error) {
	return s.oneRun(ctx, `SELECT `+runColumns+` FROM runs r WHERE status = 'succeeded' AND `+s.shardCond("r")+` ORDER BY id DESC LIMIT 1`)
}

// shardCond is the SQL condition that run alias a is of this store's shard
// (Options.Shard, checked to be "K/N" by Open).
func (s *Store) shardCond(a string) string {
	return "coalesce(" + a + ".shard, '') = '" + s.opts.Shard + "'"
}
