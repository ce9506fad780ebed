package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"pcsync/internal/compliance"
	"pcsync/internal/store"
)

// query runs sql and calls row for each result row.
func (s *Store) query(ctx context.Context, sql string, row func(pgx.Rows) error, args ...any) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := row(rows); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	return nil
}

// dt scans a timestamptz into t: NULL is the zero time, others are UTC.
type dt struct{ t *time.Time }

func (d dt) ScanTimestamptz(v pgtype.Timestamptz) error {
	*d.t = time.Time{}
	if v.Valid {
		*d.t = v.Time.UTC()
	}
	return nil
}

const posturesSQL = `SELECT p.id, p.instance, p.policy_id, p.control_id, p.technology_id, p.status,
	coalesce(p.previous_status, ''), p.first_fail_date, p.last_fail_date, p.first_pass_date, p.last_pass_date,
	p.posture_modified_date, p.last_evaluated_date, p.created, p.host_id,
	coalesce(h.ip, ''), coalesce(h.tracking_method, ''), coalesce(h.os, ''), coalesce(h.os_cpe, ''), coalesce(h.dns, ''),
	coalesce(h.qg_host_id, ''), coalesce(h.network_id, 0), coalesce(h.network_name, ''),
	h.compliance_last_scan_date, coalesce(h.customer_uuid, ''), coalesce(h.customer_id, 0), coalesce(h.asset_id, 0),
	coalesce(t.name, ''), coalesce(p.criticality_label, ''), coalesce(p.criticality_value, 0), p.evidence::text,
	p.cause_of_failure::text, p.extra::text
FROM postures p
LEFT JOIN hosts h ON h.id = p.host_id
LEFT JOIN technologies t ON t.id = p.technology_id
ORDER BY p.policy_id, p.id`

// Postures calls fn for every stored posture record, by policy and posture
// id (the table's key, as SQLite's store).
func (s *Store) Postures(ctx context.Context, fn func(*compliance.Posture) error) error {
	var p compliance.Posture
	var ev, cf, ex *string
	return s.query(ctx, posturesSQL, func(row pgx.Rows) error {
		p = compliance.Posture{}
		h := &p.Host
		err := row.Scan(&p.ID, &p.Instance, &p.PolicyID, &p.ControlID, &p.TechnologyID, &p.Status, &p.PreviousStatus,
			dt{&p.FirstFailDate}, dt{&p.LastFailDate}, dt{&p.FirstPassDate}, dt{&p.LastPassDate},
			dt{&p.PostureModifiedDate}, dt{&p.LastEvaluatedDate}, dt{&p.Created}, &h.ID, &h.IP, &h.TrackingMethod,
			&h.OS, &h.OSCPE, &h.DNS, &h.QGHostID, &h.NetworkID, &h.NetworkName, dt{&h.ComplianceLastScanDate},
			&h.CustomerUUID, &h.CustomerID, &h.AssetID, &p.Technology.Name, &p.Criticality.Label, &p.Criticality.Value,
			&ev, &cf, &ex)
		if err != nil {
			return err
		}
		p.Technology.ID = p.TechnologyID
		p.Evidence, p.CauseOfFailure, p.Extra = bytesOf(ev), bytesOf(cf), bytesOf(ex)
		return fn(&p)
	})
}

// bytesOf is a JSON column's text, nil for NULL.
func bytesOf(s *string) []byte {
	if s == nil {
		return nil
	}
	return []byte(*s)
}

const policyColumns = `id, coalesce(title, ''), coalesce(created_by, ''), created_date, coalesce(modified_by, ''),
	modified_date, last_evaluated_date, coalesce(status, ''), locked`

func scanPolicy(row pgx.Rows) (compliance.Policy, error) {
	var p compliance.Policy
	err := row.Scan(&p.ID, &p.Title, &p.CreatedBy, dt{&p.CreatedDate}, &p.ModifiedBy, dt{&p.ModifiedDate},
		dt{&p.LastEvaluatedDate}, &p.Status, &p.Locked)
	return p, err
}

// Policies calls fn for every stored policy, in id order.
func (s *Store) Policies(ctx context.Context, fn func(*compliance.Policy) error) error {
	return s.query(ctx, `SELECT `+policyColumns+` FROM policies ORDER BY id`, func(row pgx.Rows) error {
		p, err := scanPolicy(row)
		if err != nil {
			return err
		}
		return fn(&p)
	})
}

const hostColumns = `h.id, coalesce(h.ip, ''), coalesce(h.tracking_method, ''), coalesce(h.os, ''), coalesce(h.os_cpe, ''),
	coalesce(h.dns, ''), coalesce(h.qg_host_id, ''), coalesce(h.network_id, 0), coalesce(h.network_name, ''),
	h.compliance_last_scan_date, coalesce(h.customer_uuid, ''), coalesce(h.customer_id, 0), coalesce(h.asset_id, 0)`

func hostDest(h *compliance.Host) []any {
	return []any{&h.ID, &h.IP, &h.TrackingMethod, &h.OS, &h.OSCPE, &h.DNS, &h.QGHostID, &h.NetworkID, &h.NetworkName,
		dt{&h.ComplianceLastScanDate}, &h.CustomerUUID, &h.CustomerID, &h.AssetID}
}

// Hosts calls fn for every stored host, in id order.
func (s *Store) Hosts(ctx context.Context, fn func(*compliance.Host) error) error {
	return s.query(ctx, `SELECT `+hostColumns+` FROM hosts h ORDER BY id`, func(row pgx.Rows) error {
		var h compliance.Host
		if err := row.Scan(hostDest(&h)...); err != nil {
			return err
		}
		return fn(&h)
	})
}

// Technologies calls fn for every stored technology, in id order.
func (s *Store) Technologies(ctx context.Context, fn func(*compliance.Technology) error) error {
	return s.query(ctx, `SELECT id, coalesce(name, '') FROM technologies ORDER BY id`, func(row pgx.Rows) error {
		var t compliance.Technology
		if err := row.Scan(&t.ID, &t.Name); err != nil {
			return err
		}
		return fn(&t)
	})
}

const controlColumns = `id, coalesce(criticality_label, ''), coalesce(criticality_value, 0), coalesce(category, ''),
	coalesce(sub_category, ''), coalesce(statement, ''), coalesce(check_type, ''), coalesce(comment, ''),
	coalesce(is_active, true), user_defined, created_date, update_date, coalesce(remediation, '')`

func scanControl(row pgx.Rows) (compliance.Control, error) {
	var c compliance.Control
	err := row.Scan(&c.ID, &c.Criticality.Label, &c.Criticality.Value, &c.Category, &c.SubCategory, &c.Statement,
		&c.CheckType, &c.Comment, &c.Active, &c.UserDefined, dt{&c.Created}, dt{&c.Updated}, &c.Remediation)
	return c, err
}

// Controls calls fn for every stored control, in id order, with its
// technologies and framework references.
func (s *Store) Controls(ctx context.Context, fn func(*compliance.Control) error) error {
	techs := map[int64][]compliance.ControlTechnology{}
	err := s.query(ctx, `SELECT ct.control_id, ct.technology_id, coalesce(t.name, ''), coalesce(ct.rationale, '')
		FROM control_technologies ct LEFT JOIN technologies t ON t.id = ct.technology_id
		ORDER BY ct.control_id, ct.technology_id`, func(row pgx.Rows) error {
		var id int64
		var t compliance.ControlTechnology
		if err := row.Scan(&id, &t.TechnologyID, &t.Name, &t.Rationale); err != nil {
			return err
		}
		techs[id] = append(techs[id], t)
		return nil
	})
	if err != nil {
		return err
	}
	fws := map[int64][]compliance.FrameworkReference{}
	err = s.query(ctx, `SELECT cf.control_id, cf.framework_id, coalesce(f.name, ''), cf.reference, coalesce(cf.comments, '')
		FROM control_frameworks cf LEFT JOIN frameworks f ON f.id = cf.framework_id
		ORDER BY cf.control_id, cf.framework_id, cf.reference`, func(row pgx.Rows) error {
		var id int64
		var f compliance.FrameworkReference
		if err := row.Scan(&id, &f.FrameworkID, &f.FrameworkName, &f.Reference, &f.Comments); err != nil {
			return err
		}
		fws[id] = append(fws[id], f)
		return nil
	})
	if err != nil {
		return err
	}
	return s.query(ctx, `SELECT `+controlColumns+` FROM controls ORDER BY id`, func(row pgx.Rows) error {
		c, err := scanControl(row)
		if err != nil {
			return err
		}
		c.Technologies, c.Frameworks = techs[c.ID], fws[c.ID]
		return fn(&c)
	})
}

// Sections calls fn for every policy section with its controls.
func (s *Store) Sections(ctx context.Context, fn func(int64, *compliance.Section) error) error {
	type key struct{ policy, control int64 }
	techs := map[key][]compliance.ControlTechnology{}
	err := s.query(ctx, `SELECT p.policy_id, p.control_id, p.technology_id, coalesce(t.name, ''), coalesce(p.rationale, ''),
		coalesce(p.remediation, ''), coalesce(p.description, ''), coalesce(p.evaluate, '')
		FROM policy_control_technologies p LEFT JOIN technologies t ON t.id = p.technology_id
		ORDER BY p.policy_id, p.control_id, p.technology_id`, func(row pgx.Rows) error {
		var k key
		var t compliance.ControlTechnology
		if err := row.Scan(&k.policy, &k.control, &t.TechnologyID, &t.Name, &t.Rationale, &t.Remediation, &t.Description, &t.Evaluate); err != nil {
			return err
		}
		techs[k] = append(techs[k], t)
		return nil
	})
	if err != nil {
		return err
	}
	controls := map[[2]int64][]compliance.PolicyControl{}
	err = s.query(ctx, `SELECT pc.policy_id, pc.section_number, pc.control_id, coalesce(pc.criticality_label, ''),
		coalesce(pc.criticality_value, 0), coalesce(pc.reference_text, ''), pc.disabled, pc.user_defined, coalesce(c.statement, '')
		FROM policy_controls pc LEFT JOIN controls c ON c.id = pc.control_id
		WHERE pc.section_number IS NOT NULL ORDER BY pc.policy_id, pc.section_number, pc.position, pc.control_id`, func(row pgx.Rows) error {
		var k [2]int64
		var pc compliance.PolicyControl
		var statement string
		if err := row.Scan(&k[0], &k[1], &pc.ControlID, &pc.Criticality.Label, &pc.Criticality.Value, &pc.ReferenceText,
			&pc.Disabled, &pc.UserDefined, &statement); err != nil {
			return err
		}
		if pc.UserDefined {
			pc.Statement = statement
		}
		pc.Technologies = techs[key{k[0], pc.ControlID}]
		controls[k] = append(controls[k], pc)
		return nil
	})
	if err != nil {
		return err
	}
	return s.query(ctx, `SELECT policy_id, number, coalesce(heading, '') FROM sections ORDER BY policy_id, number`, func(row pgx.Rows) error {
		var policy int64
		var sec compliance.Section
		if err := row.Scan(&policy, &sec.Number, &sec.Heading); err != nil {
			return err
		}
		sec.Controls = controls[[2]int64{policy, sec.Number}]
		return fn(policy, &sec)
	})
}

// Frameworks calls fn for every framework, in id order.
func (s *Store) Frameworks(ctx context.Context, fn func(*compliance.Framework) error) error {
	return s.query(ctx, `SELECT id, coalesce(name, '') FROM frameworks ORDER BY id`, func(row pgx.Rows) error {
		var f compliance.Framework
		if err := row.Scan(&f.ID, &f.Name); err != nil {
			return err
		}
		return fn(&f)
	})
}

const exceptionColumns = `coalesce(e.assignee, ''), coalesce(e.status, ''), coalesce(e.comments, ''), coalesce(e.created_by, ''),
	e.created_date, coalesce(e.modified_by, ''), e.modified_date, e.end_date`

func exceptionDest(e *compliance.Exception) []any {
	return []any{&e.Assignee, &e.Status, &e.Comments, &e.CreatedBy, dt{&e.CreatedDate}, &e.ModifiedBy, dt{&e.ModifiedDate}, dt{&e.EndDate}}
}

// Exceptions calls fn for every posture exception, by posture id.
func (s *Store) Exceptions(ctx context.Context, fn func(int64, *compliance.Exception) error) error {
	return s.query(ctx, `SELECT e.posture_id, `+exceptionColumns+` FROM exceptions e ORDER BY e.posture_id`, func(row pgx.Rows) error {
		var id int64
		var e compliance.Exception
		if err := row.Scan(append([]any{&id}, exceptionDest(&e)...)...); err != nil {
			return err
		}
		return fn(id, &e)
	})
}

const runColumns = `id, started_at, finished_at, status, source, params::text, coalesce(message, ''), policies, batches,
	records, passed, failed, errors, rejects, wire_bytes, data_bytes, mode, since, resumed, coalesce(request::text, ''),
	coalesce(problems, ''), throttles, retries, coalesce(shard, '')`

func runDest(r *compliance.Run, problems *string) []any {
	return []any{&r.ID, dt{&r.StartedAt}, dt{&r.FinishedAt}, &r.Status, &r.Source, &r.Params, &r.Message, &r.Policies,
		&r.Batches, &r.Records, &r.Passed, &r.Failed, &r.Errors, &r.Rejects, &r.WireBytes, &r.DataBytes, &r.Mode,
		dt{&r.Since}, &r.Resumed, &r.Request, problems, &r.Throttles, &r.Retries, &r.Shard}
}

func scanRun(row pgx.Rows, extra ...any) (compliance.Run, error) {
	var r compliance.Run
	var problems string
	err := row.Scan(append(runDest(&r, &problems), extra...)...)
	if problems != "" {
		r.Problems = strings.Split(problems, "\n")
	}
	return r, err
}

// prefixed qualifies each of the comma-separated columns with p ("r.").
func prefixed(p, columns string) string {
	var out []string
	depth := 0
	start := 0
	for i, c := range columns + "," {
		switch c {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, strings.TrimSpace(columns[start:i]))
				start = i + 1
			}
		}
	}
	for i, c := range out {
		if j := strings.IndexByte(c, '('); j >= 0 {
			out[i] = c[:j+1] + p + c[j+1:]
		} else {
			out[i] = p + c
		}
	}
	return strings.Join(out, ", ")
}

// Runs calls fn for every run, oldest first.
func (s *Store) Runs(ctx context.Context, fn func(*compliance.Run) error) error {
	return s.query(ctx, `SELECT `+runColumns+` FROM runs ORDER BY id`, func(row pgx.Rows) error {
		r, err := scanRun(row)
		if err != nil {
			return err
		}
		return fn(&r)
	})
}

// RunPolicies returns the per-policy summaries of run id.
func (s *Store) RunPolicies(ctx context.Context, runID int64) ([]compliance.PolicySummary, error) {
	var out []compliance.PolicySummary
	err := s.query(ctx, `SELECT policy_id, coalesce(title, ''), hosts_requested, hosts_returned, records, passed, failed,
		errors, coalesce(error, ''), stale_hosts, stale_postures FROM run_policies WHERE run_id = $1 ORDER BY policy_id`,
		func(row pgx.Rows) error {
			var p compliance.PolicySummary
			if err := row.Scan(&p.PolicyID, &p.Title, &p.HostsRequested, &p.HostsReturned, &p.Records, &p.Passed,
				&p.Failed, &p.Errors, &p.Error, &p.StaleHosts, &p.StalePostures); err != nil {
				return err
			}
			out = append(out, p)
			return nil
		}, runID)
	return out, err
}

// Rows streams the rows of registry table t in key order, typed as its
// columns say.
func (s *Store) Rows(ctx context.Context, t *store.Table, fn func(row []any) error) error {
	names := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		names[i] = c.Name
		if c.Type == store.JSON {
			names[i] += "::text"
		}
	}
	sql := "SELECT " + strings.Join(names, ", ") + " FROM " + pgx.Identifier{t.Name}.Sanitize() + " ORDER BY " + strings.Join(t.Key, ", ")
	row := make([]any, len(t.Columns))
	return s.query(ctx, sql, func(r pgx.Rows) error {
		vals, err := r.Values()
		if err != nil {
			return err
		}
		for i, c := range t.Columns {
			v, err := typed(vals[i], c.Type)
			if err != nil {
				return fmt.Errorf("%s.%s: %w", t.Name, c.Name, err)
			}
			row[i] = v
		}
		return fn(row)
	})
}

// typed converts a value as pgx read it to the registry's Go type.
func typed(v any, typ store.Type) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case time.Time:
		return x.UTC(), nil
	case string:
		if typ == store.JSON {
			return []byte(x), nil
		}
		return x, nil
	case int64, bool:
		return x, nil
	case int32:
		return int64(x), nil
	}
	return nil, fmt.Errorf("value %v (%T) for a %s column", v, v, typ)
}
