package emulator

import (
	"time"

	"pcsync/internal/compliance"
)

// Policies lists every policy of the estate, active and inactive.
func (e *Estate) Policies() []compliance.Policy {
	out := make([]compliance.Policy, 0, len(e.policies))
	for i := range e.policies {
		out = append(out, e.policyOf(&e.policies[i]))
	}
	return out
}

func (e *Estate) policyOf(p *policy) compliance.Policy {
	status := "active"
	if !p.active {
		status = "inactive"
	}
	return compliance.Policy{
		ID: p.id, Title: p.title, CreatedBy: p.createdBy, CreatedDate: p.created,
		ModifiedBy: p.createdBy, ModifiedDate: p.modified,
		LastEvaluatedDate: e.Now().Add(-time.Duration(p.idx%6) * time.Hour),
		Status:            status, Locked: p.locked,
	}
}

// Policy returns the policy with the given id.
func (e *Estate) Policy(id int64) (compliance.Policy, bool) {
	i, ok := e.byID[id]
	if !ok {
		return compliance.Policy{}, false
	}
	return e.policyOf(&e.policies[i]), true
}

// covers reports whether policy p covers host idx in the current cycle: the
// host is in the policy's range and has not left it this cycle.
func (e *Estate) covers(p *policy, idx int) bool {
	if (idx-p.hostStart+e.cfg.Hosts)%e.cfg.Hosts >= p.hostCount {
		return false
	}
	c := e.Cycle()
	return c == 0 || e.hash(0xC4A2, uint64(p.idx)<<32|uint64(idx), uint64(c))%100 >= uint64(e.cfg.ChurnPercent)
}

// PolicyHostIDs returns the ids of the hosts policy id covers that were
// scanned on or after lastScan (zero: all), in a stable order, and whether
// the policy exists.
func (e *Estate) PolicyHostIDs(id int64, lastScan time.Time) ([]int64, bool) {
	i, ok := e.byID[id]
	if !ok {
		return nil, false
	}
	p := &e.policies[i]
	ids := make([]int64, 0, p.hostCount)
	for n := 0; n < p.hostCount; n++ {
		idx := (p.hostStart + n) % e.cfg.Hosts
		if !e.covers(p, idx) {
			continue
		}
		if !lastScan.IsZero() {
			hi := e.hostInfo(idx)
			if hi.host.ComplianceLastScanDate.Before(lastScan) {
				continue
			}
		}
		ids = append(ids, HostID(idx))
	}
	return ids, true
}

// Counts returns the number of records and their statuses for policy id over
// all the hosts it covers, without evidence: the figures a complete sync of
// the policy must reach.
func (e *Estate) Counts(id int64) compliance.Counts {
	var c compliance.Counts
	ids, ok := e.PolicyHostIDs(id, time.Time{})
	if !ok {
		return c
	}
	e.EachPosture([]PolicyRequest{{PolicyID: id, HostIDs: ids}}, StreamOptions{}, func(r *compliance.Posture) bool {
		c.Add(r.Status)
		return true
	})
	return c
}
