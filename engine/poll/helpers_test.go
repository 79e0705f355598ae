package poll_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/engine/poll"
	"github.com/alexarules/alexarules/engine/store"
)

// The tests run inside testing/synctest bubbles on engine.RealClock: time
// is fake there and moves only when every goroutine is blocked, so reads
// running concurrently with the schedule are observed at exact instants.
// (engine.Virtual runs due functions in the goroutine that advances it,
// which cannot wait for reads finishing in other goroutines.)

// call is one read the fake reader answered.
type call struct {
	at             time.Time
	endpoint, attr string
}

// fakeReader answers reads from a table of values and errors, records
// every call and can block chosen reads.
type fakeReader struct {
	mu     sync.Mutex
	values map[string]any   // "endpoint/attr" → value
	errs   map[string]error // "endpoint/attr" → error, taken before values
	once   map[string]error // errors answered once
	block  map[string]chan struct{}
	calls  []call
}

func newReader() *fakeReader {
	return &fakeReader{values: map[string]any{}, errs: map[string]error{}, once: map[string]error{}, block: map[string]chan struct{}{}}
}

func (r *fakeReader) set(endpoint, attr string, v any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.values[endpoint+"/"+attr] = v
}

func (r *fakeReader) fail(endpoint, attr string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil {
		delete(r.errs, endpoint+"/"+attr)
		return
	}
	r.errs[endpoint+"/"+attr] = err
}

func (r *fakeReader) failOnce(endpoint, attr string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.once[endpoint+"/"+attr] = err
}

func (r *fakeReader) Get(ctx context.Context, endpoint, attr string) (any, error) {
	k := endpoint + "/" + attr
	r.mu.Lock()
	r.calls = append(r.calls, call{time.Now(), endpoint, attr})
	block := r.block[k]
	r.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.once[k]; err != nil {
		delete(r.once, k)
		return nil, err
	}
	if err := r.errs[k]; err != nil {
		return nil, err
	}
	v, ok := r.values[k]
	if !ok {
		return nil, fmt.Errorf("fake: no value for %s", k)
	}
	return v, nil
}

func (r *fakeReader) callsOf(endpoint, attr string) []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ts []time.Time
	for _, c := range r.calls {
		if c.endpoint == endpoint && c.attr == attr {
			ts = append(ts, c.at)
		}
	}
	return ts
}

func (r *fakeReader) allCalls() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]call(nil), r.calls...)
}

// Errors as the Alexa client's answer, through the methods the poller
// looks for.
type (
	unreachableError struct{}
	notFoundError    struct{}
	throttledError   struct{ after time.Duration }
	badError         struct{}
)

func (unreachableError) Error() string     { return "fake: ENDPOINT_UNREACHABLE" }
func (unreachableError) Unreachable() bool { return true }
func (unreachableError) Retryable() bool   { return true } // as features.PropertyError type ERROR is
func (notFoundError) Error() string        { return "fake: 404 NOT_FOUND" }
func (notFoundError) NotFound() bool       { return true }
func (e throttledError) Error() string     { return "fake: 429" }
func (throttledError) Retryable() bool     { return true }
func (e throttledError) RetryAfterDuration() time.Duration {
	return e.after
}
func (badError) Error() string     { return "fake: 403" }
func (badError) Retryable() bool   { return false }
func (badError) Unreachable() bool { return false }

// events records what the poller publishes.
type events struct {
	mu  sync.Mutex
	evs []engine.Event
}

func (e *events) publish(ev engine.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.evs = append(e.evs, ev)
}

// take returns the events published since the last take.
func (e *events) take() []engine.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	evs := e.evs
	e.evs = nil
	return evs
}

// running is a poller started by start.
type running struct {
	*poll.Poller
	cancel context.CancelFunc
	done   chan error
}

// start runs a poller until stop or the end of the test.
func start(t *testing.T, o poll.Options, ts ...poll.Target) *running {
	t.Helper()
	if o.Clock == nil {
		o.Clock = engine.RealClock{}
	}
	p := poll.New(o)
	p.SetTargets(ts)
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{Poller: p, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- p.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop ends Run and returns its error; later calls return nil.
func (r *running) stop(t *testing.T) {
	t.Helper()
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	if err := <-r.done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

// openStore opens a store in dir; the bubble's fake timers run its writer.
func openStore(t testing.TB, dir string) *store.Store {
	t.Helper()
	s, err := store.Open(filepath.Join(dir, "alexarules.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// sleep moves the bubble's clock on by d and waits for everything due to
// have run.
func sleep(d time.Duration) {
	time.Sleep(d)
	synctest.Wait()
}
