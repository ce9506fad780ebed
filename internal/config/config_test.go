package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func write(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "pcsync.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestExampleConfigLoadsAndValidates(t *testing.T) {
	t.Setenv("QUALYS_USERNAME", "user")
	t.Setenv("QUALYS_PASSWORD", "pw")
	c, err := Load("../../pcsync.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c.DB = filepath.Join(t.TempDir(), "x.db")
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	gw, api, _ := c.Endpoints()
	if gw != "https://gateway.qg1.apps.qualys.com" || api != "https://qualysapi.qualys.com" {
		t.Fatalf("US1 resolved to %s and %s", gw, api)
	}
	d := Default()
	c.Sync.Policies = nil
	delete(c.Classic.Results, "status_changes_since") // listed empty in the example, to show it
	if !reflect.DeepEqual(c.Classic, d.Classic) {
		t.Fatalf("the example's classic section is not the default:\n%+v\n%+v", c.Classic, d.Classic)
	}
	if !reflect.DeepEqual(c.Sync, d.Sync) || c.PCRS.Version != d.PCRS.Version || c.PCRS.RateLimit != d.PCRS.RateLimit || c.Qualys.TokenTTL != d.Qualys.TokenTTL {
		t.Fatalf("the example's values are not the defaults: %+v", c)
	}
}

func TestEnvironmentOverridesFileCredentials(t *testing.T) {
	t.Setenv("QUALYS_USERNAME", "env-user")
	t.Setenv("QUALYS_PASSWORD", "")
	c, err := Load(write(t, "qualys:\n  username: file-user\n  password: file-pw\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Qualys.Username != "env-user" || c.Qualys.Password != "file-pw" {
		t.Fatalf("credentials %q/%q", c.Qualys.Username, c.Qualys.Password)
	}
	// a refusal names each source: the user name is not the file's
	if src := c.CredentialsSource(); !strings.HasPrefix(src, "the user name from the environment (QUALYS_USERNAME), the password from the config file ") {
		t.Fatalf("credentials source %q", src)
	}
}

func TestCredentialsSourceSaysWhereEachCameFrom(t *testing.T) {
	for _, tc := range []struct{ file, user, pass, want string }{
		{"qualys:\n  username: u\n  password: p\n", "", "", "the config file "},
		{"qualys:\n  username: u\n  password: p\n", "e", "f", "the environment (QUALYS_USERNAME, QUALYS_PASSWORD)"},
		{"qualys:\n  username: u\n", "", "f", "the user name from the config file "},
		{"qualys:\n  platform: US1\n", "e", "", "the user name from the environment (QUALYS_USERNAME), the password from nowhere"},
		{"qualys:\n  platform: US1\n", "", "", "not set"},
	} {
		t.Setenv("QUALYS_USERNAME", tc.user)
		t.Setenv("QUALYS_PASSWORD", tc.pass)
		c, err := Load(write(t, tc.file))
		if err != nil {
			t.Fatal(err)
		}
		if src := c.CredentialsSource(); !strings.HasPrefix(src, tc.want) {
			t.Errorf("file %q, environment %q/%q: source %q; want %q...", tc.file, tc.user, tc.pass, src, tc.want)
		}
	}
}

func TestBadConfigurationSaysWhereAndWhat(t *testing.T) {
	t.Setenv("QUALYS_USERNAME", "")
	t.Setenv("QUALYS_PASSWORD", "")
	for _, tc := range []struct {
		name, yaml, where, says string
	}{
		{"unknown key", "qualys:\n  platfrom: US1\n", "pcsync.yaml", "platfrom"},
		{"two documents", "---\n# settings\n---\nqualys:\n  platform: US1\n", "pcsync.yaml", "more than one YAML document"},
		{"unknown platform", "qualys:\n  platform: MARS1\n  username: u\n  password: p\n", "platform", "US1"},
		{"no url", "qualys:\n  username: u\n  password: p\n", "qualys", "--platform"},
		{"malformed url", "qualys:\n  gateway_url: gateway.qualys.com\n  username: u\n  password: p\n", "gateway", "not a URL"},
		{"credentials in url", "qualys:\n  gateway_url: https://u:secret@gw.example\n  username: u\n  password: p\n", "gateway", "QUALYS_USERNAME"},
		{"credentials in a url with a bad port", "qualys:\n  gateway_url: https://u:secret@gw.example:444444\n  username: u\n  password: p\n", "gateway", "out of range"},
		{"credentials in a url that does not parse", "qualys:\n  gateway_url: \"https://u:secret%@gw.example\"\n  username: u\n  password: p\n", "gateway", "not a URL"},
		{"a query in the url", "qualys:\n  gateway_url: https://gw.example/?token=secret\n  username: u\n  password: p\n", "gateway", "followed by a query or fragment"},
		{"a fragment in the url", "qualys:\n  api_url: https://qualysapi.example/#secret\n  username: u\n  password: p\n", "api", `give "https://qualysapi.example/"`},
		{"log level", "log:\n  level: loud\n", "pcsync.yaml", `log.level: "loud"`},
		{"log format", "log:\n  format: xml\n", "pcsync.yaml", `log.format: "xml": use text or json`},
		{"missing credentials", "qualys:\n  platform: US1\n", "credentials", "QUALYS_PASSWORD"},
		{"bad version", "qualys:\n  platform: US1\n  username: u\n  password: p\npcrs:\n  version: \"6.0\"\n", "pcrs.version", "1.0"},
		{"bad flag value", "qualys:\n  platform: US1\n  username: u\n  password: p\npcrs:\n  test_results:\n    evidence_required: 2\n", "evidence_required", "0 or 1"},
		{"bad date", "qualys:\n  platform: US1\n  username: u\n  password: p\npcrs:\n  test_results:\n    status_changed_since: yesterday\n", "status_changed_since", "YYYY-MM-DD"},
		{"db not a database name", "qualys:\n  platform: US1\n  username: u\n  password: p\ndb: mysql://x/y\n", "db", "unknown kind of database"},
		{"concurrency", "qualys:\n  platform: US1\n  username: u\n  password: p\nsync:\n  concurrency: 0\n", "concurrency", "1 to 32"},
		{"token life", "qualys:\n  platform: US1\n  username: u\n  password: p\n  token_ttl: -1h\n", "qualys.token_ttl", "positive duration"},
		{"idle timeout", "qualys:\n  platform: US1\n  username: u\n  password: p\n  idle_timeout: 0s\n", "qualys.idle_timeout", "positive duration"},
		{"rate window", "qualys:\n  platform: US1\n  username: u\n  password: p\npcrs:\n  rate_limit: {calls: 3, window: 0s}\n", "pcrs.rate_limit.window", "positive window"},
		{"memory limit without a unit pcsync knows", "qualys:\n  platform: US1\n  username: u\n  password: p\nsync:\n  memory_limit: 80MB\n", "sync.memory_limit", "such as 80MiB"},
		{"memory limit too low", "qualys:\n  platform: US1\n  username: u\n  password: p\nsync:\n  memory_limit: 8MiB\n", "sync.memory_limit", "at least 32MiB"},
		{"memory limit zero", "qualys:\n  platform: US1\n  username: u\n  password: p\nsync:\n  memory_limit: \"0\"\n", "sync.memory_limit", "or off"},
		{"extended evidence hidden", "qualys:\n  platform: US1\n  username: u\n  password: p\nclassic:\n  results:\n    show_extended_evidence: 1\n    hide_evidence: 1\n", "classic.results", "cannot be combined"},
		{"parameter pcsync sets", "qualys:\n  platform: US1\n  username: u\n  password: p\nclassic:\n  results:\n    policy_id: 5\n", "classic.results.policy_id", "sets this parameter itself"},
		{"classic source without api", "qualys:\n  gateway_url: https://gw.example\n  username: u\n  password: p\nsync:\n  source: classic\n", "source", "--api"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := write(t, tc.yaml)
			c, err := Load(p)
			if err == nil {
				if !strings.Contains(tc.yaml, "db:") {
					c.DB = filepath.Join(t.TempDir(), "x.db")
				}
				err = c.Validate()
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %v, want a *config.Error", err)
			}
			if !strings.Contains(ce.Where, tc.where) || !strings.Contains(ce.Msg, tc.says) {
				t.Fatalf("error %q: want it at %q saying %q", err, tc.where, tc.says)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Fatalf("error shows the password: %v", err)
			}
		})
	}
}

func TestWarningsForWeakSecurity(t *testing.T) {
	c := Default()
	c.Qualys.GatewayURL = "http://127.0.0.1:8080"
	c.Qualys.InsecureSkipVerify = true
	w := c.Warnings()
	if len(w) != 2 || !strings.Contains(w[0], "verification is OFF") || !strings.Contains(w[1], "plain http") {
		t.Fatalf("warnings %q", w)
	}
	// the same plain URL for both APIs is one warning; two URLs are two
	c.Qualys.InsecureSkipVerify, c.Qualys.APIURL = false, c.Qualys.GatewayURL
	if w := c.Warnings(); len(w) != 1 {
		t.Fatalf("one plain URL for both APIs: warnings %q", w)
	}
	c.Qualys.APIURL = "http://127.0.0.1:8081"
	if w := c.Warnings(); len(w) != 2 {
		t.Fatalf("two plain URLs: warnings %q", w)
	}
}

// TestADatabasePasswordInAConfigFileOthersCanRead: a password in the
// database URL of a config file others can read draws the same warning as
// a Qualys password, and a URL without one does not.
func TestADatabasePasswordInAConfigFileOthersCanRead(t *testing.T) {
	for _, c := range []struct {
		db   string
		warn bool
	}{
		{"postgres://pcsync:s3cret@127.0.0.1:5432/pc", true},
		{"postgres://pcsync@127.0.0.1:5432/pc?sslmode=disable&password=s3cret", true},
		{"postgres://pcsync@127.0.0.1:5432/pc?sslmode=disable", false},
		{"/var/lib/pcsync/pcsync.db", false},
	} {
		path := filepath.Join(t.TempDir(), "pcsync.yaml")
		if err := os.WriteFile(path, []byte("db: "+c.db+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		w := strings.Join(cfg.Warnings(), "\n")
		if got := strings.Contains(w, "chmod 600 "+path); got != c.warn || strings.Contains(w, "s3cret") {
			t.Errorf("db %s in a 0644 file: warnings %q; want a warning: %v, never the password", c.db, w, c.warn)
		}
	}
}

func TestMemoryLimitReadsGOMEMLIMITSyntax(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{"80MiB", 80 << 20}, {"1GiB", 1 << 30}, {"33554432", 32 << 20}, {"65536KiB", 64 << 20}, {"off", 0},
	} {
		t.Run(tc.in, func(t *testing.T) {
			s := Sync{MemoryLimit: tc.in}
			if msg := s.checkMemoryLimit(); msg != "" {
				t.Fatalf("refused: %s", msg)
			}
			if got := s.MemoryLimitBytes(); got != tc.want {
				t.Fatalf("%d bytes, want %d", got, tc.want)
			}
		})
	}
}
