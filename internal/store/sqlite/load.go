package sqlite

import (
	"context"
	"fmt"
	"strings"

	"github.com/ncruces/go-sqlite3"
)

// secondaryIndexes are the indexes rebuilt after a bulk load: the
// postures' (each ends with id, so that it covers the read API's keyset
// order; the key (policy_id, id) itself stays, the upserts look it up), and
// hosts_scanned, which a first load's host upserts
// maintained in the random order of scan dates (a third of their cost on
// a wide estate, BENCHMARKS.md).
var secondaryIndexes = []struct{ name, sql string }{
	{"postures_natural", "CREATE INDEX IF NOT EXISTS postures_natural ON postures (policy_id, host_id, control_id, technology_id, instance, id)"},
	{"postures_control", "CREATE INDEX IF NOT EXISTS postures_control ON postures (control_id, policy_id, host_id, technology_id, instance, id)"},
	{"postures_failing", "CREATE INDEX IF NOT EXISTS postures_failing ON postures (control_id, policy_id, host_id, first_fail_date, fail_value, status, stale_run, id) WHERE status = 'Failed' AND stale_run IS NULL"},
	{"hosts_scanned", "CREATE INDEX IF NOT EXISTS hosts_scanned ON hosts (compliance_last_scan_date)"},
}

func indexNames() string {
	var names []string
	for _, ix := range secondaryIndexes {
		names = append(names, "'"+ix.name+"'")
	}
	return strings.Join(names, ", ")
}

// BeginLoad switches to bulk loading when the postures table is empty (a
// first sync) or when its indexes are missing (a bulk load that was cut
// off): the secondary indexes are dropped and rebuilt by EndLoad, which is
// much cheaper than maintaining them row by row. BENCHMARKS.md has the
// figures.
func (s *Store) BeginLoad(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	empty, err := s.scalarInt("SELECT NOT EXISTS (SELECT 1 FROM postures)")
	if err != nil {
		return err
	}
	present, err := s.scalarInt("SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name IN (" + indexNames() + ")")
	if err != nil {
		return err
	}
	s.bulk = empty == 1 || present < int64(len(secondaryIndexes))
	if !s.bulk {
		return nil
	}
	for _, ix := range secondaryIndexes {
		if err := s.conn.Exec("DROP INDEX IF EXISTS " + ix.name); err != nil {
			return fmt.Errorf("begin bulk load: %w", err)
		}
	}
	return nil
}

// EndLoad rebuilds the indexes BeginLoad dropped, unless ctx is done.
func (s *Store) EndLoad(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.bulk || ctx.Err() != nil {
		return nil
	}
	old := s.conn.SetInterrupt(ctx)
	defer s.conn.SetInterrupt(old)
	for _, ix := range secondaryIndexes {
		if err := s.conn.Exec(ix.sql); err != nil {
			return fmt.Errorf("build index %s: %w", ix.name, err)
		}
	}
	s.bulk = false
	return nil
}

func (s *Store) scalarInt(sql string) (int64, error) { return scalar(s.conn, sql) }

// scalar runs a query of one integer on conn.
func scalar(conn *sqlite3.Conn, sql string) (int64, error) {
	st, _, err := conn.Prepare(sql)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	if !st.Step() {
		if err := st.Err(); err != nil {
			return 0, err
		}
		return 0, fmt.Errorf("%s: no row", sql)
	}
	return st.ColumnInt64(0), nil
}

// scalarIntAt is scalarInt with arguments, under the store's lock.
func (s *Store) scalarIntAt(ctx context.Context, sql string, args ...any) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, _, err := s.conn.Prepare(sql)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	if err := bindAll(st, args...); err != nil {
		return 0, err
	}
	if !st.Step() {
		if err := st.Err(); err != nil {
			return 0, err
		}
		return 0, fmt.Errorf("%s: no row", sql)
	}
	return st.ColumnInt64(0), nil
}
