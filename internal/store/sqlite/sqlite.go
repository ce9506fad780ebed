// Package sqlite is the default pcsync store: one SQLite file, written by one
// connection in batched transactions (WAL mode), read by others (read-only
// connections, pooled).
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

// Store is a SQLite pcsync database, opened by Open for a sync (it then
// satisfies store.Writer) or by OpenReader for reading only.
type Store struct {
	path     string
	opts     Options
	readOnly bool
	file     os.FileInfo // OpenReader: the file at path its connections read (current)

	mu   sync.Mutex // serializes use of conn
	conn *sqlite3.Conn
	w    *writer
	cp   *checkpointer
	bulk bool // between BeginLoad and EndLoad of a bulk load

	readMu sync.Mutex
	idle   []*readConn // idle read connections, the last used last
}

var (
	_ store.Writer     = (*Store)(nil)
	_ store.ReadCloser = (*Store)(nil)
)

// idleReaders is how many read connections a Store keeps open between
// queries (a server answers several requests at once).
const idleReaders = 8

// Open opens the database at path for a sync: it is created if needed and
// its schema brought up to date. A path that cannot name a database (its
// directory is missing, it is a directory) is a *store.DSNError; a file
// that cannot be written, or a disk nearly full, is an error of its own.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	if err := checkWritable(path); err != nil {
		return nil, err
	}
	if err := refuseForeign(path); err != nil {
		return nil, err
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

// OpenReader opens the pcsync database at path for reading only: nothing is
// created, written or migrated, and it works while a sync writes. A file
// that is not a pcsync database (empty, another program's, not SQLite) is
// a *store.NotPcsyncError, one of another schema version a
// *store.SchemaError, and a missing one a *store.DSNError.
func OpenReader(ctx context.Context, path string, opts Options) (*Store, error) {
	fi, err := os.Stat(path)
	switch {
	case err != nil:
		return nil, &store.DSNError{DSN: path, Msg: "does not exist; run pcsync sync (or pcsync demo) first"}
	case fi.IsDir():
		return nil, &store.DSNError{DSN: path, Msg: "is a directory, not a database file"}
	}
	s := &Store{path: path, opts: opts, readOnly: true, file: fi}
	conn, err := s.openRead(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.checkSchema(conn); err != nil {
		conn.Close()
		return nil, err
	}
	c := newReadConn(conn)
	c.file = fi
	s.release(c)
	return s, nil
}

// refuseForeign refuses an existing SQLite file that pcsync did not
// write, before anything is written to it: a sync would add its tables
// beside another program's and switch the file to WAL. A new file, an
// empty one and a pcsync database of any schema version pass; a file that
// is not SQLite is left to the read-write open to report.
func refuseForeign(path string) error {
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
		return nil
	}
	conn, err := sqlite3.OpenFlags(path, sqlite3.OPEN_READONLY)
	if err != nil {
		return nil
	}
	defer conn.Close()
	if err := conn.BusyTimeout(10 * time.Second); err != nil {
		return err
	}
	// the version and the tables of one snapshot: a sync migrating the
	// file meanwhile commits both at once
	if err := conn.Exec("BEGIN"); err != nil {
		return nil
	}
	defer conn.Exec("ROLLBACK")
	version, err := userVersion(conn)
	if err != nil {
		return nil
	}
	st, _, err := conn.Prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
	if err != nil {
		return nil
	}
	defer st.Close()
	var tables []string
	pcsync := 0
	for st.Step() {
		name := st.ColumnText(0)
		tables = append(tables, name)
		if name == "runs" || name == "postures" {
			pcsync++
		}
	}
	if err := st.Err(); err != nil || (version > 0 && pcsync == 2) || (version == 0 && len(tables) == 0) {
		return nil
	}
	why := "user_version " + strconv.Itoa(version) + " but no pcsync tables"
	if len(tables) > 0 {
		why = "another program's tables: " + strings.Join(tables[:min(len(tables), 5)], ", ")
		if len(tables) > 5 {
			why += ", ..."
		}
	}
	return &store.NotPcsyncError{Where: path, Why: why + "; use a new file or a pcsync database"}
}

// checkSchema refuses a database pcsync did not write, or wrote with
// another schema version.
func (s *Store) checkSchema(conn *sqlite3.Conn) error {
	have, err := userVersion(conn)
	if err != nil {
		return &store.NotPcsyncError{Where: s.path, Why: strings.TrimPrefix(err.Error(), "sqlite3: ")}
	}
	var tables int64
	if err == nil {
		tables, err = scalar(conn, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name IN ('runs', 'postures')")
	}
	switch {
	case err != nil:
		return &store.NotPcsyncError{Where: s.path, Why: strings.TrimPrefix(err.Error(), "sqlite3: ")}
	case have == 0 || tables != 2:
		return &store.NotPcsyncError{Where: s.path}
	case have != SchemaVersion():
		return &store.SchemaError{Where: s.path, Have: have, Want: SchemaVersion()}
	}
	return nil
}

// open makes a read-write connection with pcsync's settings.
func (s *Store) open(ctx context.Context) (*sqlite3.Conn, error) {
	conn, err := sqlite3.OpenContext(ctx, s.path)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", s.path, err)
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
		"; PRAGMA cache_size=-" + strconv.Itoa(s.cacheKiB()) + "; "
	if s.opts.MaxPages > 0 {
		pragmas += " PRAGMA max_page_count=" + strconv.Itoa(s.opts.MaxPages) + ";"
	}
	// Switching a new file to WAL takes it whole: a process doing the same
	// at that moment is busy without the busy handler being asked, so the
	// switch is tried again (two syncs, or db init beside a sync, at once).
	for deadline := time.Now().Add(10 * time.Second); ; {
		err := conn.Exec(pragmas)
		if err == nil {
			return conn, nil
		}
		if !errors.Is(err, sqlite3.BUSY) || time.Now().After(deadline) || ctx.Err() != nil {
			conn.Close()
			return nil, fmt.Errorf("open database %s: %w", s.path, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// openRead makes a read-only connection: SQLite itself refuses any write
// through it.
func (s *Store) openRead(ctx context.Context) (*sqlite3.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	conn, err := sqlite3.OpenFlags(s.path, sqlite3.OPEN_READONLY)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", s.path, err)
	}
	if err := conn.BusyTimeout(10 * time.Second); err != nil {
		conn.Close()
		return nil, err
	}
	if err := conn.Exec("PRAGMA cache_size=-" + strconv.Itoa(s.cacheKiB())); err != nil {
		conn.Close()
		if errors.Is(err, sqlite3.NOTADB) {
			return nil, &store.NotPcsyncError{Where: s.path, Why: "not an SQLite database"}
		}
		return nil, fmt.Errorf("open database %s: %w", s.path, err)
	}
	return conn, nil
}

// readConn is a read connection and the statements it has prepared, kept
// for the next query of the same text: preparing was an eighth of the CPU
// of the server's pages at 10M postures (BENCHMARKS.md).
type readConn struct {
	*sqlite3.Conn
	stmts map[string]*sqlite3.Stmt
	file  os.FileInfo // of a read-only store: the file it reads
}

// cachedStmts bounds the statements a read connection keeps; past it, the
// cache starts again (the lists' SQL varies with their filters).
const cachedStmts = 64

func newReadConn(c *sqlite3.Conn) *readConn {
	return &readConn{Conn: c, stmts: map[string]*sqlite3.Stmt{}}
}

// prepare returns the connection's statement of sql, reset and unbound by
// whoever used it last (done).
func (c *readConn) prepare(sql string) (*sqlite3.Stmt, error) {
	if st, ok := c.stmts[sql]; ok {
		return st, nil
	}
	st, _, err := c.PrepareFlags(sql, sqlite3.PREPARE_PERSISTENT)
	if err != nil {
		return nil, err
	}
	if len(c.stmts) >= cachedStmts {
		c.closeStmts()
	}
	c.stmts[sql] = st
	return st, nil
}

// done resets st for its next use, which also ends its read transaction.
func done(st *sqlite3.Stmt) {
	st.Reset()
	st.ClearBindings()
}

func (c *readConn) closeStmts() {
	for sql, st := range c.stmts {
		st.Close()
		delete(c.stmts, sql)
	}
}

// Close closes the statements, then the connection.
func (c *readConn) Close() error {
	c.closeStmts()
	return c.Conn.Close()
}

func (s *Store) cacheKiB() int {
	if s.opts.CacheKiB == 0 {
		return 8 << 10
	}
	return s.opts.CacheKiB
}

// reader takes the idle read connection used last (its page cache is the
// warmest: the next query of a request, or of the next request, finds the
// pages the last one read), or opens one.
func (s *Store) reader(ctx context.Context) (*readConn, error) {
	if err := s.current(ctx); err != nil {
		return nil, err
	}
	s.readMu.Lock()
	if n := len(s.idle); n > 0 {
		c := s.idle[n-1]
		s.idle = s.idle[:n-1]
		s.readMu.Unlock()
		return c, nil
	}
	file := s.file
	s.readMu.Unlock()
	conn, err := s.openRead(ctx)
	if err != nil {
		return nil, err
	}
	c := newReadConn(conn)
	c.file = file
	return c, nil
}

// release returns a read connection to the idle ones, or closes it when
// idleReaders are idle already.
func (s *Store) release(c *readConn) {
	s.readMu.Lock()
	if len(s.idle) < idleReaders && (s.file == nil || os.SameFile(c.file, s.file)) {
		s.idle = append(s.idle, c)
		s.readMu.Unlock()
		return
	}
	s.readMu.Unlock()
	c.Close()
}

// current checks, for a read-only store, that the file it opened is still
// at its path. Answers must come from one database: connections kept open
// on a file that was replaced (a restored copy, a new sync into a new
// file) would read the old one while new connections read the new. A
// replacement that passes the schema check is read from then on (the old
// file's connections close as they come back); a removed file is an error
// until one is there again.
func (s *Store) current(ctx context.Context) error {
	if !s.readOnly {
		return nil
	}
	fi, err := os.Stat(s.path)
	if err != nil {
		return fmt.Errorf("the database %s is gone (it was removed while being read): %w", s.path, err)
	}
	s.readMu.Lock()
	defer s.readMu.Unlock()
	if os.SameFile(fi, s.file) {
		return nil
	}
	conn, err := s.openRead(ctx)
	if err != nil {
		return err
	}
	if err := s.checkSchema(conn); err != nil {
		conn.Close()
		return fmt.Errorf("the database %s was replaced by a file that cannot be read: %w", s.path, err)
	}
	for _, c := range s.idle {
		c.Close()
	}
	c := newReadConn(conn)
	c.file = fi
	s.idle, s.file = []*readConn{c}, fi
	return nil
}

// Close releases the database.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.readMu.Lock()
	for _, c := range s.idle {
		c.Close()
	}
	s.idle = nil
	s.readMu.Unlock()
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
// each in its own transaction. The version is read inside that transaction,
// so that two processes opening a new or older file at once apply each
// migration once: the second waits for the first, then finds it done.
func (s *Store) migrate() error {
	files, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(files)
	for {
		if err := s.conn.Exec("BEGIN IMMEDIATE"); err != nil {
			return err
		}
		have, err := userVersion(s.conn)
		switch {
		case err != nil:
			_ = s.conn.Exec("ROLLBACK")
			return err
		case have > len(files):
			_ = s.conn.Exec("ROLLBACK")
			return &store.SchemaError{Where: s.path, Have: have, Want: len(files)}
		case have == len(files):
			return s.conn.Exec("COMMIT")
		}
		sqlText, err := migrations.ReadFile(files[have])
		if err != nil {
			_ = s.conn.Exec("ROLLBACK")
			return err
		}
		if err := s.conn.Exec(string(sqlText) + fmt.Sprintf("\nPRAGMA user_version=%d;\nCOMMIT;", have+1)); err != nil {
			_ = s.conn.Exec("ROLLBACK")
			return fmt.Errorf("%s: %w", strings.TrimPrefix(files[have], "migrations/"), err)
		}
	}
}

func userVersion(conn *sqlite3.Conn) (int, error) {
	st, _, err := conn.Prepare("PRAGMA user_version")
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
