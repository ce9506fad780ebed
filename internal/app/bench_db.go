package app

import (
	"context"
	"fmt"
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
	u, err := url.Parse(base)
	if err != nil {
		return base
	}
	q := u.Query()
	q.Set("search_path", fmt.Sprintf("pcsync_bench_%d_%d", os.Getpid(), i))
	u.RawQuery = q.Encode()
	return u.String()
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
