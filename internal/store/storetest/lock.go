package storetest

import (
	"errors"
	"testing"

	"pcsync/internal/store"
)

// testSyncLock: one sync at a time per database; the lock is free again
// once released.
func testSyncLock(t *testing.T, h Harness) {
	ctx := t.Context()
	dsn := h.New(t)
	a, err := h.Open(t, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := h.Open(t, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	release, err := a.AcquireSyncLock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var locked *store.LockedError
	if _, err := b.AcquireSyncLock(ctx); !errors.As(err, &locked) {
		t.Fatalf("a second sync took the lock while the first held it: %v, want a *store.LockedError", err)
	}
	release()
	rb, err := b.AcquireSyncLock(ctx)
	if err != nil {
		t.Fatalf("the lock was not free after its release: %v", err)
	}
	rb()
}

// testSyncLockAfterCrash: a sync killed while it holds the lock does not
// keep the database locked.
func testSyncLockAfterCrash(t *testing.T, h Harness) {
	if dsn, ok := childJob("hold-lock"); ok {
		st, err := h.Open(t, dsn)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.AcquireSyncLock(t.Context()); err != nil {
			t.Fatal(err)
		}
		say("locked")
		waitToBeKilled(t)
		return
	}
	dsn := h.New(t)
	c := startChild(t, "hold-lock", dsn)
	c.expect(t, "locked")
	st, err := h.Open(t, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var locked *store.LockedError
	if _, err := st.AcquireSyncLock(t.Context()); !errors.As(err, &locked) {
		t.Fatalf("the lock held by another process was taken: %v", err)
	}
	c.kill(t)
	release, err := st.AcquireSyncLock(t.Context())
	if err != nil {
		t.Fatalf("the lock of a killed holder was not freed: %v", err)
	}
	release()
}
