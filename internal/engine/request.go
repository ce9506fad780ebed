package engine

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

// request is what shapes the data a run asks Qualys for. It is stored with
// the run, and a resumed run asks with it: the batches still to fetch must
// be fetched as the ones already stored were.
type request struct {
	Source              string     `json:"source"`
	PolicyIDs           []int64    `json:"policyIds,omitempty"`
	Evidence            bool       `json:"evidence,omitempty"`
	LastEvaluationDate  time.Time  `json:"lastEvaluationDate,omitzero"`
	LastScanDate        time.Time  `json:"lastScanDate,omitzero"`
	LastScanDateFrom    time.Time  `json:"lastScanDateFrom,omitzero"`
	LastScanDateTo      time.Time  `json:"lastScanDateTo,omitzero"`
	StatusChangedSince  time.Time  `json:"statusChangedSince,omitzero"`
	HostIDsLastScanDate time.Time  `json:"hostIdsLastScanDate,omitzero"`
	ExtraParams         url.Values `json:"extraParams,omitempty"`
	IncrementalFilter   string     `json:"incrementalFilter,omitempty"`
	ClassicResults      url.Values `json:"classicResults,omitempty"`
}

func requestOf(o *Options) request {
	utc := func(t time.Time) time.Time {
		if t.IsZero() {
			return t
		}
		return t.UTC().Truncate(time.Second)
	}
	r := request{Source: o.Source, PolicyIDs: o.PolicyIDs, Evidence: o.Evidence,
		LastEvaluationDate: utc(o.LastEvaluationDate), LastScanDate: utc(o.LastScanDate),
		LastScanDateFrom: utc(o.LastScanDateFrom), LastScanDateTo: utc(o.LastScanDateTo),
		StatusChangedSince: utc(o.StatusChangedSince), HostIDsLastScanDate: utc(o.HostIDsLastScanDate),
		ExtraParams: o.ExtraParams, IncrementalFilter: o.IncrementalFilter}
	if r.Source == "classic" {
		r.ClassicResults = o.Classic.Results
	}
	if len(r.ExtraParams) == 0 {
		r.ExtraParams = nil
	}
	if len(r.ClassicResults) == 0 {
		r.ClassicResults = nil
	}
	return r
}

func (r request) encode() string {
	b, err := json.Marshal(r)
	if err != nil { // plain data: cannot happen
		panic(err)
	}
	return string(b)
}

// apply sets the options r stands for.
func (r request) apply(o *Options) {
	o.Source, o.PolicyIDs, o.Evidence = r.Source, r.PolicyIDs, r.Evidence
	o.LastEvaluationDate, o.LastScanDate, o.LastScanDateFrom, o.LastScanDateTo = r.LastEvaluationDate, r.LastScanDate, r.LastScanDateFrom, r.LastScanDateTo
	o.StatusChangedSince, o.HostIDsLastScanDate = r.StatusChangedSince, r.HostIDsLastScanDate
	o.ExtraParams, o.IncrementalFilter = r.ExtraParams, r.IncrementalFilter
	if r.Source == "classic" {
		o.Classic.Results = r.ClassicResults
	}
}

// differences names the options in which two requests differ.
func differences(stored, now string) ([]string, error) {
	var a, b map[string]json.RawMessage
	if err := json.Unmarshal([]byte(stored), &a); err != nil {
		return nil, fmt.Errorf("the stored request is not JSON: %w", err)
	}
	if err := json.Unmarshal([]byte(now), &b); err != nil {
		return nil, err
	}
	var out []string
	for k, v := range a {
		if w, ok := b[k]; !ok || string(w) != string(v) {
			out = append(out, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out, nil
}

// describe writes a stored request as the options a user would give.
func describe(stored string) string {
	var m map[string]json.RawMessage
	if json.Unmarshal([]byte(stored), &m) != nil {
		return stored
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+string(m[k]))
	}
	return strings.Join(parts, " ")
}
