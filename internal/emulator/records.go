package emulator

import (
	"fmt"
	"strconv"
	"time"

	"pcsync/internal/compliance"
	"pcsync/internal/jsonenc"
)

// hostInfo is one generated host with what the generator needs besides the
// fields a record carries.
type hostInfo struct {
	idx        int
	host       compliance.Host
	tech       compliance.Technology
	sids       []string      // Oracle instance names, evaluated by database controls
	scanOffset time.Duration // how long before cycle 0's time the host was scanned (up to 48 h)
	cycleScan  time.Duration // how long before each later cycle's time (up to 1 h)
}

// HostCount is the number of hosts in the subscription.
func (e *Estate) HostCount() int { return e.cfg.Hosts }

// HostID is the Qualys host id of the host with index idx.
func HostID(idx int) int64 { return hostIDBase + int64(idx) }

// hostIndex maps a host id back to its index, or -1 if the estate has no such host.
func (e *Estate) hostIndex(id int64) int {
	idx := id - hostIDBase
	if idx < 0 || idx >= int64(e.cfg.Hosts) {
		return -1
	}
	return int(idx)
}

func (e *Estate) hostInfo(idx int) hostInfo {
	h := e.hash(0x4057, uint64(idx), 0)
	g := e.hash(0x4057, uint64(idx), 1)
	pick := int(h % 100)
	var ot osTech
	for _, t := range osTechs {
		if pick < t.share {
			ot = t
			break
		}
		pick -= t.share
	}
	tm := trackingMethods[0].name
	pick = int((h >> 8) % 100)
	for _, t := range trackingMethods {
		if pick < t.share {
			tm = t.name
			break
		}
		pick -= t.share
	}
	net := networks[0]
	if (h>>16)%100 >= 60 {
		net = networks[1+int((h>>24)%uint64(len(networks)-1))]
	}
	hi := hostInfo{
		idx:        idx,
		tech:       compliance.Technology{ID: ot.id, Name: ot.name},
		scanOffset: time.Duration((h>>32)%(48*3600)) * time.Second,
		cycleScan:  time.Duration((h>>32)%3600) * time.Second,
	}
	hi.host = compliance.Host{
		ID:             HostID(idx),
		IP:             fmt.Sprintf("10.%d.%d.%d", 10+idx/62500, (idx/250)%250, idx%250+1),
		TrackingMethod: tm,
		OS:             ot.os,
		OSCPE:          ot.cpe,
		QGHostID:       uuidFrom(g),
		NetworkID:      net.id,
		NetworkName:    net.name,
		CustomerUUID:   e.customerUUID,
		CustomerID:     e.customerID,
		AssetID:        50_000_000 + int64(idx)*3 + int64(g%3),
	}
	if (g>>8)%100 >= 10 { // one host in ten has no DNS name
		role := [...]string{"web", "app", "db", "dc", "file"}[(g>>16)%5]
		hi.host.DNS = fmt.Sprintf("%s%05d.corp.example.com", role, idx)
	}
	hi.host.ComplianceLastScanDate = e.Now().Add(-hi.offset(e.Cycle()))
	if int((g>>24)%100) < e.cfg.DBSharePercent {
		n := 1 + int((g>>32)%dbSlots)
		for s := 0; s < n; s++ {
			hi.sids = append(hi.sids, fmt.Sprintf("oracle19:%d:%d:%s", s+1, 1521+s, oracleSIDs[(idx+s)%len(oracleSIDs)]))
		}
	}
	return hi
}

// offset is how long before cycle c's time the host was scanned in it.
func (hi *hostInfo) offset(c int) time.Duration {
	if c == 0 {
		return hi.scanOffset
	}
	return hi.cycleScan
}

// timeline is a record's status history reduced to what a record shows.
type timeline struct {
	status, previous                         compliance.Status
	firstFail, lastFail, firstPass, lastPass time.Time
	modified, evaluated                      time.Time
}

func flip(s compliance.Status) compliance.Status {
	if s == compliance.StatusPassed {
		return compliance.StatusFailed
	}
	return compliance.StatusPassed
}

// timeline replays a record's history from its creation through every scan
// cycle so far: an initial status, perhaps an earlier change, and a flip in
// some cycles.
func (e *Estate) timeline(id int64, created time.Time, hi *hostInfo) timeline {
	h := e.hash(0x57A7, uint64(id), 0)
	var t timeline
	cur := compliance.StatusPassed
	switch pick := h % 100; {
	case pick < 3:
		cur = compliance.StatusError
	case pick < 28:
		cur = compliance.StatusFailed
	}
	start := created
	var prev compliance.Status
	end := func(s compliance.Status, from, to time.Time) {
		last := to.Add(-24 * time.Hour)
		if last.Before(from) {
			last = from
		}
		switch s {
		case compliance.StatusPassed:
			if t.firstPass.IsZero() {
				t.firstPass = from
			}
			t.lastPass = last
		case compliance.StatusFailed:
			if t.firstFail.IsZero() {
				t.firstFail = from
			}
			t.lastFail = last
		}
	}
	change := func(next compliance.Status, at time.Time) {
		end(cur, start, at)
		prev, cur, start = cur, next, at
	}
	eval0 := e.cycles[0].Add(-hi.offset(0))
	if cur != compliance.StatusError && (h>>12)%100 < 40 {
		// the record was created with the other status and changed once
		frac := time.Duration((h >> 20) % 1000)
		at := created.Add(eval0.Sub(created) * frac / 1000).Truncate(time.Second)
		first := flip(cur)
		cur, prev = first, ""
		change(flip(first), at)
	}
	for c := 1; c < len(e.cycles); c++ {
		if e.hash(0x57A7, uint64(id), uint64(c))%1000 < uint64(e.cfg.FlipPermille) {
			change(flip(cur), e.cycles[c].Add(-hi.offset(c)))
		}
	}
	t.evaluated = e.Now().Add(-hi.offset(e.Cycle()))
	switch cur {
	case compliance.StatusPassed:
		if t.firstPass.IsZero() {
			t.firstPass = start
		}
		t.lastPass = t.evaluated
	case compliance.StatusFailed:
		if t.firstFail.IsZero() {
			t.firstFail = start
		}
		t.lastFail = t.evaluated
	}
	t.status, t.previous, t.modified = cur, prev, start
	return t
}

// recordGen fills posture records for one policy and host, reusing its buffers.
type recordGen struct {
	e        *Estate
	evidence bool
	extended bool // add the fields newer API versions carry (policyTitle, ...)
	rec      compliance.Posture
	// the values behind Evidence and CauseOfFailure, for the classic API
	expected, current, missing, unexpected []string
	evBuf                                  []byte
	cfBuf                                  []byte
	exBuf                                  []byte
}

// eachRecord calls fn for every record of policy p on host hi, in control
// order, and stops early when fn returns false.
func (g *recordGen) eachRecord(p *policy, hi *hostInfo, fn func(*compliance.Posture) bool) bool {
	for k := range p.controls {
		for i := range maxInstances {
			if r := g.record(p, hi, k, i); r != nil && !fn(r) {
				return false
			}
		}
	}
	return true
}

// record fills the record of control slot k and instance slot i on host
// hi: slot 0 is the OS, slots 1-3 the host's database instances. It
// returns nil for a slot the host does not have.
func (g *recordGen) record(p *policy, hi *hostInfo, k, i int) *compliance.Posture {
	if !p.controls[k].db {
		if i != 0 {
			return nil
		}
		return g.fill(p, hi, k, 0, "os", hi.tech)
	}
	if i == 0 || i > len(hi.sids) {
		return nil
	}
	return g.fill(p, hi, k, i, hi.sids[i-1], compliance.Technology{ID: dbTech.id, Name: dbTech.name})
}

func (g *recordGen) fill(p *policy, hi *hostInfo, k, slot int, instance string, tech compliance.Technology) *compliance.Posture {
	e, c := g.e, &p.controls[k]
	id := e.postureID(p, hi.idx, k, slot)
	h := e.hash(0xC4EA7, uint64(id), 0)
	created := e.cycles[0].Add(-time.Duration(30*24*3600+h%(370*24*3600)) * time.Second)
	t := e.timeline(id, created, hi)
	r := &g.rec
	*r = compliance.Posture{
		ID: id, Instance: instance, PolicyID: p.id, ControlID: c.id, TechnologyID: tech.ID,
		Status: t.status, PreviousStatus: t.previous,
		FirstFailDate: t.firstFail, LastFailDate: t.lastFail, FirstPassDate: t.firstPass, LastPassDate: t.lastPass,
		PostureModifiedDate: t.modified, LastEvaluatedDate: t.evaluated, Created: created,
		Host: hi.host, Technology: tech, Criticality: c.criticality,
	}
	if e.cfg.HostChurn {
		e.churnHost(&r.Host, id)
	}
	topic := &controlTopics[c.topic]
	g.expected = topic.expected
	if g.evidence {
		g.current = evidenceLines(g.current, topic.current, id, h)
		g.evBuf = appendEvidence(g.evBuf[:0], g.expected, g.current)
		r.Evidence = g.evBuf
	}
	g.missing, g.unexpected = nil, nil
	if t.status == compliance.StatusFailed {
		g.missing, g.unexpected = topic.expected[:1], topic.current[int(h>>40)%len(topic.current):][:1]
		g.cfBuf = append(g.cfBuf[:0], `{"missing":`...)
		g.cfBuf = jsonenc.AppendStrings(g.cfBuf, g.missing)
		g.cfBuf = append(g.cfBuf, `,"unexpected":`...)
		g.cfBuf = jsonenc.AppendStrings(g.cfBuf, g.unexpected)
		g.cfBuf = append(g.cfBuf, '}')
		r.CauseOfFailure = g.cfBuf
	}
	if g.extended {
		g.exBuf = append(g.exBuf[:0], `{"policyTitle":`...)
		g.exBuf = jsonenc.AppendString(g.exBuf, p.title)
		g.exBuf = append(g.exBuf, `,"controlStatement":`...)
		g.exBuf = jsonenc.AppendString(g.exBuf, topic.statement)
		g.exBuf = append(g.exBuf, `,"netBios":`...)
		if hi.host.TrackingMethod == "NETBIOS" {
			g.exBuf = jsonenc.AppendString(g.exBuf, fmt.Sprintf("HOST%05d", hi.idx))
		} else {
			g.exBuf = append(g.exBuf, "null"...)
		}
		g.exBuf = append(g.exBuf, '}')
		r.Extra = g.exBuf
	}
	return r
}

// evidenceLines returns the current values found on the host: the
// control's, padded with configuration lines so that a record with evidence
// weighs about 1.7 KB as JSON.
func evidenceLines(dst, current []string, id int64, h uint64) []string {
	dst = append(dst[:0], current...)
	lines := 6 + int(h>>50)%5
	for i := 0; i < lines; i++ {
		dst = append(dst, "/etc/pcsync/evidence.d/"+strconv.FormatInt(id%997, 10)+".conf:"+strconv.Itoa(i+1)+
			": setting_"+strconv.Itoa(i)+` = "value with spaces, a tab\t and a backslash \\" # managed`)
	}
	return dst
}

// appendEvidence writes the evidence object of a PCRS record.
func appendEvidence(b []byte, expected, current []string) []byte {
	b = append(b, `{"expectedValues":`...)
	b = jsonenc.AppendStrings(b, expected)
	b = append(b, `,"currentValues":`...)
	b = jsonenc.AppendStrings(b, current)
	return append(b, '}')
}
