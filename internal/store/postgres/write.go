package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"pcsync/internal/store"
)

// createStaging makes the connection's staging table (each connection has
// its own temporary one, emptied at every commit).
func createStaging(ctx context.Context, conn *pgx.Conn) error {
	_, err := conn.Exec(ctx, `CREATE TEMP TABLE IF NOT EXISTS pcsync_stage (seq bigint NOT NULL, id bigint NOT NULL,
		policy_id bigint NOT NULL, host_id bigint NOT NULL, control_id bigint NOT NULL, technology_id bigint NOT NULL,
		instance text NOT NULL, status text, previous_status text, first_fail_date timestamptz, last_fail_date timestamptz,
		first_pass_date timestamptz, last_pass_date timestamptz, posture_modified_date timestamptz,
		last_evaluated_date timestamptz, created timestamptz, criticality_label text, criticality_value bigint,
		evidence json, cause_of_failure json, extra json, fail_value text) ON COMMIT DELETE ROWS`)
	return err
}

// mergeSQL merges the staged records into postures, in one statement:
// only rows that differ are written (a replayed batch writes nothing);
// each status change appends a history row, each stale posture returned
// again a stale_history row, and the counts move by the difference
// between the old and the new rows. $1 is the run.
const mergeSQL = `
WITH s AS (
	SELECT DISTINCT ON (policy_id, id) * FROM pcsync_stage ORDER BY policy_id, id, seq DESC
), old AS (
	SELECT p.policy_id, p.id, p.host_id, p.control_id, p.technology_id, p.status, p.stale_run
	FROM postures p JOIN s ON p.policy_id = s.policy_id AND p.id = s.id
), up AS (
	INSERT INTO postures AS p (id, policy_id, host_id, control_id, technology_id, instance, status, previous_status,
		first_fail_date, last_fail_date, first_pass_date, last_pass_date, posture_modified_date, last_evaluated_date,
		created, criticality_label, criticality_value, evidence, cause_of_failure, extra, fail_value, first_run, last_run)
	SELECT id, policy_id, host_id, control_id, technology_id, instance, status, previous_status,
		first_fail_date, last_fail_date, first_pass_date, last_pass_date, posture_modified_date, last_evaluated_date,
		created, criticality_label, criticality_value, evidence, cause_of_failure, extra, fail_value, $1, $1
	FROM s ORDER BY policy_id, id
	ON CONFLICT (policy_id, id) DO UPDATE SET host_id = excluded.host_id, control_id = excluded.control_id,
		technology_id = excluded.technology_id, instance = excluded.instance, status = excluded.status,
		previous_status = excluded.previous_status, first_fail_date = excluded.first_fail_date,
		last_fail_date = excluded.last_fail_date, first_pass_date = excluded.first_pass_date,
		last_pass_date = excluded.last_pass_date, posture_modified_date = excluded.posture_modified_date,
		last_evaluated_date = excluded.last_evaluated_date, created = excluded.created,
		criticality_label = excluded.criticality_label, criticality_value = excluded.criticality_value,
		evidence = excluded.evidence, cause_of_failure = excluded.cause_of_failure, extra = excluded.extra,
		fail_value = excluded.fail_value, last_run = excluded.last_run, stale_run = NULL
	WHERE (p.host_id, p.control_id, p.technology_id, p.instance, p.status, p.previous_status, p.first_fail_date,
		p.last_fail_date, p.first_pass_date, p.last_pass_date, p.posture_modified_date, p.last_evaluated_date, p.created,
		p.criticality_label, p.criticality_value, p.evidence::text, p.cause_of_failure::text, p.extra::text, p.fail_value, p.last_run, p.stale_run)
	IS DISTINCT FROM (excluded.host_id, excluded.control_id, excluded.technology_id, excluded.instance, excluded.status,
		excluded.previous_status, excluded.first_fail_date, excluded.last_fail_date, excluded.first_pass_date,
		excluded.last_pass_date, excluded.posture_modified_date, excluded.last_evaluated_date, excluded.created,
		excluded.criticality_label, excluded.criticality_value, excluded.evidence::text, excluded.cause_of_failure::text,
		excluded.extra::text, excluded.fail_value, excluded.last_run, NULL::bigint)
	RETURNING p.policy_id, p.id, p.host_id, p.control_id, p.technology_id, p.status, p.posture_modified_date
), changed AS (
	SELECT u.*, o.status AS old_status, o.stale_run AS old_stale, o.host_id AS old_host, o.control_id AS old_control,
		o.technology_id AS old_technology
	FROM up u JOIN old o ON o.policy_id = u.policy_id AND o.id = u.id
), h AS (
	INSERT INTO history (posture_id, policy_id, host_id, control_id, old_status, new_status, changed_at, run_id)
	SELECT id, policy_id, host_id, control_id, old_status, status, posture_modified_date, $1
	FROM changed WHERE old_status IS DISTINCT FROM status ORDER BY policy_id, id
), r AS (
	INSERT INTO stale_history (posture_id, policy_id, host_id, control_id, status, stale, run_id)
	SELECT id, policy_id, host_id, control_id, status, false, $1
	FROM changed WHERE old_stale IS NOT NULL ORDER BY policy_id, id
), d AS (
	SELECT policy_id, host_id, control_id, technology_id, (status = 'Passed')::int AS passed,
		(status = 'Failed')::int AS failed, (status = 'Error')::int AS errors, 0 AS stale
	FROM up
	UNION ALL
	SELECT policy_id, old_host, old_control, old_technology, -(old_stale IS NULL AND old_status = 'Passed')::int,
		-(old_stale IS NULL AND old_status = 'Failed')::int, -(old_stale IS NULL AND old_status = 'Error')::int,
		-(old_stale IS NOT NULL)::int
	FROM changed
)` + countsSQL + `
SELECT count(*) FROM up`

// countsSQL adds the deltas d (policy_id, host_id, control_id,
// technology_id, passed, failed, errors, stale) to the counts, keys in
// order; groups that add nothing are left alone.
const countsSQL = `, dh AS (
	SELECT policy_id, host_id, sum(passed) AS p, sum(failed) AS f, sum(errors) AS e, sum(stale) AS s FROM d
	GROUP BY policy_id, host_id HAVING sum(passed) <> 0 OR sum(failed) <> 0 OR sum(errors) <> 0 OR sum(stale) <> 0
)` + hostCountsSQL + `, dc AS (
	SELECT policy_id, control_id, technology_id, sum(passed) AS p, sum(failed) AS f, sum(errors) AS e, sum(stale) AS s
	FROM d GROUP BY policy_id, control_id, technology_id
	HAVING sum(passed) <> 0 OR sum(failed) <> 0 OR sum(errors) <> 0 OR sum(stale) <> 0
)` + controlCountsSQL

// hostCountsSQL adds the deltas per policy and host dh (policy_id,
// host_id, p, f, e, s) to counts_host, and moves counts_policy and
// current_hosts by the hosts that gained or lost their last current
// posture.
const hostCountsSQL = `, ch AS (
	INSERT INTO counts_host AS c (policy_id, host_id, passed, failed, errors, stale)
	SELECT policy_id, host_id, p, f, e, s FROM dh ORDER BY policy_id, host_id
	ON CONFLICT (policy_id, host_id) DO UPDATE SET passed = c.passed + excluded.passed, failed = c.failed + excluded.failed,
		errors = c.errors + excluded.errors, stale = c.stale + excluded.stale
	RETURNING c.policy_id, c.host_id, c.passed + c.failed + c.errors AS now
), moved AS (
	SELECT ch.policy_id, ch.host_id, (ch.now > 0)::int - (ch.now - (dh.p + dh.f + dh.e) > 0)::int AS n
	FROM ch JOIN dh ON dh.policy_id = ch.policy_id AND dh.host_id = ch.host_id
), cp AS (
	INSERT INTO counts_policy AS c (policy_id, hosts)
	SELECT policy_id, sum(n) FROM moved GROUP BY policy_id HAVING sum(n) <> 0 ORDER BY policy_id
	ON CONFLICT (policy_id) DO UPDATE SET hosts = c.hosts + excluded.hosts
), cu AS (
	INSERT INTO current_hosts AS c (host_id, policies)
	SELECT host_id, sum(n) FROM moved GROUP BY host_id HAVING sum(n) <> 0 ORDER BY host_id
	ON CONFLICT (host_id) DO UPDATE SET policies = c.policies + excluded.policies
)`

// controlCountsSQL adds the deltas per policy, control and technology dc
// (policy_id, control_id, technology_id, p, f, e, s) to counts_control.
const controlCountsSQL = `, cc AS (
	INSERT INTO counts_control AS c (policy_id, control_id, technology_id, passed, failed, errors, stale)
	SELECT policy_id, control_id, technology_id, p, f, e, s FROM dc ORDER BY policy_id, control_id, technology_id
	ON CONFLICT (policy_id, control_id, technology_id) DO UPDATE SET passed = c.passed + excluded.passed,
		failed = c.failed + excluded.failed, errors = c.errors + excluded.errors, stale = c.stale + excluded.stale
)`

// goneHostsSQL removes the hosts that no longer have current postures
// from current_hosts (their count reached 0 in the statement before: a
// statement cannot change a row twice).
const goneHostsSQL = `DELETE FROM current_hosts WHERE policies <= 0`

// Write applies b in one transaction. It may be called by several
// goroutines at once; a transaction that loses a deadlock or a
// serialization conflict is run again.
func (s *Store) Write(ctx context.Context, b *store.Batch) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	for attempt := 1; ; attempt++ {
		err := s.writeOnce(ctx, b)
		var pe *pgconn.PgError
		if err == nil || attempt == 3 || !errors.As(err, &pe) || (pe.Code != "40P01" && pe.Code != "40001") {
			return err
		}
	}
}

func (s *Store) writeOnce(ctx context.Context, b *store.Batch) error {
	pending := s.w.pending(b)
	if len(b.Postures) > 0 && s.firstLoad() {
		err := s.writeNew(ctx, b, pending)
		if err == nil {
			s.w.commit(pending, b)
			return nil
		}
		if !errors.Is(err, errDuplicate) {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return s.lost(fmt.Errorf("write %d postures: %w", len(b.Postures), err))
		}
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if len(b.Postures) > 0 {
			if err := copyPostures(ctx, tx, "pcsync_stage", b.Postures, b.RunID); err != nil {
				return fmt.Errorf("copy %d postures: %w", len(b.Postures), err)
			}
		}
		batch := &pgx.Batch{}
		pending.queue(batch, b.RunID)
		if len(b.Postures) > 0 {
			batch.Queue(mergeSQL, b.RunID)
			batch.Queue(goneHostsSQL)
		}
		queueExceptions(batch, b)
		if len(b.Postures) > 0 && !s.w.wrote(b.RunID) {
			batch.Queue(`UPDATE runs SET wrote = true WHERE id = $1 AND NOT wrote`, b.RunID)
		}
		queueBatchRecords(batch, b)
		if err := tx.SendBatch(ctx, batch).Close(); err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return s.lost(fmt.Errorf("write %d postures: %w", len(b.Postures), err))
	}
	s.w.commit(pending, b)
	return nil
}

// queueExceptions stores what only classic posture carries: each record's
// exception (or its absence) and its control's remediation text.
func queueExceptions(batch *pgx.Batch, b *store.Batch) {
	for i := range b.Postures {
		p := &b.Postures[i]
		if e := p.Exception; e != nil {
			batch.Queue(`INSERT INTO exceptions (posture_id, assignee, status, comments, created_by, created_date, modified_by,
				modified_date, end_date, last_run, policy_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
				ON CONFLICT (posture_id) DO UPDATE SET assignee = excluded.assignee, status = excluded.status,
				comments = excluded.comments, created_by = excluded.created_by, created_date = excluded.created_date,
				modified_by = excluded.modified_by, modified_date = excluded.modified_date, end_date = excluded.end_date,
				last_run = excluded.last_run, policy_id = excluded.policy_id`, p.ID, ns(e.Assignee), ns(e.Status), ns(e.Comments),
				ns(e.CreatedBy), nt(e.CreatedDate), ns(e.ModifiedBy), nt(e.ModifiedDate), nt(e.EndDate), b.RunID, p.PolicyID)
		} else if b.Exceptions {
			batch.Queue(`DELETE FROM exceptions WHERE posture_id = $1`, p.ID)
		}
	}
}

// queueBatchRecords records the plan batches the transaction finishes or
// advances, and the hosts fetched whole.
func queueBatchRecords(batch *pgx.Batch, b *store.Batch) {
	now := time.Now().UTC()
	for _, c := range b.Cursors {
		batch.Queue(`UPDATE run_batches SET cursor = $1, records = records + $2, passed = passed + $3, failed = failed + $4,
			errors = errors + $5, rejects = rejects + $6 WHERE run_id = $7 AND batch_no = $8`,
			c.Next, c.Counts.Records, c.Counts.Passed, c.Counts.Failed, c.Counts.Errors, c.Rejects, b.RunID, c.BatchNo)
	}
	for _, d := range b.Done {
		if d.Counted {
			batch.Queue(`UPDATE run_batches SET status = 'done', error = NULL, finished_at = $1 WHERE run_id = $2 AND batch_no = $3`,
				now, b.RunID, d.BatchNo)
		} else {
			batch.Queue(`INSERT INTO run_batches (run_id, batch_no, policy_id, status, hosts_returned, records, passed, failed,
				errors, finished_at, rejects) VALUES ($1, $2, $3, 'done', $4, $5, $6, $7, $8, $9, $10)
				ON CONFLICT (run_id, batch_no) DO UPDATE SET status = 'done', hosts_returned = excluded.hosts_returned,
				records = excluded.records, passed = excluded.passed, failed = excluded.failed, errors = excluded.errors,
				error = NULL, finished_at = excluded.finished_at, rejects = excluded.rejects`,
				b.RunID, d.BatchNo, d.PolicyID, d.HostsReturned, d.Counts.Records, d.Counts.Passed, d.Counts.Failed,
				d.Counts.Errors, now, d.Rejects)
		}
		if len(d.Whole) > 0 {
			batch.Queue(`UPDATE policy_hosts SET whole = false WHERE policy_id = $1 AND host_id = ANY($2) AND whole`,
				d.PolicyID, d.Whole)
		}
	}
}

// ns is a text value: "" is NULL, as the SQLite store stores it.
func ns(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// nt is a date: the zero time is NULL.
func nt(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC()
}

// nj is a JSON document as received: nil (or empty) is NULL.
func nj(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// Writers is how many goroutines may call Write at once (Options.Writers).
func (s *Store) Writers() int { return s.opts.Writers }

// lost says so when err is the loss of the server (it stopped, restarted
// or cannot be reached): nothing of the transaction was stored, and the
// next sync resumes the run.
func (s *Store) lost(err error) error {
	var pe *pgconn.PgError
	var ne net.Error
	switch {
	case errors.As(err, &pe) && !strings.HasPrefix(pe.Code, "57P") && !strings.HasPrefix(pe.Code, "08"):
		return err
	case errors.As(err, &pe), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF), errors.As(err, &ne), pgconn.SafeToRetry(err):
		return fmt.Errorf("lost the PostgreSQL server %s (stopped, restarted or unreachable; the next sync resumes the run): %w", s.where, err)
	}
	return err
}
