package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"pcsync/internal/store"
)

// AcquireSyncLock takes the database's sync lock: a session-level advisory
// lock (pg_try_advisory_lock) held by a connection of its own until
// release. PostgreSQL frees it when that session ends, however its
// process ends. The lock's key is the schema's, so pcsync databases in
// other schemas are not affected.
func (s *Store) AcquireSyncLock(ctx context.Context) (func(), error) {
	return s.advisoryLock(ctx, "sync")
}

// advisoryLock takes the advisory lock called name on a connection of its
// own, or fails with a *store.LockedError naming the holder. A holder that
// just died may still show for a moment (its server process ends when it
// notices the connection closed), so a refusal is tried again briefly.
func (s *Store) advisoryLock(ctx context.Context, name string) (func(), error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("sync lock: %w", err)
	}
	for attempt := 0; ; attempt++ {
		var ok bool
		if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(`+lockKey+`)`, name).Scan(&ok); err != nil {
			conn.Release()
			return nil, fmt.Errorf("sync lock: %w", err)
		}
		if ok {
			return func() { unlock(conn, name) }, nil
		}
		if attempt == 4 {
			holder := s.lockHolder(ctx, conn, name)
			conn.Release()
			return nil, &store.LockedError{Holder: holder}
		}
		select {
		case <-ctx.Done():
			conn.Release()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func unlock(conn *pgxpool.Conn, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock(`+lockKey+`)`, name); err != nil {
		conn.Conn().Close(ctx) // the session's end frees the lock
	}
	conn.Release()
}

// lockHolder says who holds the advisory lock name: the holder's
// application name (pcsync's pid), client address and since when.
func (s *Store) lockHolder(ctx context.Context, conn *pgxpool.Conn, name string) string {
	var holder string
	err := conn.QueryRow(ctx, `SELECT coalesce(a.application_name, '') || ' from ' || coalesce(host(a.client_addr), 'a local socket')
		|| ', since ' || to_char(a.backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
		FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
		AND (l.classid::bigint << 32) | l.objid::bigint = `+lockKey+` LIMIT 1`, name).Scan(&holder)
	if err != nil {
		return "held by another session"
	}
	return holder
}
