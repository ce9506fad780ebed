package postgres

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"pcsync/internal/compliance"
)

// tx runs fn in a transaction; the caches of the write path forget the
// catalogue, which fn may have rewritten.
func (s *Store) tx(ctx context.Context, what string, fn func(tx pgx.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := pgx.BeginFunc(ctx, s.pool, fn); err != nil {
		return s.lost(fmt.Errorf("%s: %w", what, err))
	}
	if s.w != nil {
		s.w.forget()
	}
	return nil
}

// UpsertPolicies stores policies as the policy list gave them.
func (s *Store) UpsertPolicies(ctx context.Context, runID int64, policies []compliance.Policy) error {
	return s.tx(ctx, "store policies", func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		for _, p := range sortedBy(policies, func(p compliance.Policy) int64 { return p.ID }) {
			b.Queue(`INSERT INTO policies (id, title, created_by, created_date, modified_by, modified_date,
				last_evaluated_date, status, locked, first_run, last_run) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)
				ON CONFLICT (id) DO UPDATE SET title = excluded.title, created_by = excluded.created_by,
				created_date = excluded.created_date, modified_by = excluded.modified_by,
				modified_date = excluded.modified_date, last_evaluated_date = excluded.last_evaluated_date,
				status = excluded.status, locked = excluded.locked, last_run = excluded.last_run`,
				p.ID, ns(p.Title), ns(p.CreatedBy), nt(p.CreatedDate), ns(p.ModifiedBy), nt(p.ModifiedDate),
				nt(p.LastEvaluatedDate), ns(p.Status), p.Locked, runID)
		}
		return tx.SendBatch(ctx, b).Close()
	})
}

const upsertControlFullSQL = `INSERT INTO controls (id, criticality_label, criticality_value, category, sub_category,
	statement, check_type, comment, is_active, user_defined, created_date, update_date)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
ON CONFLICT (id) DO UPDATE SET criticality_label = excluded.criticality_label,
	criticality_value = excluded.criticality_value, category = excluded.category,
	sub_category = excluded.sub_category, statement = excluded.statement, check_type = excluded.check_type,
	comment = excluded.comment, is_active = excluded.is_active, user_defined = excluded.user_defined,
	created_date = excluded.created_date, update_date = excluded.update_date`

const upsertTechnologySQL = `INSERT INTO technologies AS t (id, name) VALUES ($1, $2)
	ON CONFLICT (id) DO UPDATE SET name = coalesce(excluded.name, t.name)`

const upsertFrameworkSQL = `INSERT INTO frameworks AS f (id, name) VALUES ($1, $2)
	ON CONFLICT (id) DO UPDATE SET name = coalesce(excluded.name, f.name)`

// UpsertControls stores controls with their technologies and frameworks.
func (s *Store) UpsertControls(ctx context.Context, runID int64, controls []compliance.Control) error {
	return s.tx(ctx, "store controls", func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		for _, c := range sortedBy(controls, func(c compliance.Control) int64 { return c.ID }) {
			b.Queue(upsertControlFullSQL, c.ID, ns(c.Criticality.Label), c.Criticality.Value, ns(c.Category),
				ns(c.SubCategory), ns(c.Statement), ns(c.CheckType), ns(c.Comment), c.Active, c.UserDefined, nt(c.Created), nt(c.Updated))
			b.Queue(`DELETE FROM control_technologies WHERE control_id = $1`, c.ID)
			for _, t := range c.Technologies {
				b.Queue(upsertTechnologySQL, t.TechnologyID, ns(t.Name))
				b.Queue(`INSERT INTO control_technologies (control_id, technology_id, rationale) VALUES ($1, $2, $3)
					ON CONFLICT (control_id, technology_id) DO UPDATE SET rationale = excluded.rationale`, c.ID, t.TechnologyID, ns(t.Rationale))
			}
			if len(c.Frameworks) > 0 {
				b.Queue(`DELETE FROM control_frameworks WHERE control_id = $1`, c.ID)
			}
			for _, f := range c.Frameworks {
				b.Queue(upsertFrameworkSQL, f.FrameworkID, ns(f.FrameworkName))
				b.Queue(`INSERT INTO control_frameworks (control_id, framework_id, reference, comments) VALUES ($1, $2, $3, $4)
					ON CONFLICT (control_id, framework_id, reference) DO UPDATE SET comments = excluded.comments`,
					c.ID, f.FrameworkID, f.Reference, ns(f.Comments))
			}
		}
		return tx.SendBatch(ctx, b).Close()
	})
}

// UpsertPolicyDetail stores a policy export, replacing the policy's earlier one.
func (s *Store) UpsertPolicyDetail(ctx context.Context, runID int64, d *compliance.PolicyDetail) error {
	return s.tx(ctx, fmt.Sprintf("store export of policy %d", d.PolicyID), func(tx pgx.Tx) error {
		id := d.PolicyID
		b := &pgx.Batch{}
		b.Queue(`INSERT INTO policies AS p (id, title, status, cover_page, exported, first_run, last_run) VALUES ($1, $2, $3, $4, $5, $6, $6)
			ON CONFLICT (id) DO UPDATE SET title = coalesce(excluded.title, p.title), status = coalesce(excluded.status, p.status),
			cover_page = excluded.cover_page, exported = excluded.exported, last_run = excluded.last_run`,
			id, ns(d.Title), ns(d.Status), ns(d.CoverPage), nt(d.Exported), runID)
		for _, q := range []string{
			`DELETE FROM sections WHERE policy_id = $1`, `DELETE FROM policy_technologies WHERE policy_id = $1`,
			`DELETE FROM policy_control_technologies WHERE policy_id = $1`,
			// controls an earlier export placed in a section; PCRS-only rows stay
			`DELETE FROM policy_controls WHERE policy_id = $1 AND section_number IS NOT NULL`,
		} {
			b.Queue(q, id)
		}
		for _, t := range d.Technologies {
			b.Queue(upsertTechnologySQL, t.ID, ns(t.Name))
			b.Queue(`INSERT INTO policy_technologies (policy_id, technology_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, id, t.ID)
		}
		for _, sec := range d.Sections {
			queueSection(b, id, &sec)
		}
		for _, fc := range d.Frameworks {
			b.Queue(upsertFrameworkSQL, fc.Framework.ID, ns(fc.Framework.Name))
			for _, c := range fc.Controls {
				b.Queue(`INSERT INTO control_frameworks AS f (control_id, framework_id, reference, comments) VALUES ($1, $2, $3, $4)
					ON CONFLICT (control_id, framework_id, reference) DO UPDATE SET comments = coalesce(excluded.comments, f.comments)`,
					c.ControlID, fc.Framework.ID, c.Reference, ns(c.Comments))
			}
		}
		return tx.SendBatch(ctx, b).Close()
	})
}

func queueSection(b *pgx.Batch, policyID int64, sec *compliance.Section) {
	b.Queue(`INSERT INTO sections (policy_id, number, heading) VALUES ($1, $2, $3)
		ON CONFLICT (policy_id, number) DO UPDATE SET heading = excluded.heading`, policyID, sec.Number, ns(sec.Heading))
	for pos, pc := range sec.Controls {
		if pc.UserDefined { // a UDC exists only in its policy: catalogue it
			b.Queue(`INSERT INTO controls (id, criticality_label, criticality_value, statement, user_defined)
				VALUES ($1, $2, $3, $4, true) ON CONFLICT (id) DO UPDATE SET statement = excluded.statement, user_defined = true`,
				pc.ControlID, ns(pc.Criticality.Label), pc.Criticality.Value, ns(pc.Statement))
		}
		b.Queue(`INSERT INTO policy_controls (policy_id, control_id, section_number, criticality_label,
			criticality_value, reference_text, disabled, user_defined, position) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
			ON CONFLICT (policy_id, control_id) DO UPDATE SET section_number = excluded.section_number, position = excluded.position,
			criticality_label = excluded.criticality_label, criticality_value = excluded.criticality_value,
			reference_text = excluded.reference_text, disabled = excluded.disabled, user_defined = excluded.user_defined`,
			policyID, pc.ControlID, sec.Number, ns(pc.Criticality.Label), pc.Criticality.Value, ns(pc.ReferenceText),
			pc.Disabled, pc.UserDefined, int64(pos))
		for _, t := range pc.Technologies {
			b.Queue(upsertTechnologySQL, t.TechnologyID, ns(t.Name))
			b.Queue(`INSERT INTO policy_control_technologies (policy_id, control_id, technology_id,
				rationale, remediation, description, evaluate) VALUES ($1, $2, $3, $4, $5, $6, $7)
				ON CONFLICT (policy_id, control_id, technology_id) DO UPDATE SET rationale = excluded.rationale,
				remediation = excluded.remediation, description = excluded.description, evaluate = excluded.evaluate`,
				policyID, pc.ControlID, t.TechnologyID, ns(t.Rationale), ns(t.Remediation), ns(t.Description), ns(t.Evaluate))
		}
	}
}

// sortedBy returns xs ordered by key (rows are locked in key order).
func sortedBy[T any](xs []T, key func(T) int64) []T {
	out := append([]T(nil), xs...)
	slices.SortStableFunc(out, func(a, b T) int { return cmp.Compare(key(a), key(b)) })
	return out
}
