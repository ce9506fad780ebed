package server

import (
	"context"
	"strconv"

	"pcsync/internal/compliance"
	"pcsync/internal/store"
)

// names says what the ids of a page's rows stand for (a policy's title, a
// host's name, a control's statement), looking each up once a request.
type names struct {
	ctx      context.Context
	rd       store.Reader
	policies map[int64]string
	hosts    map[int64]string
	controls map[int64]map[int64]string // by policy, then control
}

func (s *Server) names(ctx context.Context) *names {
	return &names{ctx: ctx, rd: s.rd, hosts: map[int64]string{}, controls: map[int64]map[int64]string{}}
}

// policy is a policy's title; "" when unknown.
func (n *names) policy(id int64) string {
	if n.policies == nil {
		n.policies = map[int64]string{}
		_ = n.rd.Policies(n.ctx, func(p *compliance.Policy) error { n.policies[p.ID] = p.Title; return nil })
	}
	return n.policies[id]
}

// host is a host's DNS name, else its address; "" when unknown.
func (n *names) host(id int64) string {
	name, ok := n.hosts[id]
	if !ok {
		if h, err := n.rd.Host(n.ctx, id); err == nil {
			name = h.DNS
			if name == "" {
				name = h.IP
			}
		}
		n.hosts[id] = name
	}
	return name
}

// control is the statement of a control of a policy; "" when unknown. The
// statements of a policy's controls are read together, the first time one
// is asked for: rows of a page mostly share a few policies, and one list
// of a policy's controls costs what a few lookups of one control do.
func (n *names) control(policyID, id int64) string {
	m, ok := n.controls[policyID]
	if !ok {
		m = map[int64]string{}
		_, _ = n.rd.ListPolicyControls(n.ctx, policyID, store.ControlFilter{Criticality: -1, Section: -1}, store.Page{},
			func(c *store.ControlFigures) error { m[c.ControlID] = c.Statement; return nil })
		n.controls[policyID] = m
	}
	return m[id]
}

// policyOptions are the options of a policy filter: every policy, by id.
func (n *names) policyOptions(current int64) []option {
	out := []option{{Value: "", Label: "All policies", Selected: current == 0}}
	_ = n.rd.Policies(n.ctx, func(p *compliance.Policy) error {
		out = append(out, option{Value: strconv.FormatInt(p.ID, 10), Label: p.Title, Selected: p.ID == current})
		return nil
	})
	return out
}

// statusOptions are the options of a status filter.
func statusOptions(current compliance.Status) []option {
	out := []option{{Value: "", Label: "Any status", Selected: current == ""}}
	for _, st := range []compliance.Status{compliance.StatusFailed, compliance.StatusError, compliance.StatusPassed} {
		out = append(out, option{Value: string(st), Label: string(st), Selected: st == current})
	}
	return out
}

// changeLine is a status change with the names of its ids.
type changeLine struct {
	compliance.StatusChange
	Policy, Host, Control string
}

// changeLines names the ids of changes.
func (n *names) changeLines(chs []compliance.StatusChange) []changeLine {
	out := make([]changeLine, len(chs))
	for i, c := range chs {
		out[i] = changeLine{StatusChange: c, Policy: n.policy(c.PolicyID), Host: n.host(c.HostID), Control: n.control(c.PolicyID, c.ControlID)}
	}
	return out
}
