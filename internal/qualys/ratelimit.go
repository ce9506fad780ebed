package qualys

import (
	"context"
	"sync"
	"time"
)

// limiter is one API's call budget, shared by every worker: at most calls
// in any window (PCRS: 25 per 60 s per API, a rolling window as the
// gateway counts it), plus a pause that a 429 imposes on all callers at once.
type limiter struct {
	mu     sync.Mutex
	calls  []time.Time // ring of the last limit call times
	next   int
	limit  int
	window time.Duration
	until  time.Time // no call before this time
}

func newLimiter(calls int, window time.Duration) *limiter {
	return &limiter{limit: calls, window: window}
}

// Wait blocks until a call may be made, and counts it, or until ctx ends.
func (l *limiter) Wait(ctx context.Context) error {
	for {
		wait := l.admit(time.Now())
		if wait <= 0 {
			return nil
		}
		if err := sleep(ctx, wait); err != nil {
			return err
		}
	}
}

// admit counts a call at now if the budget allows it, or says how long to wait.
func (l *limiter) admit(now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if d := l.until.Sub(now); d > 0 {
		return d
	}
	if l.limit <= 0 || l.window <= 0 {
		return 0
	}
	if len(l.calls) < l.limit {
		l.calls = append(l.calls, now)
		return 0
	}
	if d := l.calls[l.next].Add(l.window).Sub(now); d > 0 {
		return d
	}
	l.calls[l.next] = now
	l.next = (l.next + 1) % l.limit
	return 0
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
