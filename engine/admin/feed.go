package admin

import (
	"sync"
	"sync/atomic"

	"github.com/alexarules/alexarules/engine"
)

// feedQueue is how many messages a live subscriber may fall behind by
// before it loses them.
const feedQueue = 256

// Feed fans the engine's events and finished runs out to live subscribers
// (GET /api/events/stream, the dashboard's GET /api/stream). Publishing
// never blocks the engine: a subscriber that falls behind loses messages,
// and is told how many. The zero value is ready to use.
type Feed struct {
	mu     sync.Mutex
	subs   map[*subscriber]struct{}
	closed bool
	done   chan struct{}
}

// FeedMessage is one message of the dashboard's live stream: Type "event"
// with Event, "run" with Run, or "dropped" with how many messages this
// stream lost since the previous report.
type FeedMessage struct {
	Type    string              `json:"type"`
	Event   *engine.EventRecord `json:"event,omitempty"`
	Run     *engine.Trace       `json:"run,omitempty"`
	Dropped uint64              `json:"dropped,omitempty"`
}

// subscriber is one live stream.
type subscriber struct {
	messages chan FeedMessage
	runs     bool // wants runs too, not only events
	dropped  atomic.Uint64
	reported uint64 // the stream's own: dropped as last reported
}

// Publish hands ev to every subscriber (engine.Config.OnEvent); a full
// subscriber drops it.
func (f *Feed) Publish(ev engine.EventRecord) {
	if f.listened() {
		f.send(FeedMessage{Type: "event", Event: new(ev)}, false)
	}
}

// PublishRun hands a finished or skipped run to every subscriber that
// wants runs (engine.Config.OnRun).
func (f *Feed) PublishRun(t engine.Trace) {
	if f.listened() {
		f.send(FeedMessage{Type: "run", Run: new(t)}, true)
	}
}

// listened reports whether anyone subscribes: without, a message is not
// even copied to the heap (two allocations per event otherwise).
func (f *Feed) listened() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.subs) > 0
}

func (f *Feed) send(m FeedMessage, run bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for s := range f.subs {
		if run && !s.runs {
			continue
		}
		select {
		case s.messages <- m:
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

// subscribe adds a subscriber, of events only or of runs too; the
// returned func removes it.
func (f *Feed) subscribe(runs bool) (*subscriber, func()) {
	s := &subscriber{messages: make(chan FeedMessage, feedQueue), runs: runs}
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

// unreported is how many messages were dropped since the last report,
// told once the queue has drained: messages are dropped only while it is
// full, so this reports every drop, and promptly. Only the stream's own
// goroutine calls it.
func (s *subscriber) unreported() uint64 {
	if len(s.messages) > 0 {
		return 0
	}
	n := s.dropped.Load()
	d := n - s.reported
	s.reported = n
	return d
}
