package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"pcsync/internal/store"
)

// policyFiguresSQL selects the policies matching where with their hosts
// and figures, by id; tail follows the GROUP BY. The counts are summed per
// policy listed, along the counts' key (policy first): a grouped subquery
// joined to the policies summed every policy's counts for each answer.
func policyFiguresSQL(where, tail string) string {
	return `SELECT p.id, coalesce(p.title, ''), coalesce(p.status, ''),
	coalesce((SELECT hosts FROM counts_policy h WHERE h.policy_id = p.id), 0),
	coalesce(sum(k.passed), 0)::bigint, coalesce(sum(k.failed), 0)::bigint, coalesce(sum(k.errors), 0)::bigint
FROM policies p LEFT JOIN counts_control k ON k.policy_id = p.id
WHERE ` + where + ` GROUP BY p.id ORDER BY p.id ` + tail
}

func scanPolicyFigures(row pgx.Rows) (store.PolicyFigures, error) {
	var p store.PolicyFigures
	err := row.Scan(append([]any{&p.ID, &p.Title, &p.Status, &p.Hosts}, fig(&p.Figures)...)...)
	return p, err
}

// ListPolicies lists policies by id with their figures.
func (s *Store) ListPolicies(ctx context.Context, page store.Page, fn func(*store.PolicyFigures) error) (string, error) {
	after, err := afterID("policies", page.After)
	if err != nil {
		return "", err
	}
	pg := &pager{page: page}
	return pg.done(s.query(ctx, policyFiguresSQL(`p.id > $1`, `LIMIT $2`), func(row pgx.Rows) error {
		if pg.full() {
			return errPageFull
		}
		p, err := scanPolicyFigures(row)
		if err != nil {
			return err
		}
		pg.last = store.EncodeCursor("policies", []int64{p.ID})
		return fn(&p)
	}, after, limit(page)))
}

// Policy is one policy with its sections, technologies and frameworks.
func (s *Store) Policy(ctx context.Context, id int64) (*store.PolicyView, error) {
	var v *store.PolicyView
	err := s.query(ctx, policyFiguresSQL(`p.id = $1`, ``), func(row pgx.Rows) error {
		p, err := scanPolicyFigures(row)
		v = &store.PolicyView{PolicyFigures: p}
		return err
	}, id)
	if err == nil && v == nil {
		return nil, store.ErrNotFound
	}
	if err == nil {
		err = s.query(ctx, `SELECT `+policyColumns+` FROM policies WHERE id = $1`, func(row pgx.Rows) error {
			p, err := scanPolicy(row)
			v.Policy = p
			return err
		}, id)
	}
	if err == nil {
		err = s.query(ctx, `SELECT s.number, coalesce(s.heading, ''), count(DISTINCT pc.control_id),
			coalesce(sum(k.passed), 0)::bigint, coalesce(sum(k.failed), 0)::bigint, coalesce(sum(k.errors), 0)::bigint
			FROM sections s LEFT JOIN policy_controls pc ON pc.policy_id = s.policy_id AND pc.section_number = s.number
			LEFT JOIN counts_control k ON k.policy_id = s.policy_id AND k.control_id = pc.control_id
			WHERE s.policy_id = $1 GROUP BY s.number, s.heading ORDER BY s.number`, func(row pgx.Rows) error {
			var sf store.SectionFigures
			err := row.Scan(append([]any{&sf.Number, &sf.Heading, &sf.Controls}, fig(&sf.Figures)...)...)
			v.Sections = append(v.Sections, sf)
			return err
		}, id)
	}
	if err == nil {
		err = s.query(ctx, `SELECT k.technology_id, coalesce(t.name, ''), sum(k.passed)::bigint, sum(k.failed)::bigint, sum(k.errors)::bigint
			FROM counts_control k LEFT JOIN technologies t ON t.id = k.technology_id
			WHERE k.policy_id = $1 GROUP BY k.technology_id, t.name HAVING sum(k.passed + k.failed + k.errors) > 0 ORDER BY coalesce(t.name, '') COLLATE "C", k.technology_id`,
			func(row pgx.Rows) error {
				var t store.TechnologyFigures
				err := row.Scan(append([]any{&t.ID, &t.Name}, fig(&t.Figures)...)...)
				v.Technologies = append(v.Technologies, t)
				return err
			}, id)
	}
	if err == nil {
		err = s.query(ctx, frameworkFiguresSQL(true)+` ORDER BY f.id`, func(row pgx.Rows) error {
			f, err := scanFrameworkFigures(row)
			v.Frameworks = append(v.Frameworks, f)
			return err
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
		join, policy = "JOIN", "WHERE k.policy_id = $1"
		mine = ` WHERE control_id IN (SELECT control_id FROM policy_controls WHERE policy_id = $1
			UNION SELECT control_id FROM counts_control WHERE policy_id = $1)`
	}
	return `SELECT f.id, coalesce(f.name, ''), m.controls, coalesce(x.passed, 0)::bigint, coalesce(x.failed, 0)::bigint,
		coalesce(x.errors, 0)::bigint
	FROM frameworks f
	JOIN (SELECT framework_id, count(DISTINCT control_id) AS controls FROM control_frameworks` + mine + ` GROUP BY framework_id) m
		ON m.framework_id = f.id
	` + join + ` (SELECT cf.framework_id, sum(k.passed) AS passed, sum(k.failed) AS failed, sum(k.errors) AS errors
		FROM (SELECT DISTINCT framework_id, control_id FROM control_frameworks) cf
		JOIN counts_control k ON k.control_id = cf.control_id ` + policy + ` GROUP BY cf.framework_id) x
		ON x.framework_id = f.id WHERE true`
}

func scanFrameworkFigures(row pgx.Rows) (store.FrameworkFigures, error) {
	var f store.FrameworkFigures
	err := row.Scan(append([]any{&f.ID, &f.Name, &f.Controls}, fig(&f.Figures)...)...)
	return f, err
}

// ListFrameworks lists frameworks by id with the figures of their controls.
func (s *Store) ListFrameworks(ctx context.Context, page store.Page, fn func(*store.FrameworkFigures) error) (string, error) {
	after, err := afterID("frameworks", page.After)
	if err != nil {
		return "", err
	}
	pg := &pager{page: page}
	return pg.done(s.query(ctx, frameworkFiguresSQL(false)+` AND f.id > $1 ORDER BY f.id LIMIT $2`, func(row pgx.Rows) error {
		if pg.full() {
			return errPageFull
		}
		f, err := scanFrameworkFigures(row)
		if err != nil {
			return err
		}
		pg.last = store.EncodeCursor("frameworks", []int64{f.ID})
		return fn(&f)
	}, after, limit(page)))
}
