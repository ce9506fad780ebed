package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"pcsync/internal/compliance"
	"pcsync/internal/store"
)

// The first load of a database (BeginLoad found postures empty) adds rows
// that are all new but for a batch fetched again: such a batch is COPYed
// straight into postures, and the counts move by what its records are;
// no merge, no staging. A record that is already there (a refetch, a
// record twice in one batch) makes the COPY fail on the key, and the batch
// takes the merge path instead, in a new transaction.

// fastColumns are the posture columns COPY fills on a first load.
var fastColumns = []string{"id", "policy_id", "host_id", "control_id", "technology_id", "instance", "status",
	"previous_status", "first_fail_date", "last_fail_date", "first_pass_date", "last_pass_date", "posture_modified_date",
	"last_evaluated_date", "created", "criticality_label", "criticality_value", "evidence", "cause_of_failure", "extra",
	"fail_value", "first_run", "last_run"}

// addedCountsSQL adds new postures' statuses to the counts: $1..$7 are
// policy, host, control, technology, passed, failed, errors per record.
const addedCountsSQL = `WITH d AS (
	SELECT policy_id, host_id, control_id, technology_id, passed, failed, errors, 0 AS stale
	FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::int[], $6::int[], $7::int[])
		AS d(policy_id, host_id, control_id, technology_id, passed, failed, errors)
)` + countsSQL + `
SELECT 0`

// writeNew applies b on a first load; errDuplicate says a record of b is
// stored already, and nothing was written.
func (s *Store) writeNew(ctx context.Context, b *store.Batch, pending *related) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows := &newRows{postureRows: postureRows{ps: b.Postures, i: -1}, run: b.RunID}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"postures"}, fastColumns, rows); err != nil {
			return err
		}
		batch := &pgx.Batch{}
		pending.queue(batch, b.RunID)
		queueAddedCounts(batch, b.Postures)
		queueExceptions(batch, b)
		if !s.w.wrote(b.RunID) {
			batch.Queue(`UPDATE runs SET wrote = true WHERE id = $1 AND NOT wrote`, b.RunID)
		}
		queueBatchRecords(batch, b)
		return tx.SendBatch(ctx, batch).Close()
	})
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" && pe.TableName == "postures" {
		return errDuplicate
	}
	return err
}

var errDuplicate = errors.New("a posture of the batch is stored already")

func queueAddedCounts(batch *pgx.Batch, ps []compliance.Posture) {
	n := len(ps)
	pol, host, ctl, tech := make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
	pass, fail, errs := make([]int32, n), make([]int32, n), make([]int32, n)
	for i := range ps {
		p := &ps[i]
		pol[i], host[i], ctl[i], tech[i] = p.PolicyID, p.Host.ID, p.ControlID, p.TechnologyID
		switch p.Status {
		case compliance.StatusPassed:
			pass[i] = 1
		case compliance.StatusFailed:
			fail[i] = 1
		case compliance.StatusError:
			errs[i] = 1
		}
	}
	batch.Queue(addedCountsSQL, pol, host, ctl, tech, pass, fail, errs)
	batch.Queue(goneHostsSQL)
}

// newRows feeds a batch's records to COPY into postures, with the run as
// their first and last.
type newRows struct {
	postureRows
	run int64
	out [23]any
}

func (r *newRows) Values() ([]any, error) {
	vals, _ := r.postureRows.Values()
	copy(r.out[:21], vals[1:]) // without seq
	r.out[21], r.out[22] = r.run, r.run
	return r.out[:], nil
}

// firstLoad says whether Write may try writeNew.
func (s *Store) firstLoad() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.empty
}
