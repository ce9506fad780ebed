package qualys

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// ErrTruncated reports a posture stream that ended before its JSON array was
// closed: the connection broke off, or the server stopped mid-way. The batch
// must be fetched again.
var ErrTruncated = errors.New("stream ended before the JSON array was closed")

// MaxRecordBytes bounds one element of a streamed JSON array, so that a
// corrupt or hostile stream cannot make pcsync buffer without limit.
const MaxRecordBytes = 64 << 20

const readBlock = 256 << 10

// arrayReader splits a streamed top-level JSON array into its elements
// without decoding them, so that each can be decoded (or rejected) on its
// own while the download goes on. It keeps at most one element, plus one read
// block, in memory.
type arrayReader struct {
	r       io.Reader
	buf     []byte
	start   int   // first unconsumed byte in buf
	end     int   // bytes of buf filled
	offset  int64 // stream offset of buf[0]
	state   arrayState
	index   int  // elements returned so far
	eof     bool // r has reported io.EOF
	readErr error
}

type arrayState int

const (
	stateBeforeArray arrayState = iota
	stateFirstElement
	stateAfterElement
	stateDone
)

func newArrayReader(r io.Reader) *arrayReader {
	return &arrayReader{r: r, buf: make([]byte, 2*readBlock)}
}

// Offset is the number of bytes consumed from the stream so far.
func (a *arrayReader) Offset() int64 { return a.offset + int64(a.start) }

// Index is the number of elements returned so far.
func (a *arrayReader) Index() int { return a.index }

// Next returns the bytes of the next element, valid until the following call.
// At the closing bracket it returns io.EOF; if the stream ends before that it
// returns an error wrapping ErrTruncated; malformed structure between
// elements is a *SyntaxError.
func (a *arrayReader) Next() ([]byte, error) {
	for {
		c, err := a.nextNonSpace()
		if err != nil {
			return nil, err
		}
		switch a.state {
		case stateBeforeArray:
			if c != '[' {
				return nil, a.syntaxErr(fmt.Sprintf("expected '[' to open the array of posture records, found %s", a.peekText()))
			}
			a.start++
			a.state = stateFirstElement
		case stateFirstElement, stateAfterElement:
			if c == ']' {
				a.start++
				a.state = stateDone
				if err := a.drain(); err != nil {
					return nil, err
				}
				return nil, io.EOF
			}
			if a.state == stateAfterElement {
				if c != ',' {
					return nil, a.syntaxErr(fmt.Sprintf("expected ',' or ']' after element %d, found %s", a.index, a.peekText()))
				}
				a.start++
				if c, err = a.nextNonSpace(); err != nil {
					return nil, err
				}
				if c == ']' || c == ',' {
					return nil, a.syntaxErr(fmt.Sprintf("expected an element after ',', found %s", a.peekText()))
				}
			}
			elem, err := a.element()
			if err != nil {
				return nil, err
			}
			a.index++
			a.state = stateAfterElement
			return elem, nil
		case stateDone:
			return nil, io.EOF
		}
	}
}

// maxTrailing bounds the white space accepted after the closing bracket.
const maxTrailing = 1 << 20

// drain reads the stream to its end after the closing bracket: only white
// space may follow, and reading to the end is what makes a gzip reader check
// the body's CRC, so a corrupted body is caught rather than half-trusted.
func (a *arrayReader) drain() error {
	seen := 0
	for {
		for ; a.start < a.end; a.start++ {
			switch a.buf[a.start] {
			case ' ', '\t', '\n', '\r':
				if seen++; seen > maxTrailing {
					return a.syntaxErr("too much white space after the array")
				}
			default:
				return a.syntaxErr(fmt.Sprintf("unexpected %s after the closing ']'", a.peekText()))
			}
		}
		if err := a.fill(); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
	}
}

// nextNonSpace skips white space and returns the next byte without consuming it.
func (a *arrayReader) nextNonSpace() (byte, error) {
	for {
		for a.start < a.end {
			switch c := a.buf[a.start]; c {
			case ' ', '\t', '\n', '\r':
				a.start++
			default:
				return c, nil
			}
		}
		if err := a.fill(); err != nil {
			return 0, err
		}
	}
}

// fill reads more of the stream, keeping buf[start:end].
func (a *arrayReader) fill() error {
	if a.eof {
		var lim *LimitError
		if errors.As(a.readErr, &lim) {
			return a.readErr // refused, not broken: fetching again would repeat it
		}
		if a.readErr != nil {
			return fmt.Errorf("%w: after %d records and %d bytes: %w", ErrTruncated, a.index, a.Offset(), a.readErr)
		}
		if a.state == stateDone {
			return io.EOF
		}
		if a.Offset() == 0 && a.state == stateBeforeArray {
			return fmt.Errorf("%w: the response body was empty", ErrTruncated)
		}
		return fmt.Errorf("%w: after %d records and %d bytes", ErrTruncated, a.index, a.Offset())
	}
	if a.start > 0 {
		n := copy(a.buf, a.buf[a.start:a.end])
		a.offset += int64(a.start)
		a.start, a.end = 0, n
	}
	if a.end-a.start > MaxRecordBytes {
		lim := &LimitError{What: fmt.Sprintf("record %d", a.index+1), Limit: "qualys.MaxRecordBytes", Max: MaxRecordBytes, Unit: "bytes"}
		return &SyntaxError{Offset: a.Offset(), Msg: lim.Error(), Err: lim}
	}
	if len(a.buf)-a.end < readBlock {
		nb := make([]byte, min(2*len(a.buf), MaxRecordBytes+2*readBlock))
		copy(nb, a.buf[:a.end])
		a.buf = nb
	}
	n, err := a.r.Read(a.buf[a.end:])
	a.end += n
	if err != nil {
		a.eof = true
		if err != io.EOF {
			a.readErr = err
		}
		if n == 0 {
			return a.fill()
		}
	}
	return nil
}

// element scans one JSON value starting at buf[start] and consumes it.
// Only its extent is found here (strings, nesting); its content is checked
// when it is decoded.
func (a *arrayReader) element() ([]byte, error) {
	pos := a.start // scan position, kept across refills relative to start
	depth := 0
	inString := false
	for {
		b := a.buf[:a.end]
		for pos < len(b) {
			if inString {
				q := bytes.IndexByte(b[pos:], '"')
				if q < 0 {
					pos = len(b)
					break
				}
				pos += q
				// an odd run of backslashes before the quote escapes it
				bs := 0
				for i := pos - 1; i >= a.start && b[i] == '\\'; i-- {
					bs++
				}
				pos++
				if bs%2 == 0 {
					inString = false
					if depth == 0 {
						return a.take(pos), nil
					}
				}
				continue
			}
			switch b[pos] {
			case '"':
				inString = true
			case '{', '[':
				depth++
			case '}', ']':
				if depth == 0 { // a scalar ended by the array's closing bracket
					return a.take(pos), nil
				}
				depth--
				if depth == 0 {
					return a.take(pos + 1), nil
				}
			case ',', ' ', '\t', '\n', '\r':
				if depth == 0 {
					return a.take(pos), nil
				}
			}
			pos++
		}
		rel := pos - a.start
		if err := a.fill(); err != nil {
			return nil, err
		}
		pos = a.start + rel
	}
}

func (a *arrayReader) take(end int) []byte {
	e := a.buf[a.start:end]
	a.start = end
	return e
}

func (a *arrayReader) peekText() string {
	rest := a.buf[a.start:a.end]
	if len(rest) > 40 {
		rest = rest[:40]
	}
	return fmt.Sprintf("%q", rest)
}

func (a *arrayReader) syntaxErr(msg string) error {
	return &SyntaxError{Offset: a.Offset(), Msg: msg}
}

// SyntaxError is a posture stream whose structure is broken at Offset (in
// decompressed bytes): not an array, or garbage between elements.
type SyntaxError struct {
	Offset int64
	Msg    string
	Err    error // a *LimitError when the stream exceeds one of pcsync's bounds
}

// Unwrap returns the bound the stream exceeded, if that is what broke it.
func (e *SyntaxError) Unwrap() error { return e.Err }

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("malformed JSON stream at byte %d: %s", e.Offset, e.Msg)
}
