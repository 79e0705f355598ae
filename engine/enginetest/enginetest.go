// Package enginetest helps tests that drive the engine on a Virtual clock.
package enginetest

import (
	"context"
	"testing"
	"time"

	"github.com/alexarules/alexarules/engine"
)

// Timeout is how long WaitPending waits before it fails the test: far more
// than anything should take, even on a loaded CI machine.
const Timeout = 10 * time.Second

// WaitPending waits until at least n functions are pending on v, that is
// until a component running in another goroutine has armed its timers. It
// fails the test when that takes longer than Timeout.
func WaitPending(t testing.TB, v *engine.Virtual, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), Timeout)
	defer cancel()
	if err := v.WaitPending(ctx, n); err != nil {
		t.Fatal(err)
	}
}

// Run runs e until the test ends; the test's cleanup stops it and waits
// for Run to return, then calls each of after (closing the store, ...).
func Run(t testing.TB, e *engine.Engine, after ...func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = e.Run(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
		for _, f := range after {
			f()
		}
	})
}

// Gauges maps the gauges' names to their values.
func Gauges(gs []engine.Gauge) map[string]float64 {
	m := make(map[string]float64, len(gs))
	for _, g := range gs {
		m[g.Name] = g.Value
	}
	return m
}
