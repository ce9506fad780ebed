package app

import (
	"context"
	"errors"
	"path/filepath"

	"pcsync/internal/outfile"
	"pcsync/internal/store"
	"pcsync/internal/store/postgres"
	"pcsync/internal/store/sqlite"
)

// This file is the composition root of the database: the only place that
// knows the store implementations and picks one from a DSN.

// dbFlagHelp is the help of every --db flag.
const dbFlagHelp = "database: a SQLite file `path` (or sqlite:PATH), or postgres://user@host:port/dbname"

// dbOptions are settings of one implementation that flags can set.
type dbOptions struct {
	bareInsert bool // SQLite: the benchmark's bare pipeline (BENCHMARKS.md)
	writers    int  // PostgreSQL: connections that write at once (0: the default)
	shard      string
}

// openWriter opens the database named by dsn for a sync, creating it and
// bringing its schema up to date as needed.
func openWriter(ctx context.Context, dsn string, o dbOptions) (store.Writer, error) {
	d, err := store.ParseDSN(dsn)
	if err != nil {
		return nil, dbError(err)
	}
	switch d.Driver {
	case store.DriverSQLite:
		st, err := sqlite.Open(ctx, d.Path, sqlite.Options{BareInsert: o.bareInsert})
		if err != nil {
			return nil, dbError(err)
		}
		return st, nil
	}
	if o.bareInsert {
		return nil, usageErr("%s: --bare-insert is a SQLite benchmark baseline", d.Redacted())
	}
	st, err := postgres.Open(ctx, d.URL, postgres.Options{Writers: o.writers, Shard: o.shard})
	if err != nil {
		return nil, dbError(err)
	}
	return st, nil
}

// openReader opens the database named by dsn read-only: it must exist and
// be a pcsync database of this schema; nothing is created or changed.
func openReader(ctx context.Context, dsn string) (store.ReadCloser, error) {
	d, err := store.ParseDSN(dsn)
	if err != nil {
		return nil, dbError(err)
	}
	switch d.Driver {
	case store.DriverSQLite:
		st, err := sqlite.OpenReader(ctx, d.Path, sqlite.Options{})
		if err != nil {
			return nil, dbError(err)
		}
		return st, nil
	}
	st, err := postgres.OpenReader(ctx, d.URL, postgres.Options{})
	if err != nil {
		return nil, dbError(err)
	}
	return st, nil
}

// dbError picks the exit code of an opener's error: a DSN that cannot name
// a database is a usage error (nothing was done), anything else is the
// database's.
func dbError(err error) error {
	var de *store.DSNError
	if errors.As(err, &de) {
		return withCode(ExitUsage, err)
	}
	return withCode(ExitDB, err)
}

// outputGuard protects the database named by dsn from pcsync's own output
// files.
func outputGuard(dsn string) outfile.Guard {
	if d, err := store.ParseDSN(dsn); err == nil && d.Driver == store.DriverSQLite {
		return outfile.ForSQLite(d.Path)
	}
	return outfile.Guard{}
}

// checkOutput refuses an output path (given by flag) that is the database.
func checkOutput(dsn, flag, path string) error {
	if err := outputGuard(dsn).Check(flag, path); err != nil {
		return withCode(ExitUsage, err)
	}
	return nil
}

// defaultRejects is where records that do not decode go unless --rejects
// says: beside a SQLite database, else in the current directory.
func defaultRejects(dsn string) string {
	if d, err := store.ParseDSN(dsn); err == nil && d.Driver == store.DriverSQLite {
		return d.Path + ".rejects.ndjson"
	}
	return filepath.Join(".", "pcsync.rejects.ndjson")
}

// removeSchema drops the PostgreSQL database (schema) d's search_path
// names: pcsync bench's throwaway databases.
func removeSchema(ctx context.Context, d store.DSN) error {
	return postgres.Remove(ctx, d.URL)
}

// distribute makes the PostgreSQL database st distributed (Citus): see
// postgres.Store.Distribute.
func distribute(ctx context.Context, st store.Writer) ([]string, error) {
	pg, ok := st.(*postgres.Store)
	if !ok {
		return nil, usageErr("--citus: only a PostgreSQL database can be distributed")
	}
	did, err := pg.Distribute(ctx)
	var nc *postgres.NoCitusError
	if errors.As(err, &nc) {
		return nil, withCode(ExitUsage, err)
	}
	if err != nil {
		return did, withCode(ExitDB, err)
	}
	return did, nil
}
