package web

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/alexarules/alexarules/engine"
)

// DebouncerOptions tune a Debouncer; the zero value is usable.
type DebouncerOptions struct {
	// Clock defaults to engine.RealClock; tests pass an engine.Virtual.
	Clock engine.Clock
	// Window is how long a first trigger waits for more before the fetch
	// runs; every trigger within it joins the same fetch. Default 2 s.
	Window time.Duration
	// RetryMin and RetryMax bound the wait after a failed fetch, doubling
	// from RetryMin per failure in a row (defaults 1 min and 1 h, the
	// cooldowns other clients found Amazon's throttling needs). A longer
	// Retry-After of an *Error wins.
	RetryMin, RetryMax time.Duration
	// Logger defaults to discarding.
	Logger *slog.Logger
}

// Debouncer coalesces requests for one fetch, such as /api/notifications
// after PUSH_NOTIFICATION_CHANGE pushes: a burst of Trigger calls within
// the window runs the fetch once, at most one fetch runs at a time, a
// trigger during a fetch runs one more after it, and a failed fetch is
// retried after a growing cooldown during which triggers only join the
// retry. A fetch failing with ErrAuth is not retried until the next
// Trigger. Debouncer is safe for concurrent use.
type Debouncer struct {
	fetch    func(context.Context) error
	clock    engine.Clock
	window   time.Duration
	retryMin time.Duration
	retryMax time.Duration
	logger   *slog.Logger
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup

	mu       sync.Mutex
	timer    engine.Stopper // the armed fetch (window or retry), nil when none
	running  bool
	pending  bool // a trigger arrived during the running fetch
	failures int  // failed fetches in a row
	closed   bool
}

// NewDebouncer returns a debouncer running fetch with a context derived
// from ctx, which must live as long as the debouncer; Close cancels it.
func NewDebouncer(ctx context.Context, fetch func(context.Context) error, o DebouncerOptions) *Debouncer {
	d := &Debouncer{
		fetch:    fetch,
		clock:    o.Clock,
		window:   o.Window,
		retryMin: o.RetryMin,
		retryMax: o.RetryMax,
		logger:   o.Logger,
	}
	if d.clock == nil {
		d.clock = engine.RealClock{}
	}
	if d.window <= 0 {
		d.window = 2 * time.Second
	}
	if d.retryMin <= 0 {
		d.retryMin = time.Minute
	}
	if d.retryMax <= 0 {
		d.retryMax = time.Hour
	}
	if d.retryMax < d.retryMin {
		d.retryMax = d.retryMin
	}
	if d.logger == nil {
		d.logger = slog.New(slog.DiscardHandler)
	}
	d.ctx, d.cancel = context.WithCancel(ctx)
	return d
}

// Trigger asks for a fetch. It never blocks.
func (d *Debouncer) Trigger() {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case d.closed:
	case d.running:
		d.pending = true
	case d.timer == nil:
		d.timer = d.clock.AfterFunc(d.window, d.run)
	}
	// Otherwise a fetch is already armed and this trigger joins it.
}

// Close stops any armed fetch, cancels a running one and waits for it to
// return. Later triggers do nothing.
func (d *Debouncer) Close() {
	d.mu.Lock()
	d.closed = true
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	d.mu.Unlock()
	d.cancel()
	d.wg.Wait()
}

func (d *Debouncer) run() {
	d.mu.Lock()
	d.timer = nil
	if d.closed || d.running {
		d.mu.Unlock()
		return
	}
	d.running, d.pending = true, false
	d.wg.Add(1)
	d.mu.Unlock()
	defer d.wg.Done()

	err := d.fetch(d.ctx)

	d.mu.Lock()
	defer d.mu.Unlock()
	d.running = false
	if d.closed {
		return
	}
	switch {
	case err == nil:
		d.failures = 0
	case errors.Is(err, ErrAuth) || d.ctx.Err() != nil:
		// Retrying cannot help; the next push triggers again.
		d.logger.Warn("alexa web: fetch failed", "err", err)
	default:
		d.failures++
		delay := d.retryDelay(err)
		d.logger.Warn("alexa web: fetch failed, retrying", "err", err, "failures", d.failures, "delay", delay)
		// Triggers that came during the fetch join the retry.
		d.pending = false
		d.timer = d.clock.AfterFunc(delay, d.run)
		return
	}
	if d.pending {
		d.pending = false
		d.timer = d.clock.AfterFunc(d.window, d.run)
	}
}

// retryDelay is RetryMin·2^(failures-1), at most RetryMax, or a longer
// Retry-After the server asked for.
func (d *Debouncer) retryDelay(err error) time.Duration {
	delay := d.retryMin
	for i := 1; i < d.failures && delay < d.retryMax; i++ {
		delay *= 2
	}
	delay = min(delay, d.retryMax)
	if e, ok := errors.AsType[*Error](err); ok && e.RetryAfter > delay {
		delay = e.RetryAfter
	}
	return delay
}
