package qualys

import (
	"bytes"
	"io"
	"testing"

	"pcsync/internal/compliance"
	"pcsync/internal/emulator"
)

// benchStream renders n records of a generated estate as the PCRS stream body.
func benchStream(tb testing.TB, evidence bool) ([]byte, int) {
	tb.Helper()
	cfg := emulator.DefaultConfig()
	cfg.Policies, cfg.InactivePolicies, cfg.Hosts, cfg.ControlsPerPolicy = 1, 0, 200, 100
	e, err := emulator.NewEstate(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	pol := e.Policies()[0]
	ids, _ := e.PolicyHostIDs(pol.ID, zeroTime)
	var buf bytes.Buffer
	n, err := e.WritePosture(&buf, []emulator.PolicyRequest{{PolicyID: pol.ID, HostIDs: ids}}, emulator.StreamOptions{Evidence: evidence})
	if err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes(), n
}

func benchmarkDecode(b *testing.B, evidence bool) {
	data, n := benchStream(b, evidence)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	d := newRecordDecoder()
	var rec compliance.Posture
	b.ResetTimer()
	for b.Loop() {
		ar := newArrayReader(bytes.NewReader(data))
		got := 0
		for {
			elem, err := ar.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			if err := d.decode(elem, &rec); err != nil {
				b.Fatal(err)
			}
			got++
		}
		if got != n {
			b.Fatalf("decoded %d records, want %d", got, n)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkDecodePosture measures splitting and decoding a PCRS stream
// (decompressed) one record at a time.
func BenchmarkDecodePosture(b *testing.B) {
	b.Run("no-evidence", func(b *testing.B) { benchmarkDecode(b, false) })
	b.Run("evidence", func(b *testing.B) { benchmarkDecode(b, true) })
}
