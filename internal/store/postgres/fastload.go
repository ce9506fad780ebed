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

// addedCountsSQL adds new postures' statuses to the counts, summed by
// the batch (addedCounts): $1..$5 are policy, host, passed, failed,
// errors per host; $6..$11 policy, control, technology, passed, failed,
// errors per control.
const addedCountsSQL = `WITH dh AS (
	SELECT policy_id, host_id, p, f, e, 0 AS s
	FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[]) AS d(policy_id, host_id, p, f, e)
	WHERE p <> 0 OR f <> 0 OR e <> 0
)` + hostCountsSQL + `, dc AS (
	SELECT policy_id, control_id, technology_id, p, f, e, 0 AS s
	FROM unnest($6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[])
		AS d(policy_id, control_id, technology_id, p, f, e)
	WHERE p <> 0 OR f <> 0 OR e <> 0
)` + controlCountsSQL + `
SELECT 0`

// writeNew applies b on a first load; errDuplicate says a record of b is
// stored already, and nothing was written.
func (s *Store) writeNew(ctx context.Context, b *store.Batch, pending *related) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := copyPostures(ctx, tx, "postures", b.Postures, b.RunID); err != nil {
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
	var hosts, controls addedCounts
	for i := range ps {
		p := &ps[i]
		hosts.add([3]int64{p.PolicyID, p.Host.ID}, p.Status)
		controls.add([3]int64{p.PolicyID, p.ControlID, p.TechnologyID}, p.Status)
	}
	batch.Queue(addedCountsSQL, hosts.col(0), hosts.col(1), hosts.sum(0), hosts.sum(1), hosts.sum(2),
		controls.col(0), controls.col(1), controls.col(2), controls.sum(0), controls.sum(1), controls.sum(2))
}

// addedCounts sums a batch's new postures by key (policy and host, or
// policy, control and technology), in the order the keys first appear:
// the server then updates each counts row once per batch instead of
// grouping thousands of records (BENCHMARKS.md, issue 15). Counts only
// grow here, so no host leaves current_hosts (no goneHostsSQL).
type addedCounts struct {
	at   map[[3]int64]int
	keys [][3]int64
	sums [][3]int64 // passed, failed, errors
}

func (c *addedCounts) add(k [3]int64, st compliance.Status) {
	if c.at == nil {
		c.at = map[[3]int64]int{}
	}
	i, ok := c.at[k]
	if !ok {
		i = len(c.keys)
		c.at[k] = i
		c.keys = append(c.keys, k)
		c.sums = append(c.sums, [3]int64{})
	}
	switch st {
	case compliance.StatusPassed:
		c.sums[i][0]++
	case compliance.StatusFailed:
		c.sums[i][1]++
	case compliance.StatusError:
		c.sums[i][2]++
	}
}

func (c *addedCounts) col(j int) []int64 {
	out := make([]int64, len(c.keys))
	for i, k := range c.keys {
		out[i] = k[j]
	}
	return out
}

func (c *addedCounts) sum(j int) []int64 {
	out := make([]int64, len(c.sums))
	for i, s := range c.sums {
		out[i] = s[j]
	}
	return out
}

// firstLoad says whether Write may try writeNew.
func (s *Store) firstLoad() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.empty
}
