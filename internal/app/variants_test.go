package app

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"pcsync/internal/emulator"
)

// TestRecordVariantsAreKeptAndExported syncs records in the shapes some
// platforms send (v5 fields on a 1.0 stream, customerId as a string, ""
// dates, currentBatch/totalBatches inside records) and finds every field in
// the export, none rejected.
func TestRecordVariantsAreKeptAndExported(t *testing.T) {
	t.Parallel()
	cfg := emulator.DefaultConfig()
	cfg.Policies, cfg.InactivePolicies, cfg.Hosts, cfg.ControlsPerPolicy = 1, 0, 10, 8
	est, err := emulator.NewEstate(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := emulator.New(emulator.Options{Estate: est, RateCalls: -1, Style: emulator.Style{Variants: true}})
	if err != nil {
		t.Fatal(err)
	}
	url, cert := serveTLS(t, srv)
	db := filepath.Join(t.TempDir(), "v.db")
	code, out, errOut := run(t, "sync", "--config", credentials(t, "emulator"), "--gateway", url, "--ca-cert", cert, "--db", db)
	if code != ExitOK {
		t.Fatalf("sync exited %d\n%s\n%s", code, out, errOut)
	}
	lines := strings.Split(strings.TrimSpace(exportTable(t, db, "postures")), "\n")
	if int64(len(lines)) != est.Counts(est.Policies()[0].ID).Records {
		t.Fatalf("%d postures exported", len(lines))
	}
	emptyDates := 0
	for _, line := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"policyTitle", "controlStatement", "netBios", "rationale", "remediation", "currentBatch", "totalBatches"} {
			if _, ok := rec[k]; !ok {
				t.Fatalf("the export lost %q: %s", k, line)
			}
		}
		if id, ok := rec["customerId"].(float64); !ok || id == 0 {
			t.Fatalf("customerId sent as a string is %v in the export", rec["customerId"])
		}
		if rec["firstFailDate"] == nil || rec["lastPassDate"] == nil {
			emptyDates++
		}
	}
	if emptyDates == 0 {
		t.Fatal(`no record had an unset date; "" dates were not exercised`)
	}
}
