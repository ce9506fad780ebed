// Package postgres is the PostgreSQL pcsync store, for shared and large
// deployments: the schema of the SQLite store in PostgreSQL's types,
// written by several connections at once (github.com/jackc/pgx/v5 with a
// pool), read by any number.
//
// The database lives in the connection's current schema (the first of
// its search_path, "public" by default; add ?search_path=NAME to the URL
// for another), so several pcsync databases can share one PostgreSQL
// database. Migrations are embedded and applied by Open under an advisory
// lock, so two processes starting at once do not race; readers never
// migrate.
//
// Writing: each Batch is COPYed into a temporary staging table of its
// connection and merged by one INSERT ... SELECT ... ON CONFLICT DO UPDATE
// that writes only rows that changed, and appends, in the same statement,
// the history rows of status changes and the deltas of the read model's
// counts (computed from the old and new rows). The batch's checkpoint
// commits in that transaction. A first load (postures empty at BeginLoad)
// COPYs each batch straight into postures instead, with the secondary
// indexes dropped and built at EndLoad on several connections at once
// (load.go, fastload.go); COPY's binary stream is encoded here (copy.go). Write may be called by several goroutines
// at once (Options.Writers); two transactions never write the same
// posture at once (the engine sends each plan batch to one writer, and the
// sync and policy locks keep other processes off), and every transaction
// takes its row locks table by table in one order, keys sorted, so they do
// not deadlock.
//
// The password may be in the URL, in PGPASSWORD or in a .pgpass file (as
// libpq reads them); it is never printed: every message names the
// redacted URL.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"pcsync/internal/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

var shardForm = regexp.MustCompile(`^[0-9]+/[0-9]+$`)

// DefaultWriters is how many connections write at once unless
// Options.Writers says; chosen by benchmark (BENCHMARKS.md).
const DefaultWriters = 2

// Options tune a Store. The zero value is sensible.
type Options struct {
	// Writers is how many transactions Write runs at once; 0 means
	// DefaultWriters.
	Writers int
	// Shard scopes the ledger to one shard of a sharded sync ("K/N"): the
	// runs it begins carry it, and it resumes, abandons and continues only
	// its own runs. "" is an unsharded sync.
	Shard string
}

// Store is a PostgreSQL pcsync database, opened by Open for a sync (it then
// satisfies store.Writer) or by OpenReader for reading only.
type Store struct {
	where    string // the redacted URL
	opts     Options
	pool     *pgxpool.Pool
	readOnly bool

	mu    sync.Mutex // guards bulk and empty
	w     *writer
	bulk  bool // between BeginLoad and EndLoad, secondary indexes dropped
	empty bool // between BeginLoad and EndLoad, postures were empty at BeginLoad
}

var (
	_ store.Writer         = (*Store)(nil)
	_ store.ReadCloser     = (*Store)(nil)
	_ store.ConcurrentSink = (*Store)(nil)
)

// Open connects to the database at url for a sync and brings its schema up
// to date (under an advisory lock). A URL that cannot name a database is a
// *store.DSNError.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	s, err := connect(ctx, url, opts, false)
	if err != nil {
		return nil, err
	}
	if err := s.migrate(ctx); err != nil {
		s.pool.Close()
		var notPcsync *store.NotPcsyncError
		var dsn *store.DSNError
		if errors.As(err, &notPcsync) || errors.As(err, &dsn) {
			return nil, err
		}
		return nil, fmt.Errorf("migrate %s: %w", s.where, err)
	}
	s.w = newWriter(s)
	return s, nil
}

// OpenReader connects to the pcsync database at url for reading only:
// its sessions are read-only (PostgreSQL refuses any write), nothing is
// created or migrated. A database without pcsync's tables is a
// *store.NotPcsyncError, one of another schema version a
// *store.SchemaError.
func OpenReader(ctx context.Context, url string, opts Options) (*Store, error) {
	s, err := connect(ctx, url, opts, true)
	if err != nil {
		return nil, err
	}
	if err := s.checkSchema(ctx); err != nil {
		s.pool.Close()
		return nil, err
	}
	return s, nil
}

// connect makes the pool and checks that the server answers.
func connect(ctx context.Context, url string, opts Options, readOnly bool) (*Store, error) {
	where := store.RedactDSN(url)
	if opts.Shard != "" && !shardForm.MatchString(opts.Shard) {
		return nil, fmt.Errorf("shard %q: want K/N", opts.Shard)
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, &store.DSNError{DSN: where, Msg: "not a PostgreSQL URL: " + redactErr(err, url)}
	}
	if opts.Writers <= 0 {
		opts.Writers = DefaultWriters
	}
	rt := cfg.ConnConfig.RuntimeParams
	rt["application_name"] = "pcsync pid " + strconv.Itoa(os.Getpid())
	// A dead client machine frees its locks within about a minute.
	rt["tcp_keepalives_idle"], rt["tcp_keepalives_interval"], rt["tcp_keepalives_count"] = "30", "10", "3"
	if readOnly {
		rt["default_transaction_read_only"] = "on"
	} else {
		// A commit returns before its WAL reaches the disk: a server crash
		// may lose the last commits (never half of one), which the next
		// run fetches again; as SQLite's synchronous=NORMAL.
		rt["synchronous_commit"] = "off"
		// A batch's staging table (10,000 records, 20 MB with evidence)
		// stays in memory instead of spilling to disk (the default is 8 MB).
		rt["temp_buffers"] = "64MB"
	}
	cfg.MaxConns = int32(opts.Writers + 4) // writers, the lock holders, readers
	cfg.MinConns = 0
	s := &Store{where: where, opts: opts, readOnly: readOnly}
	if !readOnly {
		cfg.AfterConnect = createStaging
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %s", where, redactErr(err, url))
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "3D000" {
			return nil, &store.DSNError{DSN: where, Msg: "the database does not exist: create it (createdb) or name another in --db"}
		}
		return nil, fmt.Errorf("connect to %s: %s", where, redactErr(err, url))
	}
	s.pool = pool
	return s, nil
}

// redactErr is err's message without the URL's password, should a driver
// message ever quote it.
func redactErr(err error, url string) string {
	msg := err.Error()
	if cfg, perr := pgconn.ParseConfig(url); perr == nil && cfg.Password != "" {
		msg = strings.ReplaceAll(msg, cfg.Password, "xxxxx")
	}
	return msg
}

// Close releases the database.
func (s *Store) Close() error {
	if s.pool != nil {
		s.pool.Close()
	}
	return nil
}

// lockKey is the advisory lock key of name in this database's schema.
const lockKey = `('x' || substr(md5(current_schema() || ':' || $1::text), 1, 16))::bit(64)::bigint`

// migrate applies the embedded migrations newer than the schema's version,
// each in its own transaction, holding an advisory lock.
func (s *Store) migrate(ctx context.Context) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if err := ensureSchema(ctx, conn.Conn()); err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(`+lockKey+`)`, "migrate"); err != nil {
		return err
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(`+lockKey+`)`, "migrate")
	have, err := schemaVersion(ctx, conn.Conn())
	if err != nil {
		return err
	}
	if have == 0 {
		if err := s.refuseForeign(ctx, conn.Conn()); err != nil {
			return err
		}
	}
	files := migrationFiles()
	if have > len(files) {
		return &store.SchemaError{Where: s.where, Have: have, Want: len(files)}
	}
	for i := have; i < len(files); i++ {
		text, err := migrations.ReadFile(files[i])
		if err != nil {
			return err
		}
		script := string(text) + fmt.Sprintf("\nUPDATE pcsync_schema SET version = %d;", i+1)
		err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, script)
			return err
		})
		if err != nil {
			return fmt.Errorf("%s: %w", strings.TrimPrefix(files[i], "migrations/"), err)
		}
	}
	return nil
}

// refuseForeign refuses a schema without pcsync's tables that holds
// another program's tables, views or sequences, before anything is
// written to it: migrations would add pcsync's tables beside them (and a
// later bench or db clean-up could drop them). An empty or new schema
// passes.
func (s *Store) refuseForeign(ctx context.Context, conn *pgx.Conn) error {
	var schema *string
	var names []string
	err := conn.QueryRow(ctx, `SELECT current_schema(), coalesce(array_agg(c.relname::text ORDER BY c.relname), '{}')
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
		AND NOT EXISTS (SELECT 1 FROM pg_depend d
			WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')`).Scan(&schema, &names)
	if err != nil {
		return err
	}
	if schema == nil {
		return &store.DSNError{DSN: s.where, Msg: "no schema of its search_path exists: name one with ?search_path=NAME (pcsync creates it) or create it"}
	}
	if len(names) == 0 {
		return nil
	}
	why := "another program's tables in schema " + *schema + ": " + strings.Join(names[:min(len(names), 5)], ", ")
	if len(names) > 5 {
		why += ", ..."
	}
	return &store.NotPcsyncError{Where: s.where, Why: why + "; name an empty schema with ?search_path=NAME (pcsync creates it), or a pcsync database"}
}

// schemaVersion is the version of the current schema's pcsync tables, 0
// when there are none.
func schemaVersion(ctx context.Context, conn *pgx.Conn) (int, error) {
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT to_regclass('pcsync_schema') IS NOT NULL`).Scan(&exists); err != nil || !exists {
		return 0, err
	}
	var v int
	err := conn.QueryRow(ctx, `SELECT version FROM pcsync_schema`).Scan(&v)
	return v, err
}

func migrationFiles() []string {
	files, _ := fs.Glob(migrations, "migrations/*.sql")
	sort.Strings(files)
	return files
}

// SchemaVersion is the schema version this pcsync writes.
func SchemaVersion() int { return len(migrationFiles()) }

// checkSchema refuses a database pcsync did not write, or wrote with
// another schema version.
func (s *Store) checkSchema(ctx context.Context) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", s.where, err)
	}
	defer conn.Release()
	var tables int
	if err := conn.QueryRow(ctx, `SELECT (to_regclass('runs') IS NOT NULL)::int + (to_regclass('postures') IS NOT NULL)::int`).Scan(&tables); err != nil {
		return fmt.Errorf("read %s: %w", s.where, err)
	}
	have, err := schemaVersion(ctx, conn.Conn())
	switch {
	case err != nil:
		return &store.NotPcsyncError{Where: s.where, Why: err.Error()}
	case have == 0 || tables != 2:
		return &store.NotPcsyncError{Where: s.where, Why: "no pcsync tables in its schema"}
	case have != SchemaVersion():
		return &store.SchemaError{Where: s.where, Have: have, Want: SchemaVersion()}
	}
	return nil
}

// Remove drops the pcsync database in the schema that url's search_path
// names, with everything in it (pcsync bench's throwaway databases). It
// refuses a URL that names no schema.
func Remove(ctx context.Context, url string) error {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return &store.DSNError{DSN: store.RedactDSN(url), Msg: "not a PostgreSQL URL"}
	}
	schema, ok := firstSchema(cfg.RuntimeParams["search_path"])
	if !ok || strings.Contains(cfg.RuntimeParams["search_path"], ",") {
		return &store.DSNError{DSN: store.RedactDSN(url), Msg: "name one schema with ?search_path=NAME to remove it"}
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("connect to %s: %s", store.RedactDSN(url), redactErr(err, url))
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
	return err
}

// ensureSchema creates the schema a URL's search_path names first, if it
// does not exist, so that ?search_path=NAME is all a new database needs.
func ensureSchema(ctx context.Context, conn *pgx.Conn) error {
	first, ok := firstSchema(conn.Config().RuntimeParams["search_path"])
	if !ok {
		return nil
	}
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, first).Scan(&exists); err != nil || exists {
		return err
	}
	_, err := conn.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{first}.Sanitize())
	return err
}

// firstSchema is the name of the first schema in a search_path as
// PostgreSQL reads it: an unquoted name folded to lower case (Foo is
// foo), a quoted one as written ("Foo" is Foo). It is false for an empty
// path, $user (quoted or not: the user's own schema, if any), or a quote
// that does not close.
func firstSchema(path string) (string, bool) {
	path = strings.TrimSpace(path)
	if strings.HasPrefix(path, `"`) {
		var b strings.Builder
		for i := 1; i < len(path); i++ {
			if path[i] != '"' {
				b.WriteByte(path[i])
				continue
			}
			if i+1 < len(path) && path[i+1] == '"' {
				b.WriteByte('"')
				i++
				continue
			}
			if name := b.String(); name != "" && name != "$user" {
				return name, true
			}
			return "", false
		}
		return "", false
	}
	first := strings.TrimSpace(strings.Split(path, ",")[0])
	if first == "" || strings.HasPrefix(first, "$") {
		return "", false
	}
	return strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, first), true
}
