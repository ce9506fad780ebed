package postgres

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"pcsync/internal/store"
	"pcsync/internal/store/pgtest"
	"pcsync/internal/store/storetest"
)

// TestConformance runs the suite SQLite passes, unchanged, against a
// PostgreSQL server (PCSYNC_TEST_POSTGRES), one schema per database.
func TestConformance(t *testing.T) {
	pgtest.URL(t)
	storetest.Run(t, storetest.Harness{
		New: func(t *testing.T) string { return pgtest.New(t) },
		Open: func(t *testing.T, dsn string) (store.Writer, error) {
			return Open(t.Context(), dsn, Options{})
		},
		OpenReader: func(t *testing.T, dsn string) (store.ReadCloser, error) {
			return OpenReader(t.Context(), dsn, Options{})
		},
	})
}

// The registry lists every table of the schema with its columns (in the
// schema's order), typed as the schema types them, so that export and
// migrate miss nothing.
func TestRegistryMatchesTheSchema(t *testing.T) {
	st, err := Open(t.Context(), pgtest.New(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	types := map[string]store.Type{"bigint": store.Int, "text": store.Text, "timestamp with time zone": store.Time,
		"boolean": store.Bool, "json": store.JSON}
	schema := map[string][]store.Column{}
	err = st.query(t.Context(), `SELECT table_name, column_name, data_type FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name <> 'pcsync_schema' ORDER BY table_name, ordinal_position`,
		func(row pgx.Rows) error {
			var table, column, typ string
			if err := row.Scan(&table, &column, &typ); err != nil {
				return err
			}
			ty, ok := types[typ]
			if !ok {
				t.Errorf("%s.%s has type %s, which the registry cannot say", table, column, typ)
			}
			schema[table] = append(schema[table], store.Column{Name: column, Type: ty})
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	for _, tab := range store.Tables {
		if !slices.Equal(tab.Columns, slices.DeleteFunc(schema[tab.Name], func(c store.Column) bool {
			return slices.Contains(privateColumns[tab.Name], c.Name)
		})) {
			t.Errorf("table %s: registry columns %v, schema %v", tab.Name, tab.Columns, schema[tab.Name])
		}
		delete(schema, tab.Name)
	}
	for name := range schema {
		t.Errorf("table %s is in the schema but not in store.Tables", name)
	}
}

// A schema that holds another program's tables and no pcsync tables is
// refused by a sync's open and by a reader, before anything is written
// to it: pcsync's tables would otherwise land beside that program's.
func TestAnotherProgramsSchemaIsRefused(t *testing.T) {
	dsn := pgtest.New(t)
	pgtest.Exec(t, dsn, `CREATE TABLE customers (id int PRIMARY KEY, name text);
		INSERT INTO customers VALUES (1, 'Ada');
		CREATE VIEW customer_names AS SELECT name FROM customers`)
	if st, err := Open(t.Context(), dsn, Options{}); err == nil {
		st.Close()
		t.Fatal("Open wrote into a schema holding another program's tables")
	} else if ne := (*store.NotPcsyncError)(nil); !errors.As(err, &ne) ||
		!strings.Contains(err.Error(), "another program's tables in schema pcsync_test_") ||
		!strings.Contains(err.Error(), ": customer_names, customers;") {
		t.Fatalf("Open: %v; want a NotPcsyncError naming the tables", err)
	}
	if st, err := OpenReader(t.Context(), dsn, Options{}); err == nil {
		st.Close()
		t.Fatal("OpenReader read a schema without pcsync tables")
	} else if ne := (*store.NotPcsyncError)(nil); !errors.As(err, &ne) {
		t.Fatalf("OpenReader: %v; want a NotPcsyncError", err)
	}
	got := queryText(t, dsn, `SELECT string_agg(relname::text, ',' ORDER BY relname) FROM pg_class
		WHERE relnamespace = current_schema()::regnamespace AND relkind IN ('r', 'v', 'S', 'i')`)
	if got != "customer_names,customers,customers_pkey" {
		t.Fatalf("the schema holds %s after the refusals; want only the other program's objects", got)
	}
}

// ?search_path=Name names the schema PostgreSQL reads it as: unquoted, in
// lower case. The sync creates that schema and its tables in it, and
// Remove drops it, instead of creating (and leaving) an empty "Name".
func TestAMixedCaseSearchPathIsFoldedAsPostgreSQLDoes(t *testing.T) {
	base := pgtest.URL(t)
	name := "Pcsync_Case_" + strconv.FormatInt(time.Now().UnixNano(), 36)
	lower := strings.ToLower(name)
	t.Cleanup(func() {
		pgtest.Exec(t, base, `DROP SCHEMA IF EXISTS "`+name+`" CASCADE; DROP SCHEMA IF EXISTS `+lower+` CASCADE`)
	})
	dsn := pgtest.WithSchema(t, base, name)
	st, err := Open(t.Context(), dsn, Options{})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	schemas := `SELECT string_agg(nspname::text, ',' ORDER BY nspname) FROM pg_namespace WHERE lower(nspname) = '` + lower + `'`
	if got := queryText(t, base, schemas); got != lower {
		t.Fatalf("schemas named %s after a sync's open: %s; want only %s", name, got, lower)
	}
	if got := queryText(t, base, `SELECT count(*) FROM pg_tables WHERE schemaname = '`+lower+`' AND tablename IN ('runs', 'postures')`); got != "2" {
		t.Fatalf("%s holds %s of runs and postures; want both", lower, got)
	}
	if err := Remove(t.Context(), dsn); err != nil {
		t.Fatal(err)
	}
	if got := queryText(t, base, schemas); got != "" {
		t.Fatalf("schemas named %s after Remove: %s; want none", name, got)
	}
}

// queryText is the first column of the first row of query on dsn, as
// text; "" for NULL.
func queryText(t *testing.T, dsn, query string) string {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	var v *string
	if err := conn.QueryRow(t.Context(), "SELECT ("+query+")::text").Scan(&v); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	if v == nil {
		return ""
	}
	return *v
}

// The schema ensureSchema creates and Remove drops is the one PostgreSQL
// puts first on the search_path; $user and a broken quote name none.
func TestFirstSchemaReadsTheSearchPathAsPostgreSQL(t *testing.T) {
	for path, want := range map[string]string{
		"Foo": "foo", ` Foo , bar`: "foo", `"Foo"`: "Foo", `"Foo",bar`: "Foo", `"a""b"`: `a"b`, "ÄFoo": "Äfoo",
		"$user, public": "", `"$user", public`: "", "": "", `"open`: "", `""`: "",
	} {
		got, ok := firstSchema(path)
		if got != want || ok != (want != "") {
			t.Errorf("firstSchema(%q) = %q, %v; want %q", path, got, ok, want)
		}
	}
}
