package emulator

import (
	"fmt"
	"iter"
	"math/bits"
	"time"

	"pcsync/internal/compliance"
)

// The estate's shape: how a large subscription differs from a tidy one.
// Config.Shuffle, Config.ScatterIDs and Config.HostChurn are off by
// default, so the default estate is unchanged; `pcsync bench --shape` turns
// them on (BENCHMARKS.md).

// postureID is the record id of policy p, host idx, control slot k and
// instance slot i. By default ids are grouped by policy, then host; with
// ScatterIDs the ids of all policies interleave (id = slot x policies +
// policy), so that neither a policy nor a host has a range of its own, as
// with ids a vendor hands out over years. Within a policy, ids still rise
// with the host's position in the policy, so id_min paging works.
func (e *Estate) postureID(p *policy, idx, k, i int) int64 {
	if !e.cfg.ScatterIDs {
		return postureIDBase + ((int64(p.idx)*int64(e.cfg.Hosts)+int64(idx))*int64(e.cfg.ControlsPerPolicy)+int64(k))*maxInstances + int64(i)
	}
	pos := int64((idx - p.hostStart + e.cfg.Hosts) % e.cfg.Hosts)
	slot := (pos*int64(e.cfg.ControlsPerPolicy)+int64(k))*maxInstances + int64(i)
	return postureIDBase + slot*int64(len(e.policies)) + int64(p.idx)
}

// hostsByID yields the hosts of policy p in the order of their record ids,
// starting at (or a little before) the host of record id idMin.
func (e *Estate) hostsByID(p *policy, idMin int64) iter.Seq[int] {
	per := int64(e.cfg.ControlsPerPolicy) * maxInstances
	return func(yield func(int) bool) {
		if e.cfg.ScatterIDs {
			start := 0
			if idMin > postureIDBase {
				start = int(min((idMin-postureIDBase)/int64(len(e.policies))/per, int64(p.hostCount)))
			}
			for pos := start; pos < p.hostCount; pos++ {
				if idx := (p.hostStart + pos) % e.cfg.Hosts; e.covers(p, idx) && !yield(idx) {
					return
				}
			}
			return
		}
		start := 0
		if idMin > postureIDBase {
			start = max(0, int((idMin-postureIDBase)/per-int64(p.idx)*int64(e.cfg.Hosts)))
		}
		for idx := start; idx < e.cfg.Hosts; idx++ {
			if e.covers(p, idx) && !yield(idx) {
				return
			}
		}
	}
}

// churnHost gives the host of a record the attributes of the rescan the
// record was evaluated in (HostChurn): one of three, by the record's id.
// The newest rescan carries the host's real attributes; the two before it
// were 20 and 40 minutes earlier, from another address and DNS name.
func (e *Estate) churnHost(h *compliance.Host, id int64) {
	older := int(e.hash(0x5CA7, uint64(id), 0) % 3) // rescans before the newest
	if older == 0 {
		return
	}
	h.ComplianceLastScanDate = h.ComplianceLastScanDate.Add(-time.Duration(older) * 20 * time.Minute)
	h.IP = fmt.Sprintf("10.%d.%d.%d", 200+older, (h.ID/250)%250, h.ID%250+1)
	if h.DNS != "" {
		h.DNS = fmt.Sprintf("dhcp%d-%s", older, h.DNS)
	}
}

// eachShuffled calls fn for the records of one policy request in an order
// fixed by the seed but unrelated to host, control or id (Shuffle): a
// permutation of the request's record slots (host x control x instance),
// walked one slot at a time, so nothing is held but the current record.
func (e *Estate) eachShuffled(p *policy, hostIDs []int64, opts StreamOptions, g *recordGen, fn func(*compliance.Posture) bool) bool {
	per := len(p.controls) * maxInstances
	perm := newPermutation(uint64(len(hostIDs)*per), e.hash(0x5A0F, uint64(p.idx), uint64(len(hostIDs))))
	for n := range perm.size {
		slot := int(perm.at(n))
		idx := e.hostIndex(hostIDs[slot/per])
		if idx < 0 || !e.covers(p, idx) {
			continue
		}
		k, inst := slot%per/maxInstances, slot%maxInstances
		hi := e.hostInfo(idx)
		if !opts.Filters.hostOK(&hi.host) {
			continue
		}
		r := g.record(p, &hi, k, inst)
		if r == nil || !opts.Filters.recordOK(r) {
			continue
		}
		if !fn(r) {
			return false
		}
	}
	return true
}

// permutation is a bijection of [0, size), a four-round Feistel network on
// the smallest even number of bits that covers size, walked in cycles until
// it lands inside.
type permutation struct {
	size, mask uint64
	half       uint
	key        uint64
}

func newPermutation(size, key uint64) permutation {
	b := uint(bits.Len64(max(size, 4) - 1))
	b += b & 1
	return permutation{size: size, mask: 1<<(b/2) - 1, half: b / 2, key: key}
}

func (p permutation) at(i uint64) uint64 {
	for {
		l, r := i>>p.half, i&p.mask
		for round := range uint64(4) {
			l, r = r, l^(mix(r^p.key^round<<56)&p.mask)
		}
		i = l<<p.half | r
		if i < p.size {
			return i
		}
	}
}
