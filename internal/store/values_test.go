package store_test

import (
	"testing"
	"time"

	"pcsync/internal/store"
)

// TestValueGroupsCountEachHostOnce: a store streams a control's failing
// postures policy by policy, each policy's by host, so a host comes back
// once per policy it fails in and once per technology or instance within
// one. Every host counts once in its group, the postures every time, and
// the oldest failure is the earliest date given, as text or as a time.
func TestValueGroupsCountEachHostOnce(t *testing.T) {
	day := func(d int) time.Time { return time.Date(2026, 11, d, 8, 0, 0, 0, time.UTC) }
	text := func(d int) []byte { return []byte(day(d).Format("2006-01-02T15:04:05Z")) }
	var g store.ValueGroups
	// Policy 1: hosts 3 (twice: two instances), 5 and 9; policy 2: hosts 1, 5 and 9 again.
	g.AddText(3, text(20), []byte("99999"))
	g.AddText(3, text(12), []byte("99999"))
	g.AddText(5, text(25), []byte("99999"))
	g.AddText(9, nil, []byte("missing: PASS_MAX_DAYS"))
	g.AddText(1, text(18), []byte("99999"))
	g.AddText(5, text(14), []byte("99999"))
	g.AddValue(9, day(3), "missing: PASS_MAX_DAYS")
	g.AddText(9, []byte("2026-11-01T08:00:00.5+00:00"), []byte("missing: PASS_MAX_DAYS"))
	want := []store.ValueGroup{
		{Value: "99999", Hosts: 3, Postures: 5, OldestFailure: day(12)},
		{Value: "missing: PASS_MAX_DAYS", Hosts: 1, Postures: 3, OldestFailure: day(1).Add(500 * time.Millisecond)},
	}
	got := g.Top(10)
	if len(got) != len(want) {
		t.Fatalf("groups %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].Value != want[i].Value || got[i].Hosts != want[i].Hosts || got[i].Postures != want[i].Postures ||
			!got[i].OldestFailure.Equal(want[i].OldestFailure) {
			t.Errorf("group %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	if top := g.Top(1); len(top) != 1 || top[0].Value != "99999" {
		t.Errorf("Top(1) = %+v, want the group of most hosts", top)
	}
}
