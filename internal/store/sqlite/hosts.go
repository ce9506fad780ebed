package sqlite

import (
	"fmt"
	"hash/maphash"
	"slices"

	"pcsync/internal/compliance"
)

// Host rows. Every posture record carries its host, and a host's records
// may disagree (a host rescanned during a long run; records in any order).
// The host row keeps the attributes of the newest scan: of a transaction's
// records, the one with the latest compliance_last_scan_date (the last to
// arrive among equals) is written, and only when it differs from what was
// last written and is not older than it. The upsert itself refuses an
// older scan, so the cache only saves statements and may forget.

// defaultHostCache is how many hosts the writer remembers when
// Options.HostCache is 0: about 40 bytes each.
const defaultHostCache = 1 << 18

// hostSeen is what was last written of a host.
type hostSeen struct {
	sum  uint64 // hash of its attributes
	scan int64  // compliance_last_scan_date, Unix seconds (0: none)
}

func hostScan(h *compliance.Host) int64 {
	if h.ComplianceLastScanDate.IsZero() {
		return 0
	}
	return h.ComplianceLastScanDate.Unix()
}

// older reports whether a scan is known to be older than another.
func older(scan, than int64) bool { return scan != 0 && than != 0 && scan < than }

// noteHost takes record i's host into account for the transaction.
func (w *writer) noteHost(ps []compliance.Posture, i int) {
	h := &ps[i].Host
	if h.ID == 0 || *h == w.lastHost { // records come host by host: skip a repeat
		return
	}
	w.lastHost = *h
	if j, ok := w.pend[h.ID]; ok && older(hostScan(h), hostScan(&ps[j].Host)) {
		return
	}
	w.pend[h.ID] = i
}

// flushHosts writes the transaction's hosts that changed, by host id.
func (w *writer) flushHosts(ps []compliance.Posture, run int64) error {
	ids := w.pendIDs[:0]
	for id := range w.pend {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	w.pendIDs = ids
	for _, id := range ids {
		h := &ps[w.pend[id]].Host
		seen := hostSeen{sum: w.hostHash(h), scan: hostScan(h)}
		cur, ok := w.pHosts[id]
		if !ok {
			cur, ok = w.hosts[id]
		}
		if ok && (cur.sum == seen.sum || older(seen.scan, cur.scan)) {
			continue
		}
		if err := w.upsertHost(h, run); err != nil {
			return fmt.Errorf("host %d: %w", id, err)
		}
		w.pHosts[id] = seen
	}
	clear(w.pend)
	return nil
}

// commitHosts remembers what the committed transaction wrote, forgetting
// everything first when the cache would pass its bound.
func (w *writer) commitHosts() {
	if len(w.hosts)+len(w.pHosts) > w.hostCap {
		clear(w.hosts)
	}
	for k, v := range w.pHosts {
		w.hosts[k] = v
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
	return m.Sum64()
}

func (w *writer) upsertHost(h *compliance.Host, run int64) error {
	st := w.hostParams
	errs := [...]error{
		st.int(1, h.ID), st.nullText(2, h.IP), st.nullText(3, h.TrackingMethod), st.nullText(4, h.OS),
		st.nullText(5, h.OSCPE), st.nullText(6, h.DNS), st.nullText(7, h.QGHostID), st.int(8, h.NetworkID),
		st.nullText(9, h.NetworkName), w.bindDate(st, 10, h.ComplianceLastScanDate), st.nullText(11, h.CustomerUUID),
		st.int(12, h.CustomerID), st.int(13, h.AssetID), st.int(14, run),
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return st.st.Exec()
}
