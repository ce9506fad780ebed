package sqlite

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/ncruces/go-sqlite3"
)

// The counts of current postures per policy and host (counts_host) and per
// policy, control and technology (counts_control) change in the transaction
// that changes the postures: each posture the sync upserts is added to its
// key in Go, and the stale marks return the postures they mark (RETURNING);
// the changes are summed per key and applied once per key at the end of the
// transaction, in key order. When an upsert replaces a stored posture, the
// trigger postures_counts_replaced (schema 6) takes the replaced one out,
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
	hosts    map[[2]int64]*tally // policy, host
	controls map[[3]int64]*tally // policy, control, technology
	slab     []tally             // where the tallies of the transaction live
	rows     []int64             // the rows of one apply, flattened
}

func newCountDeltas() *countDeltas {
	return &countDeltas{hosts: map[[2]int64]*tally{}, controls: map[[3]int64]*tally{}}
}

func (d *countDeltas) newTally() *tally {
	if len(d.slab) == cap(d.slab) {
		d.slab = make([]tally, 0, max(256, 2*cap(d.slab))) // the earlier slab stays with its tallies
	}
	d.slab = append(d.slab, tally{}) // within capacity: no tally moves
	return &d.slab[len(d.slab)-1]
}

// add counts n postures of policy, host, control and technology in status
// (stale or current) more, or fewer for a negative n.
func (d *countDeltas) add(policy, host, control, tech int64, status string, stale bool, n int64) {
	h, ok := d.hosts[[2]int64{policy, host}]
	if !ok {
		h = d.newTally()
		d.hosts[[2]int64{policy, host}] = h
	}
	c, ok := d.controls[[3]int64{policy, control, tech}]
	if !ok {
		c = d.newTally()
		d.controls[[3]int64{policy, control, tech}] = c
	}
	h.add(status, stale, n)
	c.add(status, stale, n)
}

// countRowsPerStmt is how many keys one counts upsert carries.
const countRowsPerStmt = 32

// countsSQL builds the upsert of n rows into table, whose key columns are keys.
func countsSQL(table, keys string, n int) string {
	cols := strings.Count(keys, ",") + 5
	var b strings.Builder
	b.WriteString("INSERT INTO " + table + " (" + keys + ", passed, failed, errors, stale) VALUES ")
	for r := range n {
		if r > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('(')
		for c := range cols {
			if c > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "?%d", r*cols+c+1)
		}
		b.WriteByte(')')
	}
	b.WriteString(` ON CONFLICT DO UPDATE SET passed = passed + excluded.passed, failed = failed + excluded.failed,
	errors = errors + excluded.errors, stale = stale + excluded.stale`)
	return b.String()
}

const (
	hostKeys    = "policy_id, host_id"
	controlKeys = "policy_id, control_id, technology_id"
)

// countStmts are the upserts of one counts table: of one key, and of many.
type countStmts struct{ one, many *sqlite3.Stmt }

func prepareCounts(conn *sqlite3.Conn, table, keys string, flags sqlite3.PrepareFlag) (countStmts, error) {
	var cs countStmts
	var err error
	if cs.one, _, err = conn.PrepareFlags(countsSQL(table, keys, 1), flags); err != nil {
		return countStmts{}, err
	}
	if cs.many, _, err = conn.PrepareFlags(countsSQL(table, keys, countRowsPerStmt), flags); err != nil {
		cs.one.Close()
		return countStmts{}, err
	}
	return cs, nil
}

func (cs countStmts) close() {
	if cs.one != nil {
		cs.one.Close()
		cs.many.Close()
	}
}

// write upserts rows, cols values each, flattened.
func (cs countStmts) write(rows []int64, cols int) error {
	for len(rows) > 0 {
		st, n := cs.one, 1
		if len(rows) >= countRowsPerStmt*cols {
			st, n = cs.many, countRowsPerStmt
		}
		for i, v := range rows[:n*cols] {
			if err := st.BindInt64(i+1, v); err != nil {
				return err
			}
		}
		if err := st.Exec(); err != nil {
			return err
		}
		rows = rows[n*cols:]
	}
	return nil
}

// apply adds the deltas to the counts tables, in key order, and empties d.
func (d *countDeltas) apply(host, control countStmts) error {
	rows := d.rows[:0]
	for _, k := range sortedKeys(d.hosts) {
		if t := d.hosts[k]; *t != (tally{}) {
			rows = append(rows, k[0], k[1], t.passed, t.failed, t.errors, t.stale)
		}
	}
	if err := host.write(rows, 6); err != nil {
		return fmt.Errorf("counts per host: %w", err)
	}
	rows = rows[:0]
	for _, k := range sortedKeys(d.controls) {
		if t := d.controls[k]; *t != (tally{}) {
			rows = append(rows, k[0], k[1], k[2], t.passed, t.failed, t.errors, t.stale)
		}
	}
	d.rows = rows
	if err := control.write(rows, 7); err != nil {
		return fmt.Errorf("counts per control: %w", err)
	}
	d.reset()
	return nil
}

func (d *countDeltas) reset() {
	clear(d.hosts)
	clear(d.controls)
	d.slab = d.slab[:0]
}

func sortedKeys[K [2]int64 | [3]int64](m map[K]*tally) []K {
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
// many it marked, and their hosts.
func markStale(conn *sqlite3.Conn, policy int64, sql string, args ...any) (int64, map[int64]bool, error) {
	st, _, err := conn.Prepare(sql)
	if err != nil {
		return 0, nil, err
	}
	defer st.Close()
	if err := bindAll(st, args...); err != nil {
		return 0, nil, err
	}
	d := newCountDeltas()
	var n int64
	hosts := map[int64]bool{}
	for st.Step() {
		h, c, t, status := st.ColumnInt64(0), st.ColumnInt64(1), st.ColumnInt64(2), st.ColumnText(3)
		d.add(policy, h, c, t, status, false, -1)
		d.add(policy, h, c, t, status, true, 1)
		hosts[h] = true
		n++
	}
	if err := st.Err(); err != nil {
		return 0, nil, err
	}
	return n, hosts, applyCounts(conn, d)
}

// applyCounts applies d through statements prepared on conn.
func applyCounts(conn *sqlite3.Conn, d *countDeltas) error {
	host, err := prepareCounts(conn, "counts_host", hostKeys, 0)
	if err != nil {
		return err
	}
	defer host.close()
	control, err := prepareCounts(conn, "counts_control", controlKeys, 0)
	if err != nil {
		return err
	}
	defer control.close()
	return d.apply(host, control)
}
