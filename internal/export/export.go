// Package export writes the tables of a pcsync database as NDJSON, JSON or
// CSV, streaming: one row is in memory at a time.
//
// A row is a list of fields in a fixed order with camelCase names. In JSON
// and NDJSON a posture is the record as the API gave it: the PCRS field
// names and nesting, ids as numbers, dates as RFC 3339 UTC or null, evidence
// and causeOfFailure as received, and unmodelled fields under their own
// names. CSV flattens nesting with dots (technology.id, criticality.label);
// evidence, causeOfFailure and extra are JSON text in one column each.
package export

import (
	"context"
	"fmt"
	"io"
	"strings"

	"pcsync/internal/compliance"
	"pcsync/internal/store"
)

// Formats are the output formats.
var Formats = []string{"ndjson", "json", "csv"}

// view is how a registry table is exported when not column by column: a
// domain document (a posture in the PCRS record shape, a section with its
// controls) built from the Reader's typed iterators. sample gives the
// fields of the header.
type view struct {
	sample func() row
	rows   func(ctx context.Context, rd store.Reader, emit func(row) error) error
}

// views are the tables exported as documents; every other table of
// store.Tables is exported column by column, under camelCase names.
var views = map[string]view{
	"postures": {func() row { return postureRow(nil, &compliance.Posture{}) }, func(ctx context.Context, rd store.Reader, emit func(row) error) error {
		var r row
		return rd.Postures(ctx, func(p *compliance.Posture) error { r = postureRow(r[:0], p); return emit(r) })
	}},
	"policies": {func() row { return policyRow(nil, &compliance.Policy{}) }, func(ctx context.Context, rd store.Reader, emit func(row) error) error {
		var r row
		return rd.Policies(ctx, func(p *compliance.Policy) error { r = policyRow(r[:0], p); return emit(r) })
	}},
	"hosts": {func() row { return hostRow(nil, &compliance.Host{}) }, func(ctx context.Context, rd store.Reader, emit func(row) error) error {
		var r row
		return rd.Hosts(ctx, func(h *compliance.Host) error { r = hostRow(r[:0], h); return emit(r) })
	}},
	"controls": {func() row { return controlRow(nil, &compliance.Control{}) }, func(ctx context.Context, rd store.Reader, emit func(row) error) error {
		var r row
		return rd.Controls(ctx, func(c *compliance.Control) error { r = controlRow(r[:0], c); return emit(r) })
	}},
	"technologies": {func() row { return technologyRow(nil, &compliance.Technology{}) }, func(ctx context.Context, rd store.Reader, emit func(row) error) error {
		var r row
		return rd.Technologies(ctx, func(t *compliance.Technology) error { r = technologyRow(r[:0], t); return emit(r) })
	}},
	"sections": {func() row { return sectionRow(nil, 0, &compliance.Section{}) }, func(ctx context.Context, rd store.Reader, emit func(row) error) error {
		var r row
		return rd.Sections(ctx, func(id int64, x *compliance.Section) error { r = sectionRow(r[:0], id, x); return emit(r) })
	}},
	"frameworks": {func() row { return frameworkRow(nil, &compliance.Framework{}) }, func(ctx context.Context, rd store.Reader, emit func(row) error) error {
		var r row
		return rd.Frameworks(ctx, func(x *compliance.Framework) error { r = frameworkRow(r[:0], x); return emit(r) })
	}},
	"exceptions": {func() row { return exceptionRow(nil, 0, &compliance.Exception{}) }, func(ctx context.Context, rd store.Reader, emit func(row) error) error {
		var r row
		return rd.Exceptions(ctx, func(id int64, x *compliance.Exception) error { r = exceptionRow(r[:0], id, x); return emit(r) })
	}},
	"history": {func() row { return historyRow(nil, &compliance.StatusChange{}) }, func(ctx context.Context, rd store.Reader, emit func(row) error) error {
		var r row
		return rd.History(ctx, func(x *compliance.StatusChange) error { r = historyRow(r[:0], x); return emit(r) })
	}},
	"runs": {func() row { return runRow(nil, &compliance.Run{}) }, func(ctx context.Context, rd store.Reader, emit func(row) error) error {
		var r row
		return rd.Runs(ctx, func(x *compliance.Run) error { r = runRow(r[:0], x); return emit(r) })
	}},
}

// Tables are the tables that can be exported: the registry's, in its order.
func Tables() []string {
	names := make([]string, len(store.Tables))
	for i, t := range store.Tables {
		names[i] = t.Name
	}
	return names
}

// Write exports table from rd to w in format.
func Write(ctx context.Context, rd store.Reader, table, format string, w io.Writer) error {
	t := store.TableNamed(table)
	if t == nil {
		return fmt.Errorf("unknown table %q: use one of %s", table, strings.Join(Tables(), ", "))
	}
	enc, err := newEncoder(format, w)
	if err != nil {
		return err
	}
	emit := func(r row) error { return enc.row(r) }
	if v, ok := views[table]; ok {
		err = enc.begin(v.sample())
		if err == nil {
			err = v.rows(ctx, rd, emit)
		}
	} else {
		err = enc.begin(columnRow(nil, t, nil))
		var r row
		if err == nil {
			err = rd.Rows(ctx, t, func(vals []any) error { r = columnRow(r[:0], t, vals); return emit(r) })
		}
	}
	if err != nil {
		return fmt.Errorf("export %s: %w", table, err)
	}
	return enc.close()
}

// Changes writes the changes after run from up to run to, one row each:
// kind (newly-failing, newly-passing, newly-error, new, stale, revived), the posture
// and its keys, the statuses before and after, when, and which run saw it.
func Changes(ctx context.Context, st store.Reader, from, to int64, format string, w io.Writer) error {
	enc, err := newEncoder(format, w)
	if err != nil {
		return err
	}
	if err := enc.begin(changeRow(nil, &compliance.Change{})); err != nil {
		return err
	}
	var r row
	err = st.Changes(ctx, from, to, func(c *compliance.Change) error { r = changeRow(r[:0], c); return enc.row(r) })
	if err != nil {
		return fmt.Errorf("changes: %w", err)
	}
	return enc.close()
}
