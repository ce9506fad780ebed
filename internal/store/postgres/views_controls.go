package postgres

import (
	"time"

	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"pcsync/internal/compliance"
	"pcsync/internal/store"
)

// policyControlsSQL lists the controls of policy $1 (those its export
// places and those its postures report) with their figures, restricted to
// technology $2 unless it is 0, worst first.
const policyControlsSQL = `
WITH k AS (SELECT control_id, sum(passed) AS passed, sum(failed) AS failed, sum(errors) AS errors
	FROM counts_control WHERE policy_id = $1 AND ($2 = 0 OR technology_id = $2) AND (passed + failed + errors + stale) > 0
	GROUP BY control_id),
ids AS (SELECT control_id FROM k UNION SELECT control_id FROM policy_controls WHERE policy_id = $1 AND $2 = 0)
SELECT * FROM (SELECT ids.control_id AS id, coalesce(c.statement, '') AS statement,
	coalesce(pc.criticality_label, c.criticality_label, '') AS label,
	coalesce(pc.criticality_value, c.criticality_value, 0) AS criticality, coalesce(pc.section_number, 0) AS section,
	coalesce(s.heading, '') AS heading, coalesce(k.passed, 0)::bigint AS passed, coalesce(k.failed, 0)::bigint AS failed,
	coalesce(k.errors, 0)::bigint AS errors
FROM ids LEFT JOIN k ON k.control_id = ids.control_id
LEFT JOIN controls c ON c.id = ids.control_id
LEFT JOIN policy_controls pc ON pc.policy_id = $1 AND pc.control_id = ids.control_id
LEFT JOIN sections s ON s.policy_id = $1 AND s.number = pc.section_number) x`

// ListPolicyControls lists the controls of a policy worst first.
func (s *Store) ListPolicyControls(ctx context.Context, policyID int64, f store.ControlFilter, page store.Page,
	fn func(*store.ControlFigures) error) (string, error) {
	c, _, ok, err := store.DecodeCursor("controls", page.After, 3, 0)
	if err != nil {
		return "", err
	}
	var where []string
	args := []any{policyID, f.Technology}
	arg := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
	switch f.Status {
	case compliance.StatusPassed:
		where = append(where, "passed > 0")
	case compliance.StatusFailed:
		where = append(where, "failed > 0")
	case compliance.StatusError:
		where = append(where, "errors > 0")
	}
	if f.Criticality >= 0 {
		where = append(where, "criticality = "+arg(f.Criticality))
	}
	if f.Section >= 0 {
		where = append(where, "section = "+arg(f.Section))
	}
	if ok { // worst first: failed desc, errors desc, id
		fl, er, id := arg(c[0]), arg(c[1]), arg(c[2])
		where = append(where, "(failed < "+fl+" OR failed = "+fl+" AND (errors < "+er+" OR errors = "+er+" AND id > "+id+"))")
	}
	q := policyControlsSQL
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY failed DESC, errors DESC, id LIMIT " + arg(limit(page))
	pg := &pager{page: page}
	return pg.done(s.query(ctx, q, func(row pgx.Rows) error {
		if pg.full() {
			return errPageFull
		}
		var v store.ControlFigures
		if err := row.Scan(append([]any{&v.ControlID, &v.Statement, &v.Criticality.Label, &v.Criticality.Value,
			&v.SectionNumber, &v.SectionHeading}, fig(&v.Figures)...)...); err != nil {
			return err
		}
		pg.last = store.EncodeCursor("controls", []int64{v.Failed, v.Errors, v.ControlID})
		return fn(&v)
	}, args...))
}

// Control is one control with its texts, references and figures per policy.
func (s *Store) Control(ctx context.Context, id int64) (*store.ControlView, error) {
	var v *store.ControlView
	err := s.query(ctx, `SELECT `+controlColumns+` FROM controls WHERE id = $1`, func(row pgx.Rows) error {
		c, err := scanControl(row)
		v = &store.ControlView{Control: c}
		return err
	}, id)
	if err == nil && v == nil {
		return nil, store.ErrNotFound
	}
	if err == nil {
		err = s.query(ctx, `SELECT ct.technology_id, coalesce(t.name, ''), coalesce(ct.rationale, '') FROM control_technologies ct
			LEFT JOIN technologies t ON t.id = ct.technology_id WHERE ct.control_id = $1 ORDER BY ct.technology_id`, func(row pgx.Rows) error {
			var t compliance.ControlTechnology
			err := row.Scan(&t.TechnologyID, &t.Name, &t.Rationale)
			v.Control.Technologies = append(v.Control.Technologies, t)
			return err
		}, id)
	}
	if err == nil {
		err = s.query(ctx, `SELECT cf.framework_id, coalesce(f.name, ''), cf.reference, coalesce(cf.comments, '') FROM control_frameworks cf
			LEFT JOIN frameworks f ON f.id = cf.framework_id WHERE cf.control_id = $1 ORDER BY cf.framework_id, cf.reference`, func(row pgx.Rows) error {
			var f compliance.FrameworkReference
			err := row.Scan(&f.FrameworkID, &f.FrameworkName, &f.Reference, &f.Comments)
			v.Control.Frameworks = append(v.Control.Frameworks, f)
			return err
		}, id)
	}
	if err == nil {
		err = s.query(ctx, `SELECT k.policy_id, coalesce(max(p.title), ''), coalesce(max(p.status), ''), sum(k.passed)::bigint,
			sum(k.failed)::bigint, sum(k.errors)::bigint
			FROM counts_control k LEFT JOIN policies p ON p.id = k.policy_id WHERE k.control_id = $1
			GROUP BY k.policy_id ORDER BY k.policy_id`, func(row pgx.Rows) error {
			var pf store.PolicyFigures
			if err := row.Scan(append([]any{&pf.ID, &pf.Title, &pf.Status}, fig(&pf.Figures)...)...); err != nil {
				return err
			}
			v.Figures.Add(pf.Figures)
			v.Policies = append(v.Policies, pf)
			return nil
		}, id)
	}
	if err == nil {
		err = s.query(ctx, `SELECT p.policy_id, p.technology_id, coalesce(t.name, ''), coalesce(p.rationale, ''), coalesce(p.remediation, ''),
			coalesce(p.description, ''), coalesce(p.evaluate, '') FROM policy_control_technologies p
			LEFT JOIN technologies t ON t.id = p.technology_id WHERE p.control_id = $1 ORDER BY p.policy_id, p.technology_id`,
			func(row pgx.Rows) error {
				var pt store.PolicyControlText
				err := row.Scan(&pt.PolicyID, &pt.TechnologyID, &pt.Name, &pt.Rationale, &pt.Remediation, &pt.Description, &pt.Evaluate)
				v.PolicyTexts = append(v.PolicyTexts, pt)
				return err
			}, id)
	}
	return v, err
}

// privateColumns are columns of this store's schema that the registry
// (store.Tables) leaves out: derived by the sync from other columns, they
// are neither exported nor migrated; rows copied in by pcsync migrate have
// them NULL, and what reads them falls back to what they derive from.
var privateColumns = map[string][]string{"postures": {"fail_value"}}

// failingWhere selects a control's current failing postures (in one policy
// when $2 is not 0): the condition of the partial index postures_failing.
const failingWhere = `control_id = $1 AND ($2 = 0 OR policy_id = $2) AND status = 'Failed' AND stale_run IS NULL`

const failingValuesSQL = `SELECT host_id, first_fail_date, fail_value FROM postures WHERE ` + failingWhere

// FailingValues groups the failing current postures of a control by value
// (store.FailingValue, the grouping every store shares). The sync keeps
// each failing posture's value in fail_value, carried by the partial index
// postures_failing with the host and the first failure date, so the groups
// are read from that index (an index-only scan where the table's pages are
// all-visible) rather than from each posture's row and documents: 184 ms
// for a control's 5,158 failing postures at 10M that way, BENCHMARKS.md.
// A row whose fail_value is NULL (a value over store.MaxFailValue, a row
// written before schema 3 or copied in by pcsync migrate) is grouped from
// its documents.
func (s *Store) FailingValues(ctx context.Context, controlID, policyID int64, limit int) ([]store.ValueGroup, error) {
	var g store.ValueGroups
	missing := 0
	err := s.query(ctx, failingValuesSQL,
		func(row pgx.Rows) error {
			var host int64
			var first time.Time
			var v *string
			if err := row.Scan(&host, dt{&first}, &v); err != nil {
				return err
			}
			if v == nil {
				missing++
				return nil
			}
			g.AddValue(host, first, *v)
			return nil
		}, controlID, policyID)
	if err != nil || missing == 0 {
		return g.Top(limit), err
	}
	err = s.query(ctx, `SELECT host_id, first_fail_date, cause_of_failure::text,
		CASE WHEN cause_of_failure IS NULL THEN evidence::text END
		FROM postures WHERE `+failingWhere+` AND fail_value IS NULL`,
		func(row pgx.Rows) error {
			var host int64
			var first time.Time
			var cause, ev []byte
			if err := row.Scan(&host, dt{&first}, &cause, &ev); err != nil {
				return err
			}
			g.Add(host, first, cause, ev)
			return nil
		}, controlID, policyID)
	return g.Top(limit), err
}
