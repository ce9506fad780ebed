// Package sqlite is the default pcsync store: one SQLite file, written by one
// connection in batched transactions (WAL mode), read by others.
//
// It uses github.com/ncruces/go-sqlite3 through its direct API: pure Go (no
// cgo, so pcsync stays one static binary) and, measured on this project's
// posture rows, as fast as the cgo driver (see BENCHMARKS.md).
package sqlite

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ncruces/go-sqlite3"

	"pcsync/internal/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Options tune a Store. The zero value is sensible.
type Options struct {
	// CacheKiB is SQLite's page cache per connection; 0 means 8 MiB (more
	// costs memory and, measured, buys no speed on the write path).
	CacheKiB int
	// Synchronous is the PRAGMA synchronous level; "" means NORMAL, which in
	// WAL mode never corrupts the file and may lose only the last commits on
	// power loss (the next run fetches them again).
	Synchronous string
	// BareInsert is for benchmarks only: posture records are plainly
	// inserted into a table bare_postures with no key, index or upsert, and
	// hosts, technologies and controls are not written. It measures the
	// "bare pipeline" the real write path is compared with.
	BareInsert bool
	// HostCache is how many hosts the writer remembers as last written, so
	// that an unchanged host is not written again (about 40 bytes each);
	// 0 means 262,144. Forgetting costs statements, never correctness.
	HostCache int
	// MaxPages caps the file (PRAGMA max_page_count): a disk that fills up
	// at a known point, for tests. 0 means no cap.
	MaxPages int
}

// Store is a SQLite pcsync database.
type Store struct {
	path string
	opts Options

	mu   sync.Mutex // serializes use of conn
	conn *sqlite3.Conn
	w    *writer
	cp   *checkpointer
	bulk bool // between BeginLoad and EndLoad of a bulk load
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the database at path and brings its schema
// up to date.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	if path == "" {
		return nil, errors.New("database path is empty")
	}
	if dir := filepath.Dir(path); dir != "" {
		if st, err := os.Stat(dir); err != nil {
			return nil, fmt.Errorf("database directory %s: %w", dir, err)
		} else if !st.IsDir() {
			return nil, fmt.Errorf("database directory %s is not a directory", dir)
		}
	}
	s := &Store{path: path, opts: opts}
	conn, err := s.open(ctx)
	if err != nil {
		return nil, err
	}
	s.conn = conn
	if err := s.migrate(); err != nil {
		conn.Close()
		return nil, fmt.Errorf("migrate %s: %w", path, err)
	}
	return s, nil
}

// open makes a connection with pcsync's settings.
func (s *Store) open(ctx context.Context) (*sqlite3.Conn, error) {
	conn, err := sqlite3.OpenContext(ctx, s.path)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", s.path, err)
	}
	cache := s.opts.CacheKiB
	if cache == 0 {
		cache = 8 << 10
	}
	sync := s.opts.Synchronous
	if sync == "" {
		sync = "NORMAL"
	}
	if err := conn.BusyTimeout(10 * time.Second); err != nil {
		conn.Close()
		return nil, err
	}
	// 32 KiB pages and a 64 MiB WAL: the write path is dominated by page
	// I/O (each page is a syscall and is written twice, to the WAL and at
	// the checkpoint), and larger pages halve the cost per record of
	// posture rows, most of all with evidence (BENCHMARKS.md). page_size
	// only applies to a new file.
	pragmas := "PRAGMA page_size=32768; PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=2048; PRAGMA synchronous=" + sync +
		"; PRAGMA cache_size=-" + strconv.Itoa(cache) + "; "
	if s.opts.MaxPages > 0 {
		pragmas += " PRAGMA max_page_count=" + strconv.Itoa(s.opts.MaxPages) + ";"
	}
	if err := conn.Exec(pragmas); err != nil {
		conn.Close()
		return nil, fmt.Errorf("open database %s: %w", s.path, err)
	}
	return conn, nil
}

// Close releases the database.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		return nil
	}
	if s.w != nil {
		s.w.close()
		s.w = nil
	}
	if s.cp != nil {
		s.cp.close()
		s.cp = nil
		// fold the WAL into the file, so that it is whole on its own
		_ = s.conn.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
	}
	err := s.conn.Close()
	s.conn = nil
	return err
}

// migrate applies the embedded migrations newer than the file's user_version,
// each in its own transaction.
func (s *Store) migrate() error {
	have, err := s.userVersion()
	if err != nil {
		return err
	}
	files, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(files)
	if have > len(files) {
		return fmt.Errorf("the database has schema version %d but this pcsync knows only %d: use a newer pcsync", have, len(files))
	}
	for i := have; i < len(files); i++ {
		sqlText, err := migrations.ReadFile(files[i])
		if err != nil {
			return err
		}
		script := "BEGIN IMMEDIATE;\n" + string(sqlText) + fmt.Sprintf("\nPRAGMA user_version=%d;\nCOMMIT;", i+1)
		if err := s.conn.Exec(script); err != nil {
			_ = s.conn.Exec("ROLLBACK")
			return fmt.Errorf("%s: %w", strings.TrimPrefix(files[i], "migrations/"), err)
		}
	}
	return nil
}

func (s *Store) userVersion() (int, error) {
	st, _, err := s.conn.Prepare("PRAGMA user_version")
	if err != nil {
		return 0, err
	}
	defer st.Close()
	if !st.Step() {
		return 0, st.Err()
	}
	return st.ColumnInt(0), nil
}

// SchemaVersion is the schema version this pcsync writes.
func SchemaVersion() int {
	files, _ := fs.Glob(migrations, "migrations/*.sql")
	return len(files)
}

// exec runs one statement with arguments bound in order.
func exec(conn *sqlite3.Conn, sql string, args ...any) error {
	st, _, err := conn.Prepare(sql)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := bindAll(st, args...); err != nil {
		return err
	}
	return st.Exec()
}

// bindAll binds Go values of the few types the store uses.
func bindAll(st *sqlite3.Stmt, args ...any) error {
	for i, a := range args {
		var err error
		switch v := a.(type) {
		case nil:
			err = st.BindNull(i + 1)
		case emptyString:
			err = st.BindText(i+1, "")
		case int64:
			err = st.BindInt64(i+1, v)
		case int:
			err = st.BindInt64(i+1, int64(v))
		case bool:
			err = st.BindBool(i+1, v)
		case string:
			if v == "" {
				err = st.BindNull(i + 1)
			} else {
				err = st.BindText(i+1, v)
			}
		case time.Time:
			if v.IsZero() {
				err = st.BindNull(i + 1)
			} else {
				err = st.BindText(i+1, v.UTC().Format(time.RFC3339))
			}
		default:
			return fmt.Errorf("bind argument %d: unsupported type %T", i+1, a)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
