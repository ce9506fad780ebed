package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"
)

// secondaryIndexes are the posture indexes rebuilt after a bulk load,
// the longest to build first.
var secondaryIndexes = []struct{ name, sql string }{
	{"postures_natural", "CREATE INDEX IF NOT EXISTS postures_natural ON postures (policy_id, host_id, control_id, technology_id, instance, id)"},
	{"postures_control", "CREATE INDEX IF NOT EXISTS postures_control ON postures (control_id, policy_id, host_id, technology_id, instance, id)"},
	{"postures_failing", "CREATE INDEX IF NOT EXISTS postures_failing ON postures (control_id, policy_id, host_id, first_fail_date, fail_value) WHERE status = 'Failed' AND stale_run IS NULL"},
}

// BeginLoad switches to bulk loading when the postures table is empty (a
// first sync) or its indexes are missing (a bulk load that was cut off):
// the secondary indexes are dropped, and EndLoad builds them once, which
// costs much less than maintaining them row by row.
func (s *Store) BeginLoad(ctx context.Context) error {
	var empty bool
	var present int
	err := s.pool.QueryRow(ctx, `SELECT NOT EXISTS (SELECT 1 FROM postures),
		(SELECT count(*) FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'postures'
		AND indexname = ANY($1))`, indexNames()).Scan(&empty, &present)
	if err != nil {
		return fmt.Errorf("begin load: %w", err)
	}
	s.mu.Lock()
	s.bulk = empty || present < len(secondaryIndexes)
	s.empty = empty
	bulk := s.bulk
	s.mu.Unlock()
	if !bulk {
		return nil
	}
	for _, ix := range secondaryIndexes {
		if _, err := s.pool.Exec(ctx, "DROP INDEX IF EXISTS "+ix.name); err != nil {
			return fmt.Errorf("begin bulk load: %w", err)
		}
	}
	return nil
}

func indexNames() []string {
	var names []string
	for _, ix := range secondaryIndexes {
		names = append(names, ix.name)
	}
	return names
}

// EndLoad builds the indexes BeginLoad dropped, unless ctx is done (the
// next run's BeginLoad then finds them missing and builds them), then
// vacuums and analyzes the postures. The indexes are built by as many
// connections at once as there are writers (the largest first): one build
// sorts on one core, and building them one after the other left the other
// core idle (BENCHMARKS.md, issue 15).
func (s *Store) EndLoad(ctx context.Context) error {
	s.mu.Lock()
	bulk := s.bulk
	s.empty = false
	s.mu.Unlock()
	if !bulk || ctx.Err() != nil {
		return nil
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("build indexes: %w", err)
	}
	defer conn.Release()
	// shards that end at once build them one load at a time
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(`+lockKey+`)`, "load"); err != nil {
		return fmt.Errorf("build indexes: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(`+lockKey+`)`, "load")
	if err := s.buildIndexes(ctx, conn); err != nil {
		return err
	}
	// VACUUM sets the visibility map of the pages the load wrote, without
	// which an index-only scan fetches every row from the table: the control
	// page's failing values read 4,579 rows of 5,158 from the table (113 ms)
	// after a 10M first load, 1.4 ms after VACUUM (BENCHMARKS.md)
	_, _ = conn.Exec(ctx, "VACUUM (ANALYZE) postures")
	s.mu.Lock()
	s.bulk = false
	s.mu.Unlock()
	return nil
}

// buildIndexes builds secondaryIndexes on conn and on up to Writers-1
// more connections of the pool at once.
func (s *Store) buildIndexes(ctx context.Context, conn *pgxpool.Conn) error {
	todo := make(chan int, len(secondaryIndexes))
	for i := range secondaryIndexes {
		todo <- i
	}
	close(todo)
	g, gctx := errgroup.WithContext(ctx)
	build := func(c *pgxpool.Conn) error {
		// One process a build: parallel workers would only share the
		// cores the other connections sort on. Every build commits
		// synchronously: VACUUM, after them, can mark a page all-visible
		// only once the commits of its rows are on disk, and the load's
		// were asynchronous (a commit record flushed flushes all before
		// it). Every build, not one connection's: another connection can
		// build every index of a small table before that one has begun.
		if _, err := c.Exec(gctx, "SET maintenance_work_mem = '256MB'; SET max_parallel_maintenance_workers = 0; SET synchronous_commit = on"); err != nil {
			return fmt.Errorf("build indexes: %w", err)
		}
		defer c.Exec(context.WithoutCancel(gctx), "RESET maintenance_work_mem; RESET max_parallel_maintenance_workers; RESET synchronous_commit")
		for i := range todo {
			ix := secondaryIndexes[i]
			if _, err := c.Exec(gctx, ix.sql); err != nil {
				return fmt.Errorf("build index %s: %w", ix.name, err)
			}
		}
		return nil
	}
	g.Go(func() error { return build(conn) })
	for range min(s.opts.Writers, len(secondaryIndexes)) - 1 {
		g.Go(func() error {
			c, err := s.pool.Acquire(gctx)
			if err != nil {
				return fmt.Errorf("build indexes: %w", err)
			}
			defer c.Release()
			return build(c)
		})
	}
	return g.Wait()
}
