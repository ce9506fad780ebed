package qualys

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"pcsync/internal/compliance"
)

func decodeAll(t *testing.T, data []byte) ([]compliance.Posture, []*RecordError, error) {
	t.Helper()
	ar := newArrayReader(bytes.NewReader(data))
	d := newRecordDecoder()
	var out []compliance.Posture
	var rejects []*RecordError
	for {
		start := ar.Offset()
		elem, err := ar.Next()
		if err == io.EOF {
			return out, rejects, nil
		}
		if err != nil {
			return out, rejects, err
		}
		var p compliance.Posture
		if err := d.decode(elem, &p); err != nil {
			rejects = append(rejects, &RecordError{Index: ar.Index(), Offset: start, Field: d.field, Err: err})
			continue
		}
		out = append(out, p)
	}
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func TestDecodeAcceptsEveryDocumentedVariant(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("testdata/posture_variants.json")
	if err != nil {
		t.Fatal(err)
	}
	got, rejects, err := decodeAll(t, data)
	if err != nil || len(rejects) > 0 {
		t.Fatalf("decode: %v, rejects %v", err, rejects)
	}
	want := []compliance.Posture{
		{
			ID: 1001, Instance: "os", PolicyID: 42, ControlID: 2641, TechnologyID: 45, Status: "Failed", PreviousStatus: "Passed",
			FirstFailDate: utc("2021-10-28T10:15:30Z"), LastFailDate: utc("2021-10-30T09:22:15Z"),
			FirstPassDate: utc("2021-10-20T08:00:00Z"), LastPassDate: utc("2021-10-27T12:30:00Z"),
			PostureModifiedDate: utc("2021-10-30T09:22:15Z"), LastEvaluatedDate: utc("2021-10-30T09:22:15Z"),
			Created: utc("2021-10-20T08:00:00Z"),
			Host: compliance.Host{ID: 12345678, IP: "10.0.0.5", TrackingMethod: "AGENT", OS: "Red Hat Enterprise Linux 8.6",
				OSCPE: "cpe:/o:redhat:enterprise_linux:8.6:::", DNS: "web01.example.com", QGHostID: "3f1c0e4e-1111-4222-a333-444455556666",
				NetworkName: "Global Default Network", ComplianceLastScanDate: utc("2021-10-30T09:20:00Z"),
				CustomerUUID: "9b0e2a1c-aaaa-4bbb-accc-ddddeeeeffff", CustomerID: 123456, AssetID: 98765432},
			Technology:     compliance.Technology{ID: 45, Name: "Red Hat Enterprise Linux 8.x"},
			Criticality:    compliance.Criticality{Label: "SERIOUS", Value: 3},
			Evidence:       []byte(`{"expectedValues":["no"],"currentValues":["PermitRootLogin yes"]}`),
			CauseOfFailure: []byte(`{"missing":["no"],"unexpected":["yes"]}`),
		},
		{
			// ids as strings, dates as "", null, absent, with an offset, date-only
			ID: 1002, Instance: "oracle19:1:1521:ORCL", PolicyID: 42, ControlID: 2642, TechnologyID: 105, Status: "Passed",
			FirstPassDate: utc("2021-10-20T06:00:00Z"), PostureModifiedDate: utc("2021-10-20T00:00:00Z"),
			Host:        compliance.Host{ID: 12345679, CustomerID: 123456},
			Technology:  compliance.Technology{ID: 105, Name: "Oracle 19c"},
			Criticality: compliance.Criticality{Label: "URGENT", Value: 5},
			Extra:       []byte(`{"technology.vendor":"Oracle","policyTitle":"CIS \"RHEL\" 8","netBios":null,"tags":[{"id":1,"name":"prod"}]}`),
		},
		{
			// technologyId missing: taken from technology.id; evidence null is none
			ID: 1003, PolicyID: 42, ControlID: 2643, TechnologyID: 45, Status: "Error",
			Host: compliance.Host{ID: 12345680}, Technology: compliance.Technology{ID: 45},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("decoded records differ (-want +got):\n%s", diff)
	}
	var extra map[string]any
	if err := json.Unmarshal(got[1].Extra, &extra); err != nil {
		t.Fatalf("Extra is not a JSON object: %v", err)
	}
}

func TestDecodeRejectsBadRecordsAndKeepsGoing(t *testing.T) {
	t.Parallel()
	data := `[{"id":1,"status":"Passed"},
	  {"id":"x2","status":"Passed"},
	  {"id":3,"created":"yesterday"},
	  [1,2],
	  {"id":5,"hostId":1.5},
	  {"status":"Passed"},
	  {"id":7,"technology":"45"},
	  {"id":9,"status":null},
	  {"id":8,"status":"Passed"}]`
	got, rejects, err := decodeAll(t, []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != 1 || got[1].ID != 8 {
		t.Fatalf("kept %v, want records 1 and 8", got)
	}
	wantFields := []string{"id", "created", "", "hostId", "id", "technology", "status"}
	if len(rejects) != len(wantFields) {
		t.Fatalf("%d rejects, want %d: %v", len(rejects), len(wantFields), rejects)
	}
	for i, r := range rejects {
		if r.Field != wantFields[i] {
			t.Errorf("reject %d (%v): field %q, want %q", i, r, r.Field, wantFields[i])
		}
		if r.Index != i+2 {
			t.Errorf("reject %d: index %d, want %d", i, r.Index, i+2)
		}
	}
}

func TestArrayReaderFindsElementsWhateverTheirContent(t *testing.T) {
	t.Parallel()
	elems := []string{
		`{"a":"]},{[","b":"\"","c":"\\","d":"\\\"]"}`,
		`{"nested":{"x":[1,[2,{"y":"}"}]]}}`,
		`"a string with ] and }"`,
		`12.5e3`,
		`null`,
		`{"e":"` + "\u00e9\u2603" + `"}`,
	}
	for _, sep := range []string{",", " ,\n\t", "\r\n,  "} {
		data := "  [ " + strings.Join(elems, sep) + " ]  "
		ar := newArrayReader(iotestOneByte(strings.NewReader(data)))
		for i, want := range elems {
			got, err := ar.Next()
			if err != nil {
				t.Fatalf("element %d: %v", i, err)
			}
			if string(got) != want {
				t.Fatalf("element %d = %q, want %q", i, got, want)
			}
		}
		if _, err := ar.Next(); err != io.EOF {
			t.Fatalf("after the last element: %v, want io.EOF", err)
		}
	}
}

// iotestOneByte returns a reader that yields one byte per Read, so that
// every element straddles reads.
func iotestOneByte(r io.Reader) io.Reader { return &oneByte{r} }

type oneByte struct{ r io.Reader }

func (o *oneByte) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	return o.r.Read(p[:1])
}

func TestArrayReaderReportsBrokenStreams(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, data string
		truncated  bool
	}{
		{"empty body", "", true},
		{"cut inside a record", `[{"id":1},{"id":2,"sta`, true},
		{"cut inside a string", `[{"id":1,"s":"abc`, true},
		{"cut after a comma", `[{"id":1},`, true},
		{"cut before the bracket", `[{"id":1}`, true},
		{"not an array", `{"message":"Invalid input Parameter."}`, false},
		{"garbage between records", `[{"id":1} x {"id":2}]`, false},
		{"double comma", `[{"id":1},,{"id":2}]`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ar := newArrayReader(strings.NewReader(tc.data))
			var err error
			for err == nil {
				_, err = ar.Next()
			}
			var syn *SyntaxError
			switch {
			case tc.truncated && !errors.Is(err, ErrTruncated):
				t.Fatalf("error %v, want ErrTruncated", err)
			case !tc.truncated && !errors.As(err, &syn):
				t.Fatalf("error %v, want a *SyntaxError", err)
			}
		})
	}
}

func TestArrayReaderBoundsElementSize(t *testing.T) {
	t.Parallel()
	r := io.MultiReader(strings.NewReader(`[{"a":"`), &endless{}, strings.NewReader(`"}]`))
	ar := newArrayReader(r)
	_, err := ar.Next()
	var syn *SyntaxError
	if !errors.As(err, &syn) || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("error %v, want a size limit error", err)
	}
}

// endless yields 'x' bytes up to twice the element limit.
type endless struct{ n int }

func (e *endless) Read(p []byte) (int, error) {
	if e.n > 2*MaxRecordBytes {
		return 0, io.EOF
	}
	for i := range p {
		p[i] = 'x'
	}
	e.n += len(p)
	return len(p), nil
}

// FuzzArrayReader checks that the splitter agrees with encoding/json on
// where the elements of a valid array are.
func FuzzArrayReader(f *testing.F) {
	f.Add(`[{"a":"]"},{"b":[1,2]},"x\"y",3]`)
	f.Add(`[]`)
	f.Fuzz(func(t *testing.T, s string) {
		var want []json.RawMessage
		if err := json.Unmarshal([]byte(s), &want); err != nil {
			return // only valid arrays have an answer to agree with
		}
		ar := newArrayReader(strings.NewReader(s))
		for i, w := range want {
			got, err := ar.Next()
			if err != nil {
				t.Fatalf("%q element %d: %v", s, i, err)
			}
			if !bytes.Equal(bytes.TrimSpace(got), bytes.TrimSpace(w)) {
				t.Fatalf("%q element %d = %q, want %q", s, i, got, w)
			}
		}
		if _, err := ar.Next(); err != io.EOF {
			t.Fatalf("%q: after %d elements: %v", s, len(want), err)
		}
	})
}
