package server

import (
	"context"
	"maps"
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

// hostsOf reads the names of the hosts ids that are not known yet (each
// one's DNS name, else its address; "" when unknown), in one read: a host
// looked up alone per row cost a fifth of the control page.
func (n *names) hostsOf(ids []int64) {
	var missing []int64
	for _, id := range ids {
		if _, ok := n.hosts[id]; !ok {
			missing = append(missing, id)
			n.hosts[id] = "" // unknown, unless read below
		}
	}
	if len(missing) == 0 {
		return
	}
	if m, err := n.rd.HostNames(n.ctx, missing); err == nil {
		maps.Copy(n.hosts, m)
	}
}

// nameHosts names the host of each row (host gives its id and where its
// name goes), the names read in one go.
func nameHosts[T any](n *names, rows []T, host func(*T) (int64, *string)) {
	ids := make([]int64, len(rows))
	for i := range rows {
		ids[i], _ = host(&rows[i])
	}
	n.hostsOf(ids)
	for i := range rows {
		id, name := host(&rows[i])
		*name = n.hosts[id]
	}
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
		out[i] = changeLine{StatusChange: c, Policy: n.policy(c.PolicyID), Control: n.control(c.PolicyID, c.ControlID)}
	}
	nameHosts(n, out, func(c *changeLine) (int64, *string) { return c.HostID, &c.Host })
	return out
}
