// Package engine is the core of alexarules: events, the bus that indexes
// them to rules, rule runners and their modes, durable timers, traces and the
// one clock every component reads.
package engine

import (
	"strconv"
	"sync/atomic"
	"time"
)

// Event kinds a rule can be triggered by (RULES.md §3).
const (
	KindAlarm        = "alexa.alarm"
	KindTimer        = "alexa.timer"
	KindReminder     = "alexa.reminder"
	KindList         = "alexa.list"
	KindVolume       = "alexa.volume"
	KindVoice        = "alexa.voice" // an utterance from the voice history (best effort, late)
	KindDND          = "alexa.dnd"   // an Echo's Do Not Disturb turned on or off
	KindMedia        = "alexa.media" // an Echo's player changed state or title
	KindReading      = "reading"
	KindReachability = "reachability"
	KindSchedule     = "schedule"
	KindCustom       = "event"
	KindStartup      = "startup"
	// KindHandler is internal: a durable timer falling due runs a handler of
	// one rule. It never reaches the index.
	KindHandler = "handler"
)

// Device names the device an event concerns.
type Device struct {
	Name string `json:"name,omitempty"`
	ID   string `json:"id,omitempty"`
}

// Cause records which rule's action produced an event and how deep the
// chain of rules triggering rules is, so a rule does not trigger itself and
// chains stop at the depth limit.
type Cause struct {
	Rule  string `json:"rule,omitempty"`
	Depth int    `json:"depth,omitempty"`
}

// Event is one thing that happened. Data holds the kind-specific fields of
// RULES.md §3 (state, op, list, item, value, previous, attr, since, ...) as
// plain data: strings, float64, bool, nil, []any and map[string]any.
type Event struct {
	ID     string         `json:"id"`
	Kind   string         `json:"kind"`
	Time   time.Time      `json:"time"`
	Device *Device        `json:"device,omitempty"`
	Name   string         `json:"name,omitempty"` // custom event name
	Data   map[string]any `json:"data,omitempty"`
	Cause  Cause          `json:"cause,omitzero"`
	// Target, when set, delivers the event to one rule only (schedule ticks,
	// hold expiries), and TriggerIndex names which of its triggers fired.
	Target       string `json:"target,omitempty"`
	TriggerIndex int    `json:"trigger_index,omitempty"`
	// Writes are a source's own records of the event (a notification
	// tracker's "this ring fired"), made durable together with the
	// event's acceptance, so a crash leaves both or neither: the event
	// then runs exactly once instead of being recorded and lost, or
	// replayed and repeated. They are not part of the stored event.
	Writes []Write `json:"-"`
}

// Write is one key-value write (as Store.Put) that travels with an event.
type Write struct {
	Bucket, Key string
	Value       []byte
}

// IDs hands out event and run ids that sort by time and are unique within
// one process even when the clock stands still (virtual clocks do).
type IDs struct{ seq atomic.Uint64 }

// Next returns a new id for t: a fixed-width nanosecond stamp and a sequence.
func (g *IDs) Next(t time.Time) string {
	n := g.seq.Add(1)
	// One allocation, the string, instead of three (two per event: its id
	// and its run's).
	var buf [32]byte // 13 digits, "-", at most 13 more
	b := strconv.AppendInt(buf[:0], t.UnixNano(), 36)
	b = strconv.AppendUint(append(b, '-'), n, 36)
	return string(b)
}
