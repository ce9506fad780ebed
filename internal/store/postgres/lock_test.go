package postgres

import (
	"errors"
	"strings"
	"testing"

	"pcsync/internal/store"
	"pcsync/internal/store/pgtest"
)

// Shards run side by side but never beside an unsharded sync, each shard
// once; a policy is locked by one process at a time, and the policies of
// a holder whose session ended can be taken over.
func TestShardAndPolicyLocks(t *testing.T) {
	dsn := pgtest.New(t)
	open := func(shard string) *Store {
		t.Helper()
		st, err := Open(t.Context(), dsn, Options{Shard: shard})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	locked := func(what string, err error) {
		t.Helper()
		var le *store.LockedError
		if !errors.As(err, &le) {
			t.Fatalf("%s: %v, want a *store.LockedError", what, err)
		}
	}
	a, b, again, whole := open("1/2"), open("2/2"), open("1/2"), open("")
	ra, err := a.AcquireSyncLock(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	rb, err := b.AcquireSyncLock(t.Context())
	if err != nil {
		t.Fatalf("a second shard beside the first: %v", err)
	}
	_, err = again.AcquireSyncLock(t.Context())
	locked("shard 1/2 twice", err)
	_, err = whole.AcquireSyncLock(t.Context())
	locked("an unsharded sync beside shards", err)

	pa, err := a.LockPolicies(t.Context(), []int64{7, 3})
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.LockPolicies(t.Context(), []int64{1, 7})
	locked("a policy another shard holds", err)
	if !strings.Contains(err.Error(), "policy 7") {
		t.Fatalf("the refusal does not name the policy: %v", err)
	}
	pb, err := b.LockPolicies(t.Context(), []int64{1})
	if err != nil {
		t.Fatalf("policy 1 was left locked by the refused attempt: %v", err)
	}
	pb()
	// the holder dies: its sessions end (as when its process is killed)
	pgtest.Exec(t, dsn, `SELECT pg_terminate_backend(l.pid) FROM pg_locks l WHERE l.locktype = 'advisory'
		AND (l.classid::bigint << 32) | l.objid::bigint IN (`+keyOf("policy 7")+`, `+keyOf("shard 1/2")+`)`)
	pb, err = b.LockPolicies(t.Context(), []int64{7, 3})
	if err != nil {
		t.Fatalf("the policies of a holder that is gone were not taken over: %v", err)
	}
	pb()
	pa()
	ra()
	rb()
	rw, err := whole.AcquireSyncLock(t.Context())
	if err != nil {
		t.Fatalf("the unsharded sync once the shards ended: %v", err)
	}
	rw()
}

// keyOf is the SQL of the advisory lock key of name in the test's schema.
func keyOf(name string) string {
	return strings.ReplaceAll(lockKey, "$1::text", "'"+name+"'")
}
