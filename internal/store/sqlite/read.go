package sqlite

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ncruces/go-sqlite3"

	"pcsync/internal/compliance"
)

// query runs sql on a read connection of its own (WAL lets it read while a
// sync writes) and calls row for each result row.
func (s *Store) query(ctx context.Context, sql string, row func(st *sqlite3.Stmt) error, args ...any) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	conn, err := s.reader(ctx)
	if err != nil {
		return err
	}
	defer s.release(conn)
	old := conn.SetInterrupt(ctx)
	defer conn.SetInterrupt(old)
	st, err := conn.prepare(sql)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("prepare: %w", err)
	}
	defer done(st)
	if err := bindAll(st, args...); err != nil {
		return err
	}
	for st.Step() {
		if err := row(st); err != nil {
			return err
		}
	}
	if err := st.Err(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	return nil
}

// date reads a TEXT date column; NULL is the zero time.
func date(st *sqlite3.Stmt, col int) time.Time {
	b := st.ColumnRawText(col)
	if len(b) == 0 {
		return time.Time{}
	}
	return compliance.ParseStoredDate(b)
}

// rawJSON copies a JSON column into buf (reusing it), or returns nil for NULL.
func rawJSON(st *sqlite3.Stmt, col int, buf []byte) []byte {
	if st.ColumnType(col) == sqlite3.NULL {
		return nil
	}
	return append(buf[:0], st.ColumnRawText(col)...)
}

const posturesSQL = `SELECT p.id, p.instance, p.policy_id, p.control_id, p.technology_id, p.status,
	p.previous_status, p.first_fail_date, p.last_fail_date, p.first_pass_date, p.last_pass_date,
	p.posture_modified_date, p.last_evaluated_date, p.created, p.host_id,
	h.ip, h.tracking_method, h.os, h.os_cpe, h.dns, h.qg_host_id, h.network_id, h.network_name,
	h.compliance_last_scan_date, h.customer_uuid, h.customer_id, h.asset_id,
	t.name, p.criticality_label, p.criticality_value, ev.evidence, p.cause_of_failure, p.extra
FROM postures p
` + evidenceJoin + `
LEFT JOIN hosts h ON h.id = p.host_id
LEFT JOIN technologies t ON t.id = p.technology_id
ORDER BY p.policy_id, p.id`

// Postures calls fn for every stored posture record, by policy and posture
// id (the order the table is kept in, so nothing is sorted).
func (s *Store) Postures(ctx context.Context, fn func(*compliance.Posture) error) error {
	var p compliance.Posture
	var ev, cf, ex []byte
	return s.query(ctx, posturesSQL, func(st *sqlite3.Stmt) error {
		p = compliance.Posture{
			ID: st.ColumnInt64(0), Instance: st.ColumnText(1), PolicyID: st.ColumnInt64(2),
			ControlID: st.ColumnInt64(3), TechnologyID: st.ColumnInt64(4),
			Status: compliance.Status(st.ColumnText(5)), PreviousStatus: compliance.Status(st.ColumnText(6)),
			FirstFailDate: date(st, 7), LastFailDate: date(st, 8), FirstPassDate: date(st, 9),
			LastPassDate: date(st, 10), PostureModifiedDate: date(st, 11), LastEvaluatedDate: date(st, 12),
			Created: date(st, 13),
			Host: compliance.Host{
				ID: st.ColumnInt64(14), IP: st.ColumnText(15), TrackingMethod: st.ColumnText(16),
				OS: st.ColumnText(17), OSCPE: st.ColumnText(18), DNS: st.ColumnText(19),
				QGHostID: st.ColumnText(20), NetworkID: st.ColumnInt64(21), NetworkName: st.ColumnText(22),
				ComplianceLastScanDate: date(st, 23), CustomerUUID: st.ColumnText(24),
				CustomerID: st.ColumnInt64(25), AssetID: st.ColumnInt64(26),
			},
			Criticality: compliance.Criticality{Label: st.ColumnText(28), Value: st.ColumnInt64(29)},
		}
		p.Technology = compliance.Technology{ID: p.TechnologyID, Name: st.ColumnText(27)}
		ev, cf, ex = rawJSON(st, 30, ev), rawJSON(st, 31, cf), rawJSON(st, 32, ex)
		p.Evidence, p.CauseOfFailure, p.Extra = ev, cf, ex
		return fn(&p)
	})
}

// Policies calls fn for every stored policy, in id order.
func (s *Store) Policies(ctx context.Context, fn func(*compliance.Policy) error) error {
	return s.query(ctx, `SELECT id, title, created_by, created_date, modified_by, modified_date,
		last_evaluated_date, status, locked FROM policies ORDER BY id`, func(st *sqlite3.Stmt) error {
		p := scanPolicy(st)
		return fn(&p)
	})
}

func scanPolicy(st *sqlite3.Stmt) compliance.Policy {
	return compliance.Policy{
		ID: st.ColumnInt64(0), Title: st.ColumnText(1), CreatedBy: st.ColumnText(2),
		CreatedDate: date(st, 3), ModifiedBy: st.ColumnText(4), ModifiedDate: date(st, 5),
		LastEvaluatedDate: date(st, 6), Status: st.ColumnText(7), Locked: st.ColumnBool(8),
	}
}

// Hosts calls fn for every stored host, in id order.
func (s *Store) Hosts(ctx context.Context, fn func(*compliance.Host) error) error {
	return s.query(ctx, `SELECT id, ip, tracking_method, os, os_cpe, dns, qg_host_id, network_id, network_name,
		compliance_last_scan_date, customer_uuid, customer_id, asset_id FROM hosts ORDER BY id`, func(st *sqlite3.Stmt) error {
		h := compliance.Host{
			ID: st.ColumnInt64(0), IP: st.ColumnText(1), TrackingMethod: st.ColumnText(2), OS: st.ColumnText(3),
			OSCPE: st.ColumnText(4), DNS: st.ColumnText(5), QGHostID: st.ColumnText(6), NetworkID: st.ColumnInt64(7),
			NetworkName: st.ColumnText(8), ComplianceLastScanDate: date(st, 9), CustomerUUID: st.ColumnText(10),
			CustomerID: st.ColumnInt64(11), AssetID: st.ColumnInt64(12),
		}
		return fn(&h)
	})
}

// Technologies calls fn for every stored technology, in id order.
func (s *Store) Technologies(ctx context.Context, fn func(*compliance.Technology) error) error {
	return s.query(ctx, `SELECT id, name FROM technologies ORDER BY id`, func(st *sqlite3.Stmt) error {
		t := compliance.Technology{ID: st.ColumnInt64(0), Name: st.ColumnText(1)}
		return fn(&t)
	})
}

// Controls calls fn for every stored control, in id order, with its
// technologies and framework references.
func (s *Store) Controls(ctx context.Context, fn func(*compliance.Control) error) error {
	techs := map[int64][]compliance.ControlTechnology{}
	err := s.query(ctx, `SELECT ct.control_id, ct.technology_id, t.name, ct.rationale FROM control_technologies ct
		LEFT JOIN technologies t ON t.id = ct.technology_id ORDER BY ct.control_id, ct.technology_id`, func(st *sqlite3.Stmt) error {
		id := st.ColumnInt64(0)
		techs[id] = append(techs[id], compliance.ControlTechnology{TechnologyID: st.ColumnInt64(1), Name: st.ColumnText(2), Rationale: st.ColumnText(3)})
		return nil
	})
	if err != nil {
		return err
	}
	fws := map[int64][]compliance.FrameworkReference{}
	err = s.query(ctx, `SELECT cf.control_id, cf.framework_id, f.name, cf.reference, cf.comments FROM control_frameworks cf
		LEFT JOIN frameworks f ON f.id = cf.framework_id ORDER BY cf.control_id, cf.framework_id, cf.reference`, func(st *sqlite3.Stmt) error {
		id := st.ColumnInt64(0)
		fws[id] = append(fws[id], compliance.FrameworkReference{FrameworkID: st.ColumnInt64(1), FrameworkName: st.ColumnText(2),
			Reference: st.ColumnText(3), Comments: st.ColumnText(4)})
		return nil
	})
	if err != nil {
		return err
	}
	return s.query(ctx, `SELECT `+controlColumns+` FROM controls ORDER BY id`, func(st *sqlite3.Stmt) error {
		c := scanControl(st)
		c.Technologies, c.Frameworks = techs[c.ID], fws[c.ID]
		return fn(&c)
	})
}

const controlColumns = `id, criticality_label, criticality_value, category, sub_category, statement, check_type,
	comment, is_active, user_defined, created_date, update_date, remediation`

func scanControl(st *sqlite3.Stmt) compliance.Control {
	return compliance.Control{
		ID: st.ColumnInt64(0), Criticality: compliance.Criticality{Label: st.ColumnText(1), Value: st.ColumnInt64(2)},
		Category: st.ColumnText(3), SubCategory: st.ColumnText(4), Statement: st.ColumnText(5), CheckType: st.ColumnText(6),
		Comment: st.ColumnText(7), Active: st.ColumnType(8) == sqlite3.NULL || st.ColumnBool(8), UserDefined: st.ColumnBool(9),
		Created: date(st, 10), Updated: date(st, 11), Remediation: st.ColumnText(12),
	}
}

// Sections calls fn for every policy section with its controls.
func (s *Store) Sections(ctx context.Context, fn func(int64, *compliance.Section) error) error {
	type key struct{ policy, control int64 }
	techs := map[key][]compliance.ControlTechnology{}
	err := s.query(ctx, `SELECT p.policy_id, p.control_id, p.technology_id, t.name, p.rationale, p.remediation, p.description, p.evaluate
		FROM policy_control_technologies p LEFT JOIN technologies t ON t.id = p.technology_id
		ORDER BY p.policy_id, p.control_id, p.technology_id`, func(st *sqlite3.Stmt) error {
		k := key{st.ColumnInt64(0), st.ColumnInt64(1)}
		techs[k] = append(techs[k], compliance.ControlTechnology{TechnologyID: st.ColumnInt64(2), Name: st.ColumnText(3),
			Rationale: st.ColumnText(4), Remediation: st.ColumnText(5), Description: st.ColumnText(6), Evaluate: st.ColumnText(7)})
		return nil
	})
	if err != nil {
		return err
	}
	controls := map[[2]int64][]compliance.PolicyControl{}
	err = s.query(ctx, `SELECT pc.policy_id, pc.section_number, pc.control_id, pc.criticality_label, pc.criticality_value,
		pc.reference_text, pc.disabled, pc.user_defined, c.statement FROM policy_controls pc LEFT JOIN controls c ON c.id = pc.control_id
		WHERE pc.section_number IS NOT NULL ORDER BY pc.policy_id, pc.section_number, pc.position, pc.control_id`, func(st *sqlite3.Stmt) error {
		k := [2]int64{st.ColumnInt64(0), st.ColumnInt64(1)}
		pc := compliance.PolicyControl{ControlID: st.ColumnInt64(2), Criticality: compliance.Criticality{Label: st.ColumnText(3),
			Value: st.ColumnInt64(4)}, ReferenceText: st.ColumnText(5), Disabled: st.ColumnBool(6), UserDefined: st.ColumnBool(7)}
		if pc.UserDefined {
			pc.Statement = st.ColumnText(8)
		}
		pc.Technologies = techs[key{k[0], pc.ControlID}]
		controls[k] = append(controls[k], pc)
		return nil
	})
	if err != nil {
		return err
	}
	return s.query(ctx, `SELECT policy_id, number, heading FROM sections ORDER BY policy_id, number`, func(st *sqlite3.Stmt) error {
		sec := compliance.Section{Number: st.ColumnInt64(1), Heading: st.ColumnText(2)}
		sec.Controls = controls[[2]int64{st.ColumnInt64(0), sec.Number}]
		return fn(st.ColumnInt64(0), &sec)
	})
}

// Frameworks calls fn for every framework, in id order.
func (s *Store) Frameworks(ctx context.Context, fn func(*compliance.Framework) error) error {
	return s.query(ctx, `SELECT id, name FROM frameworks ORDER BY id`, func(st *sqlite3.Stmt) error {
		f := compliance.Framework{ID: st.ColumnInt64(0), Name: st.ColumnText(1)}
		return fn(&f)
	})
}

// Exceptions calls fn for every posture exception, by posture id.
func (s *Store) Exceptions(ctx context.Context, fn func(int64, *compliance.Exception) error) error {
	return s.query(ctx, `SELECT posture_id, assignee, status, comments, created_by, created_date, modified_by, modified_date, end_date
		FROM exceptions ORDER BY posture_id`, func(st *sqlite3.Stmt) error {
		e := compliance.Exception{Assignee: st.ColumnText(1), Status: st.ColumnText(2), Comments: st.ColumnText(3),
			CreatedBy: st.ColumnText(4), CreatedDate: date(st, 5), ModifiedBy: st.ColumnText(6), ModifiedDate: date(st, 7), EndDate: date(st, 8)}
		return fn(st.ColumnInt64(0), &e)
	})
}

// Runs calls fn for every run, oldest first.
func (s *Store) Runs(ctx context.Context, fn func(*compliance.Run) error) error {
	return s.query(ctx, `SELECT `+runColumns+` FROM runs ORDER BY id`, func(st *sqlite3.Stmt) error {
		r := scanRun(st)
		return fn(&r)
	})
}

const runColumns = `id, started_at, finished_at, status, source, params, message, policies, batches,
	records, passed, failed, errors, rejects, wire_bytes, data_bytes, mode, since, resumed, request, problems, throttles, retries`

// runColumnCount is how many columns runColumns has.
const runColumnCount = 23

// prefixed qualifies each of the comma-separated columns with p ("r.").
func prefixed(p, columns string) string {
	cs := strings.Split(columns, ",")
	for i, c := range cs {
		cs[i] = p + strings.TrimSpace(c)
	}
	return strings.Join(cs, ", ")
}

func scanRun(st *sqlite3.Stmt) compliance.Run {
	return compliance.Run{
		ID: st.ColumnInt64(0), StartedAt: date(st, 1), FinishedAt: date(st, 2),
		Status: compliance.RunStatus(st.ColumnText(3)), Source: st.ColumnText(4), Params: st.ColumnText(5),
		Message: st.ColumnText(6), Policies: st.ColumnInt64(7), Batches: st.ColumnInt64(8),
		Records: st.ColumnInt64(9), Passed: st.ColumnInt64(10), Failed: st.ColumnInt64(11),
		Errors: st.ColumnInt64(12), Rejects: st.ColumnInt64(13),
		WireBytes: st.ColumnInt64(14), DataBytes: st.ColumnInt64(15),
		Mode: st.ColumnText(16), Since: date(st, 17), Resumed: st.ColumnInt64(18),
		Request: st.ColumnText(19), Problems: splitProblems(st.ColumnText(20)),
		Throttles: st.ColumnInt64(21), Retries: st.ColumnInt64(22),
	}
}

func splitProblems(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// RunPolicies returns the per-policy summaries of run id.
func (s *Store) RunPolicies(ctx context.Context, runID int64) ([]compliance.PolicySummary, error) {
	var out []compliance.PolicySummary
	err := s.query(ctx, `SELECT policy_id, title, hosts_requested, hosts_returned, records, passed, failed, errors, error,
		stale_hosts, stale_postures FROM run_policies WHERE run_id = ? ORDER BY policy_id`, func(st *sqlite3.Stmt) error {
		out = append(out, compliance.PolicySummary{
			PolicyID: st.ColumnInt64(0), Title: st.ColumnText(1), HostsRequested: st.ColumnInt64(2),
			HostsReturned: st.ColumnInt64(3), Records: st.ColumnInt64(4), Passed: st.ColumnInt64(5),
			Failed: st.ColumnInt64(6), Errors: st.ColumnInt64(7), Error: st.ColumnText(8),
			StaleHosts: st.ColumnInt64(9), StalePostures: st.ColumnInt64(10),
		})
		return nil
	}, runID)
	return out, err
}
