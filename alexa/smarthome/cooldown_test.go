package smarthome_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/alexarules/alexarules/alexa/smarthome"
)

// throttleAll answers every request with phoenix's throttle answer, with
// Retry-After when retryAfter is not "".
func throttleAll(r *rig, retryAfter string) {
	var h http.Header
	if retryAfter != "" {
		h = http.Header{"Retry-After": {retryAfter}}
	}
	r.f.setAnswer(func(rec) (int, http.Header, string, bool) { return 429, h, phoenixThrottle, true })
}

// throttleOnce makes one call answered by a throttle and checks the
// pause it starts; it leaves the clock at the pause's end.
func throttleOnce(t *testing.T, r *rig, retryAfter string, want time.Duration) {
	t.Helper()
	throttleAll(r, retryAfter)
	if err := turnOn(r.c); !errors.Is(err, smarthome.ErrThrottled) {
		t.Fatalf("throttle answer: %v", err)
	}
	until, ok := r.c.CoolingDown()
	if got := until.Sub(r.clock.Now()); !ok || got != want {
		t.Fatalf("pause %v (cooling down %v), want %v", got, ok, want)
	}
	r.clock.Advance(want)
}

// Throttle answers in a row without Retry-After pause 30 s, then double
// up to Options.Cooldown; Retry-After is taken exactly and counts as one
// of the row; the first success after a pause starts again at 30 s.
func TestCooldownEscalates(t *testing.T) {
	r := newRig(t, smarthome.Options{})
	if _, err := r.c.Devices(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, want := range []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute, 4 * time.Minute,
		smarthome.DefaultCooldown, smarthome.DefaultCooldown} {
		throttleOnce(t, r, "", want)
	}
	r.f.setAnswer(nil)
	if err := turnOn(r.c); err != nil {
		t.Fatalf("after the pause: %v", err)
	}
	throttleOnce(t, r, "", smarthome.FirstCooldown)
	r.f.setAnswer(nil)
	if err := turnOn(r.c); err != nil {
		t.Fatal(err)
	}
	throttleOnce(t, r, "2", 2*time.Second)
	throttleOnce(t, r, "", 2*smarthome.FirstCooldown)
	throttleOnce(t, r, "900", 15*time.Minute)
}

// A Cooldown shorter than FirstCooldown is every pause.
func TestCooldownCapBelowFirst(t *testing.T) {
	r := newRig(t, smarthome.Options{Cooldown: 4 * time.Second})
	if _, err := r.c.Devices(context.Background()); err != nil {
		t.Fatal(err)
	}
	throttleOnce(t, r, "", 4*time.Second)
	throttleOnce(t, r, "", 4*time.Second)
}

// A rule's Update or Get during a cool-down that ends before its
// deadline waits for the end on the client's clock and is then sent; one
// whose deadline comes first, or that has none, fails THROTTLED at once;
// States (the poller's read) never waits.
func TestCallsDuringCooldown(t *testing.T) {
	r := newRig(t, smarthome.Options{})
	ctx := context.Background()
	if _, err := r.c.Devices(ctx); err != nil {
		t.Fatal(err)
	}
	for name, call := range map[string]func(context.Context) error{
		"Update": func(ctx context.Context) error { return r.c.Update(ctx, deskLamp, "turnOn") },
		"Get": func(ctx context.Context) error {
			v, err := r.c.Get(ctx, deskLamp, "power")
			if err == nil && v != "ON" {
				t.Errorf("Get after the wait: %v", v)
			}
			return err
		},
	} {
		throttleAll(r, "")
		if err := turnOn(r.c); !errors.Is(err, smarthome.ErrThrottled) {
			t.Fatalf("%s: throttle answer: %v", name, err)
		}
		r.f.setAnswer(nil)
		n := len(r.f.requests())
		short, cancel := context.WithTimeout(ctx, 10*time.Second) // before the 30 s pause ends
		callError(t, call(short), "THROTTLED")
		cancel()
		_, err := r.c.States(ctx, []string{deskLamp})
		callError(t, err, "THROTTLED")
		long, cancel := context.WithTimeout(ctx, time.Hour)
		done := make(chan error, 1)
		go func() { done <- call(long) }()
		if err := r.clock.WaitPending(long, 1); err != nil {
			t.Fatal(err)
		}
		if reqs := r.f.since(n); len(reqs) != 0 {
			t.Errorf("%s: requests during the cool-down: %+v", name, reqs)
		}
		r.clock.Advance(smarthome.FirstCooldown)
		if err := <-done; err != nil {
			t.Errorf("%s after waiting out the cool-down: %v", name, err)
		}
		if reqs := r.f.since(n); len(reqs) != 1 {
			t.Errorf("%s: %d requests after the cool-down, want 1: %+v", name, len(reqs), reqs)
		}
		cancel()
	}
}

// A call waiting for the end of a cool-down ends with its context and
// sends nothing.
func TestWaitForCooldownCancelled(t *testing.T) {
	r := newRig(t, smarthome.Options{})
	ctx := context.Background()
	if _, err := r.c.Devices(ctx); err != nil {
		t.Fatal(err)
	}
	throttleAll(r, "")
	_ = turnOn(r.c)
	r.f.setAnswer(nil)
	n := len(r.f.requests())
	wctx, cancel := context.WithTimeout(ctx, time.Hour)
	done := make(chan error, 1)
	go func() { done <- r.c.Update(wctx, deskLamp, "turnOn") }()
	if err := r.clock.WaitPending(wctx, 1); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err == nil || !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled wait: %v", err)
	}
	if reqs := r.f.since(n); len(reqs) != 0 {
		t.Errorf("requests: %+v", reqs)
	}
}

// Throttle answers to requests sent together (none had come back when the
// others went) are one throttle: the pause is 30 s, not 60 s.
func TestCooldownConcurrentAnswersCountOnce(t *testing.T) {
	r := newRig(t, smarthome.Options{})
	if _, err := r.c.Devices(context.Background()); err != nil {
		t.Fatal(err)
	}
	var arrived sync.WaitGroup
	arrived.Add(2)
	r.f.setAnswer(func(rec) (int, http.Header, string, bool) {
		arrived.Done()
		arrived.Wait() // both requests are in flight before either is answered
		return 429, nil, phoenixThrottle, true
	})
	errs := make(chan error, 2)
	for range 2 {
		go func() { errs <- turnOn(r.c) }()
	}
	for range 2 {
		if err := <-errs; !errors.Is(err, smarthome.ErrThrottled) {
			t.Fatalf("throttle answer: %v", err)
		}
	}
	if until, ok := r.c.CoolingDown(); !ok || until.Sub(r.clock.Now()) != smarthome.FirstCooldown {
		t.Errorf("pause until %v, want %v after two answers sent together", until, smarthome.FirstCooldown)
	}
	r.clock.Advance(smarthome.FirstCooldown)
	throttleOnce(t, r, "", 2*smarthome.FirstCooldown) // the next in a row doubles
}
