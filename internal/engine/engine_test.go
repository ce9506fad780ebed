package engine_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"pcsync/internal/compliance"
	"pcsync/internal/config"
	"pcsync/internal/emulator"
	"pcsync/internal/engine"
	"pcsync/internal/export"
	"pcsync/internal/qualys"
	"pcsync/internal/store/sqlite"
)

// testEstate is small but has several policies, an inactive one, policies
// that cover different hosts, and Oracle instances.
func testEstate(t *testing.T) *emulator.Estate {
	t.Helper()
	cfg := emulator.DefaultConfig()
	cfg.Policies, cfg.InactivePolicies, cfg.Hosts, cfg.HostsPerPolicy, cfg.ControlsPerPolicy = 3, 1, 30, 20, 12
	cfg.DBSharePercent = 40
	e, err := emulator.NewEstate(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

type env struct {
	estate *emulator.Estate
	server *emulator.Server
	url    string
	pool   *x509.CertPool
}

func startEmulator(t *testing.T, estate *emulator.Estate, opts emulator.Options) *env {
	t.Helper()
	opts.Estate = estate
	srv, err := emulator.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(srv)
	ts.EnableHTTP2 = false
	ts.StartTLS()
	t.Cleanup(ts.Close)
	pool := x509.NewCertPool()
	pool.AddCert(ts.Certificate())
	return &env{estate: estate, server: srv, url: ts.URL, pool: pool}
}

func (e *env) client(t *testing.T, mod func(*qualys.Options)) *qualys.Client {
	t.Helper()
	o := clientOptions(qualys.Options{GatewayURL: e.url, Username: "pcsync", Password: "emulator", RootCAs: e.pool, RateCalls: 100000,
		Backoff: func(int) time.Duration { return 10 * time.Millisecond }})
	if mod != nil {
		mod(&o)
	}
	c, err := qualys.NewClient(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// clientOptions completes o with the values the config's defaults give a
// user (NewClient takes complete options and fills nothing in).
func clientOptions(o qualys.Options) qualys.Options {
	d := config.Default()
	o.PCRSVersion, o.ClassicVersion, o.ClassicConcurrency = d.PCRS.Version, d.Classic.Version, d.Classic.Concurrency
	o.TokenTTL, o.IdleTimeout, o.UserAgent = d.Qualys.TokenTTL, d.Qualys.IdleTimeout, "pcsync-test"
	o.MaxRetries, o.MaxRateWaits, o.CheckRetry = d.Qualys.MaxRetries, d.Qualys.MaxRateWaits, qualys.DefaultCheckRetry
	if o.RateCalls == 0 {
		o.RateCalls, o.RateWindow = d.PCRS.RateLimit.Calls, d.PCRS.RateLimit.Window
	}
	if o.RateWindow == 0 {
		o.RateWindow = d.PCRS.RateLimit.Window
	}
	if o.Backoff == nil {
		o.Backoff = qualys.DefaultBackoff
	}
	return o
}

func openStore(t *testing.T) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "pcsync.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

var idFields = []string{"id", "policyId", "controlId", "technologyId", "hostId", "networkId", "customerId", "assetId"}
var dateFields = []string{"firstFailDate", "lastFailDate", "firstPassDate", "lastPassDate", "postureModifiedDate",
	"lastEvaluatedDate", "created", "complianceLastScanDate"}
var stringFields = []string{"instance", "status", "previousStatus", "ip", "trackingMethod", "os", "osCpe", "dns",
	"qgHostid", "networkName", "customerUuid"}

func number(t *testing.T, v any) any {
	switch x := v.(type) {
	case json.Number:
		n, err := x.Int64()
		if err != nil {
			t.Fatalf("number %v: %v", x, err)
		}
		return n
	case string:
		var n int64
		if _, err := fmt.Sscan(x, &n); err != nil {
			t.Fatalf("id %q is not a number", x)
		}
		return n
	case map[string]any:
		for k, vv := range x {
			if _, ok := vv.(json.Number); ok {
				x[k] = number(t, vv)
			}
		}
	}
	return v
}

// canonical turns a record as the emulator wrote it (ids as strings or
// numbers, unset dates as "", null or absent) into the form pcsync exports.
func canonical(t *testing.T, m map[string]any) map[string]any {
	for _, k := range idFields {
		if v, ok := m[k]; ok {
			m[k] = number(t, v)
		}
	}
	for _, k := range dateFields {
		if v, ok := m[k]; !ok || v == "" {
			m[k] = nil
		}
	}
	for _, k := range stringFields {
		if v, ok := m[k]; !ok || v == nil {
			m[k] = ""
		}
	}
	for _, k := range []string{"technology", "criticality"} {
		if obj, ok := m[k].(map[string]any); ok {
			for kk, v := range obj {
				if kk != "name" && kk != "label" {
					obj[kk] = number(t, v)
				}
			}
		}
	}
	for _, k := range []string{"evidence", "causeOfFailure"} {
		if _, ok := m[k]; !ok {
			m[k] = nil
		}
	}
	return m
}

func decodeJSON(t *testing.T, data []byte, v any) {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		t.Fatalf("decode %.200s: %v", data, err)
	}
}

// expected renders what the emulator serves for every active policy.
func expected(t *testing.T, e *emulator.Estate, opts emulator.StreamOptions) map[int64]map[string]any {
	t.Helper()
	want := map[int64]map[string]any{}
	for _, p := range e.Policies() {
		if !p.Active() {
			continue
		}
		ids, _ := e.PolicyHostIDs(p.ID, time.Time{})
		var buf bytes.Buffer
		if _, err := e.WritePosture(&buf, []emulator.PolicyRequest{{PolicyID: p.ID, HostIDs: ids}}, opts); err != nil {
			t.Fatal(err)
		}
		var recs []map[string]any
		decodeJSON(t, buf.Bytes(), &recs)
		for _, r := range recs {
			r = canonical(t, r)
			want[r["id"].(int64)] = r
		}
	}
	return want
}

// sameAsServed fails t unless the postures exported (got) are those the
// emulator served (want), field by field.
func sameAsServed(t *testing.T, want, got map[int64]map[string]any) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("exported %d postures, the emulator served %d", len(got), len(want))
	}
	for id, w := range want {
		if diff := cmp.Diff(w, got[id]); diff != "" {
			t.Fatalf("posture %d differs (-emulator +export):\n%s", id, diff)
		}
	}
}

// exported reads the postures table back as NDJSON.
func exported(t *testing.T, st *sqlite.Store) map[int64]map[string]any {
	t.Helper()
	var buf bytes.Buffer
	if err := export.Write(t.Context(), st, "postures", "ndjson", &buf); err != nil {
		t.Fatal(err)
	}
	got := map[int64]map[string]any{}
	sc := bufio.NewScanner(&buf)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		decodeJSON(t, sc.Bytes(), &m)
		id, ok := m["id"].(json.Number)
		if !ok {
			t.Fatalf("exported id %#v is not a JSON number", m["id"])
		}
		for _, k := range idFields {
			if n, ok := m[k].(json.Number); ok {
				m[k] = number(t, n)
			}
		}
		for _, k := range []string{"technology", "criticality"} {
			m[k] = number(t, m[k])
		}
		n, _ := id.Int64()
		if _, dup := got[n]; dup {
			t.Fatalf("posture %d exported twice", n)
		}
		got[n] = m
	}
	return got
}

func TestSyncMatchesEmulatorRecordForRecord(t *testing.T) {
	t.Parallel()
	estate := testEstate(t)
	for _, tc := range []struct {
		evidence, compression bool
		concurrency           int
		version               string
	}{
		{false, true, 1, "1.0"}, {false, true, 2, "1.0"}, {true, true, 2, "2.0"}, {true, false, 1, "3.0"},
		{false, false, 2, "4.0"}, {true, true, 2, "5.0"},
	} {
		name := fmt.Sprintf("evidence=%v/compression=%v/concurrency=%d/v%s", tc.evidence, tc.compression, tc.concurrency, tc.version)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			style := emulator.Style{IDs: "mixed", Empty: "mixed"}
			env := startEmulator(t, estate, emulator.Options{Style: style, RateCalls: -1})
			st := openStore(t)
			eng := engine.New(env.client(t, func(o *qualys.Options) { o.PCRSVersion = tc.version }), st, nil)
			res, err := eng.Run(t.Context(), complete(engine.Options{HostsPerRequest: 7, Concurrency: tc.concurrency,
				Evidence: tc.evidence, Compression: tc.compression, TxRecords: 100, ChunkRecords: 16}))
			if err != nil {
				t.Fatalf("run: %v", err)
			}
			want := expected(t, estate, emulator.StreamOptions{Evidence: tc.evidence, Extended: tc.version == "5.0", Style: style})
			got := exported(t, st)
			t.Logf("%d postures compared over %d batches", len(want), res.Run.Batches)
			sameAsServed(t, want, got)
			if res.Run.Status != compliance.RunSucceeded || res.Run.Records != int64(len(want)) {
				t.Fatalf("run %+v: want succeeded with %d records", res.Run, len(want))
			}
			if res.Run.Batches < 6 {
				t.Fatalf("only %d batches; the test wants several per policy", res.Run.Batches)
			}
			for _, s := range res.Policies {
				c := estate.Counts(s.PolicyID)
				if s.Records != c.Records || s.Passed != c.Passed || s.Failed != c.Failed || s.Errors != c.Errors {
					t.Errorf("policy %d summary %+v, emulator counts %+v", s.PolicyID, s, c)
				}
				if s.HostsRequested != 20 || s.HostsReturned != 20 {
					t.Errorf("policy %d: hosts asked %d returned %d, want 20 and 20", s.PolicyID, s.HostsRequested, s.HostsReturned)
				}
			}
		})
	}
}

func TestSyncTwiceKeepsOneRowPerPosture(t *testing.T) {
	t.Parallel()
	estate := testEstate(t)
	env := startEmulator(t, estate, emulator.Options{RateCalls: -1})
	st := openStore(t)
	for i := range 2 {
		eng := engine.New(env.client(t, nil), st, nil)
		res, err := eng.Run(t.Context(), complete(engine.Options{HostsPerRequest: 9, Compression: true}))
		if err != nil {
			t.Fatalf("run %d: %v", i+1, err)
		}
		if res.Run.ID != int64(i+1) {
			t.Fatalf("run id %d, want %d", res.Run.ID, i+1)
		}
	}
	want := expected(t, estate, emulator.StreamOptions{})
	if got := exported(t, st); len(got) != len(want) {
		t.Fatalf("after two runs %d postures stored, want %d", len(got), len(want))
	}
	_ = context.Background
}

// BenchmarkSync is one whole sync of 100k records from an in-process
// emulator (answers cached after the first) into a fresh SQLite file. The
// emulator shares the process, so `pcsync bench` is the figure to quote;
// this one catches regressions.
func BenchmarkSync(b *testing.B) {
	cfg := emulator.DefaultConfig()
	cfg.Policies, cfg.InactivePolicies, cfg.Hosts, cfg.ControlsPerPolicy, cfg.DBSharePercent = 2, 0, 250, 200, 0
	estate, err := emulator.NewEstate(cfg)
	if err != nil {
		b.Fatal(err)
	}
	srv, err := emulator.New(emulator.Options{Estate: estate, RateCalls: -1, CacheResponses: true})
	if err != nil {
		b.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	client, err := qualys.NewClient(clientOptions(qualys.Options{GatewayURL: ts.URL, Username: "pcsync", Password: "emulator"}))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	var records int64
	for i := 0; b.Loop(); i++ {
		st, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), fmt.Sprintf("b%d.db", i)), sqlite.Options{})
		if err != nil {
			b.Fatal(err)
		}
		res, err := engine.New(client, st, nil).Run(b.Context(), complete(engine.Options{Compression: true}))
		if err != nil {
			b.Fatal(err)
		}
		records += res.Run.Records
		st.Close()
	}
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
}

// complete fills what a test leaves unset with the values pcsync sync uses
// by default (config.Default), as the engine sets no defaults of its own. A
// negative MaxStreamRetries asks for none.
func complete(o engine.Options) engine.Options {
	def := config.Default()
	if o.HostsPerRequest == 0 {
		o.HostsPerRequest = def.Sync.HostsPerRequest
	}
	if o.Concurrency == 0 {
		o.Concurrency = def.Sync.Concurrency
	}
	if o.TxRecords == 0 {
		o.TxRecords = def.Sync.TxRecords
	}
	if o.ChunkRecords == 0 {
		o.ChunkRecords = def.Sync.ChunkRecords
	}
	switch {
	case o.MaxStreamRetries == 0:
		o.MaxStreamRetries = def.Sync.StreamRetries
	case o.MaxStreamRetries < 0:
		o.MaxStreamRetries = 0
	}
	if o.RetryBackoff == nil {
		o.RetryBackoff = qualys.DefaultBackoff
	}
	if o.Overlap == 0 {
		o.Overlap = def.Sync.Overlap
	}
	if o.IncrementalFilter == "" {
		o.IncrementalFilter = def.Sync.IncrementalFilter
	}
	return o
}
