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
// and lets this do the grouping, the same for every store.
type ValueGroups struct {
	groups map[string]*valueGroup
	parser fastjson.Parser
}

type valueGroup struct {
	ValueGroup
	hosts map[int64]struct{}
}

// Add counts one failing posture of host, failing since firstFail, by the
// value its documents give.
func (g *ValueGroups) Add(host int64, firstFail time.Time, cause, evidence []byte) {
	g.AddValue(host, firstFail, failingValue(&g.parser, cause, evidence))
}

// AddValue counts one failing posture of host whose FailingValue is known.
func (g *ValueGroups) AddValue(host int64, firstFail time.Time, v string) {
	if g.groups == nil {
		g.groups = map[string]*valueGroup{}
	}
	vg, ok := g.groups[v]
	if !ok {
		vg = &valueGroup{ValueGroup: ValueGroup{Value: v}, hosts: map[int64]struct{}{}}
		g.groups[v] = vg
	}
	vg.hosts[host] = struct{}{}
	vg.Postures++
	if !firstFail.IsZero() && (vg.OldestFailure.IsZero() || firstFail.Before(vg.OldestFailure)) {
		vg.OldestFailure = firstFail
	}
}

// Top returns at most limit groups, most hosts first (then by value).
func (g *ValueGroups) Top(limit int) []ValueGroup {
	out := make([]ValueGroup, 0, len(g.groups))
	for _, vg := range g.groups {
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
