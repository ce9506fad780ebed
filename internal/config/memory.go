package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// minMemoryLimit is the lowest sync.memory_limit accepted: below it the
// records in flight and the host cache alone fill the limit, and the
// garbage collector would run all the time.
const minMemoryLimit = 32 << 20

// MemoryLimitBytes is sync.memory_limit in bytes, or 0 when it is "off".
// It is valid once Validate passed.
func (s *Sync) MemoryLimitBytes() int64 {
	n, _ := ParseSize(s.MemoryLimit)
	return n
}

func (s *Sync) checkMemoryLimit() string {
	n, err := ParseSize(s.MemoryLimit)
	switch {
	case err != nil:
		return fmt.Sprintf("%q: use a size such as 80MiB (B, KiB, MiB, GiB or TiB, as in GOMEMLIMIT), or off", s.MemoryLimit)
	case n < minMemoryLimit && strings.TrimSpace(s.MemoryLimit) != "off":
		return fmt.Sprintf("%s is too low: use at least 32MiB (the records in flight and the host cache need about that), or off", s.MemoryLimit)
	}
	return ""
}

// ParseSize reads a size in the syntax of the GOMEMLIMIT environment
// variable: a whole number of bytes with an optional unit (B, KiB, MiB,
// GiB, TiB), or "off", which is 0.
func ParseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "off" {
		return 0, nil
	}
	units := []struct {
		suffix string
		shift  uint
	}{{"TiB", 40}, {"GiB", 30}, {"MiB", 20}, {"KiB", 10}, {"B", 0}}
	var shift uint
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			s, shift = num, u.shift
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64>>shift {
		return 0, fmt.Errorf("%q is not a size", s)
	}
	return n << shift, nil
}
