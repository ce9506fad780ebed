package engine_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"pcsync/internal/emulator"
	"pcsync/internal/engine"
	"pcsync/internal/qualys"
)

// TestAnOversizeRecordFailsItsBatchOnly: a record larger than
// qualys.MaxRecordBytes (plain), or one that makes a gzip body expand past
// qualys.MaxGzipRatio, stops its stream with an error naming the limit;
// that batch is not fetched again (it would repeat the same bytes), every
// other batch is stored, and the run ends incomplete.
func TestAnOversizeRecordFailsItsBatchOnly(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		compression bool
		limit       string
	}{{false, "64 MiB (qualys.MaxRecordBytes)"}, {true, "200 times its compressed size (qualys.MaxGzipRatio)"}} {
		t.Run(tc.limit, func(t *testing.T) {
			t.Parallel()
			oversize(t, tc.compression, tc.limit)
		})
	}
}

func oversize(t *testing.T, compression bool, limit string) {
	estate := testEstate(t)
	env := startEmulator(t, estate, emulator.Options{RateCalls: -1,
		Faults: emulator.Faults{OversizeRecord: qualys.MaxRecordBytes + 1<<20, OversizeStreams: 1}})
	st := openStore(t)
	res, err := engine.New(env.client(t, nil), st, nil).Run(t.Context(), complete(engine.Options{HostsPerRequest: 8, Concurrency: 1, Compression: compression}))
	if !errors.Is(err, engine.ErrIncomplete) {
		t.Fatalf("run: %v; want an incomplete run", err)
	}
	failed := 0
	for _, p := range res.Policies {
		if p.Error != "" {
			failed++
			if !strings.Contains(p.Error, limit) {
				t.Fatalf("policy %d: %q does not name the limit", p.PolicyID, p.Error)
			}
		}
	}
	batches := int(res.Run.Batches)
	if failed != 1 || env.server.Calls("postureInfo") != batches {
		t.Fatalf("%d policies failed, %d postureInfo calls for %d batches; want 1 failed and no batch fetched twice",
			failed, env.server.Calls("postureInfo"), batches)
	}
	var want int64
	for _, p := range estate.Policies() {
		if p.Active() {
			want += estate.Counts(p.ID).Records
		}
	}
	if got := int64(len(exported(t, st))); got >= want || got < want*2/3 {
		t.Fatalf("%d postures stored of %d: the other batches must be stored, the refused one not whole", got, want)
	}
}

// TestTransactionsAreBoundedBySize: with TxBytes set, a transaction
// gathers records of about that many bytes of JSON however many records
// TxRecords allows (the last chunk, of at most a quarter of TxBytes, may
// cross it), so records with large evidence make transactions smaller, not
// memory larger; and every record is still stored as the emulator served
// it.
func TestTransactionsAreBoundedBySize(t *testing.T) {
	t.Parallel()
	estate := testEstate(t)
	env := startEmulator(t, estate, emulator.Options{RateCalls: -1})
	st := openStore(t)
	var txs txLog
	const txBytes = 16 << 10
	res, err := engine.New(env.client(t, nil), st, slog.New(&txs)).Run(t.Context(), complete(engine.Options{
		HostsPerRequest: 7, Concurrency: 2, Evidence: true, Compression: true,
		TxRecords: 1000, ChunkRecords: 500, TxBytes: txBytes}))
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	sameAsServed(t, expected(t, estate, emulator.StreamOptions{Evidence: true}), exported(t, st))
	perRecord := res.Run.DataBytes / res.Run.Records
	bound := 2 * (txBytes + txBytes/4) / perRecord // records differ in size: twice the mean's count
	sizes := txs.records()
	if len(sizes) < 2 || slices.Max(sizes) > bound {
		t.Fatalf("transactions of %v records (%d bytes of JSON a record): want none over %d", sizes, perRecord, bound)
	}
	t.Logf("%d transactions of at most %d records, %d bytes of JSON a record", len(sizes), slices.Max(sizes), perRecord)
}

// txLog keeps the record count of each "transaction committed" debug line.
type txLog struct {
	mu    sync.Mutex
	sizes []int64
}

func (h *txLog) Enabled(context.Context, slog.Level) bool { return true }
func (h *txLog) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *txLog) WithGroup(string) slog.Handler            { return h }

func (h *txLog) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "transaction committed" {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "records" {
			h.mu.Lock()
			h.sizes = append(h.sizes, a.Value.Int64())
			h.mu.Unlock()
		}
		return true
	})
	return nil
}

func (h *txLog) records() []int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.sizes)
}
