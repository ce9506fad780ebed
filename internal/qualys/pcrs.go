package qualys

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/valyala/fastjson"

	"pcsync/internal/compliance"
)

// PCRSService is the Policy Compliance posture streaming API on the gateway.
// https://docs.qualys.com/en/pc/api/pcrs_api/ (Get Policy List, Resolve
// Host IDs, Get Posture Info).
type PCRSService struct{ c *Client }

// MaxPoliciesPerHostIDs is how many policy ids one hostids call may carry.
const MaxPoliciesPerHostIDs = 10

const maxSmallBody = 64 << 20 // policy list answers are small; cap them anyway

func (s *PCRSService) url(path string, q url.Values) string {
	u := s.c.gateway.JoinPath("pcrs", s.c.opts.PCRSVersion, "posture", path)
	if len(q) > 0 {
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// ListPoliciesOptions filter the policy list.
type ListPoliciesOptions struct {
	LastEvaluationDate time.Time // policies evaluated on or after
}

// ListPolicies returns every policy the subscription has, and its
// subscription id. GET /pcrs/{v}/posture/policy/list
func (s *PCRSService) ListPolicies(ctx context.Context, opts *ListPoliciesOptions) ([]compliance.Policy, string, error) {
	q := url.Values{}
	if opts != nil && !opts.LastEvaluationDate.IsZero() {
		q.Set("lastEvaluationDate", compliance.FormatDate(opts.LastEvaluationDate))
	}
	resp, err := s.c.doGateway(ctx, epPolicyList, func(ctx context.Context) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url("policy/list", q), nil)
		if req != nil {
			req.Header.Set("Accept", "application/json")
		}
		return req, err
	})
	if err != nil {
		return nil, "", fmt.Errorf("policy list: %w", err)
	}
	defer resp.Body.Close()
	body, err := readLimited(resp.Body, maxSmallBody)
	if err != nil {
		return nil, "", fmt.Errorf("policy list: %w", err)
	}
	return parsePolicyList(body)
}

func readLimited(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read answer: %w", err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("answer larger than %d bytes", limit)
	}
	return b, nil
}

func parsePolicyList(body []byte) ([]compliance.Policy, string, error) {
	var p fastjson.Parser
	v, err := p.ParseBytes(body)
	if err != nil {
		return nil, "", fmt.Errorf("policy list: malformed JSON: %w", err)
	}
	d := newRecordDecoder()
	sub, err := d.str(orNull(v.Get("subscriptionId")))
	if err != nil {
		return nil, "", fmt.Errorf("policy list: subscriptionId: %w", err)
	}
	list := v.GetArray("policyList")
	if list == nil && v.Get("policyList") == nil {
		return nil, "", errors.New("policy list: the answer has no policyList")
	}
	out := make([]compliance.Policy, 0, len(list))
	for i, e := range list {
		pol, err := d.policy(e)
		if err != nil {
			return nil, "", fmt.Errorf("policy list: policy %d: %w", i+1, err)
		}
		out = append(out, pol)
	}
	return out, sub, nil
}

var jsonNull = fastjson.MustParse("null")

func orNull(v *fastjson.Value) *fastjson.Value {
	if v == nil {
		return jsonNull
	}
	return v
}

func (d *recordDecoder) policy(v *fastjson.Value) (compliance.Policy, error) {
	var p compliance.Policy
	var err error
	fields := []struct {
		key string
		set func(*fastjson.Value) error
	}{
		{"id", func(v *fastjson.Value) (e error) { p.ID, e = d.id(v); return }},
		{"title", func(v *fastjson.Value) (e error) { p.Title, e = d.str(v); return }},
		{"createdBy", func(v *fastjson.Value) (e error) { p.CreatedBy, e = d.str(v); return }},
		{"createdDate", func(v *fastjson.Value) (e error) { p.CreatedDate, e = d.date(v); return }},
		{"modifiedBy", func(v *fastjson.Value) (e error) { p.ModifiedBy, e = d.str(v); return }},
		{"modifiedDate", func(v *fastjson.Value) (e error) { p.ModifiedDate, e = d.date(v); return }},
		{"lastEvaluatedDate", func(v *fastjson.Value) (e error) { p.LastEvaluatedDate, e = d.date(v); return }},
		{"status", func(v *fastjson.Value) (e error) { p.Status, e = d.str(v); return }},
		{"locked", func(v *fastjson.Value) (e error) { p.Locked, e = flag(v); return }},
	}
	for _, f := range fields {
		if err = f.set(orNull(v.Get(f.key))); err != nil {
			return p, fmt.Errorf("field %q: %w", f.key, err)
		}
	}
	if p.ID == 0 {
		return p, errors.New("no policy id")
	}
	return p, nil
}

// flag reads 0/1, true/false or "0"/"1"/"true"/"false".
func flag(v *fastjson.Value) (bool, error) {
	switch v.Type() {
	case fastjson.TypeTrue:
		return true, nil
	case fastjson.TypeFalse, fastjson.TypeNull:
		return false, nil
	case fastjson.TypeNumber:
		n, err := v.Int()
		return n != 0, err
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		if len(b) == 0 {
			return false, nil
		}
		return strconv.ParseBool(string(b))
	}
	return false, fmt.Errorf("want a flag, got %s", v.Type())
}

// HostIDsOptions filter host id resolution.
type HostIDsOptions struct {
	LastScanDate time.Time // hosts scanned on or after
}

// HostIDs resolves the hosts of up to MaxPoliciesPerHostIDs policies. A
// policy Qualys does not know comes back with its Error set, not as an
// error of the call. GET /pcrs/{v}/posture/hostids
func (s *PCRSService) HostIDs(ctx context.Context, policyIDs []int64, opts *HostIDsOptions) ([]compliance.PolicyHosts, error) {
	if len(policyIDs) == 0 || len(policyIDs) > MaxPoliciesPerHostIDs {
		return nil, fmt.Errorf("host ids: %d policies asked for; one call takes 1 to %d", len(policyIDs), MaxPoliciesPerHostIDs)
	}
	var ids []byte
	for i, id := range policyIDs {
		if i > 0 {
			ids = append(ids, ',')
		}
		ids = strconv.AppendInt(ids, id, 10)
	}
	q := url.Values{"policyId": {string(ids)}}
	if opts != nil && !opts.LastScanDate.IsZero() {
		q.Set("lastScanDate", compliance.FormatDate(opts.LastScanDate))
	}
	resp, err := s.c.doGateway(ctx, epHostIDs, func(ctx context.Context) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url("hostids", q), nil)
		if req != nil {
			req.Header.Set("Accept", "application/json")
		}
		return req, err
	})
	if err != nil {
		return nil, fmt.Errorf("host ids of policies %s: %w", ids, err)
	}
	defer resp.Body.Close()
	out, err := decodeHostIDs(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("host ids of policies %s: %w", ids, err)
	}
	return out, nil
}

// decodeHostIDs reads a hostids answer: one element per policy. A policy
// may have 100k hosts, so the array is read element by element rather than
// whole.
func decodeHostIDs(r io.Reader) ([]compliance.PolicyHosts, error) {
	ar := newArrayReader(r)
	d := newRecordDecoder()
	var out []compliance.PolicyHosts
	for {
		elem, err := ar.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		ph, err := d.policyHosts(elem)
		if err != nil {
			return nil, fmt.Errorf("element %d: %w", ar.Index(), err)
		}
		out = append(out, ph)
	}
}

func (d *recordDecoder) policyHosts(elem []byte) (compliance.PolicyHosts, error) {
	var ph compliance.PolicyHosts
	v, err := d.p.ParseBytes(elem)
	if err != nil {
		return ph, err
	}
	if ph.PolicyID, err = d.id(orNull(v.Get("policyId"))); err != nil {
		return ph, fmt.Errorf("policyId: %w", err)
	}
	if ph.SubscriptionID, err = d.str(orNull(v.Get("subscriptionId"))); err != nil {
		return ph, fmt.Errorf("subscriptionId: %w", err)
	}
	if ph.Error, err = d.str(orNull(v.Get("error"))); err != nil {
		return ph, fmt.Errorf("error: %w", err)
	}
	hosts := v.GetArray("hostIds")
	ph.HostIDs = make([]string, 0, len(hosts))
	for _, h := range hosts {
		var id string
		switch h.Type() {
		case fastjson.TypeString:
			b, _ := h.StringBytes()
			id = string(b)
		case fastjson.TypeNumber:
			id = string(h.MarshalTo(nil))
		default:
			id = string(h.MarshalTo(nil))
		}
		if n, err := strconv.ParseInt(id, 10, 64); err != nil || n <= 0 {
			ph.BadHostIDs = append(ph.BadHostIDs, id)
			continue
		}
		ph.HostIDs = append(ph.HostIDs, id)
	}
	return ph, nil
}

// PostureRequest is one postureInfo call: usually one policy and a batch of
// its hosts. Both flags are always sent, since their documented defaults
// disagree between Qualys and ServiceNow.
type PostureRequest struct {
	Policies    []compliance.PolicyHosts
	Evidence    bool
	Compression bool

	LastEvaluationDate time.Time
	LastScanDate       time.Time
	LastScanDateFrom   time.Time // with LastScanDateTo; not with LastScanDate
	LastScanDateTo     time.Time
	StatusChangedSince time.Time
	// Extra carries parameters pcsync does not model (evidenceTruncationLimit,
	// excludeInactiveControl, extendedEvidenceRequired, qdScoreRequired, ...).
	Extra url.Values
}

func (r *PostureRequest) query() (url.Values, error) {
	q := url.Values{}
	for k, vs := range r.Extra {
		q[k] = append([]string(nil), vs...)
	}
	q.Set("evidenceRequired", boolParam(r.Evidence))
	q.Set("compressionRequired", boolParam(r.Compression))
	if (r.LastScanDateFrom.IsZero()) != (r.LastScanDateTo.IsZero()) {
		return nil, errors.New("lastScanDateFrom and lastScanDateTo go together")
	}
	if !r.LastScanDateFrom.IsZero() && !r.LastScanDate.IsZero() {
		return nil, errors.New("lastScanDate cannot be combined with lastScanDateFrom/lastScanDateTo")
	}
	for _, p := range []struct {
		k string
		t time.Time
	}{
		{"lastEvaluationDate", r.LastEvaluationDate}, {"lastScanDate", r.LastScanDate},
		{"lastScanDateFrom", r.LastScanDateFrom}, {"lastScanDateTo", r.LastScanDateTo},
		{"statusChangedSince", r.StatusChangedSince},
	} {
		if !p.t.IsZero() {
			q.Set(p.k, compliance.FormatDate(p.t))
		}
	}
	return q, nil
}

func boolParam(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

type postureBodyElem struct {
	PolicyID       string   `json:"policyId"`
	SubscriptionID string   `json:"subscriptionId"`
	HostIDs        []string `json:"hostIds"`
}

// Posture starts a postureInfo stream. The call itself is retried like any
// other; once records flow, a broken stream is the caller's to retry (it
// alone knows which records it has kept). POST /pcrs/{v}/posture/postureInfo
func (s *PCRSService) Posture(ctx context.Context, r *PostureRequest) (*PostureStream, error) {
	q, err := r.query()
	if err != nil {
		return nil, fmt.Errorf("posture info: %w", err)
	}
	elems := make([]postureBodyElem, 0, len(r.Policies))
	for _, p := range r.Policies {
		elems = append(elems, postureBodyElem{strconv.FormatInt(p.PolicyID, 10), p.SubscriptionID, p.HostIDs})
	}
	body, err := json.Marshal(elems)
	if err != nil {
		return nil, err
	}
	resp, err := s.c.doGateway(ctx, epPostureInfo, func(ctx context.Context) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url("postureInfo", q), bytes.NewReader(body))
		if req != nil {
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "*/*")
		}
		return req, err
	})
	if err != nil {
		return nil, fmt.Errorf("posture info: %w", err)
	}
	return newPostureStream(resp)
}
