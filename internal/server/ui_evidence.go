package server

import (
	"bytes"
	"context"
	"encoding/json"
	"html/template"
	"strconv"
	"strings"

	"pcsync/internal/store"
)

// failure is a failing posture as the control page shows it: its host,
// its evidence side by side with what was expected, and its value group.
type failure struct {
	store.PostureView
	HostName string
	Policy   string
	Evidence evidence
	Value    string
}

// evidence is what a posture's evidence and cause of failure say.
type evidence struct {
	Expected, Current   []string
	Missing, Unexpected []string
	Raw                 string // evidence of another shape, as JSON text
	// ExpectedText is what the policy expects of the posture's technology,
	// shown when the evidence does not say.
	ExpectedText string
}

// valuesShown is how many of a list of values a cell shows before the
// rest, folded under "N more".
const valuesShown = 3

// Cell is the evidence as the cell of a table: the expected and current
// values side by side, else the evidence's own JSON, else a note that none
// was synced. CauseCell is the cause of failure's cell: the missing and
// the unexpected values. Both are written in Go, as figcells is: the
// control page has a row for each of 50 failing postures, and the
// template's calls through reflection for their values were a third of
// the page's CPU.
func (e *evidence) Cell() template.HTML {
	var b strings.Builder
	switch {
	case e.Expected != nil || e.Current != nil || e.ExpectedText != "":
		b.WriteString(`<div class="evidence"><div class="exp"><h4>Expected</h4>`)
		if e.Expected != nil {
			writeValues(&b, e.Expected)
		} else {
			b.WriteString("<code>")
			b.WriteString(template.HTMLEscapeString(e.ExpectedText))
			b.WriteString("</code>")
		}
		b.WriteString(`</div><div class="cur"><h4>Current</h4>`)
		switch {
		case e.Current != nil:
			writeValues(&b, e.Current)
		case e.Unexpected != nil:
			writeValues(&b, e.Unexpected)
		default:
			b.WriteString(`<span class="muted">no evidence synced</span>`)
		}
		b.WriteString("</div></div>")
	case e.Raw != "":
		b.WriteString("<pre>")
		b.WriteString(template.HTMLEscapeString(e.Raw))
		b.WriteString("</pre>")
	default:
		b.WriteString(`<span class="muted">no evidence synced</span>`)
	}
	return template.HTML(b.String())
}

// CauseCell: see Cell.
func (e *evidence) CauseCell() template.HTML {
	var b strings.Builder
	if e.Missing != nil {
		b.WriteString("<strong>missing</strong>")
		writeValues(&b, e.Missing)
	}
	if e.Unexpected != nil {
		b.WriteString("<strong>unexpected</strong>")
		writeValues(&b, e.Unexpected)
	}
	return template.HTML(b.String())
}

// writeValues writes values as a list of the first valuesShown, and the
// rest folded under "N more".
func writeValues(b *strings.Builder, vs []string) {
	list := func(vs []string) {
		b.WriteString("<ul>")
		for _, v := range vs {
			b.WriteString("<li><code>")
			b.WriteString(template.HTMLEscapeString(v))
			b.WriteString("</code></li>")
		}
		b.WriteString("</ul>")
	}
	list(vs[:min(valuesShown, len(vs))])
	if rest := vs[min(valuesShown, len(vs)):]; len(rest) > 0 {
		b.WriteString("<details><summary>")
		b.WriteString(strconv.Itoa(len(rest)))
		b.WriteString(" more</summary>")
		list(rest)
		b.WriteString("</details>")
	}
}

// failures reads a page of the failing postures f lists. With value, only
// those of that value group: the page spans the list's pages until it has
// a page of rows, and the next page starts at the list's cursor.
// expected is the expected value of a policy and technology, for the
// postures whose evidence does not say.
func failures(ctx context.Context, rd store.Reader, f store.PostureFilter, value *string, after string, n *names,
	expected func(policyID, technologyID int64) string) ([]failure, string, error) {
	var out []failure
	next := after
	for {
		var err error
		next, err = rd.ListPostures(ctx, f, store.Page{Limit: uiPageSize, After: next}, func(p *store.PostureView) error {
			if value != nil && failingValue(p) != *value {
				return nil
			}
			ev := readEvidence(p.Evidence, p.CauseOfFailure)
			if ev.Expected == nil {
				ev.ExpectedText = expected(p.PolicyID, p.TechnologyID)
			}
			out = append(out, failure{PostureView: *p, Policy: n.policy(p.PolicyID), Evidence: ev, Value: failingValue(p)})
			return nil
		})
		if err != nil || next == "" || value == nil || len(out) >= uiPageSize {
			nameHosts(n, out, func(f *failure) (int64, *string) { return f.Host.ID, &f.HostName })
			return out, next, err
		}
	}
}

// causeJSON and evidenceJSON are the shapes of Qualys's cause of failure
// and evidence.
type causeJSON struct {
	Missing    []json.RawMessage `json:"missing"`
	Unexpected []json.RawMessage `json:"unexpected"`
}

type evidenceJSON struct {
	Expected []json.RawMessage `json:"expectedValues"`
	Current  []json.RawMessage `json:"currentValues"`
}

// failingValue is the value group of a failing posture, as
// store.Views.FailingValues groups them.
func failingValue(p *store.PostureView) string {
	return store.FailingValue(p.CauseOfFailure, p.Evidence)
}

// readEvidence reads what a posture's evidence and cause of failure say.
func readEvidence(ev, cause []byte) evidence {
	var out evidence
	var e evidenceJSON
	if len(ev) > 0 {
		if err := json.Unmarshal(ev, &e); err == nil && (e.Expected != nil || e.Current != nil) {
			out.Expected, out.Current = values(e.Expected), values(e.Current)
		} else {
			out.Raw = compactJSON(ev)
		}
	}
	var c causeJSON
	if json.Unmarshal(cause, &c) == nil {
		out.Missing, out.Unexpected = values(c.Missing), values(c.Unexpected)
	}
	return out
}

// values are JSON values as text: strings as they are, other values as
// JSON; nulls are left out.
func values(raw []json.RawMessage) []string {
	var out []string
	for _, r := range raw {
		var s string
		switch {
		case bytes.Equal(r, []byte("null")):
			continue
		case json.Unmarshal(r, &s) == nil:
		case bytes.Equal(r, []byte("true")):
			s = "1" // as store.FailingValue gives it, the key of the control page's groups
		case bytes.Equal(r, []byte("false")):
			s = "0"
		default:
			s = compactJSON(r)
		}
		out = append(out, s)
	}
	return out
}

func joinValues(raw []json.RawMessage) string { return strings.Join(values(raw), "; ") }

func compactJSON(b []byte) string {
	var buf bytes.Buffer
	if json.Compact(&buf, b) != nil {
		return string(b)
	}
	return buf.String()
}
