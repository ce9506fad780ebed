package sqlite

import (
	"path/filepath"
	"testing"
	"time"

	"pcsync/internal/compliance"
	"pcsync/internal/emulator"
	"pcsync/internal/store"
)

// benchRecords generates n realistic posture records (one policy, hosts in
// order, as a PCRS stream delivers them).
func benchRecords(tb testing.TB, n int, evidence bool) []compliance.Posture {
	tb.Helper()
	cfg := emulator.DefaultConfig()
	cfg.Policies, cfg.InactivePolicies, cfg.ControlsPerPolicy, cfg.DBSharePercent = 1, 0, 200, 0
	cfg.Hosts = (n + 199) / 200
	e, err := emulator.NewEstate(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	pol := e.Policies()[0]
	ids, _ := e.PolicyHostIDs(pol.ID, time.Time{})
	out := make([]compliance.Posture, 0, n)
	e.EachPosture([]emulator.PolicyRequest{{PolicyID: pol.ID, HostIDs: ids}}, emulator.StreamOptions{Evidence: evidence},
		func(p *compliance.Posture) bool {
			c := *p
			c.Evidence = append([]byte(nil), p.Evidence...)
			c.CauseOfFailure = append([]byte(nil), p.CauseOfFailure...)
			out = append(out, c)
			return len(out) < n
		})
	return out
}

// BenchmarkWrite measures the store's write path: 10,000-record
// transactions of upserts into a fresh file, indexes included.
func BenchmarkWrite(b *testing.B) {
	for _, ev := range []bool{false, true} {
		name := map[bool]string{false: "no-evidence", true: "evidence"}[ev]
		b.Run(name, func(b *testing.B) {
			const n = 200_000
			recs := benchRecords(b, n, ev)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				b.StopTimer()
				st, err := Open(b.Context(), filepath.Join(b.TempDir(), "bench.db"), Options{})
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				for i := 0; i < n; i += 10_000 {
					if err := st.Write(b.Context(), &store.Batch{RunID: 1, Postures: recs[i:min(i+10_000, n)]}); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				st.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
