// Package config turns a YAML file, the environment and command-line flags
// into one validated Config. Precedence, highest first: flags, environment
// (QUALYS_USERNAME, QUALYS_PASSWORD), the file, defaults.
package config

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"pcsync/internal/store"
)

// Config is everything `pcsync sync` needs.
type Config struct {
	Qualys  Qualys  `yaml:"qualys"`
	DB      string  `yaml:"db"`
	Sync    Sync    `yaml:"sync"`
	PCRS    PCRS    `yaml:"pcrs"`
	Classic Classic `yaml:"classic"`
	Log     Log     `yaml:"log"`
	Serve   Serve   `yaml:"serve"`

	credentials string   // where the password came from
	warnings    []string // found while loading
}

// Classic configures the classic PC API: its version and the parameters of
// ServiceNow's four classic REST messages, each "safe to modify as per your
// requirement". Values are sent as given; an empty value is not sent.
// pcsync adds action, id, policy_id, ids and id_min itself.
type Classic struct {
	Version     string `yaml:"version"`     // 2.0 .. 5.0
	Concurrency int    `yaml:"concurrency"` // calls at once until Qualys announces its limit; 1

	Policies      map[string]string `yaml:"policies"`       // "Qualys PC Policies"
	Controls      map[string]string `yaml:"controls"`       // "Qualys PC Controls"
	PolicyDetails map[string]string `yaml:"policy_details"` // "Qualys PC Policies Detail"
	Results       map[string]string `yaml:"results"`        // "Qualys PC Results"
}

// Qualys is the connection: where, who, and how to trust it.
type Qualys struct {
	Platform   string `yaml:"platform"`    // US1, EU2, ...: sets both URLs
	GatewayURL string `yaml:"gateway_url"` // overrides the platform's gateway
	APIURL     string `yaml:"api_url"`     // overrides the platform's classic API
	Username   string `yaml:"username"`
	Password   string `yaml:"password"`
	CACert     string `yaml:"ca_cert"` // PEM bundle of a private CA
	// InsecureSkipVerify turns TLS certificate checks off. pcsync warns on
	// every run while it is set.
	InsecureSkipVerify bool          `yaml:"insecure_skip_verify"`
	TokenTTL           time.Duration `yaml:"token_ttl"`      // assumed token life when the token does not say; 4h
	IdleTimeout        time.Duration `yaml:"idle_timeout"`   // a silent connection is broken after this; 5m
	MaxRetries         int           `yaml:"max_retries"`    // per call, for transient failures; 5
	MaxRateWaits       int           `yaml:"max_rate_waits"` // per call, waits on Qualys's limits (429, 409); 20
}

// Sync is how a run is planned and executed.
type Sync struct {
	Source          string  `yaml:"source"`            // pcrs or classic; default pcrs when a gateway is known
	Policies        []int64 `yaml:"policies"`          // empty: all active policies
	HostsPerRequest int     `yaml:"hosts_per_request"` // 5000
	Concurrency     int     `yaml:"concurrency"`       // postureInfo streams at once; 2
	Rejects         string  `yaml:"rejects"`           // file for records that do not decode
	TxRecords       int     `yaml:"tx_records"`        // records per database transaction; 10000
	ChunkRecords    int     `yaml:"chunk_records"`     // records a stream hands the writer at once; 2500
	StreamRetries   int     `yaml:"stream_retries"`    // refetches of a broken stream; 3
	// MemoryLimit is the soft limit of a sync's Go memory, in GOMEMLIMIT's
	// syntax ("80MiB", or "off"); 80MiB. pcsync sync sets it (unless
	// GOMEMLIMIT is set, which then rules), and a transaction gathers
	// records of at most a quarter of it (engine.Options.TxBytes).
	MemoryLimit string `yaml:"memory_limit"`
	// Overlap is subtracted from the last successful run's start for the
	// next incremental run's "since", so no change falls between two runs.
	Overlap time.Duration `yaml:"overlap"`
	// IncrementalFilter is the PCRS filter of incremental runs:
	// statusChangedSince (default), lastEvaluationDate or lastScanDate.
	IncrementalFilter string `yaml:"incremental_filter"`
}

// PCRS configures the posture streaming API: its version, its rate budget
// and the parameters of ServiceNow's two PCRS REST messages.
type PCRS struct {
	Version    string     `yaml:"version"` // 1.0 .. 5.0
	RateLimit  RateLimit  `yaml:"rate_limit"`
	PolicyHost PolicyHost `yaml:"policy_host"`  // "PCRS Policy Host Integration"
	Results    Results    `yaml:"test_results"` // "PCRS Test Results Integration"
}

// RateLimit is a call budget per API.
type RateLimit struct {
	Calls  int           `yaml:"calls"`  // 25
	Window time.Duration `yaml:"window"` // 60s
}

// PolicyHost holds the parameters of the hostids call.
type PolicyHost struct {
	LastScanDate string `yaml:"last_scan_date"`
}

// Results holds the parameters of the postureInfo call.
type Results struct {
	EvidenceRequired    *int              `yaml:"evidence_required"`    // 0 (default) or 1
	CompressionRequired *int              `yaml:"compression_required"` // 1 (default) or 0
	LastEvaluationDate  string            `yaml:"last_evaluation_date"`
	LastScanDate        string            `yaml:"last_scan_date"`
	LastScanDateFrom    string            `yaml:"last_scan_date_from"`
	LastScanDateTo      string            `yaml:"last_scan_date_to"`
	StatusChangedSince  string            `yaml:"status_changed_since"`
	Extra               map[string]string `yaml:"extra"` // other parameters, sent as given
}

// Log configures log lines (always on standard error).
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error; "" is info, or warn under a progress bar
	Format string `yaml:"format"` // text or json
}

// LogLevels and LogFormats are the values log.level and log.format take
// (in any case; "warning" is warn).
var (
	LogLevels  = []string{"debug", "info", "warn", "warning", "error"}
	LogFormats = []string{"text", "json"}
)

// Check refuses a level or format pcsync does not know, which would
// otherwise log at info, as text.
func (l Log) Check() error {
	if l.Level != "" && !slices.Contains(LogLevels, strings.ToLower(l.Level)) {
		return &Error{Where: "log.level", Msg: fmt.Sprintf("%q: use debug, info, warn or error", l.Level)}
	}
	if l.Format != "" && !slices.Contains(LogFormats, strings.ToLower(l.Format)) {
		return &Error{Where: "log.format", Msg: fmt.Sprintf("%q: use text or json", l.Format)}
	}
	return nil
}

// Serve configures pcsync serve.
type Serve struct {
	// Token is required by the server's API and dashboard; without one the
	// server listens on loopback only. PCSYNC_SERVE_TOKEN overrides it.
	Token  string `yaml:"token"`
	Listen string `yaml:"listen"` // address; default 127.0.0.1:8080
}

// Default is the configuration without file, environment or flags.
func Default() Config {
	one, zero := 1, 0
	return Config{
		Qualys: Qualys{TokenTTL: 4 * time.Hour, IdleTimeout: 5 * time.Minute, MaxRetries: 5, MaxRateWaits: 20},
		DB:     "pcsync.db",
		Sync: Sync{HostsPerRequest: 5000, Concurrency: 2, TxRecords: 10000, ChunkRecords: 2500, StreamRetries: 3,
			MemoryLimit: "80MiB", Overlap: time.Hour, IncrementalFilter: "statusChangedSince"},
		PCRS: PCRS{Version: "1.0", RateLimit: RateLimit{Calls: 25, Window: 60 * time.Second},
			Results: Results{EvidenceRequired: &zero, CompressionRequired: &one}},
		Classic: Classic{Version: "2.0", Concurrency: 1,
			Policies:      map[string]string{"details": "All"},
			Controls:      map[string]string{"details": "All", "truncation_limit": "1000"},
			PolicyDetails: map[string]string{"show_user_controls": "1", "show_appendix": "1"},
			Results: map[string]string{"details": "All", "cause_of_failure": "1", "show_remediation_info": "1",
				"show_extended_evidence": "0", "hide_evidence": "0", "truncation_limit": "1000"}},
		Log:   Log{Format: "text"}, // Level "": info, or warn while a progress bar is drawn
		Serve: Serve{Listen: "127.0.0.1:8080"},
	}
}

// Error is a configuration problem: where it is and what to do.
type Error struct {
	Where string // the file, flag or variable at fault
	Msg   string
}

func (e *Error) Error() string {
	if e.Where == "" {
		return e.Msg
	}
	return e.Where + ": " + e.Msg
}

// Load reads path (if not empty) over the defaults and applies the
// environment. Unknown keys are errors, so that a typo is not ignored.
func Load(path string) (Config, error) {
	c := Default()
	var fromFile bool
	if path != "" {
		data, err := readFile(path)
		if err != nil {
			return c, err
		}
		if c, err = Parse(data, path); err != nil {
			return c, err
		}
		fromFile = c.Qualys.Password != ""
		secret := fromFile || c.Serve.Token != "" || dsnHasPassword(c.DB)
		if fi, err := os.Stat(path); err == nil && secret && fi.Mode().Perm()&0o077 != 0 {
			c.warnings = append(c.warnings, fmt.Sprintf("the config file %s holds a password and can be read by others (mode %v): run chmod 600 %s",
				path, fi.Mode().Perm(), path))
		}
	}
	user, pass := "", ""
	if c.Qualys.Username != "" {
		user = "the config file " + path
	}
	if fromFile {
		pass = "the config file " + path
	}
	if v := os.Getenv("QUALYS_USERNAME"); v != "" {
		c.Qualys.Username = v
		user = "the environment (QUALYS_USERNAME)"
	}
	if v := os.Getenv("QUALYS_PASSWORD"); v != "" {
		c.Qualys.Password = v
		pass = "the environment (QUALYS_PASSWORD)"
	}
	c.credentials = credentialsSource(user, pass)
	if v := os.Getenv("PCSYNC_SERVE_TOKEN"); v != "" {
		c.Serve.Token = v
	}
	return c, nil
}

// credentialsSource says where the user name and the password came from:
// one place, or each its own.
func credentialsSource(user, pass string) string {
	switch {
	case user == "" && pass == "":
		return "not set"
	case user == pass:
		return user
	case user == "the environment (QUALYS_USERNAME)" && pass == "the environment (QUALYS_PASSWORD)":
		return "the environment (QUALYS_USERNAME, QUALYS_PASSWORD)"
	}
	return "the user name from " + cmp.Or(user, "nowhere") + ", the password from " + cmp.Or(pass, "nowhere")
}

// dsnHasPassword reports whether a database URL carries a password (in
// its user info or as a password parameter).
func dsnHasPassword(db string) bool {
	d, err := store.ParseDSN(db)
	if err != nil || d.URL == "" {
		return false
	}
	u, err := url.Parse(d.URL)
	if err != nil {
		return true // unparsable: take no chance
	}
	_, ok := u.User.Password()
	return ok || u.Query().Has("password")
}

// MaxFileBytes bounds a config file.
const MaxFileBytes = 1 << 20

func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &Error{Where: path, Msg: fmt.Sprintf("cannot read the config file: %v", errors.Unwrap(err))}
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, &Error{Where: path, Msg: fmt.Sprintf("cannot read the config file: %v", err)}
	}
	if len(data) > MaxFileBytes {
		return nil, &Error{Where: path, Msg: fmt.Sprintf("larger than %d KiB: this is not a pcsync config file (see pcsync.example.yaml)", MaxFileBytes>>10)}
	}
	return data, nil
}

// Parse reads a config file's contents (where names it in errors) over the
// defaults. Unknown keys are errors, so that a typo is not ignored.
func Parse(data []byte, where string) (Config, error) {
	c := Default()
	if len(data) > MaxFileBytes {
		return c, &Error{Where: where, Msg: fmt.Sprintf("larger than %d KiB", MaxFileBytes>>10)}
	}
	d := yaml.NewDecoder(bytes.NewReader(data))
	d.KnownFields(true)
	if err := d.Decode(&c); err != nil && !errors.Is(err, io.EOF) { // an empty file is fine
		return c, &Error{Where: where, Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	var more yaml.Node
	if err := d.Decode(&more); !errors.Is(err, io.EOF) { // a second document would be ignored
		return c, &Error{Where: where, Msg: "holds more than one YAML document (a line ---): put every setting in one"}
	}
	if err := c.Log.Check(); err != nil {
		return c, &Error{Where: where, Msg: err.Error()}
	}
	return c, nil
}

// CredentialsSource says where the Qualys password came from: the
// environment or the config file (named), for messages about a refused login.
func (c *Config) CredentialsSource() string { return c.credentials }

// Endpoints resolves the platform and explicit URLs into the two base URLs.
func (c *Config) Endpoints() (gateway, api string, err error) {
	if c.Qualys.Platform != "" {
		p, ok := LookupPlatform(c.Qualys.Platform)
		if !ok {
			return "", "", &Error{Where: "platform", Msg: fmt.Sprintf("unknown platform %q; use one of %s, or give gateway_url/api_url",
				c.Qualys.Platform, strings.Join(PlatformNames(), ", "))}
		}
		gateway, api = p.Gateway, p.API
	}
	if c.Qualys.GatewayURL != "" {
		gateway = c.Qualys.GatewayURL
	}
	if c.Qualys.APIURL != "" {
		api = c.Qualys.APIURL
	}
	return gateway, api, nil
}

// Warnings lists the settings that work but weaken security.
func (c *Config) Warnings() []string {
	w := slices.Clone(c.warnings)
	if c.Qualys.InsecureSkipVerify {
		w = append(w, "TLS certificate verification is OFF (insecure_skip_verify): anyone on the path can read your Qualys credentials")
	}
	gw, api, _ := c.Endpoints()
	for i, u := range []string{gw, api} {
		if strings.HasPrefix(strings.ToLower(u), "http://") && (i == 0 || u != gw) { // one warning a URL
			w = append(w, fmt.Sprintf("%s is plain http: credentials and data travel unencrypted (fine for an emulator, never for Qualys)", u))
		}
	}
	return w
}

var pcrsVersions = []string{"1.0", "2.0", "3.0", "4.0", "5.0"}

// Validate checks everything that can be checked before any work, and says
// what is wrong, where, and what to do.
func (c *Config) Validate() error {
	gw, api, err := c.Endpoints()
	if err != nil {
		return err
	}
	if gw == "" && api == "" {
		return &Error{Where: "qualys", Msg: "no Qualys URL: give --platform (e.g. US1), or --gateway and/or --api"}
	}
	for _, u := range []struct{ name, v string }{{"gateway", gw}, {"api", api}} {
		if u.v == "" {
			continue
		}
		if err := checkURL(u.v); err != nil {
			return &Error{Where: u.name, Msg: err.Error()}
		}
	}
	if c.Qualys.Username == "" || c.Qualys.Password == "" {
		return &Error{Where: "credentials", Msg: "missing Qualys user name or password: set QUALYS_USERNAME and QUALYS_PASSWORD, or username/password under qualys: in the config file"}
	}
	if c.Qualys.CACert != "" {
		if _, err := os.Stat(c.Qualys.CACert); err != nil {
			return &Error{Where: "ca_cert", Msg: fmt.Sprintf("cannot read %s: %v", c.Qualys.CACert, errors.Unwrap(err))}
		}
	}
	if c.Qualys.MaxRetries < 0 || c.Qualys.MaxRateWaits < 0 {
		return &Error{Where: "qualys", Msg: "max_retries and max_rate_waits must not be negative"}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"qualys.token_ttl", c.Qualys.TokenTTL}, {"qualys.idle_timeout", c.Qualys.IdleTimeout}} {
		if d.v <= 0 {
			return &Error{Where: d.name, Msg: fmt.Sprintf("%s: give a positive duration, such as 4h or 5m", d.v)}
		}
	}
	if err := c.checkSync(); err != nil {
		return err
	}
	if err := c.checkPCRS(); err != nil {
		return err
	}
	if err := c.checkClassic(gw, api); err != nil {
		return err
	}
	if _, err := store.ParseDSN(c.DB); err != nil {
		return &Error{Where: "db", Msg: err.Error()}
	}
	return nil
}

func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.Hostname() == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Errorf("%q is not a URL such as https://gateway.qg1.apps.qualys.com", store.RedactDSN(s))
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("%q has port %s, which is out of range: ports are 1 to 65535", store.RedactDSN(s), p)
		}
	}
	if u.User != nil {
		return fmt.Errorf("%q carries credentials; put them in QUALYS_USERNAME and QUALYS_PASSWORD instead", u.Redacted())
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" { // not shown: it may hold a token
		base := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}
		return fmt.Errorf("%q is followed by a query or fragment (?... or #...), which a Qualys base URL has none of and the run would store: give %q",
			base.String()+"...", base.String())
	}
	return nil
}

func (c *Config) checkSync() error {
	s := &c.Sync
	switch {
	case s.HostsPerRequest < 1 || s.HostsPerRequest > 100000:
		return &Error{Where: "hosts-per-request", Msg: fmt.Sprintf("%d is out of range: use 1 to 100000 (Qualys's clients use 5000)", s.HostsPerRequest)}
	case s.Concurrency < 1 || s.Concurrency > 32:
		return &Error{Where: "concurrency", Msg: fmt.Sprintf("%d is out of range: use 1 to 32", s.Concurrency)}
	case s.TxRecords < 1:
		return &Error{Where: "tx_records", Msg: "must be at least 1"}
	case s.ChunkRecords < 1 || s.ChunkRecords > s.TxRecords:
		return &Error{Where: "chunk_records", Msg: fmt.Sprintf("%d is out of range: use 1 to tx_records (%d)", s.ChunkRecords, s.TxRecords)}
	case s.StreamRetries < 0:
		return &Error{Where: "stream_retries", Msg: "must not be negative"}
	case s.checkMemoryLimit() != "":
		return &Error{Where: "sync.memory_limit", Msg: s.checkMemoryLimit()}
	case s.Overlap < 0:
		return &Error{Where: "sync.overlap", Msg: "must not be negative"}
	case !slices.Contains([]string{"statusChangedSince", "lastEvaluationDate", "lastScanDate"}, s.IncrementalFilter):
		return &Error{Where: "sync.incremental_filter", Msg: fmt.Sprintf("%q: use statusChangedSince, lastEvaluationDate or lastScanDate", s.IncrementalFilter)}
	}
	for _, id := range s.Policies {
		if id <= 0 {
			return &Error{Where: "policy", Msg: fmt.Sprintf("%d is not a policy id (ids are positive numbers)", id)}
		}
	}
	return nil
}

func (c *Config) checkPCRS() error {
	p := &c.PCRS
	ok := false
	for _, v := range pcrsVersions {
		ok = ok || p.Version == v
	}
	if !ok {
		return &Error{Where: "pcrs.version", Msg: fmt.Sprintf("%q is not a PCRS version: use one of %s", p.Version, strings.Join(pcrsVersions, ", "))}
	}
	for _, f := range []struct {
		name string
		v    *int
	}{{"evidence_required", p.Results.EvidenceRequired}, {"compression_required", p.Results.CompressionRequired}} {
		if f.v != nil && *f.v != 0 && *f.v != 1 {
			return &Error{Where: "pcrs.test_results." + f.name, Msg: fmt.Sprintf("%d: use 0 or 1", *f.v)}
		}
	}
	if p.RateLimit.Calls < 0 || p.RateLimit.Window < 0 {
		return &Error{Where: "pcrs.rate_limit", Msg: "calls and window must not be negative"}
	}
	if p.RateLimit.Calls > 0 && p.RateLimit.Window == 0 {
		return &Error{Where: "pcrs.rate_limit.window", Msg: "0s: a budget of calls needs a positive window, such as 60s"}
	}
	for _, d := range []struct{ name, v string }{
		{"policy_host.last_scan_date", p.PolicyHost.LastScanDate},
		{"test_results.last_evaluation_date", p.Results.LastEvaluationDate},
		{"test_results.last_scan_date", p.Results.LastScanDate},
		{"test_results.last_scan_date_from", p.Results.LastScanDateFrom},
		{"test_results.last_scan_date_to", p.Results.LastScanDateTo},
		{"test_results.status_changed_since", p.Results.StatusChangedSince},
	} {
		if _, err := ParseDate(d.v); err != nil {
			return &Error{Where: "pcrs." + d.name, Msg: err.Error()}
		}
	}
	if (p.Results.LastScanDateFrom == "") != (p.Results.LastScanDateTo == "") {
		return &Error{Where: "pcrs.test_results", Msg: "last_scan_date_from and last_scan_date_to go together"}
	}
	return nil
}

var classicVersions = []string{"2.0", "3.0", "4.0", "5.0"}

func (c *Config) checkClassic(gw, api string) error {
	cl := &c.Classic
	if !slices.Contains(classicVersions, cl.Version) {
		return &Error{Where: "classic.version", Msg: fmt.Sprintf("%q is not a classic API version: use one of %s", cl.Version, strings.Join(classicVersions, ", "))}
	}
	if cl.Concurrency < 1 || cl.Concurrency > 10 {
		return &Error{Where: "classic.concurrency", Msg: fmt.Sprintf("%d is out of range: use 1 to 10 (Qualys announces its own limit, often 2 to 10)", cl.Concurrency)}
	}
	r := cl.Results
	if r["show_extended_evidence"] == "1" && r["hide_evidence"] == "1" {
		return &Error{Where: "classic.results", Msg: "show_extended_evidence=1 cannot be combined with hide_evidence=1 " +
			"(extended evidence is part of the evidence, and Qualys refuses the request): set one of them to 0"}
	}
	for section, m := range map[string]map[string]string{"controls": cl.Controls, "results": cl.Results} {
		if v, ok := m["truncation_limit"]; ok && v != "" {
			if n, err := strconv.Atoi(v); err != nil || n < 1 {
				return &Error{Where: "classic." + section + ".truncation_limit", Msg: fmt.Sprintf("%q: use a page size of at least 1 (pcsync holds a page in memory; 0, Qualys's 'unlimited', would hold everything)", v)}
			}
		}
	}
	if v := r["status_changes_since"]; v != "" {
		if _, err := ParseDate(v); err != nil {
			return &Error{Where: "classic.results.status_changes_since", Msg: err.Error()}
		}
	}
	for section, m := range map[string]map[string]string{"policies": cl.Policies, "controls": cl.Controls,
		"policy_details": cl.PolicyDetails, "results": cl.Results} {
		for _, k := range []string{"action", "id", "policy_id", "policy_ids", "id_min"} {
			if _, ok := m[k]; ok {
				return &Error{Where: "classic." + section + "." + k, Msg: "pcsync sets this parameter itself; remove it"}
			}
		}
	}
	switch c.Sync.Source {
	case "":
	case "pcrs":
		if gw == "" {
			return &Error{Where: "source", Msg: "--source pcrs needs the gateway URL: give --gateway or --platform, or use --source classic"}
		}
	case "classic":
		if api == "" {
			return &Error{Where: "source", Msg: "--source classic needs the classic API URL: give --api or --platform"}
		}
	default:
		return &Error{Where: "source", Msg: fmt.Sprintf("%q is not a source: use pcrs or classic", c.Sync.Source)}
	}
	return nil
}

// ParseDate reads YYYY-MM-DD or an RFC 3339 time; "" is the zero time.
func ParseDate(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q is not a date: use YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ", s)
}
