package engine

import (
	"encoding/json"
	"strconv"
	"time"
)

// Run outcomes as the admin API reports them.
const (
	OutcomeOK      = "ok"
	OutcomeFailed  = "failed"
	OutcomeTimeout = "timeout"
	OutcomeSkipped = "skipped"
	OutcomeDryRun  = "dry_run"
	// OutcomeShadow is a shadow rule's run: it ran for real, but its
	// actions were recorded as would-be actions and not sent.
	OutcomeShadow = "shadow"
)

// Results of an action that was recorded and not sent: in a dry run
// (--dry-run) and in a shadow run (a rule with shadow = true).
const (
	ResultDryRun = "dry_run"
	ResultShadow = "shadow"
)

// Action is one call a run made through the bound API, with its result.
type Action struct {
	Call   string `json:"call"`
	Device string `json:"device,omitempty"`
	Args   any    `json:"args,omitempty"`
	Result any    `json:"result,omitempty"`
	// Sent is what the backend sent when it differs from Args: a colour
	// or a colour temperature mapped to the name an API accepts, a
	// brightness in the API's form (the household smart-home API).
	Sent any `json:"sent,omitempty"`
	// Note says what an action option did: check_first found the value
	// set already (Result "skipped_by_check"), revert_after's value to
	// restore.
	Note string `json:"note,omitempty"`
	// Rule and EventID name the run's rule and the event (or timer
	// firing) that caused the action.
	Rule    string `json:"rule,omitempty"`
	EventID string `json:"event_id,omitempty"`
}

// Trace records one run of a rule (or of one of its timer handlers).
type Trace struct {
	ID         string    `json:"id"`
	Rule       string    `json:"rule"`
	Handler    string    `json:"handler,omitempty"`
	EventID    string    `json:"event_id,omitempty"`
	Trigger    string    `json:"trigger,omitempty"`
	Started    time.Time `json:"started"`
	DurationMS float64   `json:"duration_ms"`
	Outcome    string    `json:"outcome"`
	Error      string    `json:"error,omitempty"`
	Reason     string    `json:"reason,omitempty"` // why a run was skipped, or that it ran late
	Late       bool      `json:"late,omitempty"`
	Actions    []Action  `json:"actions"`
	Log        []string  `json:"log"`
}

// TimerRecord is a durable timer: it names a handler of a rule and carries
// plain-data arguments, never a closure, so it survives restarts.
type TimerRecord struct {
	ID      string          `json:"id"`
	Rule    string          `json:"rule"`
	Handler string          `json:"handler"`
	Args    json.RawMessage `json:"args,omitempty"`
	Due     time.Time       `json:"due"`
	Created time.Time       `json:"created"`
}

// FiringID is the event id of the timer's firing: the same on every
// engine that loads the record (a store can keep a firing from running
// twice), new when the timer is set again (Created changes).
func (t TimerRecord) FiringID() string {
	return "timer:" + t.ID + "@" + strconv.FormatInt(t.Created.UnixNano(), 36)
}

// Record is ev as the recent-events journal keeps it.
func (ev *Event) Record() EventRecord {
	return EventRecord{ID: ev.ID, Kind: ev.Kind, Time: ev.Time, Device: ev.Device, Name: ev.Name, Data: ev.Data}
}

// EventRecord is an event as the recent-events journal keeps it.
type EventRecord struct {
	ID     string         `json:"id"`
	Kind   string         `json:"kind"`
	Time   time.Time      `json:"time"`
	Device *Device        `json:"device,omitempty"`
	Name   string         `json:"name,omitempty"`
	Data   map[string]any `json:"data,omitempty"`
}

// Commit is everything one finished run makes durable, in one transaction:
// the trace (with the event's done mark), and, when the run succeeded, the
// rule's new state, the changed keys of the global state, its timer changes
// and the events it emitted.
type Commit struct {
	Trace        Trace
	Rule         string
	RuleState    json.RawMessage            // nil: unchanged
	GlobalSet    map[string]json.RawMessage // changed top-level keys of ctx.global
	GlobalDelete []string                   // removed top-level keys
	PutTimers    []TimerRecord              // new or rescheduled timers
	DeleteTimers []string                   // cancelled or fired timer ids
	// Accept are events the run emitted, accepted into the inbox (as
	// Store.Accept does) with the run's state, so a crash cannot keep the
	// state and lose them, or the reverse.
	Accept []Event
	// Complete, when set, is the id of the accepted event whose last
	// unfinished run this is: the store takes it out of the inbox once the
	// commit is durable, as Store.Complete would (the bbolt store in the
	// same transaction, instead of writing the run's done mark and
	// deleting it again in a later one). Its trace's done mark is then
	// not needed.
	Complete string
}

// Pending is an accepted event that has not completed, as Store.Inbox
// returns it: Done lists the rules whose run of it has finished.
type Pending struct {
	Event Event
	Done  []string
}

// PutQueuer is a Store that can queue a key-value write without waiting
// for it (engine/store's bbolt store can; others are waited for with Put).
// The write is applied in the order of the calls, before or in the same
// transaction as every Commit, Accept, Put, RecordTrace and Complete made
// after QueuePut returns, so it shares the transaction of what follows it
// instead of taking one of its own. then is called once it is durable or
// failed; it must not block.
type PutQueuer interface {
	QueuePut(bucket, key string, value []byte, then func(error))
}

// QueuePut queues a key-value write on st when it is a PutQueuer, and
// otherwise writes it with Put and waits; then gets the result either way
// (at once in the second case).
func QueuePut(st Store, bucket, key string, value []byte, then func(error)) {
	if q, ok := st.(PutQueuer); ok {
		q.QueuePut(bucket, key, value, then)
		return
	}
	then(st.Put(bucket, key, value))
}

// Store is the durable state the engine needs. engine/store implements it
// on bbolt; the interface keeps the engine free of the storage choice.
type Store interface {
	// Commit makes c durable before it returns. Many goroutines commit at
	// once; the implementation groups them into one fsync.
	Commit(c Commit) error
	// RecordTrace stores the trace of a run that changed no durable state,
	// behind the hot path like RecordEvent: it does not wait for the write,
	// but it waits for room in the writer's queue rather than drop the
	// trace.
	//
	// The trace of a run (Commit's or RecordTrace's) whose EventID names an
	// event in the inbox also writes that event's done mark for the rule,
	// in the same transaction.
	RecordTrace(t Trace)
	// Accept writes ev to the inbox of accepted, not yet completed events
	// (and, when journal is set, to the recent-events journal). It does not
	// wait: then is called once the write is durable, or failed, with fresh
	// false (nothing written) when an event of ev.ID is in the inbox
	// already. Concurrent accepts share one transaction; then calls come in
	// the order of the Accept calls and must not block (nor call the
	// store: they run on its writer).
	Accept(ev Event, journal bool, then func(fresh bool, err error))
	// Inbox returns the accepted events not yet completed, oldest accepted
	// first, each with the rules that have a done mark for it.
	Inbox() ([]Pending, error)
	// Complete removes an event and its done marks from the inbox once
	// every run it caused has finished. It does not wait for the write (it
	// rides with a later transaction), and it applies after the traces and
	// commits queued before it.
	Complete(eventID string)
	// RuleState returns a rule's stored state (nil when it has none).
	RuleState(rule string) (json.RawMessage, error)
	// Global returns every top-level key of the global state.
	Global() (map[string]json.RawMessage, error)
	// Timers returns every pending durable timer.
	Timers() ([]TimerRecord, error)
	// RecordEvent adds an event to the recent-events journal behind the hot
	// path: it does not wait for the write.
	RecordEvent(ev EventRecord)
	// RecentEvents returns up to limit journal entries, newest first.
	RecentEvents(limit int) ([]EventRecord, error)
	// Runs returns up to limit traces, newest first, of one rule or of all
	// rules when rule is "".
	Runs(rule string, limit int) ([]Trace, error)
	// Get and Put are a small key-value space per component (readings,
	// schedule bookkeeping, fired notification occurrences, push dedup,
	// tokens). Put is durable when it returns.
	Get(bucket, key string) ([]byte, error)
	Put(bucket, key string, value []byte) error
	Delete(bucket, key string) error
	// List returns every key/value pair of a bucket whose key starts with prefix.
	List(bucket, prefix string) (map[string][]byte, error)
}
