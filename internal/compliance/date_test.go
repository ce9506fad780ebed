package compliance

import (
	"testing"
	"time"
)

func TestAppendDateMatchesTimeFormat(t *testing.T) {
	t.Parallel()
	cases := []time.Time{
		time.Unix(0, 0),
		time.Date(2000, 2, 29, 23, 59, 59, 0, time.UTC),
		time.Date(2021, 10, 30, 9, 22, 15, 0, time.UTC),
		time.Date(1969, 12, 31, 23, 59, 59, 0, time.UTC),
		time.Date(2100, 3, 1, 0, 0, 0, 0, time.FixedZone("x", 5*3600)),
		time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC),
	}
	for d := int64(-800000); d < 3000000; d += 997 {
		cases = append(cases, time.Unix(d*86400+d%86400, 0))
	}
	for _, c := range cases {
		got := string(AppendDate(nil, c))
		want := c.UTC().Format(DateLayout)
		if got != want {
			t.Fatalf("AppendDate(%v) = %q, want %q", c, got, want)
		}
	}
}

func TestFormatDateZeroIsEmpty(t *testing.T) {
	t.Parallel()
	if got := FormatDate(time.Time{}); got != "" {
		t.Fatalf("FormatDate(zero) = %q, want empty", got)
	}
}
