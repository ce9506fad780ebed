package engine_test

import (
	"errors"
	"strings"
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
