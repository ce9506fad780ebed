package app

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"

	"pcsync/internal/store"
)

// benchMode is one kind of measured run: the real SQLite write path, its
// bare pipeline, or PostgreSQL.
type benchMode struct {
	bare, pg bool
}

// benchSchema is the URL of run i's fresh PostgreSQL database: a schema of
// its own on the server at base.
func benchSchema(base string, i int) string {
	u, err := withSearchPath(base, fmt.Sprintf("pcsync_bench_%d_%d", os.Getpid(), i), true)
	if err != nil {
		return base
	}
	return u
}

// withSearchPath is the PostgreSQL URL base with its search_path set to
// schema: always when replace, else only when base names none.
func withSearchPath(base, schema string, replace bool) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	q := u.Query()
	if replace || q.Get("search_path") == "" {
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
	}
	return u.String(), nil
}

// benchFresh removes what an earlier bench left of an SQLite database
// in --dir under the name of this run's: a run syncs into a new file, and
// one that found the last bench's database would time an incremental
// sync of nothing (0 records) as if it were the run.
func benchFresh(db string) error {
	d, err := store.ParseDSN(db)
	if err != nil || d.Driver == store.DriverPostgres {
		return err
	}
	for _, suffix := range []string{"", "-wal", "-shm", ".lock"} {
		if err := os.Remove(db + suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("start run from a fresh database: %w", err)
		}
	}
	return nil
}

// benchRemove removes a measured run's database, unless --dir keeps the
// SQLite ones.
func benchRemove(ctx context.Context, o *benchOptions, db string) error {
	d, err := store.ParseDSN(db)
	if err != nil {
		return err
	}
	if d.Driver == store.DriverPostgres {
		return removeSchema(ctx, d)
	}
	if o.dir == "" {
		for _, suffix := range []string{"", "-wal", "-shm"} {
			os.Remove(db + suffix)
		}
	}
	return nil
}
