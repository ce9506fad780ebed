package sqlite

import (
	"context"

	"github.com/ncruces/go-sqlite3"

	"pcsync/internal/compliance"
	"pcsync/internal/store"
)

// policyFiguresSQL selects the policies matching where with their hosts
// and figures, by id; tail follows the GROUP BY. The counts are summed per
// policy listed, along the counts' key (policy first): a grouped subquery
// joined to the policies summed every policy's counts for each answer.
func policyFiguresSQL(where, tail string) string {
	return `SELECT p.id, coalesce(p.title, ''), coalesce(p.status, ''),
	coalesce((SELECT hosts FROM counts_policy h WHERE h.policy_id = p.id), 0),
	coalesce(sum(k.passed), 0), coalesce(sum(k.failed), 0), coalesce(sum(k.errors), 0)
FROM policies p LEFT JOIN counts_control k ON k.policy_id = p.id
WHERE ` + where + ` GROUP BY p.id ORDER BY p.id ` + tail
}

func scanPolicyFigures(st *sqlite3.Stmt) store.PolicyFigures {
	return store.PolicyFigures{ID: st.ColumnInt64(0), Title: st.ColumnText(1), Status: st.ColumnText(2),
		Hosts: st.ColumnInt64(3), Figures: figures(st, 4)}
}

// ListPolicies lists policies by id with their figures.
func (s *Store) ListPolicies(ctx context.Context, page store.Page, fn func(*store.PolicyFigures) error) (string, error) {
	c, _, err := decodeCursor("policies", page.After, 1, 0)
	if err != nil {
		return "", err
	}
	after := int64(-1 << 63)
	if c.Ints != nil {
		after = c.Ints[0]
	}
	pg := &pager{page: page}
	return pg.done(s.query(ctx, policyFiguresSQL(`p.id > ?`, `LIMIT ?`), func(st *sqlite3.Stmt) error {
		if pg.full() {
			return errPageFull
		}
		p := scanPolicyFigures(st)
		pg.mark("policies", []int64{p.ID})
		return fn(&p)
	}, after, limit(page)))
}

// Policy is one policy with its sections, technologies and frameworks.
func (s *Store) Policy(ctx context.Context, id int64) (*store.PolicyView, error) {
	var v *store.PolicyView
	err := s.query(ctx, policyFiguresSQL(`p.id = ?`, ``), func(st *sqlite3.Stmt) error {
		v = &store.PolicyView{PolicyFigures: scanPolicyFigures(st)}
		return nil
	}, id)
	if err == nil && v == nil {
		return nil, store.ErrNotFound
	}
	if err == nil {
		err = s.query(ctx, `SELECT id, title, created_by, created_date, modified_by, modified_date,
			last_evaluated_date, status, locked FROM policies WHERE id = ?`, func(st *sqlite3.Stmt) error {
			v.Policy = scanPolicy(st)
			return nil
		}, id)
	}
	if err == nil {
		err = s.query(ctx, `SELECT s.number, coalesce(s.heading, ''), count(DISTINCT pc.control_id),
			coalesce(sum(k.passed), 0), coalesce(sum(k.failed), 0), coalesce(sum(k.errors), 0)
			FROM sections s LEFT JOIN policy_controls pc ON pc.policy_id = s.policy_id AND pc.section_number = s.number
			LEFT JOIN counts_control k ON k.policy_id = s.policy_id AND k.control_id = pc.control_id
			WHERE s.policy_id = ? GROUP BY s.number ORDER BY s.number`, func(st *sqlite3.Stmt) error {
			v.Sections = append(v.Sections, store.SectionFigures{Number: st.ColumnInt64(0), Heading: st.ColumnText(1),
				Controls: st.ColumnInt64(2), Figures: figures(st, 3)})
			return nil
		}, id)
	}
	if err == nil {
		err = s.query(ctx, `SELECT k.technology_id, coalesce(t.name, ''), sum(k.passed), sum(k.failed), sum(k.errors)
			FROM counts_control k LEFT JOIN technologies t ON t.id = k.technology_id
			WHERE k.policy_id = ? GROUP BY k.technology_id HAVING sum(`+current+`) > 0 ORDER BY 2, 1`, func(st *sqlite3.Stmt) error {
			v.Technologies = append(v.Technologies, store.TechnologyFigures{
				Technology: compliance.Technology{ID: st.ColumnInt64(0), Name: st.ColumnText(1)}, Figures: figures(st, 2)})
			return nil
		}, id)
	}
	if err == nil {
		err = s.query(ctx, frameworkFiguresSQL(true)+` ORDER BY f.id`, func(st *sqlite3.Stmt) error {
			v.Frameworks = append(v.Frameworks, scanFrameworkFigures(st))
			return nil
		}, id)
	}
	return v, err
}

// frameworkFiguresSQL selects frameworks with the figures of their
// controls (a control counted once however many sections of the framework
// it maps to), in one policy (parameter 1: its controls, their figures in
// it) or in all.
func frameworkFiguresSQL(inPolicy bool) string {
	join, policy, mine := "LEFT JOIN", "", ""
	if inPolicy { // the framework's controls that are this policy's: defined in it, or with postures in it
		join, policy = "JOIN", "WHERE k.policy_id = ?1"
		mine = ` WHERE control_id IN (SELECT control_id FROM policy_controls WHERE policy_id = ?1
			UNION SELECT control_id FROM counts_control WHERE policy_id = ?1)`
	}
	return `SELECT f.id, coalesce(f.name, ''), m.controls, coalesce(x.passed, 0), coalesce(x.failed, 0), coalesce(x.errors, 0)
	FROM frameworks f
	JOIN (SELECT framework_id, count(DISTINCT control_id) AS controls FROM control_frameworks` + mine + ` GROUP BY framework_id) m
		ON m.framework_id = f.id
	` + join + ` (SELECT cf.framework_id, sum(k.passed) AS passed, sum(k.failed) AS failed, sum(k.errors) AS errors
		FROM (SELECT DISTINCT framework_id, control_id FROM control_frameworks) cf
		JOIN counts_control k ON k.control_id = cf.control_id ` + policy + ` GROUP BY cf.framework_id) x
		ON x.framework_id = f.id WHERE 1`
}

func scanFrameworkFigures(st *sqlite3.Stmt) store.FrameworkFigures {
	return store.FrameworkFigures{ID: st.ColumnInt64(0), Name: st.ColumnText(1), Controls: st.ColumnInt64(2), Figures: figures(st, 3)}
}

// ListFrameworks lists frameworks by id with the figures of their controls.
func (s *Store) ListFrameworks(ctx context.Context, page store.Page, fn func(*store.FrameworkFigures) error) (string, error) {
	c, _, err := decodeCursor("frameworks", page.After, 1, 0)
	if err != nil {
		return "", err
	}
	after := int64(-1 << 63)
	if c.Ints != nil {
		after = c.Ints[0]
	}
	pg := &pager{page: page}
	return pg.done(s.query(ctx, frameworkFiguresSQL(false)+` AND f.id > ?1 ORDER BY f.id LIMIT ?2`, func(st *sqlite3.Stmt) error {
		if pg.full() {
			return errPageFull
		}
		f := scanFrameworkFigures(st)
		pg.mark("frameworks", []int64{f.ID})
		return fn(&f)
	}, after, limit(page)))
}

// ListRuns lists runs, latest first.
func (s *Store) ListRuns(ctx context.Context, page store.Page, fn func(*compliance.Run) error) (string, error) {
	c, _, err := decodeCursor("runs", page.After, 1, 0)
	if err != nil {
		return "", err
	}
	before := int64(1<<63 - 1)
	if c.Ints != nil {
		before = c.Ints[0]
	}
	pg := &pager{page: page}
	return pg.done(s.query(ctx, `SELECT `+runColumns+` FROM runs WHERE id < ? ORDER BY id DESC LIMIT ?`, func(st *sqlite3.Stmt) error {
		if pg.full() {
			return errPageFull
		}
		r := scanRun(st)
		pg.mark("runs", []int64{r.ID})
		return fn(&r)
	}, before, limit(page)))
}

// Run is one run.
func (s *Store) Run(ctx context.Context, id int64) (*compliance.Run, error) {
	var run *compliance.Run
	err := s.query(ctx, `SELECT `+runColumns+` FROM runs WHERE id = ?`, func(st *sqlite3.Stmt) error {
		r := scanRun(st)
		run = &r
		return nil
	}, id)
	if err == nil && run == nil {
		err = store.ErrNotFound
	}
	return run, err
}
