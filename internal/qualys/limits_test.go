package qualys

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"

	"pcsync/internal/compliance"
)

// repeatReader yields n copies of b.
type repeatReader struct {
	b []byte
	n int64
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, io.EOF
	}
	k := 0
	for k < len(p) && r.n > 0 {
		c := copy(p[k:], r.b)
		k += c
		if c == len(r.b) {
			r.n--
		} else {
			r.b = r.b[c:] // rare: p ended mid-copy; keep the rest (tests use 1-byte b)
		}
	}
	return k, nil
}

func streamOf(t *testing.T, body io.Reader) *PostureStream {
	t.Helper()
	s, err := newPostureStream(&http.Response{StatusCode: 200, Body: io.NopCloser(body)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func drain(s *PostureStream) (int, error) {
	n := 0
	var p compliance.Posture
	for {
		err := s.Next(&p)
		if err == io.EOF {
			return n, nil
		}
		var re *RecordError
		if err != nil && !errors.As(err, &re) {
			return n, err
		}
		n++
	}
}

// TestARecordOf100MBIsRefusedNamingTheLimit: the record before it is
// decoded, then the stream stops with a *LimitError that names
// MaxRecordBytes, which is not a broken stream (fetching again repeats it).
func TestARecordOf100MBIsRefusedNamingTheLimit(t *testing.T) {
	t.Parallel()
	body := io.MultiReader(strings.NewReader(`[{"id":1,"status":"Passed"},{"id":2,"status":"Failed","evidence":"`),
		&repeatReader{b: []byte("a"), n: 100 << 20}, strings.NewReader(`"}]`))
	n, err := drain(streamOf(t, body))
	var lim *LimitError
	if n != 1 || !errors.As(err, &lim) || !strings.Contains(err.Error(), "qualys.MaxRecordBytes") ||
		!strings.Contains(err.Error(), "64 MiB") || errors.Is(err, ErrTruncated) {
		t.Fatalf("%d records, error %v; want 1 record, then a *LimitError naming the 64 MiB MaxRecordBytes", n, err)
	}
	if DefaultCheckRetry(t.Context(), err) != RetryNever {
		t.Fatal("a refused record would be fetched again")
	}
}

// TestADecompressionBombIsRefusedNamingTheLimit: gzip of 96 MiB of
// white space inside an array stops at the ratio bound, without reading on.
func TestADecompressionBombIsRefusedNamingTheLimit(t *testing.T) {
	t.Parallel()
	var gz bytes.Buffer
	w, _ := gzip.NewWriterLevel(&gz, gzip.DefaultCompression)
	w.Write([]byte(`[{"id":1,"status":"Passed"},`))
	if _, err := io.Copy(w, &repeatReader{b: []byte(" "), n: 96 << 20}); err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(`{"id":2,"status":"Passed"}]`))
	w.Close()
	s := streamOf(t, &gz)
	n, err := drain(s)
	var lim *LimitError
	if n != 1 || !errors.As(err, &lim) || !strings.Contains(err.Error(), "qualys.MaxGzipRatio") || errors.Is(err, ErrTruncated) {
		t.Fatalf("%d records, error %v; want 1 record, then a *LimitError naming MaxGzipRatio", n, err)
	}
	if s.DataBytes() > 2*ratioFloor {
		t.Fatalf("read %d decompressed bytes before refusing", s.DataBytes())
	}
}

// TestDeepXMLIsRefusedNamingTheLimit: nesting beyond the bound stops the
// answer with a *LimitError, not a page fetched again.
func TestDeepXMLIsRefusedNamingTheLimit(t *testing.T) {
	t.Parallel()
	doc := "<POLICY_LIST_OUTPUT>" + strings.Repeat("<A>", 10000)
	var out []compliance.Policy
	_, err := decodeEach(strings.NewReader(doc), "test", policyListDecoder(&out))
	var lim *LimitError
	if !errors.As(err, &lim) || !strings.Contains(err.Error(), "qualys.maxXMLDepth") || errors.Is(err, ErrMalformedXML) {
		t.Fatalf("error %v; want a *LimitError naming maxXMLDepth", err)
	}
}
