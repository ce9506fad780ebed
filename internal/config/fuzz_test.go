package config

import (
	"os"
	"testing"
)

// FuzzConfigFile parses and validates any file content: an error or a
// config, never a panic. Seeds: the example config (testdata/fuzz holds
// more).
func FuzzConfigFile(f *testing.F) {
	if b, err := os.ReadFile("../../pcsync.example.yaml"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("qualys:\n  platform: US1\n  username: u\n  password: p\nsync:\n  policies: [1, 2]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, "fuzz.yaml")
		if err != nil {
			return
		}
		_ = c.Validate()
		_, _, _ = c.Endpoints()
		_ = c.Warnings()
	})
}
