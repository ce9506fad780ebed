package jsonenc

import (
	"encoding/json"
	"testing"
)

func TestAppendStringRoundTrips(t *testing.T) {
	t.Parallel()
	cases := []string{"", "plain", `quote " and backslash \`, "tab\tnewline\ncr\r", "\x00\x01\x1f",
		"caf\u00e9 \u2603 \U0001F600", "bad utf8 \xff\xfe end", "</script>"}
	for _, c := range cases {
		b := AppendString(nil, c)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("AppendString(%q) = %s: not JSON: %v", c, b, err)
		}
		want, _ := json.Marshal(c)
		var wantS string
		_ = json.Unmarshal(want, &wantS)
		if got != wantS {
			t.Fatalf("AppendString(%q) decodes to %q, want %q", c, got, wantS)
		}
	}
}

func FuzzAppendString(f *testing.F) {
	f.Add("a\"b\\c\x00\u00e9")
	f.Fuzz(func(t *testing.T, s string) {
		var got string
		if err := json.Unmarshal(AppendString(nil, s), &got); err != nil {
			t.Fatalf("AppendString(%q) is not valid JSON: %v", s, err)
		}
	})
}
