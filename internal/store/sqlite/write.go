package sqlite

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
	"strings"
	"time"
	"unsafe"

	"github.com/ncruces/go-sqlite3"

	"pcsync/internal/compliance"
	"pcsync/internal/store"
)

// postureColumns are bound per row in this order; first_run and last_run
// both take the run id (the update keeps first_run). A record's evidence
// goes to posture_evidence (evidenceSQL), which evidence_seq names.
const postureColumns = `id, policy_id, host_id, control_id, technology_id, instance, status, previous_status,
	first_fail_date, last_fail_date, first_pass_date, last_pass_date, posture_modified_date,
	last_evaluated_date, created, criticality_label, criticality_value,
	evidence_seq, cause_of_failure, extra, fail_value, first_run, last_run`

const postureParams = 22 // per row

// bareColumns are the bare pipeline's: the evidence in the row, as a plain
// loader would keep it.
const bareColumns = `id, policy_id, host_id, control_id, technology_id, instance, status, previous_status,
	first_fail_date, last_fail_date, first_pass_date, last_pass_date, posture_modified_date,
	last_evaluated_date, created, criticality_label, criticality_value,
	evidence, cause_of_failure, extra, fail_value, first_run, last_run`

const postureUpsert = `
ON CONFLICT (policy_id, id) DO UPDATE SET
	host_id = excluded.host_id, control_id = excluded.control_id,
	technology_id = excluded.technology_id, instance = excluded.instance, status = excluded.status,
	previous_status = excluded.previous_status, first_fail_date = excluded.first_fail_date,
	last_fail_date = excluded.last_fail_date, first_pass_date = excluded.first_pass_date,
	last_pass_date = excluded.last_pass_date, posture_modified_date = excluded.posture_modified_date,
	last_evaluated_date = excluded.last_evaluated_date, created = excluded.created,
	criticality_label = excluded.criticality_label, criticality_value = excluded.criticality_value,
	evidence_seq = excluded.evidence_seq, cause_of_failure = excluded.cause_of_failure, extra = excluded.extra,
	fail_value = excluded.fail_value, last_run = excluded.last_run, stale_run = NULL`

// postureRowsPerStmt is how many records one INSERT carries: one statement
// per row spends as much in statement overhead (reset, unbind, halt) as in
// the insert itself, and each statement copies the pages it changes into
// its statement journal once, so more rows share those copies (64 against
// 16: 1M single shape -7%, wide -3%; BENCHMARKS.md).
const postureRowsPerStmt = 64

// upsertPostureSQL builds the upsert of n rows.
func upsertPostureSQL(n int) string {
	return insertRowsSQL("postures", postureColumns, n) + postureUpsert
}

// bareInsertSQL builds the bare pipeline's insert of n rows.
func bareInsertSQL(n int) string { return insertRowsSQL("bare_postures", bareColumns, n) }

// insertRowsSQL builds the plain insert of n rows into table; the last
// parameter of a row fills the last two columns (first_run and last_run).
func insertRowsSQL(table, columns string, n int) string {
	var b strings.Builder
	b.WriteString("INSERT INTO " + table + " (" + columns + ") VALUES ")
	for r := 0; r < n; r++ {
		if r > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('(')
		base := r * postureParams
		for c := 1; c <= postureParams; c++ {
			fmt.Fprintf(&b, "?%d,", base+c)
		}
		fmt.Fprintf(&b, "?%d)", base+postureParams) // last_run
	}
	return b.String()
}

// evidenceSQL builds the insert of n records' evidence: policy, seq,
// evidence.
func evidenceSQL(n int) string {
	return "INSERT INTO posture_evidence (policy_id, seq, evidence) VALUES (?, ?, ?)" + strings.Repeat(", (?, ?, ?)", n-1)
}

// bareTableSQL is the baseline table of Options.BareInsert: the postures
// columns with no key, no index and no upsert.
const bareTableSQL = `CREATE TABLE IF NOT EXISTS bare_postures (` + bareColumns + `)`

const upsertHostSQL = `INSERT INTO hosts (id, ip, tracking_method, os, os_cpe, dns, qg_host_id, network_id,
	network_name, compliance_last_scan_date, customer_uuid, customer_id, asset_id, last_run)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
ON CONFLICT (id) DO UPDATE SET ip = excluded.ip, tracking_method = excluded.tracking_method,
	os = excluded.os, os_cpe = excluded.os_cpe, dns = excluded.dns, qg_host_id = excluded.qg_host_id,
	network_id = excluded.network_id, network_name = excluded.network_name,
	compliance_last_scan_date = excluded.compliance_last_scan_date, customer_uuid = excluded.customer_uuid,
	customer_id = excluded.customer_id, asset_id = excluded.asset_id, last_run = excluded.last_run
WHERE hosts.compliance_last_scan_date IS NULL OR excluded.compliance_last_scan_date IS NULL
	OR excluded.compliance_last_scan_date >= hosts.compliance_last_scan_date`

// wholeRowsPerStmt is how many hosts one wholeSQL marks: a batch of a
// first load marks each of its hosts (one statement a host was 5% of the
// writer's CPU on a wide estate).
const wholeRowsPerStmt = 32

// wholeSQL records hosts of policy ?1 as fetched whole: ?2.. are the hosts
// (a short list repeats its last).
var wholeSQL = `UPDATE policy_hosts SET whole = 0 WHERE policy_id = ?1 AND whole AND host_id IN (?2` +
	strings.Repeat(", ?", wholeRowsPerStmt-1) + `)`

const upsertTechnologySQL = `INSERT INTO technologies (id, name) VALUES (?1, ?2)
ON CONFLICT (id) DO UPDATE SET name = coalesce(excluded.name, name)`

const upsertControlSQL = `INSERT INTO controls (id, criticality_label, criticality_value) VALUES (?1, ?2, ?3)
ON CONFLICT (id) DO UPDATE SET criticality_label = excluded.criticality_label, criticality_value = excluded.criticality_value`

const upsertExceptionSQL = `INSERT OR REPLACE INTO exceptions (posture_id, assignee, status, comments, created_by,
	created_date, modified_by, modified_date, end_date, last_run, policy_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

const insertPolicyControlSQL = `INSERT INTO policy_controls (policy_id, control_id) VALUES (?1, ?2) ON CONFLICT DO NOTHING`

const insertBatchSQL = `INSERT INTO run_batches (run_id, batch_no, policy_id, status, hosts_returned, records, passed, failed, errors, finished_at, rejects)
VALUES (?1, ?2, ?3, 'done', ?4, ?5, ?6, ?7, ?8, ?9, ?10)
ON CONFLICT (run_id, batch_no) DO UPDATE SET status = 'done', hosts_returned = excluded.hosts_returned,
	records = excluded.records, passed = excluded.passed, failed = excluded.failed, errors = excluded.errors,
	error = NULL, finished_at = excluded.finished_at, rejects = excluded.rejects`

// writer holds the prepared statements of the write path and caches of the
// small tables, so that a host, technology or control is written again only
// when it changes.
type writer struct {
	bare bool // Options.BareInsert

	posture, postureN, host, tech, control, policyControl, batch *sqlite3.Stmt
	postureParams1, postureParamsN, hostParams                   *params // of posture, postureN and host
	evidenceParams1, evidenceParamsN                             *params // of evidence and evidenceN: plain, each document differs
	exception, noException, remediation, cursor, finish          *sqlite3.Stmt
	whole, wrote                                                 *sqlite3.Stmt
	evidence, evidenceN, maxSeq                                  *sqlite3.Stmt
	remediations, pRemediations                                  map[int64]string

	values                    store.FailingValues // parses failing postures' documents for fail_value
	counts                    *countDeltas
	hostCounts, controlCounts countStmts
	order                     []int32 // the batch's records by (policy, id)
	// the open transaction's last evidence seq per policy (read from the
	// table at a policy's first documents in each transaction: another
	// process may have written between two of ours), and the seqs of the
	// statement being bound (0: no evidence)
	seqs    map[int64]int64
	rowSeqs [postureRowsPerStmt]int64
	evRows  []int32

	seed     maphash.Seed
	hosts    map[int64]hostSeen // what was last written per host (hosts.go)
	hostCap  int
	pend     map[int64]int // host id -> the record of the batch whose host is written
	pendIDs  []int64
	techs    map[int64]string
	controls map[int64]compliance.Criticality
	pcs      map[[2]int64]struct{}
	// pending cache entries of the open transaction, merged on commit
	pHosts    map[int64]hostSeen
	pTechs    map[int64]string
	pControls map[int64]compliance.Criticality
	pPCs      map[[2]int64]struct{}

	date     []byte
	lastHost compliance.Host
	// the run recorded as having stored postures (runs.wrote), and the one
	// the open transaction records
	wroteRun, pWroteRun int64
}

func newWriter(conn *sqlite3.Conn, opts Options) (*writer, error) {
	bare := opts.BareInsert
	w := &writer{
		bare:         bare,
		counts:       newCountDeltas(),
		seed:         maphash.MakeSeed(),
		remediations: map[int64]string{}, pRemediations: map[int64]string{},
		hosts: map[int64]hostSeen{}, hostCap: cmp.Or(opts.HostCache, defaultHostCache), pend: map[int64]int{},
		techs: map[int64]string{}, controls: map[int64]compliance.Criticality{},
		pcs:    map[[2]int64]struct{}{},
		pHosts: map[int64]hostSeen{}, pTechs: map[int64]string{}, pControls: map[int64]compliance.Criticality{},
		pPCs: map[[2]int64]struct{}{}, seqs: map[int64]int64{},
	}
	for _, p := range []struct {
		st  **sqlite3.Stmt
		sql string
	}{
		{&w.posture, upsertPostureSQL(1)}, {&w.postureN, upsertPostureSQL(postureRowsPerStmt)}, {&w.host, upsertHostSQL}, {&w.tech, upsertTechnologySQL},
		{&w.control, upsertControlSQL}, {&w.policyControl, insertPolicyControlSQL}, {&w.batch, insertBatchSQL},
		{&w.exception, upsertExceptionSQL}, {&w.noException, `DELETE FROM exceptions WHERE posture_id = ?`},
		{&w.remediation, `UPDATE controls SET remediation = ? WHERE id = ?`},
		{&w.cursor, `UPDATE run_batches SET cursor = ?, records = records + ?, passed = passed + ?, failed = failed + ?,
			errors = errors + ?, rejects = rejects + ? WHERE run_id = ? AND batch_no = ?`},
		{&w.whole, wholeSQL},
		{&w.wrote, `UPDATE runs SET wrote = 1 WHERE id = ? AND NOT wrote`},
		{&w.finish, `UPDATE run_batches SET status = 'done', error = NULL, finished_at = ? WHERE run_id = ? AND batch_no = ?`},
		{&w.evidence, evidenceSQL(1)}, {&w.evidenceN, evidenceSQL(postureRowsPerStmt)},
		{&w.maxSeq, `SELECT max(seq) FROM posture_evidence WHERE policy_id = ?`},
	} {
		if bare && (p.st == &w.posture || p.st == &w.postureN) {
			if err := conn.Exec(bareTableSQL); err != nil {
				return nil, err
			}
			p.sql = bareInsertSQL(1)
			if p.st == &w.postureN {
				p.sql = bareInsertSQL(postureRowsPerStmt)
			}
		}
		st, _, err := conn.PrepareFlags(p.sql, sqlite3.PREPARE_PERSISTENT)
		if err != nil {
			w.close()
			return nil, fmt.Errorf("prepare: %w", err)
		}
		*p.st = st
	}
	w.postureParams1, w.postureParamsN = newParams(w.posture, bare), newParams(w.postureN, bare)
	w.hostParams = newParams(w.host, false)
	w.evidenceParams1, w.evidenceParamsN = newParams(w.evidence, true), newParams(w.evidenceN, true)
	var err error
	if w.hostCounts, err = prepareCounts(conn, "counts_host", hostKeys, sqlite3.PREPARE_PERSISTENT); err != nil {
		w.close()
		return nil, fmt.Errorf("prepare: %w", err)
	}
	if w.controlCounts, err = prepareCounts(conn, "counts_control", controlKeys, sqlite3.PREPARE_PERSISTENT); err != nil {
		w.close()
		return nil, fmt.Errorf("prepare: %w", err)
	}
	return w, nil
}

func (w *writer) close() {
	for _, st := range []*sqlite3.Stmt{w.posture, w.postureN, w.host, w.tech, w.control, w.policyControl, w.batch,
		w.exception, w.noException, w.remediation, w.cursor, w.finish, w.whole, w.wrote, w.evidence, w.evidenceN, w.maxSeq} {
		if st != nil {
			st.Close()
		}
	}
	w.hostCounts.close()
	w.controlCounts.close()
}

// Write applies b in one transaction.
func (s *Store) Write(ctx context.Context, b *store.Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.w == nil {
		w, err := newWriter(s.conn, s.opts)
		if err != nil {
			return err
		}
		s.w = w
		if err := s.startCheckpointer(); err != nil {
			return err
		}
	}
	// The statement journals of the transaction's upserts (each multi-row
	// upsert opens one, and copies into it every page it changes that
	// existed before it) stay in memory: in a file, each page copied was two
	// write calls, about a tenth of a sync's CPU (BENCHMARKS.md). Only
	// here: elsewhere temporary storage may be large (index builds, the
	// sorts of migrations, the rows an UPDATE ... RETURNING marks stale) and
	// goes to files as before.
	if err := s.conn.Exec("PRAGMA temp_store=MEMORY"); err != nil {
		return err
	}
	defer func() { _ = s.conn.Exec("PRAGMA temp_store=DEFAULT") }()
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
	if !w.bare {
		if err := w.relatedAll(b); err != nil {
			return err
		}
	}
	if err := w.writePostures(b); err != nil {
		return err
	}
	if !w.bare {
		if err := w.counts.apply(w.hostCounts, w.controlCounts); err != nil {
			return err
		}
	}
	return w.bookkeeping(b)
}

// relatedAll writes the hosts, technologies and controls of the batch's
// records that are new or changed, and what classic records carry.
func (w *writer) relatedAll(b *store.Batch) error {
	ps := b.Postures
	for i := range ps {
		w.noteHost(ps, i)
		if err := w.related(&ps[i]); err != nil {
			return fmt.Errorf("posture %d: %w", ps[i].ID, err)
		}
		if err := w.classicExtras(&ps[i], b); err != nil {
			return fmt.Errorf("posture %d: %w", ps[i].ID, err)
		}
	}
	return w.flushHosts(ps, b.RunID)
}

// writePostures upserts the batch's records in the order of the postures'
// key (policy, id), so that consecutive rows share the key index's pages and
// a transaction's new rows are appended in key order; records with the same
// key keep their order, the last one winning.
func (w *writer) writePostures(b *store.Batch) error {
	ps := b.Postures
	order := w.order[:0]
	for i := range ps {
		order = append(order, int32(i))
	}
	// stable by the position as the last key: a stable sort's merges were
	// twice the time of this one (a tenth of a second a 1M sync)
	slices.SortFunc(order, func(x, y int32) int {
		a, c := &ps[x], &ps[y]
		return cmp.Or(cmp.Compare(a.PolicyID, c.PolicyID), cmp.Compare(a.ID, c.ID), cmp.Compare(x, y))
	})
	w.order = order
	for len(order) > 0 {
		st, n := w.postureParams1, 1
		if len(order) >= postureRowsPerStmt {
			st, n = w.postureParamsN, postureRowsPerStmt
		}
		if !w.bare {
			if err := w.writeEvidence(ps, order[:n]); err != nil {
				return err
			}
		}
		for r := range n {
			p := &ps[order[r]]
			if err := w.bindPosture(st, r*postureParams, p, b.RunID, w.rowSeqs[r]); err != nil {
				return fmt.Errorf("posture %d: %w", p.ID, err)
			}
			if !w.bare { // now current; the trigger takes out a posture it replaces
				w.counts.add(p.PolicyID, p.Host.ID, p.ControlID, p.TechnologyID, string(p.Status), false, 1)
			}
		}
		if err := st.st.Exec(); err != nil {
			return fmt.Errorf("postures %d..%d: %w", ps[order[0]].ID, ps[order[n-1]].ID, err)
		}
		order = order[n:]
	}
	return nil
}

// writeEvidence numbers the evidence of the records rows (at most
// postureRowsPerStmt, the rows of one posture statement) after their
// policy's last seq, into w.rowSeqs, and inserts it: appended to the
// policy's range of posture_evidence, in the order it is written.
func (w *writer) writeEvidence(ps []compliance.Posture, rows []int32) error {
	w.evRows = w.evRows[:0]
	for r, i := range rows {
		p := &ps[i]
		w.rowSeqs[r] = 0
		if p.Evidence == nil {
			continue
		}
		seq, ok := w.seqs[p.PolicyID]
		if !ok {
			var err error
			if seq, err = scalarArg(w.maxSeq, p.PolicyID); err != nil {
				return fmt.Errorf("evidence of policy %d: %w", p.PolicyID, err)
			}
		}
		seq++
		w.seqs[p.PolicyID], w.rowSeqs[r] = seq, seq
		w.evRows = append(w.evRows, int32(r))
	}
	for len(w.evRows) > 0 {
		st, n := w.evidenceParams1, 1
		if len(w.evRows) >= postureRowsPerStmt {
			st, n = w.evidenceParamsN, postureRowsPerStmt
		}
		for k, r := range w.evRows[:n] {
			p := &ps[rows[r]]
			if err := errors.Join(st.int(3*k+1, p.PolicyID), st.int(3*k+2, w.rowSeqs[r]),
				st.json(3*k+3, p.Evidence)); err != nil {
				return err
			}
		}
		if err := st.st.Exec(); err != nil {
			return fmt.Errorf("evidence of posture %d: %w", ps[rows[w.evRows[0]]].ID, err)
		}
		w.evRows = w.evRows[n:]
	}
	return nil
}

// scalarArg steps st, a query of one integer, with one argument; 0 for
// NULL.
func scalarArg(st *sqlite3.Stmt, arg int64) (int64, error) {
	defer st.Reset()
	if err := st.BindInt64(1, arg); err != nil {
		return 0, err
	}
	if !st.Step() {
		if err := st.Err(); err != nil {
			return 0, err
		}
		return 0, errors.New("no row")
	}
	return st.ColumnInt64(0), nil
}

// bookkeeping records what the batch completes: the run's first stored
// posture, classic cursors, and the plan batches done.
func (w *writer) bookkeeping(b *store.Batch) error {
	if len(b.Postures) > 0 && b.RunID != w.wroteRun && b.RunID != w.pWroteRun {
		if err := bindAll(w.wrote, b.RunID); err != nil {
			return err
		}
		if err := w.wrote.Exec(); err != nil {
			return fmt.Errorf("record run %d stored postures: %w", b.RunID, err)
		}
		w.pWroteRun = b.RunID
	}
	for _, c := range b.Cursors {
		if err := bindAll(w.cursor, c.Next, c.Counts.Records, c.Counts.Passed, c.Counts.Failed, c.Counts.Errors, c.Rejects, b.RunID, c.BatchNo); err != nil {
			return err
		}
		if err := w.cursor.Exec(); err != nil {
			return fmt.Errorf("advance batch %d: %w", c.BatchNo, err)
		}
	}
	now := time.Now().UTC().Format(time.RFC3339)
	for _, d := range b.Done {
		if err := w.markWhole(d.PolicyID, d.Whole); err != nil {
			return err
		}
		if d.Counted {
			if err := bindAll(w.finish, now, b.RunID, d.BatchNo); err != nil {
				return err
			}
			if err := w.finish.Exec(); err != nil {
				return fmt.Errorf("record batch %d: %w", d.BatchNo, err)
			}
			continue
		}
		st := w.batch
		if err := bindAll(st, b.RunID, d.BatchNo, d.PolicyID, d.HostsReturned, d.Counts.Records,
			d.Counts.Passed, d.Counts.Failed, d.Counts.Errors, now, d.Rejects); err != nil {
			return err
		}
		if err := st.Exec(); err != nil {
			return fmt.Errorf("record batch %d: %w", d.BatchNo, err)
		}
	}
	return nil
}

// markWhole records hosts of policy as fetched whole, wholeRowsPerStmt a
// statement.
func (w *writer) markWhole(policy int64, hosts []int64) error {
	for len(hosts) > 0 {
		n := min(len(hosts), wholeRowsPerStmt)
		if err := w.whole.BindInt64(1, policy); err != nil {
			return err
		}
		for i := range wholeRowsPerStmt {
			if err := w.whole.BindInt64(i+2, hosts[min(i, n-1)]); err != nil {
				return err
			}
		}
		if err := w.whole.Exec(); err != nil {
			return fmt.Errorf("record hosts %d..%d fetched whole: %w", hosts[0], hosts[n-1], err)
		}
		hosts = hosts[n:]
	}
	return nil
}

// related upserts the technology and control a record mentions when they
// are new or changed.
func (w *writer) related(p *compliance.Posture) error {
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

// bindPosture binds one record's values from parameter base+1 on; seq
// names its evidence in posture_evidence (0: it has none). The bare
// pipeline binds the evidence itself.
func (w *writer) bindPosture(st *params, base int, p *compliance.Posture, run, seq int64) error {
	errs := [...]error{
		st.int(base+1, p.ID),
		st.int(base+2, p.PolicyID),
		st.int(base+3, p.Host.ID),
		st.int(base+4, p.ControlID),
		st.int(base+5, p.TechnologyID),
		st.text(base+6, p.Instance),
		st.nullText(base+7, string(p.Status)),
		st.nullText(base+8, string(p.PreviousStatus)),
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	for i, t := range [...]time.Time{p.FirstFailDate, p.LastFailDate, p.FirstPassDate, p.LastPassDate,
		p.PostureModifiedDate, p.LastEvaluatedDate, p.Created} {
		if err := w.bindDate(st, base+9+i, t); err != nil {
			return err
		}
	}
	if err := st.nullText(base+16, p.Criticality.Label); err != nil {
		return err
	}
	if err := st.int(base+17, p.Criticality.Value); err != nil {
		return err
	}
	var err error
	switch {
	case w.bare:
		err = st.json(base+18, p.Evidence)
	case seq == 0:
		err = st.null(base + 18)
	default:
		err = st.int(base+18, seq)
	}
	if err != nil {
		return err
	}
	for i, js := range [...][]byte{p.CauseOfFailure, p.Extra} {
		if err := st.json(base+19+i, js); err != nil {
			return err
		}
	}
	if err := w.bindFailValue(st, base+21, p); err != nil {
		return err
	}
	return st.int(base+22, run)
}

// bindFailValue binds what a failing posture found instead of the expected
// value (store.FailingValues.Kept), the control page's groups: kept in the
// row and in postures_failing, so that grouping a control's failing
// postures reads that index alone rather than one table page per posture.
// NULL where Kept says so, and in the bare pipeline (which has no server
// to serve).
func (w *writer) bindFailValue(st *params, param int, p *compliance.Posture) error {
	if w.bare {
		return st.null(param)
	}
	v, ok := w.values.Kept(p)
	if !ok {
		return st.null(param)
	}
	return st.text(param, v)
}

func (w *writer) bindDate(st *params, param int, t time.Time) error {
	if t.IsZero() {
		return st.null(param)
	}
	w.date = compliance.AppendDate(w.date[:0], t)
	return st.text(param, unsafe.String(&w.date[0], len(w.date)))
}

// commit merges the open transaction's cache entries.
func (w *writer) commit() {
	if w.pWroteRun != 0 {
		w.wroteRun, w.pWroteRun = w.pWroteRun, 0
	}
	w.commitHosts()
	for k, v := range w.pTechs {
		w.techs[k] = v
	}
	for k, v := range w.pControls {
		w.controls[k] = v
	}
	for k := range w.pPCs {
		w.pcs[k] = struct{}{}
	}
	for k, v := range w.pRemediations {
		w.remediations[k] = v
	}
	w.discard()
}

// discard forgets the open transaction's cache entries (after a rollback).
func (w *writer) discard() {
	w.pWroteRun = 0
	w.lastHost = compliance.Host{}
	clear(w.pHosts)
	clear(w.pend)
	w.counts.reset()
	clear(w.pTechs)
	clear(w.pControls)
	clear(w.pPCs)
	clear(w.pRemediations)
	clear(w.seqs)
}

func (w *writer) lookupRemediation(id int64) string {
	if r, ok := w.pRemediations[id]; ok {
		return r
	}
	return w.remediations[id]
}

// classicExtras stores what only classic posture carries: the record's
// exception (or its absence) and the control's remediation text.
func (w *writer) classicExtras(p *compliance.Posture, b *store.Batch) error {
	if e := p.Exception; e != nil {
		if err := bindAll(w.exception, p.ID, e.Assignee, e.Status, e.Comments, e.CreatedBy, e.CreatedDate,
			e.ModifiedBy, e.ModifiedDate, e.EndDate, b.RunID, p.PolicyID); err != nil {
			return err
		}
		if err := w.exception.Exec(); err != nil {
			return fmt.Errorf("exception: %w", err)
		}
	} else if b.Exceptions {
		if err := bindAll(w.noException, p.ID); err != nil {
			return err
		}
		if err := w.noException.Exec(); err != nil {
			return fmt.Errorf("exception: %w", err)
		}
	}
	if p.Remediation != "" && w.lookupRemediation(p.ControlID) != p.Remediation {
		if err := bindAll(w.remediation, p.Remediation, p.ControlID); err != nil {
			return err
		}
		if err := w.remediation.Exec(); err != nil {
			return fmt.Errorf("remediation: %w", err)
		}
		w.pRemediations[p.ControlID] = p.Remediation
	}
	return nil
}

// forgetControls drops the control caches after the catalogue was rewritten
// outside the writer.
func (w *writer) forgetControls() {
	clear(w.controls)
	clear(w.pcs)
	clear(w.remediations)
}
