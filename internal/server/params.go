package server

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"pcsync/internal/compliance"
)

// query is a request's query parameters, checked against the ones its
// route takes.
type query struct {
	url.Values
}

// parseQuery refuses parameters the route does not take, and repeated ones.
func parseQuery(r *http.Request, allowed ...any) (*query, error) {
	var names []string
	for _, a := range allowed {
		switch v := a.(type) {
		case string:
			names = append(names, v)
		case []string:
			names = append(names, v...)
		}
	}
	vals, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, &paramError{Param: "query", Msg: "the query string does not parse: " + err.Error()}
	}
	for k, v := range vals {
		if k == "" {
			return nil, &paramError{Param: "query", Msg: fmt.Sprintf("a value without a parameter name (%q); write name=value", "="+v[0])}
		}
		if !slices.Contains(names, k) {
			takes := "no parameters"
			if len(names) > 0 {
				takes = strings.Join(names, ", ")
			}
			return nil, &paramError{Param: k, Msg: fmt.Sprintf("unknown parameter; this route takes %s", takes)}
		}
		if len(v) > 1 {
			return nil, &paramError{Param: k, Msg: "given more than once"}
		}
	}
	return &query{vals}, nil
}

// id reads a positive id; 0 when absent.
func (q *query) id(name string) (int64, error) {
	v := q.Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		return 0, &paramError{Param: name, Msg: fmt.Sprintf("%q is not an id (a positive number)", v)}
	}
	return n, nil
}

// intIn reads an integer between lo and hi; def when absent.
func (q *query) intIn(name string, def, lo, hi int) (int, error) {
	v := q.Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, &paramError{Param: name, Msg: fmt.Sprintf("%q: use a number from %d to %d", v, lo, hi)}
	}
	return n, nil
}

// oneOf reads one of the choices (the first when absent), ignoring case.
func (q *query) oneOf(name string, choices ...string) (string, error) {
	v := q.Get(name)
	if v == "" {
		return choices[0], nil
	}
	for _, c := range choices {
		if strings.EqualFold(v, c) {
			return c, nil
		}
	}
	named := choices
	if named[0] == "" { // absent is allowed, but not a choice to name
		named = named[1:]
	}
	return "", &paramError{Param: name, Msg: fmt.Sprintf("%q: use one of %s", v, strings.Join(named, ", "))}
}

// status reads a posture status: Passed, Failed or Error (any case).
func (q *query) status(name string) (compliance.Status, error) {
	v, err := q.oneOf(name, "", "Passed", "Failed", "Error")
	return compliance.Status(v), err
}

// date reads YYYY-MM-DD or an RFC 3339 time.
func (q *query) date(name string) (time.Time, error) {
	v := q.Get(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err == nil {
		// Qualys dates to the second: a fraction starts at the next one
		if t.Nanosecond() != 0 {
			t = t.Truncate(time.Second).Add(time.Second)
		}
		t = t.UTC()
	} else {
		t, err = time.Parse(time.DateOnly, v)
	}
	if err == nil {
		if t.Year() < 1 || t.Year() > 9999 { // the stores compare dates as 4-digit years
			return time.Time{}, &paramError{Param: name, Msg: fmt.Sprintf("%q is outside the years 0001 to 9999", v)}
		}
		return t, nil
	}
	return time.Time{}, &paramError{Param: name, Msg: fmt.Sprintf("%q is not a date: use YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ", v)}
}

// criticality reads a criticality as its value (0-5) or label; -1 when
// absent.
func (q *query) criticality(name string) (int64, error) {
	v := q.Get(name)
	if v == "" {
		return -1, nil
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 && n <= 5 {
		return n, nil
	}
	for i, l := range criticalityLabels {
		if strings.EqualFold(v, l) {
			return int64(i), nil
		}
	}
	return 0, &paramError{Param: name, Msg: fmt.Sprintf("%q: use 0 to 5 or %s", v, strings.Join(criticalityLabels, ", "))}
}

// criticalityLabels are Qualys's labels by value.
var criticalityLabels = []string{"UNDEFINED", "MINIMAL", "MEDIUM", "SERIOUS", "CRITICAL", "URGENT"}

// pathID reads the {id} of the route's path; a bad one is a 404.
func pathID(r *http.Request) (int64, bool) {
	v := r.PathValue("id")
	n, err := strconv.ParseInt(v, 10, 64)
	return n, err == nil && n > 0 && v == strconv.FormatInt(n, 10) // one address per id: not +7 or 007
}
