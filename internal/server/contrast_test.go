package server_test

import (
	"math"
	"os"
	"regexp"
	"strconv"
	"testing"
)

// luminance is a colour's relative luminance (WCAG 2).
func luminance(t *testing.T, hex string) float64 {
	t.Helper()
	if len(hex) == 4 { // #rgb
		hex = string([]byte{'#', hex[1], hex[1], hex[2], hex[2], hex[3], hex[3]})
	}
	if len(hex) != 7 {
		t.Fatalf("colour %q: want #rrggbb", hex)
	}
	var l float64
	for i, w := range []float64{0.2126, 0.7152, 0.0722} {
		n, err := strconv.ParseUint(hex[1+2*i:3+2*i], 16, 8)
		if err != nil {
			t.Fatalf("colour %q: %v", hex, err)
		}
		c := float64(n) / 255
		if c <= 0.03928 {
			c /= 12.92
		} else {
			c = math.Pow((c+0.055)/1.055, 2.4)
		}
		l += w * c
	}
	return l
}

// TestColoursContrast computes the WCAG contrast of the stylesheet's
// colours: text 4.5:1 on the backgrounds it is written on (AA), and the
// borders that show where a field is 3:1 (AA, non-text contrast, 1.4.11).
func TestColoursContrast(t *testing.T) {
	t.Parallel()
	css, err := os.ReadFile("static/style.css")
	if err != nil {
		t.Fatal(err)
	}
	colour := func(ref string) string {
		t.Helper()
		if ref[0] == '#' {
			return ref
		}
		var re *regexp.Regexp
		if ref[0] == '-' { // a variable of :root
			re = regexp.MustCompile(regexp.QuoteMeta(ref) + `:\s*(#[0-9a-fA-F]{6}\b|#[0-9a-fA-F]{3}\b)`)
		} else { // a rule's property: "selector {...property"
			re = regexp.MustCompile(`(?m)^` + ref + `:\s*(?:1px solid )?(#[0-9a-fA-F]{6}\b|#[0-9a-fA-F]{3}\b)`)
		}
		m := re.FindSubmatch(css)
		if m == nil {
			t.Fatalf("no colour %s in style.css", ref)
		}
		return string(m[1])
	}
	for _, c := range []struct {
		what, fg, bg string
		min          float64
	}{
		{"text", "--fg", "--bg", 4.5},
		{"muted text", "--muted", "--bg", 4.5},
		{"muted text in a panel", "--muted", "--panel", 4.5},
		{"table headings", "--muted", "#fafbfc", 4.5},
		{"links", "--link", "--bg", 4.5},
		{"links in an alert", "--link", "--warn-bg", 4.5},
		{"passed", "--pass-fg", "--pass-bg", 4.5},
		{"failed", "--fail-fg", "--fail-bg", 4.5},
		{"error", "--err-fg", "--err-bg", 4.5},
		{"failed figures", "--fail-fg", "--panel", 4.5},
		{"passed figures", "--pass-fg", "--panel", 4.5},
		{"error figures", "--err-fg", "--panel", 4.5},
		{"buttons", "#ffffff", `form\.filters button, form\.login button \{[^}]*background`, 4.5},
		{"the border of fields", `input, select \{[^}]*border`, "#ffffff", 3},
		{"focus", "--focus", "--bg", 3},
	} {
		fg, bg := colour(c.fg), colour(c.bg)
		a, b := luminance(t, fg), luminance(t, bg)
		ratio := (max(a, b) + 0.05) / (min(a, b) + 0.05)
		if ratio < c.min {
			t.Errorf("%s: %s on %s is %.2f:1, want %.1f:1", c.what, fg, bg, ratio, c.min)
		}
	}
}
