package server

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"pcsync/internal/compliance"
	"pcsync/internal/export"
	"pcsync/internal/store"
)

// The API's lists: each is its filters, its record and its read, made into
// a list by listOf.

func (s *Server) policiesList() list {
	return listOf(nil, policyRow, noFilter, unfiltered(s.rd.ListPolicies))
}

func (s *Server) policyControlsList() list {
	return listOf([]string{"status", "criticality", "technology", "section"}, controlRow, s.policyControlsFilter,
		func(ctx context.Context, f policyControls, page store.Page, fn func(*store.ControlFigures) error) (string, error) {
			return s.listPolicyControls(ctx, f.policy, f.ControlFilter, page, fn)
		})
}

func (s *Server) posturesList() list {
	return listOf([]string{"policy", "control", "host", "status", "technology", "since", "framework", "criticality", "section"},
		postureRow, ignoreRequest(postureFilter), s.rd.ListPostures)
}

func (s *Server) hostsList() list {
	return listOf([]string{"policy", "status", "q", "unscanned_days"}, hostRow,
		func(_ *http.Request, q *query) (store.HostFilter, error) { return hostFilter(q, s.opts.Now()) }, s.rd.ListHosts)
}

func (s *Server) frameworksList() list {
	return listOf(nil, frameworkRow, noFilter, unfiltered(s.rd.ListFrameworks))
}

func (s *Server) runsList() list {
	return listOf(nil, runRow, noFilter, unfiltered(s.rd.ListRuns))
}

func (s *Server) changesList() list {
	return listOf([]string{"from", "to", "status"}, changeRow,
		func(r *http.Request, q *query) (store.ChangeFilter, error) { return changeFilter(r, s.rd, q) }, s.listChanges)
}

// listChanges reads a page of the change list of f (its runs those of the
// cursor, see changeFilter) and makes the next page's cursor.
func (s *Server) listChanges(ctx context.Context, f store.ChangeFilter, page store.Page, fn func(*compliance.StatusChange) error) (string, error) {
	if page.After != "" {
		_, _, page.After, _ = splitChangesCursor(page.After) // checked by changeFilter
	}
	next, err := s.rd.ListChanges(ctx, f, page, fn)
	if next != "" {
		next = fmt.Sprintf("%d.%d.%s", f.From, f.To, next)
	}
	return next, err
}

// splitChangesCursor reads a cursor of the change list: the runs it
// compares, then the store's cursor. The runs are in it so that a walk of
// the default (the last two finished runs) keeps to the runs of its first
// page when a sync finishes another run meanwhile.
func splitChangesCursor(c string) (from, to int64, rest string, err error) {
	parts := strings.SplitN(c, ".", 3)
	if len(parts) == 3 {
		from, err = strconv.ParseInt(parts[0], 10, 64)
		if err == nil {
			to, err = strconv.ParseInt(parts[1], 10, 64)
		}
		if err == nil && from >= 0 && to >= 0 && parts[2] != "" {
			return from, to, parts[2], nil
		}
	}
	return 0, 0, "", store.ErrBadCursor
}

func (s *Server) trendList() list {
	return listOf([]string{"policy", "framework"}, trendRow, ignoreRequest(trendFilter),
		func(ctx context.Context, f trend, page store.Page, fn func(*store.TrendPoint) error) (string, error) {
			points, err := s.rd.Trend(ctx, f.policy, f.framework)
			if err != nil {
				return "", err
			}
			return pageSlice(page, points, func(p store.TrendPoint) int64 { return p.Run.ID }, fn)
		})
}

func (s *Server) exceptionsList() list {
	return listOf([]string{"status"}, exceptionRow, s.exceptionFilter, s.listExceptions)
}

// exceptionStatuses are the statuses of Qualys exceptions.
var exceptionStatuses = []string{"Approved", "Pending", "Rejected", "Expired"}

// exceptionFilter reads the filter of the exception list. The list puts
// the exceptions still running before those ended, so a walk keeps the
// moment of its first page (in its cursors): an exception that ends
// meanwhile is neither shown twice nor missed.
func (s *Server) exceptionFilter(_ *http.Request, q *query) (store.ExceptionFilter, error) {
	f := store.ExceptionFilter{Now: s.opts.Now().UTC().Truncate(time.Second)}
	var err error
	if f.Status, err = q.oneOf("status", append([]string{""}, exceptionStatuses...)...); err != nil {
		return f, err
	}
	if c := q.Get("cursor"); c != "" {
		f.Now, _, err = splitExceptionsCursor(c)
	}
	return f, err
}

// listExceptions reads a page of the exception list (the moment of f that
// of the cursor, see exceptionFilter) and makes the next page's cursor.
func (s *Server) listExceptions(ctx context.Context, f store.ExceptionFilter, page store.Page, fn func(*store.ExceptionView) error) (string, error) {
	if page.After != "" {
		_, page.After, _ = splitExceptionsCursor(page.After) // checked by exceptionFilter
	}
	next, err := s.rd.ListExceptions(ctx, f, page, fn)
	if next != "" {
		next = strconv.FormatInt(f.Now.Unix(), 10) + "." + next
	}
	return next, err
}

// splitExceptionsCursor reads a cursor of the exception list: the moment
// of its walk, then the store's cursor.
func splitExceptionsCursor(c string) (time.Time, string, error) {
	sec, rest, ok := strings.Cut(c, ".")
	n, err := strconv.ParseInt(sec, 10, 64)
	if !ok || err != nil || n <= 0 || rest == "" {
		return time.Time{}, "", store.ErrBadCursor
	}
	return time.Unix(n, 0).UTC(), rest, nil
}

// listOf makes a list of rows of T: filter reads its filter from the
// request (a bad one is refused before anything is read), read streams a
// page, rowOf lays each row out.
func listOf[F, T any](params []string, rowOf func(export.Row, *T) export.Row, filter func(*http.Request, *query) (F, error),
	read func(context.Context, F, store.Page, func(*T) error) (string, error)) list {
	var zero T
	return list{params: params, sample: rowOf(nil, &zero), open: func(r *http.Request, q *query) (readFunc, error) {
		f, err := filter(r, q)
		if err != nil {
			return nil, err
		}
		return func(page store.Page, emit func(export.Row) error) (string, error) {
			var row export.Row
			return read(r.Context(), f, page, func(x *T) error { row = rowOf(row[:0], x); return emit(row) })
		}, nil
	}}
}

// none is the filter of a list that has none.
type none struct{}

func noFilter(*http.Request, *query) (none, error) { return none{}, nil }

// unfiltered adapts the read of a list without a filter to listOf.
func unfiltered[T any](read func(context.Context, store.Page, func(*T) error) (string, error)) func(context.Context, none, store.Page, func(*T) error) (string, error) {
	return func(ctx context.Context, _ none, page store.Page, fn func(*T) error) (string, error) {
		return read(ctx, page, fn)
	}
}

// ignoreRequest adapts a filter read from the query alone.
func ignoreRequest[F any](filter func(*query) (F, error)) func(*http.Request, *query) (F, error) {
	return func(_ *http.Request, q *query) (F, error) { return filter(q) }
}

// policyControls is the filter of a policy's control list: the policy of
// the path, which must exist, and the query's filters.
type policyControls struct {
	policy int64
	store.ControlFilter
}

func (s *Server) policyControlsFilter(r *http.Request, q *query) (policyControls, error) {
	id, ok := pathID(r)
	if !ok {
		return policyControls{}, store.ErrNotFound
	}
	if _, err := s.rd.Policy(r.Context(), id); err != nil {
		return policyControls{}, err
	}
	f, err := controlFilter(q)
	return policyControls{policy: id, ControlFilter: f}, err
}

// trend is the filter of the trend: a policy and/or a framework.
type trend struct{ policy, framework int64 }

func trendFilter(q *query) (trend, error) {
	var f trend
	var err error
	if f.policy, err = q.id("policy"); err == nil {
		f.framework, err = q.id("framework")
	}
	return f, err
}

func postureFilter(q *query) (store.PostureFilter, error) {
	var f store.PostureFilter
	var err error
	for _, p := range []struct {
		name string
		dst  *int64
	}{{"policy", &f.Policy}, {"control", &f.Control}, {"host", &f.Host}, {"technology", &f.Technology}, {"framework", &f.Framework},
		{"section", &f.Section}} {
		if *p.dst, err = q.id(p.name); err != nil {
			return f, err
		}
	}
	if f.Section != 0 && f.Policy == 0 {
		return f, &paramError{Param: "section", Msg: "a section is a policy's: give policy= with it"}
	}
	if f.Status, err = q.status("status"); err != nil {
		return f, err
	}
	if q.Get("criticality") != "" {
		var c int64
		if c, err = q.criticality("criticality"); err != nil {
			return f, err
		}
		f.Criticality = criticalityLabels[c]
	}
	f.Since, err = q.date("since")
	return f, err
}

// hostFilter reads the filters of the host list; unscanned_days keeps the
// hosts not scanned for that many days before now (the overview's count).
func hostFilter(q *query, now time.Time) (store.HostFilter, error) {
	var f store.HostFilter
	var err error
	if f.Policy, err = q.id("policy"); err != nil {
		return f, err
	}
	if f.Status, err = q.status("status"); err != nil {
		return f, err
	}
	switch f.Q = q.Get("q"); {
	case !utf8.ValidString(f.Q):
		return f, &paramError{Param: "q", Msg: "not UTF-8 text"}
	case strings.ContainsFunc(f.Q, unicode.IsControl):
		return f, &paramError{Param: "q", Msg: "has a control character"}
	case utf8.RuneCountInString(f.Q) > 200: // as the search field's maxlength counts
		return f, &paramError{Param: "q", Msg: "longer than 200 characters"}
	}
	if q.Get("unscanned_days") != "" {
		days, err := q.intIn("unscanned_days", 0, 1, 36500)
		if err != nil {
			return f, err
		}
		f.ScannedBefore = now.Add(-time.Duration(days) * 24 * time.Hour)
	}
	return f, nil
}

// controlFilter reads the filters of a policy's control list.
func controlFilter(q *query) (store.ControlFilter, error) {
	var f store.ControlFilter
	var err error
	f.Status, err = q.status("status")
	if err == nil {
		f.Criticality, err = q.criticality("criticality")
	}
	if err == nil {
		f.Technology, err = q.id("technology")
	}
	if err == nil {
		f.Section = -1
		if q.Get("section") != "" {
			var n int
			n, err = q.intIn("section", 0, 0, 1<<30)
			f.Section = int64(n)
		}
	}
	return f, err
}

// changeFilter reads the filters of the change list. from is a run or 0,
// the start (before the first run); the runs default to the last two
// finished: to alone compares it with the finished run before it, from
// alone with the latest finished run.
func changeFilter(r *http.Request, rd store.Reader, q *query) (store.ChangeFilter, error) {
	var f store.ChangeFilter
	var err error
	if f.Status, err = q.status("status"); err != nil {
		return f, err
	}
	from, to := q.Get("from"), q.Get("to")
	var given store.ChangeFilter
	if from != "" {
		if given.From, err = strconv.ParseInt(from, 10, 64); err != nil || given.From < 0 {
			return f, &paramError{Param: "from", Msg: fmt.Sprintf("%q is not a run id, nor 0 (before the first run)", from)}
		}
	}
	if given.To, err = q.id("to"); err != nil {
		return f, err
	}
	switch {
	case q.Get("cursor") != "": // the runs of the walk's first page
		if f.From, f.To, _, err = splitChangesCursor(q.Get("cursor")); err != nil {
			return f, err
		}
		if from != "" && given.From != f.From || to != "" && given.To != f.To {
			return f, &paramError{Param: "cursor", Msg: "a cursor of other runs than from and to"}
		}
		if err := runsExist(r, rd, f, "cursor"); err != nil {
			if pe := (*paramError)(nil); errors.As(err, &pe) {
				return f, store.ErrBadCursor // made by hand: its runs are not this database's
			}
			return f, err
		}
		return f, nil
	case from == "" && to == "":
		f.From, f.To, err = lastTwoRuns(r, rd)
	case from == "":
		_, f.From, err = finishedRuns(r, rd, given.To)
	case to == "":
		_, f.To, err = lastTwoRuns(r, rd)
	}
	if err != nil {
		return f, err
	}
	if from != "" {
		f.From = given.From
	}
	if to != "" {
		f.To = given.To
	}
	if f.To != 0 && f.From >= f.To {
		return f, &paramError{Param: "from", Msg: "must be a run before to"}
	}
	return f, runsExist(r, rd, f, "")
}

// runsExist refuses a change list between runs the database does not have
// (it would be empty, as if nothing had changed), naming the parameter, or
// param when the runs came from it.
func runsExist(r *http.Request, rd store.Reader, f store.ChangeFilter, param string) error {
	for _, x := range []struct {
		name string
		id   int64
	}{{"from", f.From}, {"to", f.To}} {
		if x.id == 0 {
			continue
		}
		if _, err := rd.Run(r.Context(), x.id); errors.Is(err, store.ErrNotFound) {
			return &paramError{Param: cmp.Or(param, x.name), Msg: fmt.Sprintf("this database has no run %d; /api/v1/runs lists its runs", x.id)}
		} else if err != nil {
			return err
		}
	}
	return nil
}

// lastTwoRuns are the default of a change list: the latest finished run
// and the finished run before it.
func lastTwoRuns(r *http.Request, rd store.Reader) (from, to int64, err error) {
	return finishedRuns(r, rd, 0)
}

// finishedRuns is the latest finished run before the run before (any when
// 0) and the finished run before it; 0 when there is none.
func finishedRuns(r *http.Request, rd store.Reader, before int64) (from, to int64, err error) {
	_, err = rd.ListRuns(r.Context(), store.Page{}, func(x *compliance.Run) error {
		if x.FinishedAt.IsZero() || x.Status == "abandoned" || before != 0 && x.ID >= before {
			return nil
		}
		if to == 0 {
			to = x.ID
			return nil
		}
		from = x.ID
		return errStop
	})
	if err == errStop {
		err = nil
	}
	return from, to, err
}

// pageSlice pages a list held in memory (a short one) by an increasing key.
func pageSlice[T any](page store.Page, items []T, key func(T) int64, emit func(*T) error) (string, error) {
	var after int64 = -1 << 63
	if page.After != "" {
		n, err := decodeSliceCursor(page.After)
		if err != nil {
			return "", err
		}
		after = n
	}
	shown := 0
	for i := range items {
		if key(items[i]) <= after {
			continue
		}
		if page.Limit > 0 && shown == page.Limit {
			return encodeSliceCursor(key(items[i-1])), nil
		}
		if err := emit(&items[i]); err != nil {
			return "", err
		}
		shown++
	}
	return "", nil
}

func encodeSliceCursor(n int64) string { return "k" + strconv.FormatInt(n, 10) }

func decodeSliceCursor(c string) (int64, error) {
	digits, ok := strings.CutPrefix(c, "k")
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || !ok || n <= 0 || digits != strconv.FormatInt(n, 10) { // the keys are ids, as written
		return 0, store.ErrBadCursor
	}
	return n, nil
}

// errStop ends an iteration early.
var errStop = errors.New("stop")
