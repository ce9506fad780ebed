package sqlite

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/ncruces/go-sqlite3"
)

// The counts of current postures per policy and host (counts_host) and per
// policy, control and technology (counts_control) change in the transaction
// that changes the postures: each posture the sync upserts is added to its
// key in Go, and the stale marks return the postures they mark (RETURNING);
// the changes are summed per key and applied once per key at the end of the
// transaction, in key order. When an upsert replaces a stored posture, the
// trigger postures_counts_replaced (schema 5) takes the replaced one out,
// so a first load, where nothing is replaced, pays nothing in SQL.
// BENCHMARKS.md compares this with the alternatives.

// tally is what one key's counts change by.
type tally struct{ passed, failed, errors, stale int64 }

func (t *tally) add(status string, stale bool, n int64) {
	switch {
	case stale:
		t.stale += n
	case status == "Passed":
		t.passed += n
	case status == "Failed":
		t.failed += n
	case status == "Error":
		t.errors += n
	}
}

// countDeltas are the changes of one transaction's counts.
type countDeltas struct {
	hosts    map[[2]int64]tally // policy, host
	controls map[[3]int64]tally // policy, control, technology
}

func newCountDeltas() *countDeltas {
	return &countDeltas{hosts: map[[2]int64]tally{}, controls: map[[3]int64]tally{}}
}

// add counts n postures of policy, host, control and technology in status
// (stale or current) more, or fewer for a negative n.
func (d *countDeltas) add(policy, host, control, tech int64, status string, stale bool, n int64) {
	hk, ck := [2]int64{policy, host}, [3]int64{policy, control, tech}
	h, c := d.hosts[hk], d.controls[ck]
	h.add(status, stale, n)
	c.add(status, stale, n)
	d.hosts[hk], d.controls[ck] = h, c
}

const addHostCountsSQL = `INSERT INTO counts_host (policy_id, host_id, passed, failed, errors, stale) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
ON CONFLICT DO UPDATE SET passed = passed + excluded.passed, failed = failed + excluded.failed,
	errors = errors + excluded.errors, stale = stale + excluded.stale`

const addControlCountsSQL = `INSERT INTO counts_control (policy_id, control_id, technology_id, passed, failed, errors, stale)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
ON CONFLICT DO UPDATE SET passed = passed + excluded.passed, failed = failed + excluded.failed,
	errors = errors + excluded.errors, stale = stale + excluded.stale`

// apply adds the deltas to the counts tables, in key order, and empties d.
func (d *countDeltas) apply(host, control *sqlite3.Stmt) error {
	for _, k := range sortedKeys(d.hosts) {
		t := d.hosts[k]
		if t == (tally{}) {
			continue
		}
		if err := bindAll(host, k[0], k[1], t.passed, t.failed, t.errors, t.stale); err != nil {
			return err
		}
		if err := host.Exec(); err != nil {
			return fmt.Errorf("counts of policy %d host %d: %w", k[0], k[1], err)
		}
	}
	for _, k := range sortedKeys(d.controls) {
		t := d.controls[k]
		if t == (tally{}) {
			continue
		}
		if err := bindAll(control, k[0], k[1], k[2], t.passed, t.failed, t.errors, t.stale); err != nil {
			return err
		}
		if err := control.Exec(); err != nil {
			return fmt.Errorf("counts of policy %d control %d: %w", k[0], k[1], err)
		}
	}
	d.reset()
	return nil
}

func (d *countDeltas) reset() {
	clear(d.hosts)
	clear(d.controls)
}

func sortedKeys[K [2]int64 | [3]int64](m map[K]tally) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b K) int {
		for i := range len(a) {
			if c := cmp.Compare(a[i], b[i]); c != 0 {
				return c
			}
		}
		return 0
	})
	return keys
}

// markStale runs an UPDATE of postures that sets stale_run and returns
// "host_id, control_id, technology_id, status" of each posture it marked,
// and moves those postures to the stale counts of policy. It returns how
// many it marked.
func markStale(conn *sqlite3.Conn, policy int64, sql string, args ...any) (int64, error) {
	st, _, err := conn.Prepare(sql)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	if err := bindAll(st, args...); err != nil {
		return 0, err
	}
	d := newCountDeltas()
	var n int64
	for st.Step() {
		h, c, t, status := st.ColumnInt64(0), st.ColumnInt64(1), st.ColumnInt64(2), st.ColumnText(3)
		d.add(policy, h, c, t, status, false, -1)
		d.add(policy, h, c, t, status, true, 1)
		n++
	}
	if err := st.Err(); err != nil {
		return 0, err
	}
	return n, applyCounts(conn, d)
}

// applyCounts applies d through statements prepared on conn.
func applyCounts(conn *sqlite3.Conn, d *countDeltas) error {
	host, _, err := conn.Prepare(addHostCountsSQL)
	if err != nil {
		return err
	}
	defer host.Close()
	control, _, err := conn.Prepare(addControlCountsSQL)
	if err != nil {
		return err
	}
	defer control.Close()
	return d.apply(host, control)
}
