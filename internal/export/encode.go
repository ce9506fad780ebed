package export

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"

	"pcsync/internal/compliance"
	"pcsync/internal/jsonenc"
)

type encoder interface {
	begin(sample row) error // before the first row; sample gives the columns
	row(r row) error
	close() error
}

func newEncoder(format string, w io.Writer) (encoder, error) {
	bw := bufio.NewWriterSize(w, 256<<10)
	switch format {
	case "ndjson":
		return &jsonEncoder{w: bw, lines: true}, nil
	case "json":
		return &jsonEncoder{w: bw}, nil
	case "csv":
		return &csvEncoder{bw: bw, w: csv.NewWriter(bw)}, nil
	}
	return nil, fmt.Errorf("unknown format %q: use one of %s", format, strings.Join(Formats, ", "))
}

// jsonEncoder writes NDJSON (one object per line) or a JSON array.
type jsonEncoder struct {
	w     *bufio.Writer
	lines bool
	n     int
	buf   []byte
}

func (e *jsonEncoder) begin(row) error { return nil }

func (e *jsonEncoder) row(r row) error {
	b := e.buf[:0]
	if !e.lines {
		if e.n == 0 {
			b = append(b, "[\n"...)
		} else {
			b = append(b, ",\n"...)
		}
	}
	b, _ = appendObject(b, r)
	if e.lines {
		b = append(b, '\n')
	}
	e.n++
	e.buf = b
	_, err := e.w.Write(b)
	return err
}

func (e *jsonEncoder) close() error {
	if !e.lines {
		if e.n == 0 {
			e.w.WriteString("[]\n")
		} else {
			e.w.WriteString("\n]\n")
		}
	}
	return e.w.Flush()
}

// appendObject writes r as one JSON object and returns how many fields it used.
func appendObject(b []byte, r row) ([]byte, int) {
	b = append(b, '{')
	first := true
	i := 0
	for i < len(r) {
		f := &r[i]
		if f.kind == kSplice {
			if len(f.raw) > 2 {
				if !first {
					b = append(b, ',')
				}
				b = append(b, f.raw[1:len(f.raw)-1]...)
				first = false
			}
			i++
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = jsonenc.AppendString(b, f.name)
		b = append(b, ':')
		if f.kind == kObject && f.b { // a null object: its members only keep CSV's columns
			b = append(b, "null"...)
			i += 1 + int(f.n)
			continue
		}
		if f.kind == kObject {
			var used int
			b, used = appendObject(b, r[i+1:i+1+int(f.n)])
			i += 1 + used
			continue
		}
		b = appendValue(b, f)
		i++
	}
	return append(b, '}'), i
}

func appendValue(b []byte, f *field) []byte {
	switch f.kind {
	case kString:
		return jsonenc.AppendString(b, f.s)
	case kInt:
		return strconv.AppendInt(b, f.n, 10)
	case kDate:
		if f.t.IsZero() {
			return append(b, "null"...)
		}
		b = append(b, '"')
		b = compliance.AppendDate(b, f.t)
		return append(b, '"')
	case kBool:
		return strconv.AppendBool(b, f.b)
	case kRaw:
		if f.raw == nil {
			return append(b, "null"...)
		}
		return append(b, f.raw...)
	case kNull:
		return append(b, "null"...)
	case kFloat:
		return appendFloat(b, f.f)
	}
	return b
}

// csvEncoder flattens rows: nested members become parent.member columns,
// JSON values are written as their JSON text.
type csvEncoder struct {
	bw  *bufio.Writer
	w   *csv.Writer
	rec []string
	buf []byte
}

func (e *csvEncoder) begin(sample row) error { return e.w.Write(csvNames(sample)) }

func (e *csvEncoder) row(r row) error {
	e.rec = e.rec[:0]
	for i := 0; i < len(r); i++ {
		f := &r[i]
		switch f.kind {
		case kObject:
			if f.b { // null: its members' columns stay empty
				for range f.n {
					e.rec = append(e.rec, "")
				}
				i += int(f.n)
			}
			continue
		case kSplice:
			e.rec = append(e.rec, string(f.raw))
		case kDate:
			if f.t.IsZero() {
				e.rec = append(e.rec, "")
			} else {
				e.rec = append(e.rec, compliance.FormatDate(f.t))
			}
		case kString:
			e.rec = append(e.rec, f.s)
		case kRaw:
			e.rec = append(e.rec, string(f.raw))
		case kNull:
			e.rec = append(e.rec, "")
		default:
			e.buf = appendValue(e.buf[:0], f)
			e.rec = append(e.rec, string(e.buf))
		}
	}
	return e.w.Write(e.rec)
}

func csvNames(r row) []string {
	var names []string
	for i := 0; i < len(r); i++ {
		f := r[i]
		if f.kind == kObject {
			for j := 1; j <= int(f.n); j++ {
				names = append(names, f.name+"."+r[i+j].name)
			}
			i += int(f.n)
			continue
		}
		names = append(names, f.name)
	}
	return names
}

func (e *csvEncoder) close() error {
	e.w.Flush()
	if err := e.w.Error(); err != nil {
		return err
	}
	return e.bw.Flush()
}
