package postgres

import (
	"slices"
	"testing"

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
