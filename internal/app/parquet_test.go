package app

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"pcsync/internal/compliance"
	"pcsync/internal/emulator"
	"pcsync/internal/store"
)

// TestParquetExportEqualsNDJSON exports a synced database as Parquet and
// reads every file back through the files' own schemas (leaf columns and
// their logical types, not the writer's layout), and compares each table
// with its NDJSON export, row for row.
func TestParquetExportEqualsNDJSON(t *testing.T) {
	t.Parallel()
	cfg := emulator.DefaultConfig()
	cfg.Policies, cfg.InactivePolicies, cfg.Hosts, cfg.ControlsPerPolicy, cfg.FlipPermille, cfg.ChurnPercent = 6, 0, 40, 12, 200, 10
	srv := newEmulator(t, cfg)
	ts := httptest.NewServer(srv)
	defer ts.Close()
	dir := t.TempDir()
	db, lake := filepath.Join(dir, "pcsync.db"), filepath.Join(dir, "lake")
	creds := credentials(t, "emulator")
	for i, extra := range [][]string{{"--source", "classic"}, {"--evidence"}} {
		args := append([]string{"sync", "--config", creds, "--gateway", ts.URL, "--api", ts.URL, "--db", db}, extra...)
		if code, out, errOut := run(t, args...); code != ExitOK {
			t.Fatalf("sync %d: exit %d\n%s\n%s", i, code, out, errOut)
		}
		srv.Advance(time.Time{})
	}
	if code, _, errOut := run(t, "export", "--db", db, "--format", "parquet", "--out", lake); code != ExitOK {
		t.Fatalf("export parquet: exit %d: %s", code, errOut)
	}
	for _, tab := range store.Tables {
		want := ndjsonRows(t, exportTable(t, db, tab.Name))
		var got []string
		if tab.Name == "postures" {
			parts, _ := filepath.Glob(filepath.Join(lake, "postures", "policy_id=*", "*.parquet"))
			for _, p := range parts {
				policy := strings.TrimPrefix(filepath.Base(filepath.Dir(p)), "policy_id=")
				got = append(got, parquetRows(t, p, map[string]any{"policyId": json.Number(policy)})...)
			}
		} else {
			got = parquetRows(t, filepath.Join(lake, tab.Name+".parquet"), nil)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			onlyGot, onlyWant := setMinus(got, want), setMinus(want, got)
			t.Errorf("table %s: Parquet (%d rows) differs from NDJSON (%d rows); only in Parquet:\n%.1500s\nonly in NDJSON:\n%.1500s",
				tab.Name, len(got), len(want), strings.Join(onlyGot, "\n"), strings.Join(onlyWant, "\n"))
		}
		if (tab.Name == "postures" || tab.Name == "controls" || tab.Name == "history") && len(want) == 0 {
			t.Errorf("table %s is empty: the test proves little", tab.Name)
		}
	}
	// the output path is guarded like every other: a directory holding the
	// database is refused, and left as it was
	if code, _, errOut := run(t, "export", "--db", db, "--format", "parquet", "--out", dir); code != ExitUsage || !strings.Contains(errOut, "pcsync.db") {
		t.Fatalf("--out the database's directory: exit %d: %s", code, errOut)
	}
	if _, err := os.Stat(db); err != nil {
		t.Fatal(err)
	}
	// the export replaces its directory whole: an earlier export is
	// replaced, a directory holding anything else is refused and left as it
	// was, and a new directory gets the mode mkdir gives
	ref := filepath.Join(dir, "ref")
	if err := os.Mkdir(ref, 0o777); err != nil {
		t.Fatal(err)
	}
	if fi, rfi := stat(t, lake), stat(t, ref); fi.Mode() != rfi.Mode() {
		t.Errorf("the export's directory has mode %v, a new directory %v", fi.Mode(), rfi.Mode())
	}
	if code, _, errOut := run(t, "export", "--db", db, "--format", "parquet", "--out", lake); code != ExitOK {
		t.Fatalf("export parquet over an earlier export: exit %d: %s", code, errOut)
	}
	mine := filepath.Join(ref, "notes.txt")
	os.WriteFile(mine, []byte("mine"), 0o644)
	for _, out := range []string{ref, filepath.Join(ref, ".")} {
		if code, _, errOut := run(t, "export", "--db", db, "--format", "parquet", "--out", out); code != ExitUsage ||
			!strings.Contains(errOut, "notes.txt") {
			t.Errorf("--out %s holding a file of its own: exit %d: %s; want exit 2 naming the file", out, code, errOut)
		}
		if b, err := os.ReadFile(mine); err != nil || string(b) != "mine" {
			t.Fatalf("--out %s: the directory's file is gone (%v)", out, err)
		}
	}
}

func stat(t *testing.T, path string) os.FileInfo {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi
}

// ndjsonRows are NDJSON lines in canonical JSON (keys sorted), sorted.
func ndjsonRows(t *testing.T, s string) []string {
	t.Helper()
	var out []string
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	for d.More() {
		var m map[string]any
		if err := d.Decode(&m); err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(m)
		out = append(out, string(b))
	}
	slices.Sort(out)
	return out
}

// parquetRows reads a Parquet file leaf column by leaf column, by its own
// schema, into canonical JSON objects: timestamps as NDJSON writes dates,
// JSON text where NDJSON has a document, "extra" spread into the record.
func parquetRows(t *testing.T, path string, add map[string]any) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	pf, err := parquet.OpenFile(f, fi.Size())
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	leaves := pf.Schema().Columns()
	r := parquet.NewReader(f)
	defer r.Close()
	var out []string
	rows := make([]parquet.Row, 64)
	for {
		n, err := r.ReadRows(rows)
		for _, row := range rows[:n] {
			m := map[string]any{}
			for k, v := range add {
				m[k] = v
			}
			for _, v := range row {
				leafPath := leaves[v.Column()]
				leaf, _ := pf.Schema().Lookup(leafPath...)
				put(m, leafPath, leafValue(t, leaf.Node, v))
			}
			if extra, ok := m["extra"].(string); ok {
				var members map[string]any
				d := json.NewDecoder(strings.NewReader(extra))
				d.UseNumber()
				if err := d.Decode(&members); err != nil {
					t.Fatalf("extra %q: %v", extra, err)
				}
				for k, v := range members {
					m[k] = v
				}
			}
			delete(m, "extra")
			b, _ := json.Marshal(m)
			out = append(out, string(b))
		}
		if err != nil {
			break
		}
	}
	return out
}

func put(m map[string]any, path []string, v any) {
	for _, p := range path[:len(path)-1] {
		sub, ok := m[p].(map[string]any)
		if !ok {
			sub = map[string]any{}
			m[p] = sub
		}
		m = sub
	}
	m[path[len(path)-1]] = v
}

// leafValue converts a value by its column's logical type; a string that
// holds a JSON document or array is decoded (NDJSON embeds those).
func leafValue(t *testing.T, node parquet.Node, v parquet.Value) any {
	if v.IsNull() {
		return nil
	}
	lt := node.Type().LogicalType()
	switch {
	case lt != nil && strings.HasPrefix(lt.String(), "TIMESTAMP"):
		return compliance.FormatDate(time.UnixMicro(v.Int64()).UTC())
	case v.Kind() == parquet.Int64:
		return v.Int64()
	case v.Kind() == parquet.Boolean:
		return v.Boolean()
	case v.Kind() == parquet.Double:
		return v.Double()
	}
	s := string(v.ByteArray())
	if trimmed := strings.TrimSpace(s); strings.HasPrefix(trimmed, "{") || strings.HasPrefix(trimmed, "[") {
		var doc any
		d := json.NewDecoder(bytes.NewReader(v.ByteArray()))
		d.UseNumber()
		if err := d.Decode(&doc); err == nil {
			return doc
		}
	}
	return s
}

func setMinus(a, b []string) []string {
	in := map[string]int{}
	for _, x := range b {
		in[x]++
	}
	var out []string
	for _, x := range a {
		if in[x] > 0 {
			in[x]--
			continue
		}
		out = append(out, x)
	}
	return out
}
