package postgres

import (
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"pcsync/internal/store"
)

// Distributed are the tables that grow with the estate, distributed by
// policy_id on a distributed PostgreSQL (Citus), co-located with postures.
// Every primary and unique key of theirs includes policy_id, and the
// queries that join two of them join on it (citus_test.go checks both).
var Distributed = []string{"postures", "history", "stale_history", "policy_hosts", "counts_host", "counts_control",
	"counts_policy", "run_counts"}

// Reference are the registry's other tables: the catalogue, hosts and the
// run ledger, small enough to be copied to every node (reference tables).
// No foreign key leads from them to a distributed table (there are none).
func Reference() []string {
	var out []string
	for _, t := range store.Tables {
		if !slices.Contains(Distributed, t.Name) {
			out = append(out, t.Name)
		}
	}
	return out
}

// NoCitusError says the database has no citus extension.
type NoCitusError struct{ Where string }

func (e *NoCitusError) Error() string {
	return e.Where + " has no citus extension: install Citus on the server and run CREATE EXTENSION citus in the database first"
}

// CheckCitus refuses, before anything is written, a database at url
// without the citus extension. A database it cannot reach passes: the
// opener that follows reports that.
func CheckCitus(ctx context.Context, url string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil
	}
	defer conn.Close(ctx)
	var citus bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus')`).Scan(&citus); err != nil || citus {
		return nil
	}
	return &NoCitusError{Where: store.RedactDSN(url)}
}

// Distribute makes a database with the citus extension distributed: each
// reference table with create_reference_table, each distributed one with
// create_distributed_table by policy_id, co-located with postures. Tables
// already done are left as they are, so it can run again. It returns what
// it did, one line a table.
func (s *Store) Distribute(ctx context.Context) ([]string, error) {
	var citus bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus')`).Scan(&citus); err != nil {
		return nil, err
	}
	if !citus {
		return nil, &NoCitusError{Where: s.where}
	}
	var done []string
	err := s.query(ctx, `SELECT logicalrelid::regclass::text FROM pg_dist_partition`, func(row pgx.Rows) error {
		var name string
		err := row.Scan(&name)
		done = append(done, name)
		return err
	})
	if err != nil {
		return nil, err
	}
	var did []string
	for _, t := range Reference() {
		if !slices.Contains(done, t) {
			if _, err := s.pool.Exec(ctx, `SELECT create_reference_table($1)`, t); err != nil {
				return did, fmt.Errorf("reference table %s: %w", t, err)
			}
			did = append(did, "reference table "+t)
		}
	}
	for i, t := range Distributed {
		colocate := "postures"
		if i == 0 {
			colocate = "default"
		}
		if !slices.Contains(done, t) {
			if _, err := s.pool.Exec(ctx, `SELECT create_distributed_table($1, 'policy_id', colocate_with => $2)`, t, colocate); err != nil {
				return did, fmt.Errorf("distributed table %s: %w", t, err)
			}
			did = append(did, "distributed table "+t+" by policy_id")
		}
	}
	return did, nil
}
