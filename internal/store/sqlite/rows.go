package sqlite

import (
	"cmp"
	"context"
	"fmt"
	"strings"

	"github.com/ncruces/go-sqlite3"

	"pcsync/internal/store"
)

// Rows streams the rows of registry table t in key order, typed as its
// columns say.
func (s *Store) Rows(ctx context.Context, t *store.Table, fn func(row []any) error) error {
	names := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		names[i] = c.Name
	}
	sql := "SELECT " + strings.Join(names, ", ") + " FROM " + source(t) + " ORDER BY " + strings.Join(t.Key, ", ")
	row := make([]any, len(t.Columns))
	return s.query(ctx, sql, func(st *sqlite3.Stmt) error {
		for i, c := range t.Columns {
			v, err := column(st, i, c.Type)
			if err != nil {
				return fmt.Errorf("%s.%s: %w", t.Name, c.Name, err)
			}
			row[i] = v
		}
		return fn(row)
	})
}

// source is where t's rows are read and written: its view in
// registryViews, else the table itself.
func source(t *store.Table) string { return cmp.Or(registryViews[t.Name], t.Name) }

// column reads column i as type typ: nil for NULL.
func column(st *sqlite3.Stmt, i int, typ store.Type) (any, error) {
	if st.ColumnType(i) == sqlite3.NULL {
		return nil, nil
	}
	switch typ {
	case store.Int:
		return st.ColumnInt64(i), nil
	case store.Bool:
		return st.ColumnInt64(i) != 0, nil
	case store.Time:
		t := date(st, i)
		if t.IsZero() {
			return nil, fmt.Errorf("%q is not a date", st.ColumnText(i))
		}
		return t, nil
	case store.JSON:
		return append([]byte(nil), st.ColumnRawText(i)...), nil
	}
	return st.ColumnText(i), nil
}
