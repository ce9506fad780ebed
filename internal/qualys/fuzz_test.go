package qualys

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"testing"

	"github.com/klauspost/compress/gzip"

	"pcsync/internal/compliance"
)

// The fuzz targets feed every decoder input no server should send: each
// must return an error or a result, never panic, and stop. Seed corpora are
// in testdata/fuzz/<target>, taken from the emulator's answers and from
// testdata; CI runs each target for a few seconds (.ci/run).

// decodeStream reads a posture stream to its end or its first stream error.
func decodeStream(t *testing.T, body io.Reader) {
	s, err := newPostureStream(&http.Response{StatusCode: http.StatusOK, Body: io.NopCloser(body)})
	if err != nil {
		return
	}
	defer s.Close()
	var p compliance.Posture
	for i := 0; ; i++ {
		err := s.Next(&p)
		var re *RecordError
		switch {
		case err == io.EOF:
			return
		case errors.As(err, &re):
			if re.Raw == nil {
				t.Fatalf("a rejected record without its bytes: %v", err)
			}
		case err != nil:
			return
		}
		if i > 1<<20 {
			t.Fatal("the stream does not end")
		}
	}
}

// FuzzPostureStream decodes a plain posture stream.
func FuzzPostureStream(f *testing.F) {
	f.Add([]byte(`[{"id":1,"status":"Passed","hostId":"2","customerId":"123","lastPassDate":""}]`))
	f.Fuzz(func(t *testing.T, data []byte) { decodeStream(t, bytes.NewReader(data)) })
}

// FuzzPostureStreamGzip compresses the input and cuts the compressed
// stream at cut (a truncated download), then decodes it.
func FuzzPostureStreamGzip(f *testing.F) {
	f.Add([]byte(`[{"id":1,"status":"Failed"},{"id":2,"status":"Passed"}]`), uint16(20))
	f.Fuzz(func(t *testing.T, data []byte, cut uint16) {
		var gz bytes.Buffer
		w := gzip.NewWriter(&gz)
		w.Write(data)
		w.Close()
		b := gz.Bytes()
		if int(cut) < len(b) {
			b = b[:cut]
		}
		decodeStream(t, bytes.NewReader(b))
	})
}

// FuzzHostIDs decodes a hostids answer.
func FuzzHostIDs(f *testing.F) {
	f.Add([]byte(`[{"policyId":"1","subscriptionId":"2","hostIds":["3",4]},{"policyId":5,"hostIds":[],"error":"x"}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := decodeHostIDs(bytes.NewReader(data))
		if err == nil {
			for _, ph := range out {
				for _, h := range ph.HostIDs {
					if h == "" {
						t.Fatal("an empty host id was accepted")
					}
				}
			}
		}
	})
}

// FuzzPCRSPolicyList decodes a PCRS policy list answer.
func FuzzPCRSPolicyList(f *testing.F) {
	f.Add([]byte(`{"subscriptionId":"1","policyList":[{"id":2,"title":"t","status":"active","locked":0}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		pols, _, err := parsePolicyList(data)
		if err == nil {
			for _, p := range pols {
				if p.ID == 0 {
					t.Fatal("a policy without an id was accepted")
				}
			}
		}
	})
}

// fuzzXML runs a classic decoder over data.
func fuzzXML(f *testing.F, seed string, decoder func() func(*xmlStream, xml.StartElement) error) {
	f.Add([]byte(seed))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = decodeEach(bytes.NewReader(data), "fuzz", decoder())
	})
}

// FuzzPolicyListXML decodes a classic policy list.
func FuzzPolicyListXML(f *testing.F) {
	fuzzXML(f, `<POLICY_LIST_OUTPUT><RESPONSE><ID_SET><ID>1</ID><ID_RANGE>3-5</ID_RANGE></ID_SET></RESPONSE></POLICY_LIST_OUTPUT>`,
		func() func(*xmlStream, xml.StartElement) error {
			var out []compliance.Policy
			return policyListDecoder(&out)
		})
}

// FuzzPolicyExportXML decodes a classic policy export.
func FuzzPolicyExportXML(f *testing.F) {
	fuzzXML(f, `<POLICY_EXPORT_OUTPUT><RESPONSE><POLICY><TITLE>t</TITLE><SECTIONS><SECTION><NUMBER>1</NUMBER></SECTION></SECTIONS></POLICY></RESPONSE></POLICY_EXPORT_OUTPUT>`,
		func() func(*xmlStream, xml.StartElement) error { return exportDecoder(&compliance.PolicyDetail{}) })
}

// FuzzControlListXML decodes a classic control list page.
func FuzzControlListXML(f *testing.F) {
	fuzzXML(f, `<CONTROL_LIST_OUTPUT><RESPONSE><CONTROL_LIST><CONTROL><ID>1</ID></CONTROL></CONTROL_LIST><WARNING><CODE>1980</CODE><URL>https://x/?id_min=2</URL></WARNING></RESPONSE></CONTROL_LIST_OUTPUT>`,
		func() func(*xmlStream, xml.StartElement) error { return (&controlPage{}).decoder() })
}

// FuzzPostureInfoXML decodes a classic posture page and resolves it
// against its glossary.
func FuzzPostureInfoXML(f *testing.F) {
	f.Add([]byte(`<POSTURE_INFO_LIST_OUTPUT><RESPONSE><INFO_LIST><INFO><ID>1</ID><HOST_ID>2</HOST_ID><STATUS>Passed</STATUS><EVIDENCE><BOOLEAN_EXPR>#fv_1</BOOLEAN_EXPR></EVIDENCE></INFO></INFO_LIST><GLOSSARY><FV_LIST><FV><LABEL>#fv_1</LABEL><V>a</V></FV></FV_LIST></GLOSSARY></RESPONSE></POSTURE_INFO_LIST_OUTPUT>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		pr := newPageReader()
		if n, err := decodeEach(bytes.NewReader(data), "fuzz", pr.visit); err == nil {
			page := pr.page(7, n)
			for _, r := range page.Records {
				if r.ID == 0 || r.Status == "" {
					t.Fatalf("a record without id or status was accepted: %+v", r)
				}
			}
		}
	})
}

// FuzzSimpleReturn reads an error answer of either API.
func FuzzSimpleReturn(f *testing.F) {
	f.Add([]byte(`<SIMPLE_RETURN><RESPONSE><CODE>1960</CODE><TEXT>t</TEXT><ITEM_LIST><ITEM><KEY>CALLS_TO_FINISH</KEY><VALUE>1</VALUE></ITEM></ITEM_LIST></RESPONSE></SIMPLE_RETURN>`))
	f.Add([]byte(`[{"response":{"code":1905,"text":"x"}}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = errorDetail(data)
		resp := &http.Response{StatusCode: http.StatusConflict, Header: http.Header{"X-Ratelimit-Towait-Sec": {"1"}}, Body: io.NopCloser(bytes.NewReader(data))}
		if checkResponse("fuzz", resp) == nil {
			t.Fatal("a 409 was taken for success")
		}
		_, _ = decodeEach(bytes.NewReader(data), "fuzz", func(*xmlStream, xml.StartElement) error { return nil })
	})
}
