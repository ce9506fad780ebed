package server

import (
	"fmt"
	"html/template"
	"net/url"
	"strconv"
	"strings"
	"time"

	"pcsync/internal/compliance"
	"pcsync/internal/store"
)

// funcs are the templates' helpers.
var funcs = template.FuncMap{
	"num":           num,
	"pct":           func(f store.Figures) string { return pct(f.CompliancePct()) },
	"share":         share,
	"when":          when,
	"day":           day,
	"iso":           func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"ago":           ago,
	"age":           age,
	"status":        func(s compliance.Status) string { return strings.ToLower(string(s)) },
	"href":          href,
	"link":          link,
	"apiCSV":        apiCSV,
	"figs":          newFigs,
	"figcells":      figcells,
	"bar":           bar,
	"statusOptions": statusOptions,
	"deref":         func(s *string) string { return *s },
	"due":           newDue,
	"lower":         strings.ToLower,
	"dur":           dur,
	"bytes":         bytesText,
	"every":         every,
	"dict":          dict,
	"pager":         func(u *url.URL, next string) pager { return pager{URL: u, Next: next} },
	"option": func(value, current any, label string) option {
		return option{Value: fmt.Sprint(value), Label: label, Selected: fmt.Sprint(value) == fmt.Sprint(current)}
	},
}

// num writes n with thousands separators.
func num(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// pct writes a compliance percentage with two decimals, "n/a" for none.
func pct(p *float64) string {
	if p == nil {
		return "n/a"
	}
	return strconv.FormatFloat(*p, 'f', 2, 64) + " %"
}

// share is part/whole as a percentage with two decimals, "n/a" for none.
func share(part, whole int64) string {
	if whole <= 0 {
		return "n/a"
	}
	return strconv.FormatFloat(100*float64(part)/float64(whole), 'f', 2, 64) + " %"
}

// when writes a time to the minute, in UTC; "never" for the zero time.
func when(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04") + " UTC"
}

// day writes a date; "–" for the zero time.
func day(t time.Time) string {
	if t.IsZero() {
		return "–"
	}
	return t.UTC().Format(time.DateOnly)
}

// ago says how long before now t was ("3 h ago"), or after it ("in 2 d").
func ago(now, t time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := now.Sub(t)
	if d < 0 {
		return "in " + span(-d)
	}
	if d < time.Minute {
		return "just now"
	}
	return span(d) + " ago"
}

// age is how long ago t was, in days past a day ("412 d").
func age(now, t time.Time) string {
	if t.IsZero() {
		return "–"
	}
	return span(now.Sub(t))
}

func span(d time.Duration) string {
	switch {
	case d < time.Minute:
		return strconv.Itoa(int(d.Seconds())) + " s"
	case d < 2*time.Hour:
		return strconv.Itoa(int(d.Minutes())) + " min"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d.Hours())) + " h"
	default:
		return num(int64(d.Hours()/24)) + " d"
	}
}

// href is path with the query kv (name, value pairs); nil, empty values, 0
// and -1 are left out.
func href(path string, kv ...any) string {
	q := url.Values{}
	setPairs(q, kv)
	if len(q) == 0 {
		return path
	}
	return path + "?" + q.Encode()
}

// setPairs sets q's names to values, removing those whose value is empty.
func setPairs(q url.Values, kv []any) {
	for i := 0; i+1 < len(kv); i += 2 {
		name := fmt.Sprint(kv[i])
		v := fmt.Sprint(kv[i+1])
		if kv[i+1] == nil || v == "" || v == "0" || v == "-1" {
			q.Del(name)
			continue
		}
		q.Set(name, v)
	}
}

// link is the request's address with the query kv changed; the cursor and
// the csv table are left out unless kv sets them.
func link(u *url.URL, kv ...any) string {
	q := u.Query()
	q.Del("cursor")
	q.Del("csv")
	for k, v := range q {
		if len(v) == 1 && v[0] == "" {
			q.Del(k) // an empty field of a filter form
		}
	}
	setPairs(q, kv)
	if len(q) == 0 {
		return u.Path
	}
	return u.Path + "?" + q.Encode()
}

// pageOnly are the parameters of pages that the API's lists do not take.
var pageOnly = []string{"cursor", "csv", "value"}

// apiCSV is the CSV download of the /api/v1 list at path with the
// request's filters, and kv's.
func apiCSV(u *url.URL, path string, kv ...any) string {
	q := u.Query()
	for _, p := range pageOnly {
		q.Del(p)
	}
	for k, v := range q {
		if len(v) == 1 && v[0] == "" {
			q.Del(k)
		}
	}
	setPairs(q, kv)
	q.Set("format", "csv")
	return path + "?" + q.Encode()
}

// figs are figures with the links to the postures behind them.
type figs struct {
	store.Figures
	// The posture lists of all and of each status.
	AllURL, PassedURL, FailedURL, ErrorURL string
}

// newFigs links f's figures to the posture list at path with the query kv
// and each status; no links when path is "".
func newFigs(f store.Figures, path string, kv ...any) figs {
	out := figs{Figures: f}
	if path == "" {
		return out
	}
	out.AllURL = href(path, kv...)
	out.PassedURL = href(path, append(kv, "status", "Passed")...)
	out.FailedURL = href(path, append(kv, "status", "Failed")...)
	out.ErrorURL = href(path, append(kv, "status", "Error")...)
	return out
}

// figcells are the cells of a row's figures: passed, failed and error,
// each a link to its postures (the list at path with the query kv and the
// status; no links when path is ""), the compliance and the bar. Written in
// Go rather than as a template: a table has a row for each of up to 100
// hosts or controls, and the template's calls through reflection were a
// third of those pages' time.
func figcells(f store.Figures, path string, kv ...any) template.HTML {
	var q url.Values
	if path != "" {
		q = url.Values{}
		setPairs(q, kv)
	}
	var b strings.Builder
	for _, c := range []struct {
		class, status string
		n             int64
	}{{"passed", "Passed", f.Passed}, {"failed", "Failed", f.Failed}, {"error", "Error", f.Errors}} {
		b.WriteString("\n<td class=\"n ")
		b.WriteString(c.class)
		b.WriteString(`">`)
		if q == nil || c.n == 0 {
			b.WriteString(num(c.n))
		} else {
			q.Set("status", c.status)
			b.WriteString(`<a href="`)
			b.WriteString(template.HTMLEscapeString(path + "?" + q.Encode()))
			b.WriteString(`">`)
			b.WriteString(num(c.n))
			b.WriteString(`</a>`)
		}
		b.WriteString(`</td>`)
	}
	b.WriteString("\n<td class=\"n pct\">")
	b.WriteString(template.HTMLEscapeString(pct(f.CompliancePct())))
	b.WriteString("</td>\n<td class=\"barcol\">")
	b.WriteString(string(bar(f)))
	b.WriteString("</td>\n")
	return template.HTML(b.String())
}

// bar draws figures as a bar of three parts, passed, failed and error,
// in proportion; the figures are written beside it, so it is hidden from
// screen readers.
func bar(f store.Figures) template.HTML {
	var b strings.Builder
	b.WriteString(`<svg class="bar" viewBox="0 0 100 6" preserveAspectRatio="none" aria-hidden="true" focusable="false">`)
	total := f.Total()
	if total == 0 {
		b.WriteString(`<rect class="none" width="100" height="6"/>`)
	}
	x := 0.0
	for _, part := range []struct {
		class string
		n     int64
	}{{"passed", f.Passed}, {"failed", f.Failed}, {"error", f.Errors}} {
		if total == 0 || part.n == 0 {
			continue
		}
		w := 100 * float64(part.n) / float64(total)
		fmt.Fprintf(&b, `<rect class="%s" x="%.3f" width="%.3f" height="6"/>`, part.class, x, w)
		x += w
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// pager is the paging of a list: the next page's link carries the cursor
// the list returned.
type pager struct {
	URL  *url.URL
	Next string
}

// First reports whether this is the list's first page.
func (p pager) First() bool { return p.URL.Query().Get("cursor") == "" }

// option is an option of a filter's select.
type option struct {
	Value, Label string
	Selected     bool
}

// due is an end date, and whether it is past or within 30 days.
type due struct {
	Date       time.Time
	Past, Soon bool
	In         string // how long until it
}

// expirySoon is how near an end date is marked.
const expirySoon = 30 * 24 * time.Hour

func newDue(now, end time.Time) due {
	d := due{Date: end}
	if end.IsZero() {
		return d
	}
	d.Past = end.Before(now)
	d.Soon = !d.Past && end.Sub(now) <= expirySoon
	d.In = span(end.Sub(now))
	return d
}

// dur is how long from start to end took; "–" when it has not ended.
func dur(start, end time.Time) string {
	if start.IsZero() || end.IsZero() {
		return "–"
	}
	d := end.Sub(start).Round(100 * time.Millisecond)
	if d < time.Minute {
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + " s"
	}
	return d.Round(time.Second).String()
}

// bytesText writes a size in bytes with a binary unit.
func bytesText(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	v, u := float64(n), 0
	for v >= unit && u < 4 {
		v, u = v/unit, u+1
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + " " + [...]string{"B", "KiB", "MiB", "GiB", "TiB"}[u]
}

// every writes an interval the way people say it: "6h", "90m", "1h30m".
func every(d time.Duration) string {
	s := d.String()
	s = strings.TrimSuffix(s, "0s")
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	if s == "" {
		return d.String()
	}
	return s
}

// dict makes the arguments of a shared template: name, value pairs.
func dict(kv ...any) map[string]any {
	m := map[string]any{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[fmt.Sprint(kv[i])] = kv[i+1]
	}
	return m
}
