package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/alexarules/alexarules/engine"
)

// Commit makes c durable before it returns: its trace (when c.Trace.ID is
// set), the rule state (when non-nil), the global key changes, the timer
// changes, the accepted events and the completion of c.Complete's event,
// all in one transaction shared with whatever else is waiting.
// Deletions apply before puts, so a fired timer rescheduled under the same
// id stays. The caller must not modify c's slices and maps until Commit
// returns.
func (s *Store) Commit(c engine.Commit) error {
	w := new(commitWrite)
	err := prepare(c, &w.p)
	if err == nil {
		w.op = op{kind: opCommit, commit: &w.p, done: make(chan error, 1)}
		err = s.submit(&w.op)
	}
	if err != nil {
		return fmt.Errorf("commit %s: %w", c.Rule, err)
	}
	return nil
}

// commitWrite is a Commit's op and what it writes, allocated together.
type commitWrite struct {
	op op
	p  prepared
}

// prepare validates and encodes c into p in the caller's goroutine, so
// encoding runs in parallel and the writer only copies bytes.
func prepare(c engine.Commit, p *prepared) error {
	*p = prepared{rule: c.Rule, globalSet: c.GlobalSet, globalDelete: c.GlobalDelete, deleteTimers: c.DeleteTimers,
		complete: c.Complete}
	if c.Trace.ID != "" {
		t, err := encodeTrace(c.Trace, c.Rule)
		if err != nil {
			return err
		}
		if t.event == c.Complete {
			t.event = "" // the event leaves the inbox with this commit: no done mark
		}
		p.trace = t
	}
	if c.RuleState != nil {
		if c.Rule == "" {
			return errors.New("rule state without a rule name")
		}
		if !json.Valid(c.RuleState) {
			return errors.New("rule state is not valid JSON")
		}
		p.state = c.RuleState
	}
	for k, v := range c.GlobalSet {
		if k == "" {
			return errors.New("empty global key")
		}
		if !json.Valid(v) {
			return fmt.Errorf("global %q is not valid JSON", k)
		}
	}
	if slices.Contains(c.GlobalDelete, "") {
		return errors.New("empty global key")
	}
	for _, t := range c.PutTimers {
		if t.ID == "" {
			return errors.New("timer without an id")
		}
		v, err := json.Marshal(t)
		if err != nil {
			return fmt.Errorf("timer %s: %w", t.ID, err)
		}
		p.putTimers = append(p.putTimers, keyValue{key: []byte(t.ID), value: v})
	}
	if slices.Contains(c.DeleteTimers, "") {
		return errors.New("timer without an id")
	}
	for _, ev := range c.Accept {
		in := new(inboxEntry)
		if err := encodeInbox(ev, ev.Kind != engine.KindSchedule, in); err != nil {
			return fmt.Errorf("event %q: %w", ev.ID, err)
		}
		p.accepts = append(p.accepts, in)
	}
	return nil
}

// encodeTrace encodes t under its rule (or rule, when t names none).
func encodeTrace(t engine.Trace, rule string) (encodedTrace, error) {
	if t.Rule != "" {
		rule = t.Rule
	}
	if rule == "" {
		return encodedTrace{}, fmt.Errorf("trace %s names no rule", t.ID)
	}
	if strings.IndexByte(rule, 0) >= 0 {
		return encodedTrace{}, fmt.Errorf("rule name %q holds a zero byte", rule)
	}
	if t.ID == "" {
		return encodedTrace{}, errors.New("trace without an id")
	}
	v, err := marshalTrace(&t)
	if err != nil {
		// An action argument JSON cannot hold (NaN, a function) must not
		// cost the run its state: keep such values as text.
		t.Actions = textActions(t.Actions)
		if v, err = marshalTrace(&t); err != nil {
			return encodedTrace{}, fmt.Errorf("trace %s: %w", t.ID, err)
		}
	}
	return encodedTrace{rule: rule, event: t.EventID, key: traceKey(rule, t.Started, t.ID), value: v}, nil
}

func textActions(actions []engine.Action) []engine.Action {
	out := make([]engine.Action, len(actions))
	for i, a := range actions {
		a.Args, a.Result = asJSONOrText(a.Args), asJSONOrText(a.Result)
		out[i] = a
	}
	return out
}

func asJSONOrText(v any) any {
	if _, err := json.Marshal(v); err != nil {
		return fmt.Sprint(v)
	}
	return v
}

// rulePrefix starts the keys of a rule's traces; rule names hold no zero
// byte, so one rule's keys never run into another's.
func rulePrefix(rule string) []byte {
	return append([]byte(rule), 0)
}

// timeKey is t as 8 big-endian bytes with the sign bit flipped (so times
// before 1970 sort first too) followed by id, which keeps keys of the same
// instant apart.
func timeKey(t time.Time, id string) []byte {
	return appendTimeKey(make([]byte, 0, 8+len(id)), t, id)
}

func appendTimeKey(b []byte, t time.Time, id string) []byte {
	return append(binary.BigEndian.AppendUint64(b, uint64(t.UnixNano())^(1<<63)), id...)
}

// traceKey is the key of rule's trace of a run started at t: rulePrefix,
// then timeKey, in one allocation.
func traceKey(rule string, t time.Time, id string) []byte {
	b := make([]byte, 0, len(rule)+1+8+len(id))
	return appendTimeKey(append(append(b, rule...), 0), t, id)
}

// RecordTrace stores the trace of a run that changed no durable state
// without waiting for the write: the writer stores it with the next
// transaction, or after Options.RecordDelay. When the queue is full it
// waits for room (backpressure) instead of dropping the trace. After Close
// the trace is dropped and counted (Dropped). t must not be modified after
// the call.
func (s *Store) RecordTrace(t engine.Trace) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		s.dropped.Add(1)
		return
	}
	s.traces <- t
}

// RecordEvent adds ev to the recent-events journal without waiting for the
// write, like RecordTrace; the journal keeps the newest Options.JournalSize
// events. ev (its Data and Device) must not be modified after the call.
func (s *Store) RecordEvent(ev engine.EventRecord) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		s.dropped.Add(1)
		return
	}
	s.events <- ev
}

// Accept writes ev to the inbox, and to the journal when journal is set,
// without waiting: then is called on the writer's goroutine once the
// transaction is durable (fresh false: ev.ID was in the inbox already, and
// nothing was written) or failed. Concurrent accepts share one transaction
// and one fsync; then calls come in the order of the Accept calls. then
// must not block. When the writer's queue is full, Accept waits for room.
func (s *Store) Accept(ev engine.Event, journal bool, then func(fresh bool, err error)) {
	w := new(acceptWrite)
	if err := encodeInbox(ev, journal, &w.in); err != nil {
		then(false, fmt.Errorf("accept event %q: %w", ev.ID, err))
		return
	}
	w.op = op{kind: opAccept, inbox: &w.in, then: then}
	o := &w.op
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		then(false, fmt.Errorf("accept event %s: %w", ev.ID, ErrClosed))
		return
	}
	s.ops <- o
}

// acceptWrite is an Accept's op and its inbox entry, allocated together.
type acceptWrite struct {
	op op
	in inboxEntry
}

// encodeInbox encodes an event into in for the inbox, and for the
// journal when journal is set.
func encodeInbox(ev engine.Event, journal bool, in *inboxEntry) error {
	if ev.ID == "" || strings.IndexByte(ev.ID, 0) >= 0 {
		return errors.New("an event id must be non-empty without zero bytes")
	}
	v, err := marshalEvent(&ev)
	if err != nil {
		return err
	}
	*in = inboxEntry{id: ev.ID, value: v, writes: ev.Writes}
	if journal {
		in.journal = v
		if !recordShaped(ev) {
			if in.journal, err = json.Marshal(ev.Record()); err != nil {
				return err
			}
		}
		in.journalKey = timeKey(ev.Time, ev.ID)
	}
	return nil
}

// recordShaped reports whether ev's JSON is byte for byte its journal
// record's (engine.EventRecord: the same leading fields in the same
// order), because the fields only the inbox keeps are all omitted: most
// events are, and they are then encoded once.
func recordShaped(ev engine.Event) bool {
	return ev.Cause == (engine.Cause{}) && ev.Target == "" && ev.TriggerIndex == 0
}

// Complete removes an accepted event and its done marks without waiting
// for the write, like RecordTrace: it rides with the next transaction,
// after the traces and commits queued before it. After Close it does
// nothing: the event then stays in the inbox, and its done marks keep a
// restart from running it again.
func (s *Store) Complete(eventID string) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if !s.closed {
		s.completes <- eventID
	}
}

// Flush writes every event and trace recorded before it and waits until
// they are durable.
func (s *Store) Flush() error {
	if err := s.submit(&op{kind: opFlush, done: make(chan error, 1)}); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	return nil
}

// Put stores value under key in the component bucket, creating the bucket
// on first use. It is durable when Put returns; value must not be modified
// until then.
func (s *Store) Put(bucket, key string, value []byte) error {
	if err := checkKV(bucket, key); err != nil {
		return fmt.Errorf("put: %w", err)
	}
	if err := s.submit(&op{kind: opPut, bucket: bucket, key: key, value: value, done: make(chan error, 1)}); err != nil {
		return fmt.Errorf("put %s/%s: %w", bucket, shorten(key), err)
	}
	return nil
}

// QueuePut stores value under key in the component bucket like Put, but
// without waiting (engine.PutQueuer): the write rides with the writer's
// next transaction that a waited-for write (a commit, an accept) makes, or
// is written after Options.RecordDelay like a recorded trace, in the order
// of the calls, before or with every Commit, Accept, Put, RecordTrace and
// Complete made after QueuePut returns. then is called on the writer's goroutine once
// the write is durable or failed; it must not block. value must not be
// modified until then.
func (s *Store) QueuePut(bucket, key string, value []byte, then func(error)) {
	if err := checkKV(bucket, key); err != nil {
		then(fmt.Errorf("put: %w", err))
		return
	}
	o := &op{kind: opPut, bucket: bucket, key: key, value: value, lazy: true, then: func(_ bool, err error) {
		if err != nil {
			err = fmt.Errorf("put %s/%s: %w", bucket, shorten(key), err)
		}
		then(err)
	}}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		then(fmt.Errorf("put %s/%s: %w", bucket, shorten(key), ErrClosed))
		return
	}
	s.ops <- o
}

// Delete removes key from the component bucket; a missing key or bucket
// is not an error. It is durable when Delete returns.
func (s *Store) Delete(bucket, key string) error {
	if err := checkKV(bucket, key); err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	if err := s.submit(&op{kind: opDelete, bucket: bucket, key: key, done: make(chan error, 1)}); err != nil {
		return fmt.Errorf("delete %s/%s: %w", bucket, shorten(key), err)
	}
	return nil
}

func checkKV(bucket, key string) error {
	if bucket == "" {
		return errors.New("empty bucket name")
	}
	if key == "" {
		return fmt.Errorf("empty key in bucket %s", bucket)
	}
	return nil
}

// shorten keeps error messages readable when a key is oversized.
func shorten(key string) string {
	const limit = 64
	if len(key) <= limit {
		return key
	}
	return key[:limit] + "..."
}
