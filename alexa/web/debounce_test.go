package web_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/alexarules/alexarules/alexa/web"
	"github.com/alexarules/alexarules/engine"
)

// fetches records when a Debouncer fetched, on the virtual clock, and
// answers with the scripted errors in turn (nil once they run out).
type fetches struct {
	clock *engine.Virtual
	mu    sync.Mutex
	at    []time.Duration // since now
	errs  []error
	hook  func(n int) // called inside the nth fetch, from 1
}

func (f *fetches) fetch(ctx context.Context) error {
	f.mu.Lock()
	f.at = append(f.at, f.clock.Now().Sub(now))
	n := len(f.at)
	var err error
	if n <= len(f.errs) {
		err = f.errs[n-1]
	}
	hook := f.hook
	f.mu.Unlock()
	if hook != nil {
		hook(n)
	}
	return err
}

func (f *fetches) times() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Duration(nil), f.at...)
}

func newDebouncer(t *testing.T, errs ...error) (*web.Debouncer, *fetches, *engine.Virtual) {
	t.Helper()
	clock := engine.NewVirtual(now)
	f := &fetches{clock: clock, errs: errs}
	d := web.NewDebouncer(context.Background(), f.fetch, web.DebouncerOptions{Clock: clock})
	t.Cleanup(d.Close)
	return d, f, clock
}

func TestDebouncerCoalesces(t *testing.T) {
	d, f, clock := newDebouncer(t)
	d.Trigger()
	clock.Advance(500 * time.Millisecond)
	d.Trigger()
	clock.Advance(1400 * time.Millisecond)
	d.Trigger()
	clock.Advance(99 * time.Millisecond)
	if got := f.times(); len(got) != 0 {
		t.Fatalf("fetched at %v before the 2 s window ended", got)
	}
	clock.Advance(time.Millisecond)
	assertEqual(t, f.times(), []time.Duration{2 * time.Second})
	if clock.Pending() != 0 {
		t.Fatalf("%d timers left after the fetch", clock.Pending())
	}
	// A later push opens a new window.
	clock.Advance(time.Minute)
	d.Trigger()
	d.Trigger()
	clock.Advance(10 * time.Second)
	assertEqual(t, f.times(), []time.Duration{2 * time.Second, 64 * time.Second})
}

func TestDebouncerTriggerDuringFetchRunsOneMore(t *testing.T) {
	d, f, clock := newDebouncer(t)
	f.hook = func(n int) {
		if n == 1 {
			d.Trigger()
			d.Trigger()
		}
	}
	d.Trigger()
	clock.Advance(2 * time.Second)
	assertEqual(t, f.times(), []time.Duration{2 * time.Second})
	if clock.Pending() != 1 {
		t.Fatalf("%d timers armed after a trigger during the fetch, want 1", clock.Pending())
	}
	clock.Advance(time.Hour)
	assertEqual(t, f.times(), []time.Duration{2 * time.Second, 4 * time.Second})
}

// TestDebouncerOneFetchAtATime blocks a fetch while other goroutines
// trigger: none may start a second fetch until the first returns.
func TestDebouncerOneFetchAtATime(t *testing.T) {
	clock := engine.NewVirtual(now)
	started, release := make(chan struct{}), make(chan struct{})
	var mu sync.Mutex
	running, most, calls := 0, 0, 0
	fetch := func(context.Context) error {
		mu.Lock()
		running++
		calls++
		most = max(most, running)
		first := calls == 1
		mu.Unlock()
		if first {
			close(started)
			<-release
		}
		mu.Lock()
		running--
		mu.Unlock()
		return nil
	}
	d := web.NewDebouncer(context.Background(), fetch, web.DebouncerOptions{Clock: clock})
	defer d.Close()
	d.Trigger()
	done := make(chan struct{})
	go func() { clock.Advance(2 * time.Second); close(done) }()
	<-started
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(d.Trigger)
	}
	wg.Wait()
	if clock.Pending() != 0 {
		t.Fatalf("%d timers armed while fetching, want none", clock.Pending())
	}
	close(release)
	<-done
	clock.Advance(2 * time.Second)
	mu.Lock()
	defer mu.Unlock()
	if calls != 2 || most != 1 {
		t.Fatalf("%d fetches, at most %d at once; want 2 fetches, 1 at once", calls, most)
	}
}

func TestDebouncerBacksOffAfterFailures(t *testing.T) {
	throttled := &web.Error{Method: "GET", Path: "/api/notifications", Status: 400, Throttled: true}
	d, f, clock := newDebouncer(t, throttled, errors.New("network down"), throttled)
	d.Trigger()
	clock.Advance(2 * time.Second) // fails: retry in 1 min
	d.Trigger()                    // joins the retry instead of fetching after 2 s
	clock.Advance(59 * time.Second)
	assertEqual(t, f.times(), []time.Duration{2 * time.Second})
	clock.Advance(time.Second) // fails again: retry in 2 min
	clock.Advance(2 * time.Minute)
	clock.Advance(4 * time.Minute) // third failure, then success 4 min later
	assertEqual(t, f.times(), []time.Duration{
		2 * time.Second,
		2*time.Second + time.Minute,
		2*time.Second + 3*time.Minute,
		2*time.Second + 7*time.Minute,
	})
	// Success resets the back-off: the next trigger waits only the window.
	d.Trigger()
	clock.Advance(2 * time.Second)
	if got := f.times(); len(got) != 5 || got[4] != 2*time.Second+7*time.Minute+2*time.Second {
		t.Fatalf("fetches %v", got)
	}
}

func TestDebouncerBackoffIsCapped(t *testing.T) {
	clock := engine.NewVirtual(now)
	f := &fetches{clock: clock}
	for range 10 {
		f.errs = append(f.errs, errors.New("down"))
	}
	d := web.NewDebouncer(context.Background(), f.fetch, web.DebouncerOptions{Clock: clock, Window: time.Second, RetryMin: 10 * time.Minute, RetryMax: time.Hour})
	defer d.Close()
	d.Trigger()
	clock.Advance(10 * time.Hour)
	got := f.times()
	var gaps []time.Duration
	for i := 1; i < len(got); i++ {
		gaps = append(gaps, got[i]-got[i-1])
	}
	assertEqual(t, gaps[:6], []time.Duration{10 * time.Minute, 20 * time.Minute, 40 * time.Minute, time.Hour, time.Hour, time.Hour})
}

func TestDebouncerHonoursRetryAfter(t *testing.T) {
	d, f, clock := newDebouncer(t, &web.Error{Status: 429, Throttled: true, RetryAfter: 15 * time.Minute})
	d.Trigger()
	clock.Advance(2 * time.Second)
	clock.Advance(15*time.Minute - time.Second)
	if n := len(f.times()); n != 1 {
		t.Fatalf("%d fetches before Retry-After ran out", n)
	}
	clock.Advance(time.Second)
	assertEqual(t, f.times(), []time.Duration{2 * time.Second, 2*time.Second + 15*time.Minute})
}

func TestDebouncerDoesNotRetryAuthErrors(t *testing.T) {
	// What a 401 *web.Error unwraps to.
	d, f, clock := newDebouncer(t, fmt.Errorf("alexa web: GET /api/notifications: 401 Unauthorized: %w", web.ErrAuth))
	d.Trigger()
	clock.Advance(2 * time.Second)
	if clock.Pending() != 0 {
		t.Fatal("a retry was armed after an auth error")
	}
	clock.Advance(24 * time.Hour)
	d.Trigger()
	clock.Advance(2 * time.Second)
	assertEqual(t, f.times(), []time.Duration{2 * time.Second, 24*time.Hour + 4*time.Second})
}

func TestDebouncerClose(t *testing.T) {
	d, f, clock := newDebouncer(t)
	d.Trigger()
	d.Close()
	if clock.Pending() != 0 {
		t.Fatal("Close left the armed fetch")
	}
	d.Trigger()
	clock.Advance(time.Hour)
	if n := len(f.times()); n != 0 {
		t.Fatalf("%d fetches after Close", n)
	}
	d.Close() // a second Close is harmless
}

func TestDebouncerCloseCancelsARunningFetch(t *testing.T) {
	clock := engine.NewVirtual(now)
	started := make(chan struct{})
	fetchErr := make(chan error, 1)
	fetch := func(ctx context.Context) error {
		close(started)
		<-ctx.Done()
		fetchErr <- ctx.Err()
		return ctx.Err()
	}
	d := web.NewDebouncer(context.Background(), fetch, web.DebouncerOptions{Clock: clock})
	d.Trigger()
	go clock.Advance(2 * time.Second)
	<-started
	d.Close() // returns only once the fetch has
	select {
	case err := <-fetchErr:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("fetch saw %v, want context.Canceled", err)
		}
	default:
		t.Fatal("Close returned before the running fetch did")
	}
	if clock.Pending() != 0 {
		t.Fatal("a retry was armed after Close")
	}
}
