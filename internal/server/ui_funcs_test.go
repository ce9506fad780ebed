package server

import (
	"strings"
	"testing"
	"time"

	"pcsync/internal/store"
)

func TestTemplateWords(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	f := func(p, fl, e int64) store.Figures { return store.Figures{Passed: p, Failed: fl, Errors: e} }
	for _, c := range []struct{ got, want string }{
		{num(0), "0"}, {num(999), "999"}, {num(1000), "1,000"}, {num(-1234567), "-1,234,567"},
		{pct(f(2, 1, 0).CompliancePct()), "66.67 %"}, {pct(f(1, 0, 0).CompliancePct()), "100.00 %"},
		{pct(f(0, 0, 0).CompliancePct()), "n/a"}, {share(1, 3), "33.33 %"}, {share(1, 0), "n/a"},
		{ago(now, now.Add(-30*time.Second)), "just now"}, {ago(now, now.Add(-90*time.Minute)), "90 min ago"},
		{ago(now, now.Add(5*time.Hour)), "in 5 h"}, {age(now, now.AddDate(0, 0, -412)), "412 d"}, {age(now, time.Time{}), "–"},
		{every(6 * time.Hour), "6h"}, {every(90 * time.Minute), "1h30m"}, {every(45 * time.Second), "45s"},
		{dur(now, now.Add(2500*time.Millisecond)), "2.5 s"}, {dur(now, now.Add(3*time.Minute+4*time.Second)), "3m4s"},
		{bytesText(512), "512 B"}, {bytesText(3 << 20), "3.0 MiB"},
		{href("/postures", "policy", int64(7), "status", "", "control", 0), "/postures?policy=7"},
		{href("/postures", "framework", int64(3), "policy", nil), "/postures?framework=3"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

func TestChartRangeHoldsEveryPoint(t *testing.T) {
	t.Parallel()
	for _, c := range [][2]float64{{68.57, 71.85}, {0, 0}, {100, 100}, {12.5, 99.9}, {50, 50.01}} {
		lo, hi := chartRange(c[0], c[1])
		if lo > c[0] || hi < c[1] || lo < 0 || hi > 100 || hi-lo < chartMinSpan {
			t.Errorf("chartRange(%v, %v) = %v, %v", c[0], c[1], lo, hi)
		}
	}
	svg := string(trendChart("t", "a <title>", []store.TrendPoint{{Figures: store.Figures{Passed: 1, Failed: 1}}}))
	if !strings.Contains(svg, `role="img"`) || !strings.Contains(svg, "a &lt;title&gt;") || strings.Count(svg, "<circle") != 1 {
		t.Errorf("one point's chart: %s", svg)
	}
}

// TestEvidenceCells checks the control page's evidence and cause cells:
// expected beside current, values escaped, those past the third folded
// under "N more", and the fallbacks when the evidence has another shape
// or none.
func TestEvidenceCells(t *testing.T) {
	t.Parallel()
	ev := readEvidence([]byte(`{"expectedValues":["PASS_MAX_DAYS 90"],"currentValues":["a<b","x & y",1,true,null,"e","f"]}`),
		[]byte(`{"missing":["PASS_MAX_DAYS 90"],"unexpected":["\"quoted\""]}`))
	for _, c := range []struct{ got, want string }{
		{string(ev.Cell()), `<div class="evidence"><div class="exp"><h4>Expected</h4><ul><li><code>PASS_MAX_DAYS 90</code></li></ul></div>` +
			`<div class="cur"><h4>Current</h4><ul><li><code>a&lt;b</code></li><li><code>x &amp; y</code></li><li><code>1</code></li></ul>` +
			`<details><summary>3 more</summary><ul><li><code>1</code></li><li><code>e</code></li><li><code>f</code></li></ul></details></div></div>`},
		{string(ev.CauseCell()), `<strong>missing</strong><ul><li><code>PASS_MAX_DAYS 90</code></li></ul>` +
			`<strong>unexpected</strong><ul><li><code>&#34;quoted&#34;</code></li></ul>`},
		{string((&evidence{ExpectedText: "<= 90", Unexpected: []string{"99999"}}).Cell()),
			`<div class="evidence"><div class="exp"><h4>Expected</h4><code>&lt;= 90</code></div>` +
				`<div class="cur"><h4>Current</h4><ul><li><code>99999</code></li></ul></div></div>`},
		{string((&evidence{ExpectedText: "90"}).Cell()), `<div class="evidence"><div class="exp"><h4>Expected</h4><code>90</code></div>` +
			`<div class="cur"><h4>Current</h4><span class="muted">no evidence synced</span></div></div>`},
		{string((&evidence{Raw: `{"k":"<v>"}`}).Cell()), `<pre>{&#34;k&#34;:&#34;&lt;v&gt;&#34;}</pre>`},
		{string((&evidence{}).Cell()), `<span class="muted">no evidence synced</span>`},
		{string((&evidence{}).CauseCell()), ``},
	} {
		if c.got != c.want {
			t.Errorf("got  %s\nwant %s", c.got, c.want)
		}
	}
}
