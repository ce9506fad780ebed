package sqlite

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"time"

	"github.com/ncruces/go-sqlite3"

	"pcsync/internal/compliance"
	"pcsync/internal/store"
)

const upsertPostureSQL = `INSERT INTO postures (
	id, policy_id, host_id, control_id, technology_id, instance, status, previous_status,
	first_fail_date, last_fail_date, first_pass_date, last_pass_date, posture_modified_date,
	last_evaluated_date, created, criticality_label, criticality_value,
	evidence, cause_of_failure, extra, first_run, last_run)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?21)
ON CONFLICT (id) DO UPDATE SET
	policy_id = excluded.policy_id, host_id = excluded.host_id, control_id = excluded.control_id,
	technology_id = excluded.technology_id, instance = excluded.instance, status = excluded.status,
	previous_status = excluded.previous_status, first_fail_date = excluded.first_fail_date,
	last_fail_date = excluded.last_fail_date, first_pass_date = excluded.first_pass_date,
	last_pass_date = excluded.last_pass_date, posture_modified_date = excluded.posture_modified_date,
	last_evaluated_date = excluded.last_evaluated_date, created = excluded.created,
	criticality_label = excluded.criticality_label, criticality_value = excluded.criticality_value,
	evidence = excluded.evidence, cause_of_failure = excluded.cause_of_failure, extra = excluded.extra,
	last_run = excluded.last_run`

const upsertHostSQL = `INSERT INTO hosts (id, ip, tracking_method, os, os_cpe, dns, qg_host_id, network_id,
	network_name, compliance_last_scan_date, customer_uuid, customer_id, asset_id, last_run)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
ON CONFLICT (id) DO UPDATE SET ip = excluded.ip, tracking_method = excluded.tracking_method,
	os = excluded.os, os_cpe = excluded.os_cpe, dns = excluded.dns, qg_host_id = excluded.qg_host_id,
	network_id = excluded.network_id, network_name = excluded.network_name,
	compliance_last_scan_date = excluded.compliance_last_scan_date, customer_uuid = excluded.customer_uuid,
	customer_id = excluded.customer_id, asset_id = excluded.asset_id, last_run = excluded.last_run`

const upsertTechnologySQL = `INSERT INTO technologies (id, name) VALUES (?1, ?2)
ON CONFLICT (id) DO UPDATE SET name = coalesce(excluded.name, name)`

const upsertControlSQL = `INSERT INTO controls (id, criticality_label, criticality_value) VALUES (?1, ?2, ?3)
ON CONFLICT (id) DO UPDATE SET criticality_label = excluded.criticality_label, criticality_value = excluded.criticality_value`

const insertPolicyControlSQL = `INSERT INTO policy_controls (policy_id, control_id) VALUES (?1, ?2) ON CONFLICT DO NOTHING`

const insertBatchSQL = `INSERT INTO run_batches (run_id, batch_no, policy_id, hosts_returned, records, passed, failed, errors, finished_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
ON CONFLICT (run_id, batch_no) DO UPDATE SET hosts_returned = excluded.hosts_returned, records = excluded.records,
	passed = excluded.passed, failed = excluded.failed, errors = excluded.errors, finished_at = excluded.finished_at`

// writer holds the prepared statements of the write path and caches of the
// small tables, so that a host, technology or control is written again only
// when it changes.
type writer struct {
	posture, host, tech, control, policyControl, batch *sqlite3.Stmt

	seed     maphash.Seed
	hosts    map[int64]uint64 // host id -> hash of its fields as last written
	techs    map[int64]string
	controls map[int64]compliance.Criticality
	pcs      map[[2]int64]struct{}
	// pending cache entries of the open transaction, merged on commit
	pHosts    map[int64]uint64
	pTechs    map[int64]string
	pControls map[int64]compliance.Criticality
	pPCs      map[[2]int64]struct{}

	date []byte
}

func newWriter(conn *sqlite3.Conn) (*writer, error) {
	w := &writer{
		seed:  maphash.MakeSeed(),
		hosts: map[int64]uint64{}, techs: map[int64]string{}, controls: map[int64]compliance.Criticality{},
		pcs:    map[[2]int64]struct{}{},
		pHosts: map[int64]uint64{}, pTechs: map[int64]string{}, pControls: map[int64]compliance.Criticality{},
		pPCs: map[[2]int64]struct{}{},
	}
	for _, p := range []struct {
		st  **sqlite3.Stmt
		sql string
	}{
		{&w.posture, upsertPostureSQL}, {&w.host, upsertHostSQL}, {&w.tech, upsertTechnologySQL},
		{&w.control, upsertControlSQL}, {&w.policyControl, insertPolicyControlSQL}, {&w.batch, insertBatchSQL},
	} {
		st, _, err := conn.PrepareFlags(p.sql, sqlite3.PREPARE_PERSISTENT)
		if err != nil {
			w.close()
			return nil, fmt.Errorf("prepare: %w", err)
		}
		*p.st = st
	}
	return w, nil
}

func (w *writer) close() {
	for _, st := range []*sqlite3.Stmt{w.posture, w.host, w.tech, w.control, w.policyControl, w.batch} {
		if st != nil {
			st.Close()
		}
	}
}

// Write applies b in one transaction.
func (s *Store) Write(ctx context.Context, b *store.Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.w == nil {
		w, err := newWriter(s.conn)
		if err != nil {
			return err
		}
		s.w = w
	}
	if err := s.conn.Exec("BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := s.w.apply(b); err != nil {
		s.w.discard()
		if rerr := s.conn.Exec("ROLLBACK"); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return err
	}
	if err := s.conn.Exec("COMMIT"); err != nil {
		s.w.discard()
		_ = s.conn.Exec("ROLLBACK")
		return fmt.Errorf("commit: %w", err)
	}
	s.w.commit()
	return nil
}

func (w *writer) apply(b *store.Batch) error {
	for i := range b.Postures {
		p := &b.Postures[i]
		if err := w.related(p, b.RunID); err != nil {
			return fmt.Errorf("posture %d: %w", p.ID, err)
		}
		if err := w.upsertPosture(p, b.RunID); err != nil {
			return fmt.Errorf("posture %d: %w", p.ID, err)
		}
	}
	now := time.Now().UTC().Format(time.RFC3339)
	for _, d := range b.Done {
		st := w.batch
		if err := bindAll(st, b.RunID, d.BatchNo, d.PolicyID, d.HostsReturned, d.Counts.Records,
			d.Counts.Passed, d.Counts.Failed, d.Counts.Errors, now); err != nil {
			return err
		}
		if err := st.Exec(); err != nil {
			return fmt.Errorf("record batch %d: %w", d.BatchNo, err)
		}
	}
	return nil
}

// related upserts the host, technology and control a record mentions when
// they are new or changed.
func (w *writer) related(p *compliance.Posture, run int64) error {
	h := &p.Host
	if h.ID != 0 {
		sum := w.hostHash(h)
		cur, ok := w.pHosts[h.ID]
		if !ok {
			cur, ok = w.hosts[h.ID]
		}
		if !ok || cur != sum {
			if err := w.upsertHost(h, run); err != nil {
				return fmt.Errorf("host %d: %w", h.ID, err)
			}
			w.pHosts[h.ID] = sum
		}
	}
	if t := p.Technology; t.ID != 0 {
		if name, ok := w.lookupTech(t.ID); !ok || (name != t.Name && t.Name != "") {
			if err := bindAll(w.tech, t.ID, t.Name); err != nil {
				return err
			}
			if err := w.tech.Exec(); err != nil {
				return fmt.Errorf("technology %d: %w", t.ID, err)
			}
			w.pTechs[t.ID] = t.Name
		}
	}
	if p.ControlID != 0 {
		if c, ok := w.lookupControl(p.ControlID); !ok || c != p.Criticality {
			if err := bindAll(w.control, p.ControlID, p.Criticality.Label, p.Criticality.Value); err != nil {
				return err
			}
			if err := w.control.Exec(); err != nil {
				return fmt.Errorf("control %d: %w", p.ControlID, err)
			}
			w.pControls[p.ControlID] = p.Criticality
		}
		key := [2]int64{p.PolicyID, p.ControlID}
		_, ok := w.pcs[key]
		if _, pok := w.pPCs[key]; !ok && !pok {
			if err := bindAll(w.policyControl, p.PolicyID, p.ControlID); err != nil {
				return err
			}
			if err := w.policyControl.Exec(); err != nil {
				return fmt.Errorf("policy control %d/%d: %w", p.PolicyID, p.ControlID, err)
			}
			w.pPCs[key] = struct{}{}
		}
	}
	return nil
}

func (w *writer) lookupTech(id int64) (string, bool) {
	if n, ok := w.pTechs[id]; ok {
		return n, true
	}
	n, ok := w.techs[id]
	return n, ok
}

func (w *writer) lookupControl(id int64) (compliance.Criticality, bool) {
	if c, ok := w.pControls[id]; ok {
		return c, true
	}
	c, ok := w.controls[id]
	return c, ok
}

func (w *writer) hostHash(h *compliance.Host) uint64 {
	var m maphash.Hash
	m.SetSeed(w.seed)
	for _, s := range [...]string{h.IP, h.TrackingMethod, h.OS, h.OSCPE, h.DNS, h.QGHostID, h.NetworkName, h.CustomerUUID} {
		m.WriteString(s)
		m.WriteByte(0)
	}
	for _, n := range [...]int64{h.NetworkID, h.ComplianceLastScanDate.Unix(), h.CustomerID, h.AssetID} {
		maphash.WriteComparable(&m, n)
	}
	return m.Sum64() | 1 // never 0, which marks "not seen"
}

func (w *writer) upsertHost(h *compliance.Host, run int64) error {
	st := w.host
	if err := bindAll(st, h.ID, h.IP, h.TrackingMethod, h.OS, h.OSCPE, h.DNS, h.QGHostID, h.NetworkID,
		h.NetworkName, nil, h.CustomerUUID, h.CustomerID, h.AssetID, run); err != nil {
		return err
	}
	if err := w.bindDate(st, 10, h.ComplianceLastScanDate); err != nil {
		return err
	}
	return st.Exec()
}

func (w *writer) upsertPosture(p *compliance.Posture, run int64) error {
	st := w.posture
	if err := bindAll(st, p.ID, p.PolicyID, p.Host.ID, p.ControlID, p.TechnologyID); err != nil {
		return err
	}
	if err := st.BindText(6, p.Instance); err != nil {
		return err
	}
	if err := bindAll2(st, 7, string(p.Status), string(p.PreviousStatus)); err != nil {
		return err
	}
	for i, t := range [...]time.Time{p.FirstFailDate, p.LastFailDate, p.FirstPassDate, p.LastPassDate,
		p.PostureModifiedDate, p.LastEvaluatedDate, p.Created} {
		if err := w.bindDate(st, 9+i, t); err != nil {
			return err
		}
	}
	if err := bindAll2(st, 16, p.Criticality.Label); err != nil {
		return err
	}
	if err := st.BindInt64(17, p.Criticality.Value); err != nil {
		return err
	}
	for i, js := range [...][]byte{p.Evidence, p.CauseOfFailure, p.Extra} {
		if err := st.BindRawText(18+i, js); err != nil {
			return err
		}
	}
	if err := st.BindInt64(21, run); err != nil {
		return err
	}
	return st.Exec()
}

// bindAll2 binds strings from parameter first on, "" as NULL.
func bindAll2(st *sqlite3.Stmt, first int, vals ...string) error {
	for i, v := range vals {
		var err error
		if v == "" {
			err = st.BindNull(first + i)
		} else {
			err = st.BindText(first+i, v)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (w *writer) bindDate(st *sqlite3.Stmt, param int, t time.Time) error {
	if t.IsZero() {
		return st.BindNull(param)
	}
	w.date = compliance.AppendDate(w.date[:0], t)
	return st.BindRawText(param, w.date)
}

// commit merges the open transaction's cache entries.
func (w *writer) commit() {
	for k, v := range w.pHosts {
		w.hosts[k] = v
	}
	for k, v := range w.pTechs {
		w.techs[k] = v
	}
	for k, v := range w.pControls {
		w.controls[k] = v
	}
	for k := range w.pPCs {
		w.pcs[k] = struct{}{}
	}
	w.discard()
}

// discard forgets the open transaction's cache entries (after a rollback).
func (w *writer) discard() {
	clear(w.pHosts)
	clear(w.pTechs)
	clear(w.pControls)
	clear(w.pPCs)
}
