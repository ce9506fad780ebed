package postgres

import (
	"cmp"
	"hash/maphash"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"pcsync/internal/compliance"
	"pcsync/internal/store"
)

// writer remembers the hosts, technologies, controls and policy controls
// the store has written (as of committed transactions), so that a batch
// sends only those that are new or changed. It is shared by concurrent
// writes.
type writer struct {
	mu       sync.Mutex
	seed     maphash.Seed
	hosts    map[int64]uint64 // host id -> hash of its fields as last written
	techs    map[int64]string
	controls map[int64]compliance.Criticality
	pcs      map[[2]int64]bool
	remeds   map[int64]string
	wroteRun int64 // the run recorded as having stored postures
}

func newWriter(*Store) *writer {
	return &writer{seed: maphash.MakeSeed(), hosts: map[int64]uint64{}, techs: map[int64]string{},
		controls: map[int64]compliance.Criticality{}, pcs: map[[2]int64]bool{}, remeds: map[int64]string{}}
}

// forget drops what the caches know of the catalogue, after it was
// rewritten outside the write path.
func (w *writer) forget() {
	w.mu.Lock()
	defer w.mu.Unlock()
	clear(w.controls)
	clear(w.pcs)
	clear(w.remeds)
}

func (w *writer) wrote(run int64) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.wroteRun == run
}

// related is what one transaction writes besides postures, keys sorted
// (every transaction locks rows in the same order).
type related struct {
	hosts    []compliance.Host
	hostSums []uint64
	techs    []compliance.Technology
	controls []int64
	crits    []compliance.Criticality
	pcs      [][2]int64
	remeds   map[int64]string
}

// pending collects the related rows of b that the caches do not know.
func (w *writer) pending(b *store.Batch) *related {
	w.mu.Lock()
	defer w.mu.Unlock()
	rel := &related{remeds: map[int64]string{}}
	seenHost := map[int64]int{}
	seenTech := map[int64]int{}
	seenCtl := map[int64]int{}
	seenPC := map[[2]int64]bool{}
	var last compliance.Host
	for i := range b.Postures {
		p := &b.Postures[i]
		if h := p.Host; h.ID != 0 && h != last {
			last = h
			sum := w.hostHash(&h)
			if j, ok := seenHost[h.ID]; ok {
				if newerScan(h, rel.hosts[j]) { // the batch's newest word on the host
					rel.hosts[j], rel.hostSums[j] = h, sum
				}
			} else if w.hosts[h.ID] != sum {
				seenHost[h.ID] = len(rel.hosts)
				rel.hosts, rel.hostSums = append(rel.hosts, h), append(rel.hostSums, sum)
			}
		}
		if t := p.Technology; t.ID != 0 {
			if j, ok := seenTech[t.ID]; ok {
				if t.Name != "" {
					rel.techs[j] = t
				}
			} else if name, ok := w.techs[t.ID]; !ok || (name != t.Name && t.Name != "") {
				seenTech[t.ID] = len(rel.techs)
				rel.techs = append(rel.techs, t)
			}
		}
		if p.ControlID == 0 {
			continue
		}
		if j, ok := seenCtl[p.ControlID]; ok {
			rel.crits[j] = p.Criticality
		} else if c, ok := w.controls[p.ControlID]; !ok || c != p.Criticality {
			seenCtl[p.ControlID] = len(rel.controls)
			rel.controls, rel.crits = append(rel.controls, p.ControlID), append(rel.crits, p.Criticality)
		}
		key := [2]int64{p.PolicyID, p.ControlID}
		if !w.pcs[key] && !seenPC[key] {
			seenPC[key] = true
			rel.pcs = append(rel.pcs, key)
		}
		if p.Remediation != "" && w.remeds[p.ControlID] != p.Remediation {
			rel.remeds[p.ControlID] = p.Remediation
		}
	}
	rel.sort()
	return rel
}

func (rel *related) sort() {
	idx := make([]int, len(rel.hosts))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return cmp.Compare(rel.hosts[a].ID, rel.hosts[b].ID) })
	hosts, sums := make([]compliance.Host, len(idx)), make([]uint64, len(idx))
	for i, j := range idx {
		hosts[i], sums[i] = rel.hosts[j], rel.hostSums[j]
	}
	rel.hosts, rel.hostSums = hosts, sums
	slices.SortFunc(rel.techs, func(a, b compliance.Technology) int { return cmp.Compare(a.ID, b.ID) })
	idx = idx[:0]
	for i := range rel.controls {
		idx = append(idx, i)
	}
	slices.SortFunc(idx, func(a, b int) int { return cmp.Compare(rel.controls[a], rel.controls[b]) })
	ctls, crits := make([]int64, len(idx)), make([]compliance.Criticality, len(idx))
	for i, j := range idx {
		ctls[i], crits[i] = rel.controls[j], rel.crits[j]
	}
	rel.controls, rel.crits = ctls, crits
	slices.SortFunc(rel.pcs, func(a, b [2]int64) int {
		if a[0] != b[0] {
			return cmp.Compare(a[0], b[0])
		}
		return cmp.Compare(a[1], b[1])
	})
}

// queue adds the upserts of the related rows to batch, table by table.
func (rel *related) queue(batch *pgx.Batch, run int64) {
	if n := len(rel.hosts); n > 0 {
		ids, texts, ints, dates := make([]int64, n), make([][8]string, 0, n), make([][3]int64, 0, n), make([]*time.Time, n)
		for i, h := range rel.hosts {
			ids[i] = h.ID
			texts = append(texts, [8]string{h.IP, h.TrackingMethod, h.OS, h.OSCPE, h.DNS, h.QGHostID, h.NetworkName, h.CustomerUUID})
			ints = append(ints, [3]int64{h.NetworkID, h.CustomerID, h.AssetID})
			if !h.ComplianceLastScanDate.IsZero() {
				d := h.ComplianceLastScanDate.UTC()
				dates[i] = &d
			}
		}
		col := func(k int) []string {
			out := make([]string, n)
			for i := range texts {
				out[i] = texts[i][k]
			}
			return out
		}
		icol := func(k int) []int64 {
			out := make([]int64, n)
			for i := range ints {
				out[i] = ints[i][k]
			}
			return out
		}
		batch.Queue(upsertHostsSQL, ids, col(0), col(1), col(2), col(3), col(4), col(5), icol(0), col(6), dates,
			col(7), icol(1), icol(2), run)
	}
	if len(rel.techs) > 0 {
		ids, names := make([]int64, len(rel.techs)), make([]string, len(rel.techs))
		for i, t := range rel.techs {
			ids[i], names[i] = t.ID, t.Name
		}
		batch.Queue(upsertTechnologiesSQL, ids, names)
	}
	if len(rel.controls) > 0 {
		labels, values := make([]string, len(rel.crits)), make([]int64, len(rel.crits))
		for i, c := range rel.crits {
			labels[i], values[i] = c.Label, c.Value
		}
		batch.Queue(`INSERT INTO controls AS c (id, criticality_label, criticality_value)
			SELECT id, nullif(l, ''), v FROM unnest($1::bigint[], $2::text[], $3::bigint[]) AS u(id, l, v)
			ON CONFLICT (id) DO UPDATE SET criticality_label = excluded.criticality_label, criticality_value = excluded.criticality_value
			WHERE (c.criticality_label, c.criticality_value) IS DISTINCT FROM (excluded.criticality_label, excluded.criticality_value)`,
			rel.controls, labels, values)
	}
	ids := slices.Sorted(func(yield func(int64) bool) {
		for id := range rel.remeds {
			if !yield(id) {
				return
			}
		}
	})
	for _, id := range ids {
		batch.Queue(`UPDATE controls SET remediation = $1 WHERE id = $2`, rel.remeds[id], id)
	}
	if len(rel.pcs) > 0 {
		pol, ctl := make([]int64, len(rel.pcs)), make([]int64, len(rel.pcs))
		for i, k := range rel.pcs {
			pol[i], ctl[i] = k[0], k[1]
		}
		batch.Queue(`INSERT INTO policy_controls (policy_id, control_id) SELECT * FROM unnest($1::bigint[], $2::bigint[])
			ON CONFLICT DO NOTHING`, pol, ctl)
	}
}

// upsertHostsSQL writes the hosts of a batch, each as its newest scan
// says: a row is replaced only by a record whose scan is not older (as
// SQLite's upsertHostSQL).
const upsertHostsSQL = `INSERT INTO hosts AS h (id, ip, tracking_method, os, os_cpe, dns, qg_host_id, network_id,
	network_name, compliance_last_scan_date, customer_uuid, customer_id, asset_id, last_run)
SELECT id, nullif(ip, ''), nullif(tm, ''), nullif(os, ''), nullif(cpe, ''), nullif(dns, ''), nullif(qg, ''), nid,
	nullif(nname, ''), scan, nullif(cu, ''), cid, aid, $14
FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bigint[],
	$9::text[], $10::timestamptz[], $11::text[], $12::bigint[], $13::bigint[])
	AS u(id, ip, tm, os, cpe, dns, qg, nid, nname, scan, cu, cid, aid)
ON CONFLICT (id) DO UPDATE SET ip = excluded.ip, tracking_method = excluded.tracking_method, os = excluded.os,
	os_cpe = excluded.os_cpe, dns = excluded.dns, qg_host_id = excluded.qg_host_id, network_id = excluded.network_id,
	network_name = excluded.network_name, compliance_last_scan_date = excluded.compliance_last_scan_date,
	customer_uuid = excluded.customer_uuid, customer_id = excluded.customer_id, asset_id = excluded.asset_id,
	last_run = excluded.last_run
WHERE (h.ip, h.tracking_method, h.os, h.os_cpe, h.dns, h.qg_host_id, h.network_id, h.network_name,
	h.compliance_last_scan_date, h.customer_uuid, h.customer_id, h.asset_id, h.last_run)
	IS DISTINCT FROM (excluded.ip, excluded.tracking_method, excluded.os, excluded.os_cpe, excluded.dns,
	excluded.qg_host_id, excluded.network_id, excluded.network_name, excluded.compliance_last_scan_date,
	excluded.customer_uuid, excluded.customer_id, excluded.asset_id, excluded.last_run)
AND (h.compliance_last_scan_date IS NULL OR excluded.compliance_last_scan_date IS NULL
	OR excluded.compliance_last_scan_date >= h.compliance_last_scan_date)`

// newerScan reports whether a record's host h replaces was, the host as
// the batch has it so far: as the hosts upsert decides between a record
// and the row (a later record wins unless it carries an older scan).
func newerScan(h, was compliance.Host) bool {
	return h.ComplianceLastScanDate.IsZero() || was.ComplianceLastScanDate.IsZero() ||
		!h.ComplianceLastScanDate.Before(was.ComplianceLastScanDate)
}

const upsertTechnologiesSQL = `INSERT INTO technologies AS t (id, name)
SELECT id, nullif(name, '') FROM unnest($1::bigint[], $2::text[]) AS u(id, name)
ON CONFLICT (id) DO UPDATE SET name = coalesce(excluded.name, t.name)
WHERE t.name IS DISTINCT FROM coalesce(excluded.name, t.name)`

// commit merges what a committed transaction wrote into the caches.
func (w *writer) commit(rel *related, b *store.Batch) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i, h := range rel.hosts {
		w.hosts[h.ID] = rel.hostSums[i]
	}
	for _, t := range rel.techs {
		w.techs[t.ID] = t.Name
	}
	for i, id := range rel.controls {
		w.controls[id] = rel.crits[i]
	}
	for _, k := range rel.pcs {
		w.pcs[k] = true
	}
	for id, r := range rel.remeds {
		w.remeds[id] = r
	}
	if len(b.Postures) > 0 {
		w.wroteRun = b.RunID
	}
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
