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
	controls map[int64]string
}

func (s *Server) names(ctx context.Context) *names {
	return &names{ctx: ctx, rd: s.rd, hosts: map[int64]string{}, controls: map[int64]string{}}
}

// policy is a policy's title; "" when unknown.
func (n *names) policy(id int64) string {
	if n.policies == nil {
		n.policies = map[int64]string{}
		_ = n.rd.Policies(n.ctx, func(p *compliance.Policy) error { n.policies[p.ID] = p.Title; return nil })
	}
	return n.policies[id]
}

// nameHosts names the host of each row (host gives its id and where its
// name goes: the DNS name, else the address, "" when unknown).
func nameHosts[T any](n *names, rows []T, host func(*T) (int64, *string)) {
	nameRows(n.hosts, rows, host, func(ids []int64) (map[int64]string, error) { return n.rd.HostNames(n.ctx, ids) })
}

// nameControls names the control of each row (control gives its id and
// where its statement goes, "" when unknown).
func nameControls[T any](n *names, rows []T, control func(*T) (int64, *string)) {
	nameRows(n.controls, rows, control, func(ids []int64) (map[int64]string, error) {
		return n.rd.ControlStatements(n.ctx, ids)
	})
}

// nameRows sets the name of each row's id (key gives it and where the name
// goes) from known, after one read of the names of the ids not known yet:
// a page's rows named one read per row (a host with its figures, a policy's
// controls with theirs) cost a fifth to a quarter of the control, host and
// postures pages.
func nameRows[T any](known map[int64]string, rows []T, key func(*T) (int64, *string),
	read func([]int64) (map[int64]string, error)) {
	var missing []int64
	for i := range rows {
		id, _ := key(&rows[i])
		if _, ok := known[id]; !ok {
			missing = append(missing, id)
			known[id] = "" // unknown, unless read below
		}
	}
	if len(missing) > 0 {
		if m, err := read(missing); err == nil {
			maps.Copy(known, m)
		}
	}
	for i := range rows {
		id, name := key(&rows[i])
		*name = known[id]
	}
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
		out[i] = changeLine{StatusChange: c, Policy: n.policy(c.PolicyID)}
	}
	nameHosts(n, out, func(c *changeLine) (int64, *string) { return c.HostID, &c.Host })
	nameControls(n, out, func(c *changeLine) (int64, *string) { return c.ControlID, &c.Control })
	return out
}
