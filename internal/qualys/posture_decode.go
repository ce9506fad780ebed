package qualys

import (
	"bytes"
	"fmt"
	"strconv"
	"time"

	"github.com/valyala/fastjson"

	"pcsync/internal/compliance"
)

// RecordError is a posture record that could not be decoded. The stream
// around it is intact, so the records before and after it are kept; the
// caller writes this one to the rejects file.
type RecordError struct {
	Index  int    // 1-based position of the record in its stream
	Offset int64  // byte offset of the record in the decompressed stream
	Field  string // the field at fault, if one is
	Err    error
	Raw    []byte // the record as received (a copy)
}

func (e *RecordError) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("record %d at byte %d: field %q: %v", e.Index, e.Offset, e.Field, e.Err)
	}
	return fmt.Sprintf("record %d at byte %d: %v", e.Index, e.Offset, e.Err)
}

func (e *RecordError) Unwrap() error { return e.Err }

// recordDecoder turns one JSON posture record into a compliance.Posture. It
// accepts ids as numbers or strings and dates as RFC 3339 strings, "", null
// or absent; every field it does not model is kept in Extra. It reuses its
// parser and interns the strings that repeat from record to record (host,
// technology and status fields), so decoding allocates little.
type recordDecoder struct {
	p       fastjson.Parser
	arena   fastjson.Arena
	intern  map[string]string
	extra   []byte
	scratch []byte
	field   string // the field being decoded, for error messages
}

func newRecordDecoder() *recordDecoder {
	return &recordDecoder{intern: make(map[string]string, 1024)}
}

const maxInterned = 1 << 16

func (d *recordDecoder) str(v *fastjson.Value) (string, error) {
	switch v.Type() {
	case fastjson.TypeNull:
		return "", nil
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		if s, ok := d.intern[string(b)]; ok {
			return s, nil
		}
		if len(d.intern) >= maxInterned {
			clear(d.intern)
		}
		s := string(b)
		d.intern[s] = s
		return s, nil
	case fastjson.TypeNumber: // tolerate a number where a string is documented
		return string(v.MarshalTo(nil)), nil
	}
	return "", fmt.Errorf("want a string, got %s", v.Type())
}

func (d *recordDecoder) id(v *fastjson.Value) (int64, error) {
	switch v.Type() {
	case fastjson.TypeNumber:
		return v.Int64()
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		if len(b) == 0 {
			return 0, nil
		}
		return strconv.ParseInt(string(b), 10, 64)
	case fastjson.TypeNull:
		return 0, nil
	}
	return 0, fmt.Errorf("want a number, got %s", v.Type())
}

func (d *recordDecoder) date(v *fastjson.Value) (time.Time, error) {
	switch v.Type() {
	case fastjson.TypeNull:
		return time.Time{}, nil
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		return parseDate(b)
	}
	return time.Time{}, fmt.Errorf("want a date string, got %s", v.Type())
}

// parseDate reads "2006-01-02T15:04:05Z" on a fast path and any other RFC
// 3339 form, or a bare date, on a slow one. "" is the zero time.
func parseDate(b []byte) (time.Time, error) {
	if len(b) == 0 {
		return time.Time{}, nil
	}
	if t, ok := compliance.ParseDate(b); ok {
		return t, nil
	}
	s := string(b)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q is not an RFC 3339 date", s)
}

// raw returns v re-serialized as compact JSON in a slice of its own, or nil
// for null. It serializes into a scratch buffer first so that the copy is
// allocated once, at its final size.
func (d *recordDecoder) raw(v *fastjson.Value) []byte {
	if v.Type() == fastjson.TypeNull {
		return nil
	}
	d.scratch = v.MarshalTo(d.scratch[:0])
	return bytes.Clone(d.scratch)
}

// decode fills r from one record. On error r is partly filled and must not
// be used.
func (d *recordDecoder) decode(data []byte, r *compliance.Posture) error {
	v, err := d.p.ParseBytes(data)
	if err != nil {
		d.field = ""
		return err
	}
	o, err := v.Object()
	if err != nil {
		d.field = ""
		return fmt.Errorf("a posture record must be a JSON object, got %s", v.Type())
	}
	*r = compliance.Posture{}
	d.extra = d.extra[:0]
	d.arena.Reset()
	var techID int64
	o.Visit(func(key []byte, v *fastjson.Value) {
		if err != nil {
			return
		}
		err = d.field1(key, v, r, &techID)
		if err != nil {
			d.field = string(key)
		}
	})
	if err != nil {
		return err
	}
	if r.TechnologyID == 0 {
		r.TechnologyID = techID
	}
	if r.Technology.ID == 0 {
		r.Technology.ID = r.TechnologyID
	}
	if r.ID == 0 {
		d.field = "id"
		return fmt.Errorf("the record has no posture id")
	}
	if r.Status == "" {
		d.field = "status"
		return fmt.Errorf("the record has no status")
	}
	if len(d.extra) > 0 {
		r.Extra = append(append(append(make([]byte, 0, len(d.extra)+2), '{'), d.extra...), '}')
	}
	return nil
}

func (d *recordDecoder) field1(key []byte, v *fastjson.Value, r *compliance.Posture, techID *int64) (err error) {
	h := &r.Host
	switch string(key) {
	case "id":
		r.ID, err = d.id(v)
	case "instance":
		r.Instance, err = d.str(v)
	case "policyId":
		r.PolicyID, err = d.id(v)
	case "controlId":
		r.ControlID, err = d.id(v)
	case "technologyId":
		r.TechnologyID, err = d.id(v)
	case "status":
		var s string
		s, err = d.str(v)
		r.Status = compliance.Status(s)
	case "previousStatus":
		var s string
		s, err = d.str(v)
		r.PreviousStatus = compliance.Status(s)
	case "firstFailDate":
		r.FirstFailDate, err = d.date(v)
	case "lastFailDate":
		r.LastFailDate, err = d.date(v)
	case "firstPassDate":
		r.FirstPassDate, err = d.date(v)
	case "lastPassDate":
		r.LastPassDate, err = d.date(v)
	case "postureModifiedDate":
		r.PostureModifiedDate, err = d.date(v)
	case "lastEvaluatedDate":
		r.LastEvaluatedDate, err = d.date(v)
	case "created":
		r.Created, err = d.date(v)
	case "hostId":
		h.ID, err = d.id(v)
	case "ip":
		h.IP, err = d.str(v)
	case "trackingMethod":
		h.TrackingMethod, err = d.str(v)
	case "os":
		h.OS, err = d.str(v)
	case "osCpe":
		h.OSCPE, err = d.str(v)
	case "dns":
		h.DNS, err = d.str(v)
	case "qgHostid":
		h.QGHostID, err = d.str(v)
	case "networkId":
		h.NetworkID, err = d.id(v)
	case "networkName":
		h.NetworkName, err = d.str(v)
	case "complianceLastScanDate":
		h.ComplianceLastScanDate, err = d.date(v)
	case "customerUuid":
		h.CustomerUUID, err = d.str(v)
	case "customerId":
		h.CustomerID, err = d.id(v)
	case "assetId":
		h.AssetID, err = d.id(v)
	case "technology":
		err = d.technology(v, r, techID)
	case "criticality":
		err = d.criticality(v, r)
	case "evidence":
		r.Evidence = d.raw(v)
	case "causeOfFailure":
		r.CauseOfFailure = d.raw(v)
	default:
		d.keep(key, v)
	}
	return err
}

// keep adds an unmodelled member to Extra.
func (d *recordDecoder) keep(key []byte, v *fastjson.Value) {
	if len(d.extra) > 0 {
		d.extra = append(d.extra, ',')
	}
	d.extra = d.arena.NewStringBytes(key).MarshalTo(d.extra)
	d.extra = append(d.extra, ':')
	d.extra = v.MarshalTo(d.extra)
}

// nested visits the members of a nested object (technology, criticality):
// member decodes the ones pcsync models and reports false for the others,
// which are kept in Extra as "<name>.<member>", so nothing is lost.
func (d *recordDecoder) nested(name string, v *fastjson.Value, member func(k []byte, m *fastjson.Value) (bool, error)) error {
	if v.Type() == fastjson.TypeNull {
		return nil
	}
	o, err := v.Object()
	if err != nil {
		return fmt.Errorf("want an object, got %s", v.Type())
	}
	var ferr error
	o.Visit(func(k []byte, m *fastjson.Value) {
		if ferr != nil {
			return
		}
		var known bool
		if known, ferr = member(k, m); !known {
			d.keep(append([]byte(name+"."), k...), m)
		}
	})
	return ferr
}

// technology reads {"id": .., "name": ..}.
func (d *recordDecoder) technology(v *fastjson.Value, r *compliance.Posture, techID *int64) error {
	return d.nested("technology", v, func(k []byte, m *fastjson.Value) (known bool, err error) {
		switch string(k) {
		case "id":
			*techID, err = d.id(m)
			r.Technology.ID = *techID
			return true, err
		case "name":
			r.Technology.Name, err = d.str(m)
			return true, err
		}
		return false, nil
	})
}

// criticality reads {"label": .., "value": ..}.
func (d *recordDecoder) criticality(v *fastjson.Value, r *compliance.Posture) error {
	return d.nested("criticality", v, func(k []byte, m *fastjson.Value) (known bool, err error) {
		switch string(k) {
		case "label":
			r.Criticality.Label, err = d.str(m)
			return true, err
		case "value":
			r.Criticality.Value, err = d.id(m)
			return true, err
		}
		return false, nil
	})
}
