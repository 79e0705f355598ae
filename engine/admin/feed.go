package admin

import (
	"sync"
	"sync/atomic"

	"github.com/alexarules/alexarules/engine"
)

// feedQueue is how many messages one live stream may have waiting; a
// slower reader loses the newest ones and is told how many.
const feedQueue = 256

// Feed hands the engine's events and finished runs to the dashboard's
// live streams (GET /api/stream). Event and Run never block: a subscriber
// whose queue is full loses the message, counted and reported to it.
// The zero value is ready to use.
type Feed struct {
	mu   sync.Mutex
	subs map[*subscription]struct{}
}

// FeedMessage is one message of a live stream: Type "event" with Event,
// "run" with Run, or "dropped" with how many messages this stream lost
// since the previous report.
type FeedMessage struct {
	Type    string              `json:"type"`
	Event   *engine.EventRecord `json:"event,omitempty"`
	Run     *engine.Trace       `json:"run,omitempty"`
	Dropped uint64              `json:"dropped,omitempty"`
}

type subscription struct {
	ch      chan FeedMessage
	dropped atomic.Uint64
}

// Event shows a published event to every live stream (engine.Config.OnEvent).
func (f *Feed) Event(ev engine.Event) {
	rec := ev.Record()
	f.send(FeedMessage{Type: "event", Event: &rec})
}

// Run shows a finished or skipped run to every live stream (engine.Config.OnRun).
func (f *Feed) Run(t engine.Trace) {
	f.send(FeedMessage{Type: "run", Run: &t})
}

func (f *Feed) send(m FeedMessage) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for s := range f.subs {
		select {
		case s.ch <- m:
		default:
			s.dropped.Add(1)
		}
	}
}

func (f *Feed) subscribe() *subscription {
	s := &subscription{ch: make(chan FeedMessage, feedQueue)}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.subs == nil {
		f.subs = map[*subscription]struct{}{}
	}
	f.subs[s] = struct{}{}
	return s
}

func (f *Feed) unsubscribe(s *subscription) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.subs, s)
}
