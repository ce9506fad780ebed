package server

import (
	"fmt"
	"html/template"
	"math"
	"strings"

	"pcsync/internal/store"
)

// The trend chart: compliance per finished run, drawn here as SVG (no
// script, no library), styled by classes from style.css. It is an image
// to screen readers, with a title and a description that says what it
// shows; the table beside it has the figures and the links.

// chart geometry, in the units of the viewBox.
const (
	chartW, chartH         = 560.0, 210.0
	chartLeft, chartRight  = 56.0, 20.0
	chartTop, chartBottom  = 12.0, 30.0
	chartMaxLabels         = 10
	chartMinSpan           = 10.0 // the least range of percentages the y axis spans
	chartTickStep          = 5.0
	chartPlotW, chartPlotH = chartW - chartLeft - chartRight, chartH - chartTop - chartBottom
)

// chartPoint is a run's compliance and where the chart draws it.
type chartPoint struct {
	x, y, pct float64
	p         store.TrendPoint
}

// chartPoints places the runs that have figures, evenly from left to
// right, on a y axis from lo to hi percent.
func chartPoints(points []store.TrendPoint) (pts []chartPoint, lo, hi float64) {
	lo, hi = 100.0, 0.0
	for _, p := range points {
		if v := p.CompliancePct(); v != nil {
			pts = append(pts, chartPoint{pct: *v, p: p})
			lo, hi = math.Min(lo, *v), math.Max(hi, *v)
		}
	}
	lo, hi = chartRange(lo, hi)
	for i := range pts {
		pts[i].x = chartLeft + chartPlotW/2
		if len(pts) > 1 {
			pts[i].x = chartLeft + chartPlotW*float64(i)/float64(len(pts)-1)
		}
		pts[i].y = chartTop + chartPlotH*(hi-pts[i].pct)/(hi-lo)
	}
	return pts, lo, hi
}

// trendChart draws points as a line of compliance percentages, oldest
// left; id names the chart's title and description for aria.
func trendChart(id, title string, points []store.TrendPoint) template.HTML {
	pts, lo, hi := chartPoints(points)
	if len(pts) == 0 {
		return ""
	}
	var b strings.Builder
	first, last := pts[0], pts[len(pts)-1]
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %g %g" role="img" aria-labelledby="%s-t %s-d">`, chartW, chartH, id, id)
	fmt.Fprintf(&b, `<title id="%s-t">%s</title>`, id, template.HTMLEscapeString(title))
	fmt.Fprintf(&b, `<desc id="%s-d">%s</desc>`, id, template.HTMLEscapeString(fmt.Sprintf(
		"%d runs: %.2f %% at run %d (%s), %.2f %% at run %d (%s); lowest %.2f %%, highest %.2f %%.",
		len(pts), first.pct, first.p.Run.ID, day(first.p.Run.FinishedAt), last.pct, last.p.Run.ID, day(last.p.Run.FinishedAt),
		minPct(pts, func(p chartPoint) float64 { return p.pct }), -minPct(pts, func(p chartPoint) float64 { return -p.pct }))))
	for v := lo; v <= hi+1e-9; v += chartTickStep {
		y := chartTop + chartPlotH*(hi-v)/(hi-lo)
		fmt.Fprintf(&b, `<line class="grid" x1="%g" x2="%g" y1="%.1f" y2="%.1f"/>`, chartLeft, chartW-chartRight, y, y)
		fmt.Fprintf(&b, `<text class="tick" x="%g" y="%.1f" text-anchor="end">%g %%</text>`, chartLeft-6, y+4, v)
	}
	if len(pts) > 1 {
		var line strings.Builder
		for i, p := range pts {
			cmd := " L"
			if i == 0 {
				cmd = "M"
			}
			fmt.Fprintf(&line, "%s%.1f,%.1f", cmd, p.x, p.y)
		}
		fmt.Fprintf(&b, `<path class="area" d="%s L%.1f,%.1f L%.1f,%.1f Z"/>`, line.String(), last.x, chartTop+chartPlotH, first.x, chartTop+chartPlotH)
		fmt.Fprintf(&b, `<path class="line" d="%s"/>`, line.String())
	}
	chartDots(&b, pts)
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// chartDots draws each run's point, with its figures as a tooltip, and
// labels the runs below, at most chartMaxLabels of them.
func chartDots(b *strings.Builder, pts []chartPoint) {
	every := (len(pts) + chartMaxLabels - 1) / chartMaxLabels
	for i, p := range pts {
		fmt.Fprintf(b, `<circle class="point" cx="%.1f" cy="%.1f" r="3.5"><title>%s</title></circle>`, p.x, p.y,
			template.HTMLEscapeString(fmt.Sprintf("Run %d, %s: %.2f %% (%s passed, %s failed, %s error)", p.p.Run.ID,
				when(p.p.Run.FinishedAt), p.pct, num(p.p.Passed), num(p.p.Failed), num(p.p.Errors))))
		if i%every == 0 || i == len(pts)-1 {
			fmt.Fprintf(b, `<text class="tick" x="%.1f" y="%g" text-anchor="middle">run %d</text>`, p.x, chartH-10, p.p.Run.ID)
		}
	}
}

// chartRange is the y axis of percentages lo to hi: whole ticks around
// them, at least chartMinSpan wide, within 0 to 100.
func chartRange(lo, hi float64) (float64, float64) {
	lo = math.Floor((lo-1)/chartTickStep) * chartTickStep
	hi = math.Ceil((hi+1)/chartTickStep) * chartTickStep
	for hi-lo < chartMinSpan {
		lo, hi = lo-chartTickStep, hi+chartTickStep
	}
	if lo < 0 {
		hi, lo = math.Min(100, hi-lo), 0
	}
	if hi > 100 {
		lo, hi = math.Max(0, lo-(hi-100)), 100
	}
	return lo, hi
}

func minPct[T any](xs []T, f func(T) float64) float64 {
	m := math.Inf(1)
	for _, x := range xs {
		m = math.Min(m, f(x))
	}
	return m
}
