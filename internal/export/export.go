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
	"slices"
	"strings"

	"pcsync/internal/compliance"
	"pcsync/internal/store"
)

// Formats are the output formats.
var Formats = []string{"ndjson", "json", "csv"}

// Tables are the tables that can be exported.
var Tables = []string{"postures", "history", "policies", "sections", "controls", "technologies", "frameworks", "hosts",
	"exceptions", "runs"}

// Write exports table from st to w in format.
func Write(ctx context.Context, st store.Store, table, format string, w io.Writer) error {
	if !slices.Contains(Tables, table) {
		return fmt.Errorf("unknown table %q: use one of %s", table, strings.Join(Tables, ", "))
	}
	enc, err := newEncoder(format, w)
	if err != nil {
		return err
	}
	var r row
	emit := func() error { return enc.row(r) }
	switch table {
	case "postures":
		err = enc.begin(postureRow(nil, &compliance.Posture{}))
		if err == nil {
			err = st.Postures(ctx, func(p *compliance.Posture) error { r = postureRow(r[:0], p); return emit() })
		}
	case "policies":
		err = enc.begin(policyRow(nil, &compliance.Policy{}))
		if err == nil {
			err = st.Policies(ctx, func(p *compliance.Policy) error { r = policyRow(r[:0], p); return emit() })
		}
	case "hosts":
		err = enc.begin(hostRow(nil, &compliance.Host{}))
		if err == nil {
			err = st.Hosts(ctx, func(h *compliance.Host) error { r = hostRow(r[:0], h); return emit() })
		}
	case "controls":
		err = enc.begin(controlRow(nil, &compliance.Control{}))
		if err == nil {
			err = st.Controls(ctx, func(c *compliance.Control) error { r = controlRow(r[:0], c); return emit() })
		}
	case "technologies":
		err = enc.begin(technologyRow(nil, &compliance.Technology{}))
		if err == nil {
			err = st.Technologies(ctx, func(t *compliance.Technology) error { r = technologyRow(r[:0], t); return emit() })
		}
	case "sections":
		err = enc.begin(sectionRow(nil, 0, &compliance.Section{}))
		if err == nil {
			err = st.Sections(ctx, func(id int64, x *compliance.Section) error { r = sectionRow(r[:0], id, x); return emit() })
		}
	case "frameworks":
		err = enc.begin(frameworkRow(nil, &compliance.Framework{}))
		if err == nil {
			err = st.Frameworks(ctx, func(x *compliance.Framework) error { r = frameworkRow(r[:0], x); return emit() })
		}
	case "exceptions":
		err = enc.begin(exceptionRow(nil, 0, &compliance.Exception{}))
		if err == nil {
			err = st.Exceptions(ctx, func(id int64, x *compliance.Exception) error { r = exceptionRow(r[:0], id, x); return emit() })
		}
	case "history":
		err = enc.begin(historyRow(nil, &compliance.StatusChange{}))
		if err == nil {
			err = st.History(ctx, func(x *compliance.StatusChange) error { r = historyRow(r[:0], x); return emit() })
		}
	case "runs":
		err = enc.begin(runRow(nil, &compliance.Run{}))
		if err == nil {
			err = st.Runs(ctx, func(x *compliance.Run) error { r = runRow(r[:0], x); return emit() })
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
func Changes(ctx context.Context, st store.Store, from, to int64, format string, w io.Writer) error {
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
