package postgres

import (
	"context"
	"encoding/binary"
	"io"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"pcsync/internal/compliance"
	"pcsync/internal/store"
)

// A batch's records go to COPY in PostgreSQL's binary format, encoded here
// column by column: pgx's CopyFrom takes each row as []any and plans the
// encoding of every value again, which was a fifth of pcsync's CPU in a
// load (BENCHMARKS.md, issue 15). The columns are postureColumns, with seq
// (the record's place in its batch) before them for the staging table, or
// first_run and last_run (the run) after them for postures.

// postureColumns are the columns of a record, in the order copyReader
// encodes them.
var postureColumns = []string{"id", "policy_id", "host_id", "control_id", "technology_id", "instance", "status",
	"previous_status", "first_fail_date", "last_fail_date", "first_pass_date", "last_pass_date", "posture_modified_date",
	"last_evaluated_date", "created", "criticality_label", "criticality_value", "evidence", "cause_of_failure", "extra",
	"fail_value"}

// copyPostures COPYs ps into table (postures or pcsync_stage) in tx.
func copyPostures(ctx context.Context, tx pgx.Tx, table string, ps []compliance.Posture, run int64) error {
	r := &copyReader{ps: ps, stage: table == "pcsync_stage", run: run}
	cols := postureColumns
	if r.stage {
		cols = append([]string{"seq"}, cols...)
	} else {
		cols = append(cols[:len(cols):len(cols)], "first_run", "last_run")
	}
	sql := "COPY " + table + " (" + strings.Join(cols, ", ") + ") FROM STDIN BINARY"
	_, err := tx.Conn().PgConn().CopyFrom(ctx, r, sql)
	return err
}

// copyHeader starts a binary COPY: the signature, no flags, no extension.
var copyHeader = []byte("PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00")

// copyReader is the binary COPY stream of a batch's records, encoded a
// chunk at a time as COPY reads it.
type copyReader struct {
	ps     []compliance.Posture
	stage  bool // seq first (the staging table), else the run last (postures)
	run    int64
	i      int // the next record to encode
	buf    []byte
	off    int
	begun  bool
	ended  bool
	values store.FailingValues
}

func (r *copyReader) Read(p []byte) (int, error) {
	if r.off == len(r.buf) {
		if r.ended {
			return 0, io.EOF
		}
		r.fill()
	}
	n := copy(p, r.buf[r.off:])
	r.off += n
	return n, nil
}

// fill encodes the next 64 KB of records, the header before the first and
// the trailer after the last.
func (r *copyReader) fill() {
	r.buf, r.off = r.buf[:0], 0
	if !r.begun {
		r.buf = append(r.buf, copyHeader...)
		r.begun = true
	}
	for ; r.i < len(r.ps) && len(r.buf) < 64<<10; r.i++ {
		r.buf = r.tuple(r.buf, &r.ps[r.i])
	}
	if r.i == len(r.ps) {
		r.buf = binary.BigEndian.AppendUint16(r.buf, 0xffff)
		r.ended = true
	}
}

// tuple appends one record's tuple to b.
func (r *copyReader) tuple(b []byte, p *compliance.Posture) []byte {
	n := len(postureColumns)
	if r.stage {
		n++
	} else {
		n += 2
	}
	b = binary.BigEndian.AppendUint16(b, uint16(n))
	if r.stage {
		b = appendInt8(b, int64(r.i))
	}
	b = appendInt8(b, p.ID)
	b = appendInt8(b, p.PolicyID)
	b = appendInt8(b, p.Host.ID)
	b = appendInt8(b, p.ControlID)
	b = appendInt8(b, p.TechnologyID)
	b = appendBytes(b, p.Instance) // NOT NULL: "" stays ""
	b = appendText(b, string(p.Status))
	b = appendText(b, string(p.PreviousStatus))
	for _, t := range [...]time.Time{p.FirstFailDate, p.LastFailDate, p.FirstPassDate, p.LastPassDate,
		p.PostureModifiedDate, p.LastEvaluatedDate, p.Created} {
		b = appendTime(b, t)
	}
	b = appendText(b, p.Criticality.Label)
	b = appendInt8(b, p.Criticality.Value)
	b = appendJSON(b, p.Evidence)
	b = appendJSON(b, p.CauseOfFailure)
	b = appendJSON(b, p.Extra)
	if v, ok := r.values.Kept(p); ok {
		b = appendBytes(b, v)
	} else {
		b = appendNull(b)
	}
	if !r.stage {
		b = appendInt8(b, r.run)
		b = appendInt8(b, r.run)
	}
	return b
}

func appendNull(b []byte) []byte { return binary.BigEndian.AppendUint32(b, 0xffffffff) }

func appendInt8(b []byte, v int64) []byte {
	b = binary.BigEndian.AppendUint32(b, 8)
	return binary.BigEndian.AppendUint64(b, uint64(v))
}

func appendBytes[T string | []byte](b []byte, v T) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
	return append(b, v...)
}

// appendText appends a text value: "" is NULL, as ns.
func appendText(b []byte, s string) []byte {
	if s == "" {
		return appendNull(b)
	}
	return appendBytes(b, s)
}

// appendJSON appends a json value (its binary form is its text): nil or
// empty is NULL, as nj.
func appendJSON(b []byte, v []byte) []byte {
	if len(v) == 0 {
		return appendNull(b)
	}
	return appendBytes(b, v)
}

// pgEpoch is the origin of PostgreSQL's timestamps, in Unix microseconds.
const pgEpoch = 946_684_800_000_000

// appendTime appends a timestamptz (microseconds since 2000-01-01 UTC,
// finer parts dropped as pgx drops them): the zero time is NULL, as nt.
func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return appendNull(b)
	}
	us := t.Unix()*1_000_000 + int64(t.Nanosecond())/1000
	return appendInt8(b, us-pgEpoch)
}
