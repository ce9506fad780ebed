package sqlite

import (
	"context"
	"strings"

	"github.com/ncruces/go-sqlite3"

	"pcsync/internal/compliance"
	"pcsync/internal/store"
)

// policyControlsSQL lists the controls of policy ?1 (those its export
// places and those its postures report) with their figures, restricted to
// technology ?2 unless it is 0, worst first.
const policyControlsSQL = `
WITH k AS (SELECT control_id, sum(passed) AS passed, sum(failed) AS failed, sum(errors) AS errors
	FROM counts_control WHERE policy_id = ?1 AND (?2 = 0 OR technology_id = ?2) AND (passed + failed + errors + stale) > 0
	GROUP BY control_id),
ids AS (SELECT control_id FROM k UNION SELECT control_id FROM policy_controls WHERE policy_id = ?1 AND ?2 = 0)
SELECT * FROM (SELECT ids.control_id AS id, coalesce(c.statement, ''), coalesce(pc.criticality_label, c.criticality_label, ''),
	coalesce(pc.criticality_value, c.criticality_value, 0) AS criticality, coalesce(pc.section_number, 0) AS section,
	coalesce(s.heading, ''), coalesce(k.passed, 0) AS passed, coalesce(k.failed, 0) AS failed, coalesce(k.errors, 0) AS errors
FROM ids LEFT JOIN k ON k.control_id = ids.control_id
LEFT JOIN controls c ON c.id = ids.control_id
LEFT JOIN policy_controls pc ON pc.policy_id = ?1 AND pc.control_id = ids.control_id
LEFT JOIN sections s ON s.policy_id = ?1 AND s.number = pc.section_number)`

// ListPolicyControls lists the controls of a policy worst first.
func (s *Store) ListPolicyControls(ctx context.Context, policyID int64, f store.ControlFilter, page store.Page,
	fn func(*store.ControlFigures) error) (string, error) {
	c, ok, err := decodeCursor("controls", page.After, 3, 0)
	if err != nil {
		return "", err
	}
	var where []string
	args := []any{policyID, f.Technology}
	switch f.Status {
	case compliance.StatusPassed:
		where = append(where, "passed > 0")
	case compliance.StatusFailed:
		where = append(where, "failed > 0")
	case compliance.StatusError:
		where = append(where, "errors > 0")
	}
	if f.Criticality >= 0 {
		where = append(where, "criticality = ?")
		args = append(args, f.Criticality)
	}
	if f.Section >= 0 {
		where = append(where, "section = ?")
		args = append(args, f.Section)
	}
	if ok { // worst first: failed desc, errors desc, id
		where = append(where, "(failed < ? OR failed = ? AND (errors < ? OR errors = ? AND id > ?))")
		args = append(args, c.Ints[0], c.Ints[0], c.Ints[1], c.Ints[1], c.Ints[2])
	}
	q := policyControlsSQL
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY failed DESC, errors DESC, id LIMIT ?"
	args = append(args, limit(page))
	pg := &pager{page: page}
	return pg.done(s.query(ctx, q, func(st *sqlite3.Stmt) error {
		if pg.full() {
			return errPageFull
		}
		v := store.ControlFigures{ControlID: st.ColumnInt64(0), Statement: st.ColumnText(1),
			Criticality:   compliance.Criticality{Label: st.ColumnText(2), Value: st.ColumnInt64(3)},
			SectionNumber: st.ColumnInt64(4), SectionHeading: st.ColumnText(5), Figures: figures(st, 6)}
		pg.mark("controls", []int64{v.Failed, v.Errors, v.ControlID})
		return fn(&v)
	}, args...))
}

// Control is one control with its texts, references and figures per policy.
func (s *Store) Control(ctx context.Context, id int64) (*store.ControlView, error) {
	var v *store.ControlView
	err := s.query(ctx, `SELECT `+controlColumns+` FROM controls WHERE id = ?`, func(st *sqlite3.Stmt) error {
		v = &store.ControlView{Control: scanControl(st)}
		return nil
	}, id)
	if err == nil && v == nil {
		return nil, store.ErrNotFound
	}
	if err == nil {
		err = s.query(ctx, `SELECT ct.technology_id, coalesce(t.name, ''), coalesce(ct.rationale, '') FROM control_technologies ct
			LEFT JOIN technologies t ON t.id = ct.technology_id WHERE ct.control_id = ? ORDER BY ct.technology_id`, func(st *sqlite3.Stmt) error {
			v.Control.Technologies = append(v.Control.Technologies, compliance.ControlTechnology{TechnologyID: st.ColumnInt64(0),
				Name: st.ColumnText(1), Rationale: st.ColumnText(2)})
			return nil
		}, id)
	}
	if err == nil {
		err = s.query(ctx, `SELECT cf.framework_id, coalesce(f.name, ''), cf.reference, coalesce(cf.comments, '') FROM control_frameworks cf
			LEFT JOIN frameworks f ON f.id = cf.framework_id WHERE cf.control_id = ? ORDER BY cf.framework_id, cf.reference`, func(st *sqlite3.Stmt) error {
			v.Control.Frameworks = append(v.Control.Frameworks, compliance.FrameworkReference{FrameworkID: st.ColumnInt64(0),
				FrameworkName: st.ColumnText(1), Reference: st.ColumnText(2), Comments: st.ColumnText(3)})
			return nil
		}, id)
	}
	if err == nil {
		err = s.query(ctx, `SELECT k.policy_id, coalesce(p.title, ''), coalesce(p.status, ''), sum(k.passed), sum(k.failed), sum(k.errors)
			FROM counts_control k LEFT JOIN policies p ON p.id = k.policy_id WHERE k.control_id = ?
			GROUP BY k.policy_id ORDER BY k.policy_id`, func(st *sqlite3.Stmt) error {
			pf := store.PolicyFigures{ID: st.ColumnInt64(0), Title: st.ColumnText(1), Status: st.ColumnText(2), Figures: figures(st, 3)}
			v.Figures.Add(pf.Figures)
			v.Policies = append(v.Policies, pf)
			return nil
		}, id)
	}
	if err == nil {
		err = s.query(ctx, `SELECT p.policy_id, p.technology_id, coalesce(t.name, ''), coalesce(p.rationale, ''), coalesce(p.remediation, ''),
			coalesce(p.description, ''), coalesce(p.evaluate, '') FROM policy_control_technologies p
			LEFT JOIN technologies t ON t.id = p.technology_id WHERE p.control_id = ? ORDER BY p.policy_id, p.technology_id`,
			func(st *sqlite3.Stmt) error {
				v.PolicyTexts = append(v.PolicyTexts, store.PolicyControlText{PolicyID: st.ColumnInt64(0),
					ControlTechnology: compliance.ControlTechnology{TechnologyID: st.ColumnInt64(1), Name: st.ColumnText(2),
						Rationale: st.ColumnText(3), Remediation: st.ColumnText(4), Description: st.ColumnText(5), Evaluate: st.ColumnText(6)}})
				return nil
			}, id)
	}
	return v, err
}

// privateColumns are columns of this store's schema that the registry
// (store.Tables) leaves out, neither exported nor migrated: fail_value,
// derived by the sync from other columns (NULL after a migration into
// SQLite, and what reads it falls back to what it derives from), and
// evidence_seq, which links a posture to its row of posture_evidence
// (set by postures_with_evidence when migrate loads through it).
var privateColumns = map[string][]string{"postures": {"fail_value", "evidence_seq"}}

// evidenceJoin joins a posture p to its evidence, ev (schema 9).
const evidenceJoin = `LEFT JOIN posture_evidence ev ON ev.policy_id = p.policy_id AND ev.seq = p.evidence_seq`

// registryViews name the views that hold a registry table's rows where
// this store keeps them in more than one table: the postures with their
// evidence. Rows reads them, and LoadRows inserts through them.
var registryViews = map[string]string{"postures": "postures_with_evidence"}

// failingWhere selects a control's current failing postures (in one policy
// when ?2 is not 0): the condition of the partial index postures_failing.
const failingWhere = `control_id = ?1 AND (?2 = 0 OR policy_id = ?2) AND status = 'Failed' AND stale_run IS NULL`

const failingValuesSQL = `SELECT host_id, first_fail_date, fail_value FROM postures WHERE ` + failingWhere

// FailingValues groups the failing current postures of a control by value
// (store.FailingValue). The sync keeps each failing posture's value in
// fail_value, which the partial index postures_failing (current failing
// postures only) carries with the host and the first failure date: the
// groups are read from that index alone, where reading the documents
// would take one table page per posture (at 10M postures a
// control's 5,000 failing ones cost 55 ms that way, BENCHMARKS.md). A row
// whose fail_value is NULL (a value too long for the index, a row written
// before schema 8 or copied in by pcsync migrate) is grouped from its documents, in Go: SQLite's
// JSON functions parse each document once per call.
func (s *Store) FailingValues(ctx context.Context, controlID, policyID int64, limit int) ([]store.ValueGroup, error) {
	var g store.ValueGroups
	missing := 0
	err := s.query(ctx, failingValuesSQL,
		func(st *sqlite3.Stmt) error {
			if st.ColumnType(2) == sqlite3.NULL {
				missing++
				return nil
			}
			g.AddText(st.ColumnInt64(0), st.ColumnRawText(1), st.ColumnRawText(2))
			return nil
		}, controlID, policyID)
	if err != nil || missing == 0 {
		return g.Top(limit), err
	}
	err = s.query(ctx, `SELECT p.host_id, p.first_fail_date, p.cause_of_failure,
		CASE WHEN p.cause_of_failure IS NULL THEN ev.evidence END
		FROM postures p `+evidenceJoin+`
		WHERE (p.policy_id, p.id) IN (SELECT policy_id, id FROM postures WHERE `+failingWhere+`
			AND fail_value IS NULL)`,
		func(st *sqlite3.Stmt) error {
			g.Add(st.ColumnInt64(0), date(st, 1), st.ColumnRawText(2), st.ColumnRawText(3))
			return nil
		}, controlID, policyID)
	return g.Top(limit), err
}
