package sqlite

import (
	"unsafe"

	"github.com/ncruces/go-sqlite3"
)

// params binds the parameters of one statement and remembers what each
// holds, so that a value equal to the one already bound is not bound
// again: SQLite keeps a statement's bindings from one execution to the
// next. Binding text copies it into SQLite's memory (an allocation, a copy,
// and a free of the value it replaces), and every bind is a call into the
// WebAssembly module; most of a posture row's values (NULL dates and
// documents, the run, the status, the criticality) are the ones the same
// row of the statement's last execution had (BENCHMARKS.md, "Issue 12:
// binding only what changed").
//
// Plain params bind every value, as the bare pipeline's plain loader does.
type params struct {
	st    *sqlite3.Stmt
	plain bool
	slots []slot // parameter n is slots[n-1]
}

type slot struct {
	kind uint8 // unknown (0), null, integer or text
	i    int64
	text []byte
}

const (
	unknownKind uint8 = iota
	nullKind
	intKind
	textKind
)

func newParams(st *sqlite3.Stmt, plain bool) *params {
	return &params{st: st, plain: plain, slots: make([]slot, st.BindCount())}
}

// set records what parameter n holds after a bind that returned err; after
// an error it is unknown, and the next bind of n binds whatever it is.
func (p *params) set(n int, kind uint8, err error) error {
	if err != nil {
		kind = unknownKind
	}
	p.slots[n-1].kind = kind
	return err
}

func (p *params) null(n int) error {
	if !p.plain && p.slots[n-1].kind == nullKind {
		return nil
	}
	return p.set(n, nullKind, p.st.BindNull(n))
}

func (p *params) int(n int, v int64) error {
	s := &p.slots[n-1]
	if !p.plain && s.kind == intKind && s.i == v {
		return nil
	}
	s.i = v
	return p.set(n, intKind, p.st.BindInt64(n, v))
}

// text binds v, which SQLite copies during the call: v may be a view of
// memory the caller reuses.
func (p *params) text(n int, v string) error {
	s := &p.slots[n-1]
	if !p.plain && s.kind == textKind && string(s.text) == v {
		return nil
	}
	if !p.plain {
		s.text = append(s.text[:0], v...)
	}
	return p.set(n, textKind, p.st.BindText(n, v))
}

// nullText binds v, "" as NULL.
func (p *params) nullText(n int, v string) error {
	if v == "" {
		return p.null(n)
	}
	return p.text(n, v)
}

// json binds JSON text without copying it into a Go string first: the
// driver copies the bytes into SQLite's memory during the call and keeps no
// reference, so a string view of the slice is safe and saves an allocation
// of every document. nil is NULL.
func (p *params) json(n int, js []byte) error {
	if js == nil {
		return p.null(n)
	}
	if len(js) == 0 {
		return p.text(n, "")
	}
	return p.text(n, unsafe.String(&js[0], len(js)))
}
