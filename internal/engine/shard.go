package engine

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"

	"pcsync/internal/store"
)

// Shard is one of N parts of a subscription's policies, for several pcsync
// processes that sync one subscription into one database: shard K of N
// takes the policies p with ShardOf(p, N) == K. The zero Shard is every
// policy.
type Shard struct {
	K, N int
}

// ShardOf is the shard (1..n) of a policy: 1 + FNV-1a (32 bits) of the
// policy id as 8 big-endian bytes, modulo n. It is stable across versions
// and machines, so N processes that each take one K split the policies
// with no overlap and no gap.
func ShardOf(policyID int64, n int) int {
	h := fnv.New32a()
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(policyID))
	h.Write(b[:])
	return 1 + int(h.Sum32()%uint32(n))
}

// ParseShard reads "K/N" (1 <= K <= N); "" is no shard.
func ParseShard(s string) (Shard, error) {
	if s == "" {
		return Shard{}, nil
	}
	ks, ns, ok := strings.Cut(s, "/")
	k, kerr := strconv.Atoi(ks)
	n, nerr := strconv.Atoi(ns)
	if !ok || kerr != nil || nerr != nil || n < 1 || k < 1 || k > n {
		return Shard{}, fmt.Errorf("shard %q: use K/N with 1 <= K <= N, e.g. 1/3", s)
	}
	return Shard{K: k, N: n}, nil
}

// Owns says whether the shard takes policy id.
func (s Shard) Owns(policyID int64) bool {
	return s.N <= 1 || ShardOf(policyID, s.N) == s.K
}

// String is "K/N", or "" for no shard.
func (s Shard) String() string {
	if s.N == 0 {
		return ""
	}
	return fmt.Sprintf("%d/%d", s.K, s.N)
}

// lockPolicies takes the store's lock on each policy a sharded run writes,
// held until the run ends; a policy another process holds stops the run
// with the store's *store.LockedError. Unsharded runs hold the whole
// database's sync lock and need none.
func (r *run) lockPolicies(ctx context.Context, ids []int64) error {
	pl, ok := r.e.store.(store.PolicyLocker)
	if !ok || r.opts.Shard.N == 0 || len(ids) == 0 {
		return nil
	}
	release, err := pl.LockPolicies(ctx, ids)
	if err != nil {
		var locked *store.LockedError
		if errors.As(err, &locked) {
			return err
		}
		return &StoreError{err}
	}
	r.unlock = append(r.unlock, release)
	return nil
}

func (r *run) unlockPolicies() {
	for _, f := range r.unlock {
		f()
	}
	r.unlock = nil
}
