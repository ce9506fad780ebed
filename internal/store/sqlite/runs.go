package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/ncruces/go-sqlite3"

	"pcsync/internal/compliance"
)

// BeginRun records a new run in state running and sets r.ID.
func (s *Store) BeginRun(ctx context.Context, r *compliance.Run) error {
	s.mu.Lock()
	defer s.mu.Unlock()
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
	err := exec(s.conn, `INSERT INTO runs (started_at, status, source, params, mode, since, request) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		r.StartedAt.UTC().Format(time.RFC3339Nano), string(r.Status), r.Source, r.Params, r.Mode, r.Since, r.Request)
	if err != nil {
		return fmt.Errorf("begin run: %w", err)
	}
	r.ID = s.conn.LastInsertRowID()
	return nil
}

// FinishRun records how run r ended and the summary of each policy.
func (s *Store) FinishRun(ctx context.Context, r *compliance.Run, policies []compliance.PolicySummary) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.FinishedAt.IsZero() {
		r.FinishedAt = time.Now().UTC()
	}
	if err := s.conn.Exec("BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("finish run: %w", err)
	}
	err := exec(s.conn, `UPDATE runs SET finished_at = ?, status = ?, message = ?, policies = ?, batches = ?,
		records = ?, passed = ?, failed = ?, errors = ?, rejects = ?, wire_bytes = ?, data_bytes = ?, problems = coalesce(?, problems),
		throttles = ?, retries = ? WHERE id = ?`,
		r.FinishedAt.UTC().Format(time.RFC3339Nano), string(r.Status), r.Message, r.Policies, r.Batches,
		r.Records, r.Passed, r.Failed, r.Errors, r.Rejects, r.WireBytes, r.DataBytes, joinProblems(r.Problems),
		r.Throttles, r.Retries, r.ID)
	for _, p := range policies {
		if err != nil {
			break
		}
		err = upsertRunPolicy(s.conn, r.ID, &p)
	}
	if err == nil {
		err = snapshotCounts(s.conn, r.ID)
	}
	if err != nil {
		_ = s.conn.Exec("ROLLBACK")
		return fmt.Errorf("finish run %d: %w", r.ID, err)
	}
	if err := s.conn.Exec("COMMIT"); err != nil {
		_ = s.conn.Exec("ROLLBACK")
		return fmt.Errorf("finish run %d: %w", r.ID, err)
	}
	return nil
}

// UpsertPolicies stores policies as the policy list gave them.
func (s *Store) UpsertPolicies(ctx context.Context, runID int64, policies []compliance.Policy) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.conn.Exec("BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("store policies: %w", err)
	}
	var err error
	for _, p := range policies {
		err = exec(s.conn, `INSERT INTO policies (id, title, created_by, created_date, modified_by, modified_date,
			last_evaluated_date, status, locked, first_run, last_run) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET title = excluded.title, created_by = excluded.created_by,
			created_date = excluded.created_date, modified_by = excluded.modified_by,
			modified_date = excluded.modified_date, last_evaluated_date = excluded.last_evaluated_date,
			status = excluded.status, locked = excluded.locked, last_run = excluded.last_run`,
			p.ID, p.Title, p.CreatedBy, p.CreatedDate, p.ModifiedBy, p.ModifiedDate, p.LastEvaluatedDate,
			p.Status, p.Locked, runID, runID)
		if err != nil {
			err = fmt.Errorf("policy %d: %w", p.ID, err)
			break
		}
	}
	if err == nil {
		err = s.conn.Exec("COMMIT")
	}
	if err != nil {
		_ = s.conn.Exec("ROLLBACK")
		return fmt.Errorf("store policies: %w", err)
	}
	return nil
}

func upsertRunPolicy(conn *sqlite3.Conn, runID int64, p *compliance.PolicySummary) error {
	return exec(conn, `INSERT INTO run_policies (run_id, policy_id, title, hosts_requested, hosts_returned,
		records, passed, failed, errors, error, stale_hosts, stale_postures) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (run_id, policy_id) DO UPDATE SET title = excluded.title,
		hosts_requested = excluded.hosts_requested, hosts_returned = excluded.hosts_returned,
		records = excluded.records, passed = excluded.passed, failed = excluded.failed,
		errors = excluded.errors, error = excluded.error, stale_hosts = excluded.stale_hosts,
		stale_postures = excluded.stale_postures`,
		runID, p.PolicyID, p.Title, p.HostsRequested, p.HostsReturned, p.Records, p.Passed, p.Failed, p.Errors, p.Error,
		p.StaleHosts, p.StalePostures)
}

// snapshotCountsSQL records the current figures as run id's, for trends:
// every policy (policy 0), each policy, each framework over every policy
// and each framework within each policy. A control counts once per
// framework however many of its sections it maps to.
const snapshotCountsSQL = `
INSERT INTO run_counts (policy_id, framework_id, run_id, passed, failed, errors)
SELECT 0, 0, ?1, coalesce(sum(passed), 0), coalesce(sum(failed), 0), coalesce(sum(errors), 0) FROM counts_control
UNION ALL
SELECT policy_id, 0, ?1, sum(passed), sum(failed), sum(errors) FROM counts_control GROUP BY policy_id
UNION ALL
SELECT 0, f.framework_id, ?1, sum(c.passed), sum(c.failed), sum(c.errors)
FROM (SELECT DISTINCT control_id, framework_id FROM control_frameworks) f JOIN counts_control c ON c.control_id = f.control_id
GROUP BY f.framework_id
UNION ALL
SELECT c.policy_id, f.framework_id, ?1, sum(c.passed), sum(c.failed), sum(c.errors)
FROM (SELECT DISTINCT control_id, framework_id FROM control_frameworks) f JOIN counts_control c ON c.control_id = f.control_id
GROUP BY c.policy_id, f.framework_id`

func snapshotCounts(conn *sqlite3.Conn, runID int64) error {
	if err := exec(conn, `DELETE FROM run_counts WHERE run_id = ?`, runID); err != nil {
		return err
	}
	if err := exec(conn, snapshotCountsSQL, runID); err != nil {
		return fmt.Errorf("record the run's figures: %w", err)
	}
	return nil
}
