package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"pcsync/internal/compliance"
	"pcsync/internal/store"
)

const postureViewColumns = `p.id, p.instance, p.policy_id, p.control_id, p.technology_id, p.status, coalesce(p.previous_status, ''),
	p.first_fail_date, p.last_fail_date, p.first_pass_date, p.last_pass_date, p.posture_modified_date,
	p.last_evaluated_date, p.created, p.host_id, coalesce(t.name, ''), coalesce(p.criticality_label, ''),
	coalesce(p.criticality_value, 0), p.evidence::text, p.cause_of_failure::text, p.extra::text, e.posture_id IS NOT NULL, ` +
	exceptionColumns

func scanPostureView(row pgx.Rows, v *store.PostureView) error {
	v.Posture = compliance.Posture{}
	p := &v.Posture
	var ev, cf, ex *string
	var hasException bool
	var e compliance.Exception
	err := row.Scan(append([]any{&p.ID, &p.Instance, &p.PolicyID, &p.ControlID, &p.TechnologyID, &p.Status, &p.PreviousStatus,
		dt{&p.FirstFailDate}, dt{&p.LastFailDate}, dt{&p.FirstPassDate}, dt{&p.LastPassDate}, dt{&p.PostureModifiedDate},
		dt{&p.LastEvaluatedDate}, dt{&p.Created}, &p.Host.ID, &p.Technology.Name, &p.Criticality.Label, &p.Criticality.Value,
		&ev, &cf, &ex, &hasException}, exceptionDest(&e)...)...)
	p.Technology.ID = p.TechnologyID
	p.Evidence, p.CauseOfFailure, p.Extra = bytesOf(ev), bytesOf(cf), bytesOf(ex)
	v.Exception = nil
	if hasException {
		v.Exception = &e
	}
	return err
}

// ListPostures lists current postures in (policy, host, control,
// technology, instance, id) order: the order of the index each filter
// uses, so that a page deep in the list is one index seek. A host's
// postures are read policy by policy (hostPolicies), each one range of
// postures_natural, as SQLite reads them: an index led by the host would
// cost its build at the end of every first load (BENCHMARKS.md, issue 15).
func (s *Store) ListPostures(ctx context.Context, f store.PostureFilter, page store.Page, fn func(*store.PostureView) error) (string, error) {
	c, strs, ok, err := store.DecodeCursor("postures", page.After, 5, 1)
	if err != nil {
		return "", err
	}
	policies := []int64{f.Policy}
	if f.Host != 0 && f.Policy == 0 {
		if policies, err = s.hostPolicies(ctx, f.Host, c, ok); err != nil {
			return "", err
		}
	}
	var v store.PostureView
	pg := &pager{page: page}
	for _, policy := range policies {
		f.Policy = policy // the cursor's position leads with its policy: later ones pass it whole
		q, args := posturesQuery(f, c, strs, ok, limit(page))
		err := s.query(ctx, q, func(row pgx.Rows) error {
			if pg.full() {
				return errPageFull
			}
			if err := scanPostureView(row, &v); err != nil {
				return err
			}
			pg.last = store.EncodeCursor("postures", []int64{v.PolicyID, v.Host.ID, v.ControlID, v.TechnologyID, v.ID}, v.Instance)
			return fn(&v)
		}, args...)
		if err != nil {
			return pg.done(err)
		}
	}
	return pg.done(nil)
}

// hostPolicies are the policies a host has postures in, in order, from
// the cursor's on when there is one (ok).
func (s *Store) hostPolicies(ctx context.Context, host int64, c []int64, ok bool) ([]int64, error) {
	from := int64(-1 << 63)
	if ok {
		from = c[0]
	}
	var out []int64
	err := s.query(ctx, `SELECT policy_id FROM counts_host WHERE host_id = $1 AND policy_id >= $2 ORDER BY policy_id`,
		func(row pgx.Rows) error {
			var id int64
			if err := row.Scan(&id); err != nil {
				return err
			}
			out = append(out, id)
			return nil
		}, host, from)
	return out, err
}

// hostFiguresSQL selects hosts with their figures over every policy.
const hostFiguresSQL = `SELECT * FROM (SELECT ` + hostColumns + `,
	coalesce((SELECT sum(passed) FROM counts_host c WHERE c.host_id = h.id), 0)::bigint AS passed,
	coalesce((SELECT sum(failed) FROM counts_host c WHERE c.host_id = h.id), 0)::bigint AS failed,
	coalesce((SELECT sum(errors) FROM counts_host c WHERE c.host_id = h.id), 0)::bigint AS errors,
	h.ip AS hip, h.dns AS hdns, h.os AS hos
	FROM hosts h`

// ListHosts lists hosts with current postures by id, with their figures.
func (s *Store) ListHosts(ctx context.Context, f store.HostFilter, page store.Page, fn func(*store.HostFigures) error) (string, error) {
	after, err := afterID("hosts", page.After)
	if err != nil {
		return "", err
	}
	var q string
	var args []any
	arg := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
	if f.Policy != 0 {
		q = `SELECT * FROM (SELECT ` + hostColumns + `, c.passed AS passed, c.failed AS failed, c.errors AS errors,
			h.ip AS hip, h.dns AS hdns, h.os AS hos
			FROM counts_host c JOIN hosts h ON h.id = c.host_id WHERE c.policy_id = ` + arg(f.Policy) + ` AND c.host_id > ` + arg(after) + `) x`
	} else {
		q = hostFiguresSQL + ` WHERE h.id > ` + arg(after) + `) x`
	}
	where := []string{"passed + failed + errors > 0"}
	switch f.Status {
	case compliance.StatusPassed:
		where = append(where, "passed > 0")
	case compliance.StatusFailed:
		where = append(where, "failed > 0")
	case compliance.StatusError:
		where = append(where, "errors > 0")
	}
	if f.Q != "" {
		like := arg("%" + strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(f.Q) + "%")
		where = append(where, `(hip ILIKE `+like+` OR hdns ILIKE `+like+` OR hos ILIKE `+like+`)`)
	}
	if !f.ScannedBefore.IsZero() {
		where = append(where, `(compliance_last_scan_date < `+arg(f.ScannedBefore.UTC())+` OR compliance_last_scan_date IS NULL)`)
	}
	q += ` WHERE ` + strings.Join(where, " AND ") + ` ORDER BY 1 LIMIT ` + arg(limit(page))
	pg := &pager{page: page}
	return pg.done(s.query(ctx, q, func(row pgx.Rows) error {
		if pg.full() {
			return errPageFull
		}
		var h store.HostFigures
		var ip, dns, os *string
		if err := row.Scan(append(append(hostDest(&h.Host), fig(&h.Figures)...), &ip, &dns, &os)...); err != nil {
			return err
		}
		pg.last = store.EncodeCursor("hosts", []int64{h.ID})
		return fn(&h)
	}, args...))
}

// Host is one host with its figures.
func (s *Store) Host(ctx context.Context, id int64) (*store.HostFigures, error) {
	var h *store.HostFigures
	err := s.query(ctx, hostFiguresSQL+` WHERE h.id = $1) x`, func(row pgx.Rows) error {
		h = &store.HostFigures{}
		var ip, dns, os *string
		return row.Scan(append(append(hostDest(&h.Host), fig(&h.Figures)...), &ip, &dns, &os)...)
	}, id)
	if err == nil && h == nil {
		err = store.ErrNotFound
	}
	return h, err
}

// HostNames names hosts by id: each one's DNS name, else its address.
func (s *Store) HostNames(ctx context.Context, ids []int64) (map[int64]string, error) {
	return s.namesOf(ctx, `SELECT id, coalesce(nullif(dns, ''), ip, '') FROM hosts`, ids)
}

// ControlStatements are the statements of controls by id.
func (s *Store) ControlStatements(ctx context.Context, ids []int64) (map[int64]string, error) {
	return s.namesOf(ctx, `SELECT id, coalesce(statement, '') FROM controls`, ids)
}

// namesOf reads the (id, name) rows of sel whose id is in ids.
func (s *Store) namesOf(ctx context.Context, sel string, ids []int64) (map[int64]string, error) {
	out := make(map[int64]string, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	err := s.query(ctx, sel+` WHERE id = ANY($1)`, func(row pgx.Rows) error {
		var id int64
		var name string
		err := row.Scan(&id, &name)
		out[id] = name
		return err
	}, ids)
	return out, err
}

// HostChanges lists the status changes of a host's postures, latest first.
func (s *Store) HostChanges(ctx context.Context, hostID int64, limit int) ([]compliance.StatusChange, error) {
	var out []compliance.StatusChange
	err := s.query(ctx, `SELECT `+changeColumns+` FROM history WHERE host_id = $1 ORDER BY id DESC LIMIT $2`, func(row pgx.Rows) error {
		c, err := scanChange(row)
		out = append(out, c)
		return err
	}, hostID, max(limit, 1))
	return out, err
}

// posturesQuery is the SQL of a page of postures: the filters, and the
// position after the cursor (c, strs; ok when there is one) written as the
// columns of the index the filter leads with, ending with the id, so that
// PostgreSQL seeks to it.
func posturesQuery(f store.PostureFilter, c []int64, strs []string, ok bool, lim any) (string, []any) {
	where := []string{"p.stale_run IS NULL"}
	var args []any
	arg := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
	eq := func(col string, v int64) {
		if v != 0 {
			where = append(where, col+" = "+arg(v))
		}
	}
	eq("p.policy_id", f.Policy)
	eq("p.host_id", f.Host)
	eq("p.control_id", f.Control)
	eq("p.technology_id", f.Technology)
	if f.Status != "" {
		where = append(where, "p.status = "+arg(string(f.Status)))
	}
	if !f.Since.IsZero() {
		where = append(where, "p.posture_modified_date >= "+arg(f.Since.UTC()))
	}
	if f.Criticality != "" {
		where = append(where, "p.criticality_label = "+arg(f.Criticality))
	}
	if f.Framework != 0 {
		where = append(where, "p.control_id IN (SELECT control_id FROM control_frameworks WHERE framework_id = "+arg(f.Framework)+")")
	}
	if f.Section != 0 {
		where = append(where, "p.control_id IN (SELECT control_id FROM policy_controls WHERE policy_id = "+arg(f.Policy)+
			" AND section_number = "+arg(f.Section)+")")
	}
	if f.Excepted {
		where = append(where, "e.posture_id IS NOT NULL")
	}
	order := "p.policy_id, p.host_id, p.control_id, p.technology_id, p.instance, p.id"
	if f.Control != 0 {
		order = "p.policy_id, p.host_id, p.technology_id, p.instance, p.id"
	}
	if ok { // the key columns after the equality that leads the index used
		vals := map[string]any{"p.policy_id": c[0], "p.host_id": c[1], "p.control_id": c[2], "p.technology_id": c[3],
			"p.id": c[4], "p.instance": strs[0]}
		var ps []string
		for _, col := range strings.Split(order, ", ") {
			ps = append(ps, arg(vals[col]))
		}
		where = append(where, "("+order+") > ("+strings.Join(ps, ", ")+")")
	}
	q := `SELECT ` + postureViewColumns + ` FROM postures p LEFT JOIN technologies t ON t.id = p.technology_id
		LEFT JOIN exceptions e ON e.posture_id = p.id WHERE ` + strings.Join(where, " AND ") + ` ORDER BY ` + order +
		` LIMIT ` + arg(lim)
	return q, args
}
