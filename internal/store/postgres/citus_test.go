package postgres

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"pcsync/internal/store"
	"pcsync/internal/store/pgtest"
)

// The schema stays distribution-ready (Citus): the registry's tables are
// each distributed or reference; every primary and unique key of a
// distributed table includes policy_id; no foreign key leads from a
// reference table to a distributed one. Read from the live catalog of a
// fresh database, so a later migration that breaks a rule fails here.
func TestSchemaIsDistributionReady(t *testing.T) {
	st, err := Open(t.Context(), pgtest.New(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, tab := range store.Tables {
		if slices.Contains(Distributed, tab.Name) == slices.Contains(Reference(), tab.Name) {
			t.Errorf("table %s must be either distributed or a reference table", tab.Name)
		}
	}
	err = st.query(t.Context(), `SELECT c.relname, i.relname, array_agg(a.attname::text ORDER BY a.attname)
		FROM pg_index x JOIN pg_class c ON c.oid = x.indrelid JOIN pg_class i ON i.oid = x.indexrelid
		JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY(x.indkey)
		WHERE x.indisunique AND c.relnamespace = current_schema()::regnamespace
		GROUP BY c.relname, i.relname`, func(row pgx.Rows) error {
		var table, index string
		var cols []string
		if err := row.Scan(&table, &index, &cols); err != nil {
			return err
		}
		if slices.Contains(Distributed, table) && !slices.Contains(cols, "policy_id") {
			t.Errorf("unique index %s of the distributed table %s is on %v, without policy_id", index, table, cols)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = st.query(t.Context(), `SELECT conrelid::regclass::text, confrelid::regclass::text FROM pg_constraint
		WHERE contype = 'f' AND connamespace = current_schema()::regnamespace`, func(row pgx.Rows) error {
		var from, to string
		if err := row.Scan(&from, &to); err != nil {
			return err
		}
		if !slices.Contains(Distributed, from) && slices.Contains(Distributed, to) {
			t.Errorf("a foreign key leads from the reference table %s to the distributed table %s", from, to)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var nc *NoCitusError
	if _, err := st.Distribute(t.Context()); !errors.As(err, &nc) || !strings.Contains(err.Error(), "CREATE EXTENSION citus") {
		t.Fatalf("distributing a database without citus: %v", err)
	}
}

var (
	sqlLiteral = regexp.MustCompile("(?s)`[^`]*`")
	aliased    = regexp.MustCompile(`(?i)\b(?:FROM|JOIN)\s+(\w+)(?:\s+AS)?\s+(\w+)`)
	joinOn     = regexp.MustCompile(`(?is)\bJOIN\s+(\w+)(?:\s+AS)?\s+(\w+)\s+ON\s+(.*?)(?:\bLEFT\b|\bJOIN\b|\bWHERE\b|\bGROUP\b|\bORDER\b|\)|$)`)
	aliasUse   = regexp.MustCompile(`\b(\w+)\.\w+`)
)

// Every join of two distributed tables in this package's SQL joins on
// policy_id, so that it runs on each node (a static reading of the
// queries: each string literal's FROM and JOIN aliases, and each JOIN's ON
// condition).
func TestJoinsOfDistributedTablesUsePolicyID(t *testing.T) {
	// the reading itself, on a join that breaks the rule and one that keeps it
	if bad, _ := badJoins("`SELECT 1 FROM postures p JOIN history h ON h.posture_id = p.id WHERE true`"); len(bad) != 1 {
		t.Fatalf("a join without policy_id was not seen: %v", bad)
	}
	if bad, _ := badJoins("`SELECT 1 FROM postures p JOIN history h ON h.policy_id = p.policy_id AND h.posture_id = p.id`"); len(bad) != 0 {
		t.Fatalf("a join on policy_id was refused: %v", bad)
	}
	files, _ := filepath.Glob("*.go")
	joins := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		bad, n := badJoins(string(src))
		joins += n
		for _, b := range bad {
			t.Errorf("%s: %s", f, b)
		}
	}
	if joins == 0 {
		t.Fatal("no join onto a distributed table was read: the reading of the queries is broken")
	}
}

// badJoins reads the SQL literals of src and returns the joins of two
// distributed tables whose condition lacks policy_id, and how many joins
// onto a distributed table it read.
func badJoins(src string) (bad []string, joins int) {
	for _, lit := range sqlLiteral.FindAllString(src, -1) {
		tables := map[string]string{}
		for _, m := range aliased.FindAllStringSubmatch(lit, -1) {
			tables[m[2]] = m[1]
		}
		for _, m := range joinOn.FindAllStringSubmatch(lit, -1) {
			if !slices.Contains(Distributed, m[1]) {
				continue
			}
			joins++
			for _, u := range aliasUse.FindAllStringSubmatch(m[3], -1) {
				other := tables[u[1]]
				if u[1] != m[2] && slices.Contains(Distributed, other) && !strings.Contains(m[3], "policy_id") {
					bad = append(bad, m[1]+" joins "+other+" on "+strings.TrimSpace(m[3])+", without policy_id")
				}
			}
		}
	}
	return bad, joins
}
