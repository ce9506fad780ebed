package store

import (
	"slices"
	"strings"
	"time"

	"github.com/valyala/fastjson"

	"pcsync/internal/compliance"
)

// FailingValue is what a failing posture found instead of the expected
// value, the key FailingValues groups by: the unexpected values of its
// cause of failure, else "missing: " and the missing ones, else the current
// values of its evidence, joined by "; " (strings as they are, other JSON
// values as JSON, true and false as 1 and 0, nulls left out); "" when none
// says.
func FailingValue(cause, evidence []byte) string {
	var p fastjson.Parser
	return failingValue(&p, cause, evidence)
}

// MaxFailValue is the longest FailingValue a store keeps with a failing
// posture for the control page's groups; a longer one is not kept, and the
// reader computes it from the posture's documents.
const MaxFailValue = 200

// FailingValues computes FailingValue over and over with one parser (not
// safe for concurrent use).
type FailingValues struct{ parser fastjson.Parser }

// Of is FailingValue(cause, evidence).
func (f *FailingValues) Of(cause, evidence []byte) string {
	return failingValue(&f.parser, cause, evidence)
}

// Kept is the failing value a store keeps with p for the control page's
// groups: ok is false for a posture that is not failing and for a value
// over MaxFailValue bytes (the reader then computes it from the documents).
func (f *FailingValues) Kept(p *compliance.Posture) (v string, ok bool) {
	if p.Status != compliance.StatusFailed {
		return "", false
	}
	v = f.Of(p.CauseOfFailure, p.Evidence)
	return v, len(v) <= MaxFailValue
}

func failingValue(p *fastjson.Parser, cause, evidence []byte) string {
	if v, err := p.ParseBytes(cause); err == nil {
		if s := joinValues(v.GetArray("unexpected")); s != "" {
			return s
		}
		if s := joinValues(v.GetArray("missing")); s != "" {
			return "missing: " + s
		}
	}
	if v, err := p.ParseBytes(evidence); err == nil {
		return joinValues(v.GetArray("currentValues"))
	}
	return ""
}

func joinValues(vs []*fastjson.Value) string {
	var b strings.Builder
	for _, v := range vs {
		var s string
		switch v.Type() {
		case fastjson.TypeNull:
			continue
		case fastjson.TypeString:
			s = string(v.GetStringBytes())
		case fastjson.TypeTrue:
			s = "1"
		case fastjson.TypeFalse:
			s = "0"
		default:
			s = string(v.MarshalTo(nil))
		}
		if b.Len() > 0 {
			b.WriteString("; ")
		}
		b.WriteString(s)
	}
	return b.String()
}

// ValueGroups groups failing postures, given one by one to Add, by
// FailingValue: an implementation's FailingValues streams the postures
// and lets this do the grouping, the same for every store. A control's
// page groups thousands of postures per request, so adding one allocates
// nothing once its group exists: hosts are counted from a list, not a set
// (a store streams one policy's rows by host, so a repeat is the last one
// added, and the lists of rows across policies are sorted once, in Top).
type ValueGroups struct {
	index  map[string]int
	groups []valueGroup
	parser fastjson.Parser
}

type valueGroup struct {
	ValueGroup
	hosts  []int64 // no host twice in a row
	sorted bool    // hosts is in ascending order (so distinct)
	oldest []byte  // OldestFailure in compliance.DateLayout, when it came as text
}

// Add counts one failing posture of host, failing since firstFail, by the
// value its documents give.
func (g *ValueGroups) Add(host int64, firstFail time.Time, cause, evidence []byte) {
	g.AddValue(host, firstFail, failingValue(&g.parser, cause, evidence))
}

// AddValue counts one failing posture of host whose FailingValue is known.
func (g *ValueGroups) AddValue(host int64, firstFail time.Time, v string) {
	vg := g.group([]byte(v))
	vg.addHost(host)
	if !firstFail.IsZero() && (vg.OldestFailure.IsZero() || firstFail.Before(vg.OldestFailure)) {
		vg.OldestFailure, vg.oldest = firstFail, nil
	}
}

// AddText is AddValue for a value and a first failure date as a store
// keeps them in text (compliance.ParseStoredDate; "" for none); neither is
// copied, and the date is read only when it may be its group's oldest.
func (g *ValueGroups) AddText(host int64, firstFail, v []byte) {
	vg := g.group(v)
	vg.addHost(host)
	dateLayout := len(firstFail) == len(compliance.DateLayout) // the one RFC 3339 form of that length
	if len(firstFail) == 0 || dateLayout && vg.oldest != nil && string(firstFail) >= string(vg.oldest) {
		return // DateLayout's text sorts as its time does
	}
	t := compliance.ParseStoredDate(firstFail)
	if t.IsZero() || !vg.OldestFailure.IsZero() && !t.Before(vg.OldestFailure) {
		return
	}
	vg.OldestFailure, vg.oldest = t, nil
	if dateLayout {
		vg.oldest = append(vg.oldest[:0:0], firstFail...)
	}
}

// group is v's group, made on first sight.
func (g *ValueGroups) group(v []byte) *valueGroup {
	if i, ok := g.index[string(v)]; ok {
		return &g.groups[i]
	}
	if g.index == nil {
		g.index = map[string]int{}
	}
	g.index[string(v)] = len(g.groups)
	g.groups = append(g.groups, valueGroup{ValueGroup: ValueGroup{Value: string(v)}, sorted: true})
	return &g.groups[len(g.groups)-1]
}

func (vg *valueGroup) addHost(host int64) {
	vg.Postures++
	if n := len(vg.hosts); n > 0 {
		last := vg.hosts[n-1]
		if last == host {
			return
		}
		vg.sorted = vg.sorted && last < host
	}
	vg.hosts = append(vg.hosts, host)
}

// Top returns at most limit groups, most hosts first (then by value).
func (g *ValueGroups) Top(limit int) []ValueGroup {
	out := make([]ValueGroup, 0, len(g.groups))
	for i := range g.groups {
		vg := &g.groups[i]
		if !vg.sorted {
			slices.Sort(vg.hosts)
			vg.hosts = slices.Compact(vg.hosts)
		}
		vg.Hosts = int64(len(vg.hosts))
		out = append(out, vg.ValueGroup)
	}
	slices.SortFunc(out, func(a, b ValueGroup) int {
		if a.Hosts != b.Hosts {
			return int(b.Hosts - a.Hosts)
		}
		return strings.Compare(a.Value, b.Value)
	})
	return out[:min(len(out), max(limit, 1))]
}
