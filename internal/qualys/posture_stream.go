package qualys

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"

	"github.com/klauspost/compress/gzip"

	"pcsync/internal/compliance"
)

// PostureStream reads posture records one at a time while the download goes
// on, so memory stays flat however long the stream. The body may be gzip
// (detected by its magic bytes, with or without Content-Encoding) or plain.
type PostureStream struct {
	body   io.ReadCloser
	wire   countingReader
	gz     *gzip.Reader
	ar     *arrayReader
	dec    *recordDecoder
	empty  bool // 204: nothing matched
	closed bool
}

type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func newPostureStream(resp *http.Response) (*PostureStream, error) {
	s := &PostureStream{body: resp.Body, dec: newRecordDecoder()}
	if resp.StatusCode == http.StatusNoContent {
		s.empty = true
		return s, nil
	}
	s.wire.r = s.body
	br := bufio.NewReaderSize(&s.wire, 64<<10)
	var src io.Reader = br
	magic, err := br.Peek(2)
	if err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		if s.gz, err = gzip.NewReader(br); err != nil {
			s.Close()
			return nil, fmt.Errorf("posture info: %w: gzip header: %w", ErrTruncated, err)
		}
		src = &ratioReader{r: s.gz, wire: &s.wire}
	}
	s.ar = newArrayReader(&gzipErrReader{src})
	return s, nil
}

// MaxGzipRatio bounds how many times larger than its compressed bytes a
// posture stream may grow once past its first 64 MiB: posture JSON
// compresses about 16 to 1, a decompression bomb a thousand to one.
const MaxGzipRatio = 200

const ratioFloor = 64 << 20

// ratioReader refuses a gzip body that expands beyond MaxGzipRatio.
type ratioReader struct {
	r    io.Reader
	wire *countingReader
	out  int64
}

func (r *ratioReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.out += int64(n)
	if r.out > ratioFloor && r.out > MaxGzipRatio*r.wire.n.Load() {
		return n, &LimitError{What: fmt.Sprintf("a gzip posture stream (%d bytes from %d compressed)", r.out, r.wire.n.Load()),
			Limit: "qualys.MaxGzipRatio", Max: MaxGzipRatio, Unit: "times its compressed size"}
	}
	return n, err
}

// gzipErrReader marks decompression failures as a broken stream.
type gzipErrReader struct{ r io.Reader }

func (g *gzipErrReader) Read(p []byte) (int, error) {
	n, err := g.r.Read(p)
	var lim *LimitError
	if err != nil && err != io.EOF && !errors.As(err, &lim) {
		err = fmt.Errorf("decompress: %w", err)
	}
	return n, err
}

// Next decodes the next record into r. It returns io.EOF after the last
// record; a *RecordError for a record that does not decode (the stream goes
// on); and an error wrapping ErrTruncated, or a *SyntaxError, when the stream
// itself is broken and the batch must be fetched again.
func (s *PostureStream) Next(r *compliance.Posture) error {
	if s.empty {
		return io.EOF
	}
	start := s.ar.Offset()
	elem, err := s.ar.Next()
	if err != nil {
		return err
	}
	if err := s.dec.decode(elem, r); err != nil {
		return &RecordError{Index: s.ar.Index(), Offset: start, Field: s.dec.field, Err: err, Raw: bytes.Clone(elem)}
	}
	return nil
}

// Pause stops the stream's idle clock while the caller is busy elsewhere
// (waiting for the database); Resume restarts it. The server's silence is
// what counts, not the caller's.
func (s *PostureStream) Pause() {
	if b, ok := s.body.(pauser); ok {
		b.Pause()
	}
}

// Resume restarts the idle clock Pause stopped.
func (s *PostureStream) Resume() {
	if b, ok := s.body.(pauser); ok {
		b.Resume()
	}
}

// pauser is a body whose idle clock can be stopped (see idleBody).
type pauser interface {
	Pause()
	Resume()
}

// WireBytes is how many bytes have come over the network so far.
func (s *PostureStream) WireBytes() int64 { return s.wire.n.Load() }

// DataBytes is how many decompressed bytes have been consumed so far.
func (s *PostureStream) DataBytes() int64 {
	if s.ar == nil {
		return 0
	}
	return s.ar.Offset()
}

// Close releases the connection. Closing before the end abandons the stream.
func (s *PostureStream) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	if s.gz != nil {
		s.gz.Close()
	}
	return s.body.Close()
}
