package engine

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"pcsync/internal/compliance"
	"pcsync/internal/qualys"
)

// catalogue fetches the export of each policy ("PC Policies Detail"), then
// the controls those policies use ("PC Controls"), and stores both. A policy
// whose export fails is reported and the run goes on.
func (r *run) catalogue(ctx context.Context, policies []int64) error {
	var controlIDs []int64
	for _, id := range policies {
		d, err := r.e.client.Classic.ExportPolicy(ctx, id, r.opts.Classic.PolicyDetails)
		if err != nil {
			if fatal(ctx, err) {
				return err
			}
			r.policyError(id, fmt.Errorf("policy export: %w", err))
			continue
		}
		if err := r.e.store.UpsertPolicyDetail(ctx, r.rec.ID, d); err != nil {
			return &StoreError{err}
		}
		for _, sec := range d.Sections {
			for _, c := range sec.Controls {
				if !c.UserDefined {
					controlIDs = append(controlIDs, c.ControlID)
				}
			}
		}
	}
	slices.Sort(controlIDs)
	controlIDs = slices.Compact(controlIDs)
	r.log.Info("policy details stored", "policies", len(policies), "controls", len(controlIDs))
	if len(controlIDs) == 0 {
		return nil
	}
	// Ask only for the controls the policies use, in groups that keep the
	// form body small; the library holds tens of thousands more.
	stored, rejected := 0, 0
	defer func() {
		if rejected > 0 { // the catalogue is not resumed: say so in the run's problems
			r.stepErrors = append(r.stepErrors, fmt.Sprintf("controls: %d records could not be decoded (see the rejects file)", rejected))
		}
	}()
	for group := range slices.Chunk(controlIDs, 1000) {
		p := cloneParams(r.opts.Classic.Controls)
		p.Set("ids", idRanges(group))
		err := r.e.client.Classic.ListControls(ctx, p, func(cs []compliance.Control, bad []*qualys.RecordError) error {
			stored += len(cs)
			r.keepRejects(Batch{}, bad)
			rejected += len(bad)
			if err := r.e.store.UpsertControls(ctx, r.rec.ID, cs); err != nil {
				return &StoreError{err}
			}
			return nil
		})
		if err != nil {
			if fatal(ctx, err) {
				return err
			}
			// posture is still worth fetching: say what is missing and go on
			r.stepErrors = append(r.stepErrors, fmt.Sprintf("controls: %v", err))
			r.log.Error("control list failed", "err", err)
			return nil
		}
	}
	r.log.Info("controls stored", "controls", stored)
	return nil
}

func (r *run) policyError(id int64, err error) {
	s := r.summary(id)
	if s.Error == "" {
		s.Error = err.Error()
	}
	r.log.Warn("policy step failed", "policy_id", id, "err", err)
}

func cloneParams(p url.Values) url.Values {
	out := make(url.Values, len(p))
	for k, v := range p {
		out[k] = slices.Clone(v)
	}
	return out
}

// idRanges writes sorted ids compactly: "1,3-7,9".
func idRanges(ids []int64) string {
	var b strings.Builder
	for i := 0; i < len(ids); {
		j := i
		for j+1 < len(ids) && ids[j+1] == ids[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(ids[i], 10))
		if j > i {
			b.WriteByte('-')
			b.WriteString(strconv.FormatInt(ids[j], 10))
		}
		i = j + 1
	}
	return b.String()
}
