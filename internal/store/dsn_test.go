package store_test

import (
	"strings"
	"testing"

	"pcsync/internal/store"
)

// TestRedactDSNHidesEveryPassword: whatever the shape of a database URL,
// its redacted form never shows the password, and a URL without one is
// shown as it is.
func TestRedactDSNHidesEveryPassword(t *testing.T) {
	for _, c := range []struct{ dsn, want string }{
		{"postgres://pcsync:s3cret@db:5432/pc?sslmode=require", "postgres://pcsync:xxxxx@db:5432/pc?sslmode=require"},
		{"postgres://pcsync@db/pc?password=s3cret", "postgres://pcsync@db/pc?password=xxxxx"},
		{"postgres://pcsync:12/s3cret@db/pc", "postgres://xxxxx@db/pc"},                    // "/" unescaped: parsed as host pcsync, port 12
		{"postgres://pcsync:s3?cret@db/pc", "postgres://xxxxx@db/pc"},                      // "?" unescaped
		{"postgres://pcsync:s3cret#x@db/pc", "postgres://xxxxx@db/pc"},                     // "#" unescaped
		{"postgres://pcsync@db:5432/pc", "postgres://pcsync@db:5432/pc"},                   // no password
		{"postgres://db/pc?application_name=a@b", "postgres://db/pc?application_name=a@b"}, // an "@" in a parameter
		{"postgres://pcsync:s3@cret@db:x/pc", "postgres://xxxxx@db:x/pc"},                  // unparsable (port), an "@" in the password
		{"/var/lib/pcsync/pcsync.db", "/var/lib/pcsync/pcsync.db"},
		{"pcsync:s3cret@db/pc", "xxxxx@db/pc"},               // no scheme
		{"/var/lib/a@b/pcsync.db", "/var/lib/a@b/pcsync.db"}, // a path with an "@"
	} {
		got := store.RedactDSN(c.dsn)
		if got != c.want || strings.Contains(got, "s3") {
			t.Errorf("RedactDSN(%q) = %q, want %q", c.dsn, got, c.want)
		}
	}
}
