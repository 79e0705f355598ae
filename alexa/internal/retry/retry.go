// Package retry holds what the Alexa clients share for repeating a failed
// request: the exponential back-off, the Retry-After header, the decision
// to wait or give up, and a context-aware sleep. The request path
// (alexa/internal/request, every REST family) uses a Policy; the push
// sources use Backoff and Sleep for their reconnects.
package retry

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/alexarules/alexarules/engine"
)

// Policy is how a client repeats a call whose answer is retryable. The
// clients fill it from their options with WithDefaults.
type Policy struct {
	// MaxAttempts bounds the requests for one call, the first included.
	MaxAttempts int
	// BaseBackoff is the wait before the second attempt; it doubles for
	// each later one, up to MaxBackoff.
	BaseBackoff, MaxBackoff time.Duration
	// MaxRetryAfter is the longest wait the call accepts, a server's
	// Retry-After included; a longer one makes it give up at once.
	MaxRetryAfter time.Duration
	// Sleep waits between attempts and returns early with ctx.Err().
	Sleep func(ctx context.Context, d time.Duration) error
	// Now is the clock for the caller's deadline.
	Now func() time.Time
}

// WithDefaults returns p with every unset field (zero, negative or nil)
// taken from def; Sleep and Now fall back to this package's Sleep and
// time.Now when def leaves them unset too.
func (p Policy) WithDefaults(def Policy) Policy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = def.MaxAttempts
	}
	if p.BaseBackoff <= 0 {
		p.BaseBackoff = def.BaseBackoff
	}
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = def.MaxBackoff
	}
	if p.MaxRetryAfter <= 0 {
		p.MaxRetryAfter = def.MaxRetryAfter
	}
	if p.Sleep == nil {
		p.Sleep = def.Sleep
	}
	if p.Sleep == nil {
		p.Sleep = Sleep
	}
	if p.Now == nil {
		p.Now = def.Now
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	return p
}

// Delay is the wait after attempt (counted from 1) failed with a retryable
// answer that carried retryAfter (0 when it had none): retryAfter if set,
// else the back-off. ok is false when the call should fail at once
// instead: its attempts are used up, the wait exceeds MaxRetryAfter, or it
// would outlive ctx's deadline (the caller then gets the cause, not a
// deadline error).
func (p Policy) Delay(ctx context.Context, attempt int, retryAfter time.Duration) (d time.Duration, ok bool) {
	if attempt >= p.MaxAttempts {
		return 0, false
	}
	d = Backoff(attempt-1, p.BaseBackoff, p.MaxBackoff)
	if retryAfter > 0 {
		d = retryAfter
	}
	if d > p.MaxRetryAfter {
		return 0, false
	}
	if deadline, has := ctx.Deadline(); has && p.Now().Add(d).After(deadline) {
		return 0, false
	}
	return d, true
}

// Backoff is base·2ⁿ, at most limit; n below 0 counts as 0. It stops
// doubling at the limit, so a large n cannot overflow.
func Backoff(n int, base, limit time.Duration) time.Duration {
	d := base
	for i := 0; i < n && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}

// Sleep waits d or until ctx ends, whichever comes first, and returns
// ctx.Err() in the second case. A d of 0 or less only reports ctx.Err().
func Sleep(ctx context.Context, d time.Duration) error {
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

// ClockSleep is Sleep on clock, for Policy.Sleep and the clients' own
// waits, so that a virtual clock drives the back-off too.
func ClockSleep(clock engine.Clock) func(ctx context.Context, d time.Duration) error {
	return func(ctx context.Context, d time.Duration) error {
		if d <= 0 {
			return ctx.Err()
		}
		done := make(chan struct{})
		t := clock.AfterFunc(d, func() { close(done) })
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-done:
			return nil
		}
	}
}

// RetryAfter parses a Retry-After header value, seconds or an HTTP date,
// into a wait from now; 0 if it is absent, invalid or in the past.
func RetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil {
		return time.Duration(max(s, 0)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0)
	}
	return 0
}

// Truncate shortens s to at most n bytes and marks the cut with "…",
// dropping a UTF-8 sequence the cut splits. Error messages use it to quote
// the start of a body.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
