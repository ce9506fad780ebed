package qualys

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiter is one API's call budget, shared by every worker: a token bucket
// sized to the documented allowance (PCRS: 25 calls per 60 s per API), plus
// a pause that a 429 imposes on all callers at once.
type limiter struct {
	bucket *rate.Limiter
	mu     sync.Mutex
	until  time.Time // no call before this time
}

func newLimiter(calls int, window time.Duration) *limiter {
	if calls <= 0 || window <= 0 {
		return &limiter{bucket: rate.NewLimiter(rate.Inf, 1)}
	}
	return &limiter{bucket: rate.NewLimiter(rate.Limit(float64(calls)/window.Seconds()), calls)}
}

// Wait blocks until a call may be made or ctx ends.
func (l *limiter) Wait(ctx context.Context) error {
	for {
		l.mu.Lock()
		d := time.Until(l.until)
		l.mu.Unlock()
		if d <= 0 {
			break
		}
		if err := sleep(ctx, d); err != nil {
			return err
		}
	}
	return l.bucket.Wait(ctx)
}

// PauseFor stops every caller for d from now (extending, never shortening,
// a pause already in force).
func (l *limiter) PauseFor(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t := time.Now().Add(d); t.After(l.until) {
		l.until = t
	}
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Backoff returns how long to wait before retry number attempt (1-based).
type Backoff func(attempt int) time.Duration

// DefaultBackoff is exponential from 1 s, capped at 60 s, with full jitter
// so that workers that failed together do not retry together.
func DefaultBackoff(attempt int) time.Duration {
	return jitter(time.Second, 60*time.Second, attempt)
}

func jitter(base, max time.Duration, attempt int) time.Duration {
	d := base
	for i := 1; i < attempt && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	return d/2 + rand.N(d/2+1)
}
