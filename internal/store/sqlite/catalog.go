package sqlite

import (
	"context"
	"fmt"

	"github.com/ncruces/go-sqlite3"

	"pcsync/internal/compliance"
)

// tx runs fn in an immediate transaction on the write connection.
func (s *Store) tx(ctx context.Context, what string, fn func(conn *sqlite3.Conn) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.conn.Exec("BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if err := fn(s.conn); err != nil {
		_ = s.conn.Exec("ROLLBACK")
		return fmt.Errorf("%s: %w", what, err)
	}
	if err := s.conn.Exec("COMMIT"); err != nil {
		_ = s.conn.Exec("ROLLBACK")
		return fmt.Errorf("%s: %w", what, err)
	}
	if s.w != nil { // the writer's caches may hold what was replaced
		s.w.forgetControls()
	}
	return nil
}

const upsertControlFullSQL = `INSERT INTO controls (id, criticality_label, criticality_value, category, sub_category,
	statement, check_type, comment, is_active, user_defined, created_date, update_date)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET criticality_label = excluded.criticality_label,
	criticality_value = excluded.criticality_value, category = excluded.category,
	sub_category = excluded.sub_category, statement = excluded.statement, check_type = excluded.check_type,
	comment = excluded.comment, is_active = excluded.is_active, user_defined = excluded.user_defined,
	created_date = excluded.created_date, update_date = excluded.update_date`

// UpsertControls stores controls with their technologies and frameworks.
func (s *Store) UpsertControls(ctx context.Context, runID int64, controls []compliance.Control) error {
	return s.tx(ctx, "store controls", func(conn *sqlite3.Conn) error {
		for i := range controls {
			c := &controls[i]
			err := exec(conn, upsertControlFullSQL, c.ID, c.Criticality.Label, c.Criticality.Value, c.Category,
				c.SubCategory, c.Statement, c.CheckType, c.Comment, c.Active, c.UserDefined, c.Created, c.Updated)
			if err == nil {
				err = exec(conn, `DELETE FROM control_technologies WHERE control_id = ?`, c.ID)
			}
			for _, t := range c.Technologies {
				if err == nil {
					err = upsertTechnology(conn, t.TechnologyID, t.Name)
				}
				if err == nil {
					err = exec(conn, `INSERT OR REPLACE INTO control_technologies (control_id, technology_id, rationale) VALUES (?, ?, ?)`,
						c.ID, t.TechnologyID, t.Rationale)
				}
			}
			if err == nil && len(c.Frameworks) > 0 {
				err = exec(conn, `DELETE FROM control_frameworks WHERE control_id = ?`, c.ID)
			}
			for _, f := range c.Frameworks {
				if err == nil {
					err = upsertFramework(conn, f.FrameworkID, f.FrameworkName)
				}
				if err == nil {
					err = exec(conn, `INSERT OR REPLACE INTO control_frameworks (control_id, framework_id, reference, comments) VALUES (?, ?, ?, ?)`,
						c.ID, f.FrameworkID, nz(f.Reference), f.Comments)
				}
			}
			if err != nil {
				return fmt.Errorf("control %d: %w", c.ID, err)
			}
		}
		return nil
	})
}

// nz keeps "" as "" (bindAll stores "" as NULL; a key column must not be NULL).
type emptyString struct{}

func nz(s string) any {
	if s == "" {
		return emptyString{}
	}
	return s
}

func upsertTechnology(conn *sqlite3.Conn, id int64, name string) error {
	return exec(conn, upsertTechnologySQL, id, name)
}

func upsertFramework(conn *sqlite3.Conn, id int64, name string) error {
	return exec(conn, `INSERT INTO frameworks (id, name) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET name = coalesce(excluded.name, name)`, id, name)
}

// UpsertPolicyDetail stores a policy export, replacing the policy's earlier one.
func (s *Store) UpsertPolicyDetail(ctx context.Context, runID int64, d *compliance.PolicyDetail) error {
	return s.tx(ctx, fmt.Sprintf("store export of policy %d", d.PolicyID), func(conn *sqlite3.Conn) error {
		id := d.PolicyID
		for _, q := range []string{
			`DELETE FROM sections WHERE policy_id = ?`, `DELETE FROM policy_technologies WHERE policy_id = ?`,
			`DELETE FROM policy_control_technologies WHERE policy_id = ?`,
			// controls an earlier export placed in a section; PCRS-only rows stay
			`DELETE FROM policy_controls WHERE policy_id = ? AND section_number IS NOT NULL`,
		} {
			if err := exec(conn, q, id); err != nil {
				return err
			}
		}
		if err := exec(conn, `INSERT INTO policies (id, title, status, cover_page, exported, first_run, last_run) VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET title = coalesce(excluded.title, title), status = coalesce(excluded.status, status),
			cover_page = excluded.cover_page, exported = excluded.exported, last_run = excluded.last_run`,
			id, d.Title, d.Status, d.CoverPage, d.Exported, runID, runID); err != nil {
			return err
		}
		for _, t := range d.Technologies {
			if err := upsertTechnology(conn, t.ID, t.Name); err != nil {
				return err
			}
			if err := exec(conn, `INSERT OR IGNORE INTO policy_technologies (policy_id, technology_id) VALUES (?, ?)`, id, t.ID); err != nil {
				return err
			}
		}
		for _, sec := range d.Sections {
			if err := s.storeSection(conn, id, &sec); err != nil {
				return fmt.Errorf("section %d: %w", sec.Number, err)
			}
		}
		for _, fc := range d.Frameworks {
			if err := upsertFramework(conn, fc.Framework.ID, fc.Framework.Name); err != nil {
				return err
			}
			for _, c := range fc.Controls {
				if err := exec(conn, `INSERT INTO control_frameworks (control_id, framework_id, reference, comments) VALUES (?, ?, ?, ?)
					ON CONFLICT DO UPDATE SET comments = coalesce(excluded.comments, comments)`,
					c.ControlID, fc.Framework.ID, nz(c.Reference), c.Comments); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

func (s *Store) storeSection(conn *sqlite3.Conn, policyID int64, sec *compliance.Section) error {
	if err := exec(conn, `INSERT OR REPLACE INTO sections (policy_id, number, heading) VALUES (?, ?, ?)`, policyID, sec.Number, sec.Heading); err != nil {
		return err
	}
	for pos, pc := range sec.Controls {
		if pc.UserDefined { // a UDC exists only in its policy: catalogue it
			if err := exec(conn, `INSERT INTO controls (id, criticality_label, criticality_value, statement, user_defined)
				VALUES (?, ?, ?, ?, 1) ON CONFLICT (id) DO UPDATE SET statement = excluded.statement, user_defined = 1`,
				pc.ControlID, pc.Criticality.Label, pc.Criticality.Value, pc.Statement); err != nil {
				return err
			}
		}
		if err := exec(conn, `INSERT INTO policy_controls (policy_id, control_id, section_number, criticality_label,
			criticality_value, reference_text, disabled, user_defined, position) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (policy_id, control_id) DO UPDATE SET section_number = excluded.section_number, position = excluded.position,
			criticality_label = excluded.criticality_label, criticality_value = excluded.criticality_value,
			reference_text = excluded.reference_text, disabled = excluded.disabled, user_defined = excluded.user_defined`,
			policyID, pc.ControlID, sec.Number, pc.Criticality.Label, pc.Criticality.Value, pc.ReferenceText, pc.Disabled, pc.UserDefined, pos); err != nil {
			return err
		}
		for _, t := range pc.Technologies {
			if err := upsertTechnology(conn, t.TechnologyID, t.Name); err != nil {
				return err
			}
			if err := exec(conn, `INSERT OR REPLACE INTO policy_control_technologies (policy_id, control_id, technology_id,
				rationale, remediation, description, evaluate) VALUES (?, ?, ?, ?, ?, ?, ?)`,
				policyID, pc.ControlID, t.TechnologyID, t.Rationale, t.Remediation, t.Description, t.Evaluate); err != nil {
				return err
			}
		}
	}
	return nil
}
