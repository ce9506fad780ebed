package sqlite

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/ncruces/go-sqlite3"

	"pcsync/internal/compliance"
	"pcsync/internal/store"
)

const postureViewColumns = `p.id, p.instance, p.policy_id, p.control_id, p.technology_id, p.status, p.previous_status,
	p.first_fail_date, p.last_fail_date, p.first_pass_date, p.last_pass_date, p.posture_modified_date,
	p.last_evaluated_date, p.created, p.host_id, coalesce(t.name, ''), p.criticality_label, p.criticality_value,
	ev.evidence, p.cause_of_failure, p.extra,
	e.posture_id IS NOT NULL, e.assignee, e.status, e.comments, e.created_by, e.created_date, e.modified_by,
	e.modified_date, e.end_date`

func scanPostureView(st *sqlite3.Stmt, v *store.PostureView) {
	v.Posture = compliance.Posture{
		ID: st.ColumnInt64(0), Instance: st.ColumnText(1), PolicyID: st.ColumnInt64(2), ControlID: st.ColumnInt64(3),
		TechnologyID: st.ColumnInt64(4), Status: compliance.Status(st.ColumnText(5)), PreviousStatus: compliance.Status(st.ColumnText(6)),
		FirstFailDate: date(st, 7), LastFailDate: date(st, 8), FirstPassDate: date(st, 9), LastPassDate: date(st, 10),
		PostureModifiedDate: date(st, 11), LastEvaluatedDate: date(st, 12), Created: date(st, 13),
		Host:        compliance.Host{ID: st.ColumnInt64(14)},
		Criticality: compliance.Criticality{Label: st.ColumnText(16), Value: st.ColumnInt64(17)},
		Evidence:    rawJSON(st, 18, nil), CauseOfFailure: rawJSON(st, 19, nil), Extra: rawJSON(st, 20, nil),
	}
	v.Technology = compliance.Technology{ID: v.TechnologyID, Name: st.ColumnText(15)}
	v.Exception = nil
	if st.ColumnBool(21) {
		v.Exception = &compliance.Exception{Assignee: st.ColumnText(22), Status: st.ColumnText(23), Comments: st.ColumnText(24),
			CreatedBy: st.ColumnText(25), CreatedDate: date(st, 26), ModifiedBy: st.ColumnText(27), ModifiedDate: date(st, 28),
			EndDate: date(st, 29)}
	}
}

// ListPostures lists current postures in (policy, host, control,
// technology, instance, id) order: the order of the index each filter
// uses, so that a page deep in the list is one index seek.
func (s *Store) ListPostures(ctx context.Context, f store.PostureFilter, page store.Page, fn func(*store.PostureView) error) (string, error) {
	c, ok, err := decodeCursor("postures", page.After, 5, 1)
	if err != nil {
		return "", err
	}
	var after *cursor
	if ok {
		after = &c
	}
	q, args := posturesQuery(f, after)
	args = append(args, limit(page))
	var v store.PostureView
	pg := &pager{page: page}
	return pg.done(s.query(ctx, q, func(st *sqlite3.Stmt) error {
		if pg.full() {
			return errPageFull
		}
		scanPostureView(st, &v)
		pg.mark("postures", []int64{v.PolicyID, v.Host.ID, v.ControlID, v.TechnologyID, v.ID}, v.Instance)
		return fn(&v)
	}, args...))
}

// posturesQuery is the SQL of a page of postures (its LIMIT the last
// parameter, for the caller to add): the filters, and the keyset position
// after c written as the columns of the index the filter leads with
// (postures_control for a control's, else postures_natural, a host's
// postures read as one range per policy of the host), so that SQLite seeks
// to it.
func posturesQuery(f store.PostureFilter, c *cursor) (string, []any) {
	where := []string{"p.stale_run IS NULL"}
	var args []any
	eq := func(col string, v int64) {
		if v != 0 {
			where = append(where, col+" = ?")
			args = append(args, v)
		}
	}
	eq("p.policy_id", f.Policy)
	eq("p.host_id", f.Host)
	if f.Host != 0 && f.Policy == 0 { // one range of postures_natural per policy of the host
		where = append(where, "p.policy_id IN (SELECT policy_id FROM counts_host WHERE host_id = ?)")
		args = append(args, f.Host)
	}
	eq("p.control_id", f.Control)
	eq("p.technology_id", f.Technology)
	if f.Status != "" {
		where = append(where, "p.status = ?")
		args = append(args, string(f.Status))
	}
	if !f.Since.IsZero() {
		where = append(where, "p.posture_modified_date >= ?")
		args = append(args, f.Since)
	}
	if f.Criticality != "" {
		where = append(where, "p.criticality_label = ?")
		args = append(args, f.Criticality)
	}
	if f.Framework != 0 {
		where = append(where, "p.control_id IN (SELECT control_id FROM control_frameworks WHERE framework_id = ?)")
		args = append(args, f.Framework)
	}
	if f.Section != 0 {
		where = append(where, "p.control_id IN (SELECT control_id FROM policy_controls WHERE policy_id = ? AND section_number = ?)")
		args = append(args, f.Policy, f.Section)
	}
	if f.Excepted {
		where = append(where, "e.posture_id IS NOT NULL")
	}
	// the order of the index the filter leads with, its column id last
	keys := []string{"p.policy_id", "p.host_id", "p.control_id", "p.technology_id", "p.instance", "p.id"}
	fixed := map[string]bool{"p.policy_id": f.Policy != 0, "p.host_id": f.Host != 0, "p.control_id": f.Control != 0}
	if f.Control != 0 && f.Host == 0 {
		keys = []string{"p.control_id", "p.policy_id", "p.host_id", "p.technology_id", "p.instance", "p.id"}
	}
	for len(keys) > 1 && fixed[keys[0]] { // equalities lead; the seek is on what follows
		keys = keys[1:]
	}
	if c != nil {
		vals := map[string]any{"p.policy_id": c.Ints[0], "p.host_id": c.Ints[1], "p.control_id": c.Ints[2],
			"p.technology_id": c.Ints[3], "p.id": c.Ints[4], "p.instance": c.Strs[0]}
		for _, col := range keys {
			args = append(args, vals[col])
		}
		where = append(where, "("+strings.Join(keys, ", ")+") > ("+strings.TrimSuffix(strings.Repeat("?, ", len(keys)), ", ")+")")
	}
	order := strings.Join(keys, ", ")
	return `SELECT ` + postureViewColumns + ` FROM postures p LEFT JOIN technologies t ON t.id = p.technology_id
		` + evidenceJoin + ` LEFT JOIN exceptions e ON e.posture_id = p.id WHERE ` + strings.Join(where, " AND ") + ` ORDER BY ` + order + ` LIMIT ?`, args
}

const hostColumns = `h.id, h.ip, h.tracking_method, h.os, h.os_cpe, h.dns, h.qg_host_id, h.network_id, h.network_name,
	h.compliance_last_scan_date, h.customer_uuid, h.customer_id, h.asset_id`

func scanHost(st *sqlite3.Stmt) compliance.Host {
	return compliance.Host{ID: st.ColumnInt64(0), IP: st.ColumnText(1), TrackingMethod: st.ColumnText(2), OS: st.ColumnText(3),
		OSCPE: st.ColumnText(4), DNS: st.ColumnText(5), QGHostID: st.ColumnText(6), NetworkID: st.ColumnInt64(7),
		NetworkName: st.ColumnText(8), ComplianceLastScanDate: date(st, 9), CustomerUUID: st.ColumnText(10),
		CustomerID: st.ColumnInt64(11), AssetID: st.ColumnInt64(12)}
}

// hostFiguresSQL selects hosts with their figures over every policy, the
// counts of each host summed in one pass over its rows (three correlated
// sums, one per status, read them three times); the caller adds the
// conditions on h and what follows the GROUP BY.
const hostFiguresSQL = `SELECT ` + hostColumns + `,
	coalesce(sum(c.passed), 0) AS passed, coalesce(sum(c.failed), 0) AS failed, coalesce(sum(c.errors), 0) AS errors
	FROM hosts h LEFT JOIN counts_host c ON c.host_id = h.id WHERE `

// ListHosts lists hosts with current postures by id, with their figures.
func (s *Store) ListHosts(ctx context.Context, f store.HostFilter, page store.Page, fn func(*store.HostFigures) error) (string, error) {
	c, _, err := decodeCursor("hosts", page.After, 1, 0)
	if err != nil {
		return "", err
	}
	after := int64(-1 << 63)
	if c.Ints != nil {
		after = c.Ints[0]
	}
	status := map[compliance.Status]string{compliance.StatusPassed: "passed", compliance.StatusFailed: "failed",
		compliance.StatusError: "errors"}[f.Status] // the count that must not be 0
	var like string
	var args []any
	if f.Q != "" {
		like = ` AND (h.ip LIKE ? ESCAPE '\' OR h.dns LIKE ? ESCAPE '\' OR h.os LIKE ? ESCAPE '\')`
		pat := "%" + strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(f.Q) + "%"
		args = append(args, pat, pat, pat)
	}
	if !f.ScannedBefore.IsZero() {
		like += ` AND (h.compliance_last_scan_date < ? OR h.compliance_last_scan_date IS NULL)`
		args = append(args, f.ScannedBefore)
	}
	var q string
	if f.Policy != 0 {
		// one counts row per host of the policy, read in the order of its key
		q = `SELECT ` + hostColumns + `, c.passed, c.failed, c.errors FROM counts_host c JOIN hosts h ON h.id = c.host_id
			WHERE c.policy_id = ? AND c.host_id > ? AND c.passed + c.failed + c.errors > 0` + like
		if status != "" {
			q += ` AND c.` + status + ` > 0`
		}
		q += ` ORDER BY c.host_id LIMIT ?`
		args = append([]any{f.Policy, after}, args...)
	} else {
		// sum(c.x) spelled out: in a HAVING, a bare name is the column of
		// counts_host, not the sum the SELECT names alike
		q = hostFiguresSQL + `h.id > ?` + like + ` GROUP BY h.id HAVING sum(c.passed + c.failed + c.errors) > 0`
		if status != "" {
			q += ` AND sum(c.` + status + `) > 0`
		}
		q += ` ORDER BY h.id LIMIT ?`
		args = append([]any{after}, args...)
	}
	args = append(args, limit(page))
	pg := &pager{page: page}
	return pg.done(s.query(ctx, q, func(st *sqlite3.Stmt) error {
		if pg.full() {
			return errPageFull
		}
		h := store.HostFigures{Host: scanHost(st), Figures: figures(st, 13)}
		pg.mark("hosts", []int64{h.ID})
		return fn(&h)
	}, args...))
}

// Host is one host with its figures.
func (s *Store) Host(ctx context.Context, id int64) (*store.HostFigures, error) {
	var h *store.HostFigures
	err := s.query(ctx, hostFiguresSQL+`h.id = ? GROUP BY h.id`, func(st *sqlite3.Stmt) error {
		h = &store.HostFigures{Host: scanHost(st), Figures: figures(st, 13)}
		return nil
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

// namesOf reads the (id, name) rows of sel whose id is in ids, with one
// statement for any number of ids (a JSON array of them).
func (s *Store) namesOf(ctx context.Context, sel string, ids []int64) (map[int64]string, error) {
	out := make(map[int64]string, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	list, err := json.Marshal(ids)
	if err != nil {
		return nil, err
	}
	err = s.query(ctx, sel+` WHERE id IN (SELECT value FROM json_each(?))`,
		func(st *sqlite3.Stmt) error { out[st.ColumnInt64(0)] = st.ColumnText(1); return nil }, string(list))
	return out, err
}

const changeColumns = `id, posture_id, policy_id, host_id, control_id, old_status, new_status, changed_at, run_id`

func scanChange(st *sqlite3.Stmt) compliance.StatusChange {
	return compliance.StatusChange{ID: st.ColumnInt64(0), PostureID: st.ColumnInt64(1), PolicyID: st.ColumnInt64(2),
		HostID: st.ColumnInt64(3), ControlID: st.ColumnInt64(4), OldStatus: compliance.Status(st.ColumnText(5)),
		NewStatus: compliance.Status(st.ColumnText(6)), ChangedAt: date(st, 7), RunID: st.ColumnInt64(8)}
}

// HostChanges lists the status changes of a host's postures, latest first.
func (s *Store) HostChanges(ctx context.Context, hostID int64, limit int) ([]compliance.StatusChange, error) {
	var out []compliance.StatusChange
	err := s.query(ctx, `SELECT `+changeColumns+` FROM history WHERE host_id = ? ORDER BY id DESC LIMIT ?`, func(st *sqlite3.Stmt) error {
		out = append(out, scanChange(st))
		return nil
	}, hostID, max(limit, 1))
	return out, err
}
