package postgres

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"pcsync/internal/store"
)

// AcquireSyncLock takes the database's sync lock: session-level advisory
// locks held by a connection of its own until release, which PostgreSQL
// frees when that session ends, however its process ends. Keys are the
// schema's, so pcsync databases in other schemas are not affected.
//
// An unsharded sync takes the lock "sync" exclusively. A shard (Options.
// Shard) takes "sync" shared, so that shards run side by side but never
// beside an unsharded sync, and "shard K/N" exclusively, so that one shard
// runs once; its policies are locked one by one (LockPolicies).
func (s *Store) AcquireSyncLock(ctx context.Context) (func(), error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("sync lock: %w", err)
	}
	var held []string
	release := func() { unlock(conn, held) }
	if s.opts.Shard == "" {
		err = s.tryLock(ctx, conn, "sync", false, "")
	} else if err = s.tryLock(ctx, conn, "sync", true, "an unsharded sync is writing to this database"); err == nil {
		held = append(held, "sync shared")
		err = s.tryLock(ctx, conn, "shard "+s.opts.Shard, false, "shard "+s.opts.Shard+" is already running")
	}
	if err != nil {
		release()
		return nil, err
	}
	if s.opts.Shard == "" {
		held = append(held, "sync")
	} else {
		held = append(held, "shard "+s.opts.Shard)
	}
	return release, nil
}

// LockPolicies takes the lock "policy ID" of every policy, on a connection
// of its own, or none of them.
func (s *Store) LockPolicies(ctx context.Context, ids []int64) (func(), error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("policy locks: %w", err)
	}
	var held []string
	for _, id := range slices.Sorted(slices.Values(ids)) {
		name := "policy " + strconv.FormatInt(id, 10)
		if err := s.tryLock(ctx, conn, name, false, "policy "+strconv.FormatInt(id, 10)+" is being synced by another shard"); err != nil {
			unlock(conn, held)
			return nil, err
		}
		held = append(held, name)
	}
	return func() { unlock(conn, held) }, nil
}

// tryLock takes the advisory lock called name (shared or exclusive) on
// conn, or fails with a *store.LockedError saying why and naming the
// holder. A holder that just died may still show for a moment (its server
// process ends when it notices the connection closed), so a refusal is
// tried again briefly.
func (s *Store) tryLock(ctx context.Context, conn *pgxpool.Conn, name string, shared bool, why string) error {
	fn := "pg_try_advisory_lock"
	if shared {
		fn += "_shared"
	}
	for attempt := 0; ; attempt++ {
		var ok bool
		if err := conn.QueryRow(ctx, `SELECT `+fn+`(`+lockKey+`)`, name).Scan(&ok); err != nil {
			return fmt.Errorf("lock %s: %w", name, err)
		}
		if ok {
			return nil
		}
		if attempt == 4 {
			holder := s.lockHolder(ctx, conn, name)
			if why != "" {
				holder = why + ": " + holder
			}
			return &store.LockedError{Holder: holder}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// unlock releases the locks named (as tryLock took them; "NAME shared"
// for a shared one) and returns the connection.
func unlock(conn *pgxpool.Conn, names []string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, n := range names {
		fn := "pg_advisory_unlock"
		if base, ok := strings.CutSuffix(n, " shared"); ok {
			n, fn = base, "pg_advisory_unlock_shared"
		}
		if _, err := conn.Exec(ctx, `SELECT `+fn+`(`+lockKey+`)`, n); err != nil {
			conn.Conn().Close(ctx) // the session's end frees its locks
			break
		}
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
