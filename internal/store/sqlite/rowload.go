package sqlite

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ncruces/go-sqlite3"

	"pcsync/internal/store"
)

var _ store.RowLoader = (*Store)(nil)

// LastKey returns the key of t's last row in key order; nil when t is empty.
func (s *Store) LastKey(ctx context.Context, t *store.Table) ([]any, error) {
	desc := make([]string, len(t.Key))
	for i, k := range t.Key {
		desc[i] = k + " DESC"
	}
	var key []any
	err := s.query(ctx, "SELECT "+strings.Join(t.Key, ", ")+" FROM "+source(t)+" ORDER BY "+strings.Join(desc, ", ")+" LIMIT 1",
		func(st *sqlite3.Stmt) error {
			for i, k := range t.Key {
				v, err := column(st, i, keyType(t, k))
				if err != nil {
					return err
				}
				key = append(key, v)
			}
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("last row of %s: %w", t.Name, err)
	}
	return key, nil
}

func keyType(t *store.Table, name string) store.Type {
	for _, c := range t.Columns {
		if c.Name == name {
			return c.Type
		}
	}
	return store.Text
}

// LoadRows stores rows of t in one transaction, keeping rows whose key is
// already stored.
func (s *Store) LoadRows(ctx context.Context, t *store.Table, rows [][]any) error {
	names := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		names[i] = c.Name
	}
	sql := "INSERT OR IGNORE INTO " + source(t) + " (" + strings.Join(names, ", ") + ") VALUES (?" +
		strings.Repeat(", ?", len(names)-1) + ")"
	return s.tx(ctx, "load rows of "+t.Name, func(conn *sqlite3.Conn) error {
		st, _, err := conn.Prepare(sql)
		if err != nil {
			return err
		}
		defer st.Close()
		for _, row := range rows {
			if err := bindRow(st, row); err != nil {
				return err
			}
			if err := st.Exec(); err != nil {
				return err
			}
		}
		return nil
	})
}

// bindRow binds values as Reader.Rows types them: nil is NULL and "" stays
// "" (unlike bindAll).
func bindRow(st *sqlite3.Stmt, row []any) error {
	for i, v := range row {
		var err error
		switch x := v.(type) {
		case nil:
			err = st.BindNull(i + 1)
		case int64:
			err = st.BindInt64(i+1, x)
		case string:
			err = st.BindText(i+1, x)
		case bool:
			err = st.BindBool(i+1, x)
		case time.Time:
			err = st.BindText(i+1, x.UTC().Format(time.RFC3339Nano))
		case []byte:
			err = st.BindText(i+1, string(x))
		default:
			err = fmt.Errorf("column %d: unsupported type %T", i+1, v)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
