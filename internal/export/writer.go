package export

import (
	"io"
	"strconv"
	"time"
)

// Row is one record as pcsync writes it everywhere (exports, the server's
// lists and downloads): named fields in order, a nested object being an
// Object field followed by its members.
type Row = row

// Field is one value of a Row.
type Field = field

// Field constructors.
func Str(name, v string) Field            { return str(name, v) }
func Int(name string, v int64) Field      { return num(name, v) }
func Date(name string, v time.Time) Field { return date(name, v) } // the zero time is null
func Bool(name string, v bool) Field      { return boolean(name, v) }
func Raw(name string, v []byte) Field     { return raw(name, v) }    // JSON text; nil is null
func Object(name string, n int) Field     { return object(name, n) } // the next n fields are its members
func Null(name string) Field              { return field{name: name, kind: kNull} }

// NullObject is an Object that is null in JSON; its n members follow (their
// values unused) so that CSV keeps its columns, empty.
func NullObject(name string, n int) Field {
	return field{name: name, kind: kObject, n: int64(n), b: true}
}

// Float is a number, or null when v is nil.
func Float(name string, v *float64) Field {
	if v == nil {
		return Null(name)
	}
	return field{name: name, kind: kFloat, f: *v}
}

// Writer writes rows as NDJSON, a JSON array or CSV (with a header naming
// the fields, nested ones as parent.member).
type Writer struct{ enc encoder }

// NewWriter writes to w in format (one of Formats).
func NewWriter(format string, w io.Writer) (*Writer, error) {
	enc, err := newEncoder(format, w)
	if err != nil {
		return nil, err
	}
	return &Writer{enc: enc}, nil
}

// Begin starts the output; sample gives the fields (CSV's header).
func (w *Writer) Begin(sample Row) error { return w.enc.begin(sample) }

// Write writes one row.
func (w *Writer) Write(r Row) error { return w.enc.row(r) }

// Close ends the output and flushes it.
func (w *Writer) Close() error { return w.enc.close() }

// AppendJSON appends r to b as one JSON object.
func AppendJSON(b []byte, r Row) []byte {
	b, _ = appendObject(b, r)
	return b
}

func appendFloat(b []byte, f float64) []byte { return strconv.AppendFloat(b, f, 'f', -1, 64) }
