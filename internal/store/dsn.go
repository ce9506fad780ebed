package store

import (
	"net/url"
	"regexp"
	"strings"
)

// Drivers a DSN can name.
const (
	DriverSQLite   = "sqlite"
	DriverPostgres = "postgres"
)

// DSN names a database: a SQLite file or a PostgreSQL server.
type DSN struct {
	Driver string
	// Path is the SQLite file (the DSN without its "sqlite:" or "file:"
	// prefix and URI parameters).
	Path string
	// URL is the PostgreSQL connection URL as given, password included:
	// never print it; print Redacted().
	URL string
}

// ParseDSN reads a database name: a plain path, "file:PATH" or
// "sqlite:PATH" is SQLite; "postgres://..." or "postgresql://..." is
// PostgreSQL. It checks the form only; the opener checks the rest.
func ParseDSN(s string) (DSN, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return DSN{}, &DSNError{DSN: `""`, Msg: "no database given: use --db PATH (SQLite) or --db postgres://user@host/dbname"}
	case hasScheme(s, "postgres://"), hasScheme(s, "postgresql://"):
		u, err := url.Parse(s)
		if err != nil || u.Host == "" && u.Path == "" {
			return DSN{}, &DSNError{DSN: RedactDSN(s), Msg: "not a PostgreSQL URL: use postgres://user@host:port/dbname?sslmode=..."}
		}
		return DSN{Driver: DriverPostgres, URL: s}, nil
	case hasScheme(s, "postgres:"), hasScheme(s, "postgresql:"):
		// not a file named after the user and password
		return DSN{}, &DSNError{DSN: RedactDSN(s), Msg: "a PostgreSQL URL begins postgres:// (two slashes): " +
			"use postgres://user@host:port/dbname?sslmode=..."}
	case hasScheme(s, "sqlite:"), hasScheme(s, "file:"):
		rest := s[strings.IndexByte(s, ':')+1:]
		rest = strings.TrimPrefix(rest, "//") // sqlite:///abs/path and file:///abs/path
		if i := strings.IndexAny(rest, "?#"); i >= 0 {
			if rest[i] == '?' && len(rest) > i+1 {
				return DSN{}, &DSNError{DSN: s, Msg: "SQLite parameters (" + rest[i:] + ") are not taken: pcsync opens the file " +
					"with its own settings (readers read-only); give the path alone"}
			}
			rest = rest[:i]
		}
		if p, err := url.PathUnescape(rest); err == nil {
			rest = p
		}
		if rest == "" {
			return DSN{}, &DSNError{DSN: s, Msg: "no file path after the prefix: use sqlite:PATH"}
		}
		return DSN{Driver: DriverSQLite, Path: rest}, nil
	case strings.Contains(s, "://"):
		return DSN{}, &DSNError{DSN: RedactDSN(s), Msg: "unknown kind of database: use a file path, sqlite:PATH or postgres://..."}
	case keywordValue(s):
		return DSN{}, &DSNError{DSN: redactKeywords(s), Msg: "a PostgreSQL connection string in keyword=value form: write it as " +
			"postgres://user@host:port/dbname?sslmode=... (the password in PGPASSWORD or ~/.pgpass)"}
	}
	return DSN{Driver: DriverSQLite, Path: s}, nil
}

// libpqKeyword is a keyword of a libpq keyword=value connection string
// (which, taken for a SQLite path, would name a file after the password),
// and libpqPassword its password, quoted or not.
var (
	libpqKeyword  = regexp.MustCompile(`(?i)(^|\s)(host|hostaddr|port|dbname|user|password|passfile|sslmode|service)\s*=`)
	libpqPassword = regexp.MustCompile(`(?i)((^|\s)password\s*=\s*)('(\\.|[^'\\])*'|\S*)`)
)

func keywordValue(s string) bool { return libpqKeyword.MatchString(s) }

// redactKeywords is a keyword=value string with its password replaced.
func redactKeywords(s string) string { return libpqPassword.ReplaceAllString(s, "${1}xxxxx") }

func hasScheme(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// Redacted is the DSN safe to print: a PostgreSQL password is replaced.
func (d DSN) Redacted() string {
	if d.Driver == DriverPostgres {
		return RedactDSN(d.URL)
	}
	return d.Path
}

// RedactDSN replaces any password in a database URL (its user info, or a
// password parameter) with xxxxx, also in a URL that does not parse or
// lacks its scheme; anything else is returned as it is. It serves any URL
// an error message shows (the Qualys URLs too).
func RedactDSN(s string) string {
	if !strings.Contains(s, "://") { // "user:password@host/..." given without its scheme
		if at := strings.LastIndex(s, "@"); at > 0 && strings.Contains(s[:at], ":") && !strings.ContainsAny(s[:at], "/?#= ") {
			return "xxxxx" + s[at:]
		}
		return s
	}
	start, at := strings.Index(s, "://")+3, strings.LastIndex(s, "@")
	hasAt := start >= 3 && at > start
	u, err := url.Parse(s)
	if hasAt && (err != nil || u.Scheme == "" || u.User == nil && strings.Contains(s[start:at], ":")) {
		// unparsable, or a "user:password@" the parser did not read as user
		// info (an unescaped "/", "?" or "#" in the password): hide it whole
		return s[:start] + "xxxxx" + s[at:]
	}
	if err != nil || u.Scheme == "" {
		return s
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}
