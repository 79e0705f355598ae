package admin

import (
	"sync"
	"sync/atomic"

	"github.com/alexarules/alexarules/engine"
)

// feedQueue is how many events a live subscriber may fall behind by
// before it loses them.
const feedQueue = 256

// Feed fans the engine's events out to live subscribers (GET
// /api/events/stream). Publish never blocks the engine: a subscriber that
// falls behind loses events, and is told how many. The zero value is
// ready to use.
type Feed struct {
	mu     sync.Mutex
	subs   map[*subscriber]struct{}
	closed bool
	done   chan struct{}
}

// subscriber is one live stream.
type subscriber struct {
	events  chan engine.EventRecord
	dropped atomic.Uint64
}

// Publish hands ev to every subscriber; a full subscriber drops it.
func (f *Feed) Publish(ev engine.EventRecord) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for s := range f.subs {
		select {
		case s.events <- ev:
		default:
			s.dropped.Add(1)
		}
	}
}

// Close ends every stream, now and to come, so that a server shutting
// down is not held by them.
func (f *Feed) Close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.closed {
		f.closed = true
		close(f.doneLocked())
	}
}

// Done is closed by Close.
func (f *Feed) Done() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.doneLocked()
}

func (f *Feed) doneLocked() chan struct{} {
	if f.done == nil {
		f.done = make(chan struct{})
	}
	return f.done
}

// subscribe adds a subscriber; the returned func removes it.
func (f *Feed) subscribe() (*subscriber, func()) {
	s := &subscriber{events: make(chan engine.EventRecord, feedQueue)}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.subs == nil {
		f.subs = map[*subscriber]struct{}{}
	}
	f.subs[s] = struct{}{}
	return s, func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		delete(f.subs, s)
	}
}
