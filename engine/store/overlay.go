package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// The interval mode's write-behind overlay.
//
// At any real rate almost every accepted event is completed before the
// next checkpoint, and most traces are pruned past TraceRetention: their
// inbox/, inbox_ids/, done/, traces/ and runs/ entries would be put into
// the open transaction and deleted from it again, bbolt work nobody ever
// sees. The overlay keeps those entries in the writer's memory instead.
// Their changes are logged exactly as if they had been written to bbolt (the log stays the source of truth, and a redo gives the same
// database), and materialise writes the entries still held into the open
// transaction before anyone reads it (serve) or it is committed
// (checkpoint). A discarded transaction discards the overlay with it: the
// log is redone into the next one, entries and all.

// overlay holds the open transaction's accepted, not yet completed events
// and its new traces (owned by the writer goroutine).
type overlay struct {
	// seq is the inbox bucket's sequence as the overlay's accepts left
	// it; used reports that it was read from the bucket (an accept came
	// since the overlay was last materialised or reset).
	seq  uint64
	used bool
	// held are the events in acceptance order; a completed one is zeroed.
	held []heldEvent
	at   map[string]int // event id: index in held
	// traces are the traces written behind, by rule.
	traces map[string]*heldTraces
}

// heldEvent is one accepted event's inbox entry, id and done marks.
type heldEvent struct {
	id    string
	key   []byte // inbox key: sequence and id
	value []byte
	done  []string // rules with a done mark
}

// holds reports whether the event id is in the overlay (never, when the
// overlay is nil: the always mode writes to bbolt).
func (o *overlay) holds(id string) bool {
	if o == nil {
		return false
	}
	_, ok := o.at[id]
	return ok
}

// accept takes in the event id with its encoded value (the caller checked
// that it is new), logging the sequence and the two puts the inbox would
// have written.
func (o *overlay) accept(tx wtx, id string, value []byte) error {
	if !o.used {
		o.seq, o.used = tx.tx.Bucket(bucketInbox).Sequence(), true
	}
	key := inboxKey(o.seq+1, id)
	if err := checkPut(key, value); err != nil {
		return err
	}
	if err := checkPut([]byte(id), key); err != nil {
		return err
	}
	o.seq++
	tx.logChange(walSequence, bucketInbox, nil, binary.BigEndian.AppendUint64(nil, o.seq))
	tx.logChange(walPut, bucketInbox, key, value)
	tx.logChange(walPut, bucketIDs, []byte(id), key)
	if o.at == nil {
		o.at = map[string]int{}
	}
	o.at[id] = len(o.held)
	o.held = append(o.held, heldEvent{id: id, key: key, value: value})
	return nil
}

// mark adds rule's done mark to the event id when the overlay holds it,
// and reports whether it did.
func (o *overlay) mark(tx wtx, id, rule string) (bool, error) {
	if o == nil {
		return false, nil
	}
	i, ok := o.at[id]
	if !ok {
		return false, nil
	}
	key := doneKey(id, rule)
	if err := checkPut(key, nil); err != nil {
		return true, err
	}
	tx.logChange(walPut, bucketDone, key, nil)
	e := &o.held[i]
	for _, r := range e.done {
		if r == rule {
			return true, nil
		}
	}
	e.done = append(e.done, rule)
	return true, nil
}

// complete drops the event id and its done marks when the overlay holds
// it, logging the deletes, and reports whether it did.
func (o *overlay) complete(tx wtx, id string) bool {
	if o == nil {
		return false
	}
	i, ok := o.at[id]
	if !ok {
		return false
	}
	e := &o.held[i]
	tx.logChange(walDelete, bucketInbox, e.key, nil)
	tx.logChange(walDelete, bucketIDs, []byte(id), nil)
	for _, rule := range e.done {
		tx.logChange(walDelete, bucketDone, doneKey(id, rule), nil)
	}
	*e = heldEvent{}
	delete(o.at, id)
	return true
}

// materialise writes what the overlay holds into tx (without logging
// it: the log has it), then empties the overlay, also when a write fails:
// the caller then discards tx.
func (o *overlay) materialise(tx *bolt.Tx) error {
	defer o.reset()
	if err := o.materialiseInbox(tx); err != nil {
		return err
	}
	traces, runs := tx.Bucket(bucketTraces), tx.Bucket(bucketRuns)
	for rule, h := range o.traces {
		name := []byte(rule)
		for _, kv := range h.kvs {
			if err := traces.Put(kv.key, kv.value); err != nil {
				return fmt.Errorf("trace: %w", err)
			}
			if err := runs.Put(kv.key[len(rule)+1:], name); err != nil {
				return fmt.Errorf("trace: %w", err)
			}
		}
	}
	return nil
}

// materialiseInbox writes the events still held and the inbox sequence.
func (o *overlay) materialiseInbox(tx *bolt.Tx) error {
	if !o.used {
		return nil
	}
	inbox, ids, done := tx.Bucket(bucketInbox), tx.Bucket(bucketIDs), tx.Bucket(bucketDone)
	for _, e := range o.held {
		if e.key == nil {
			continue
		}
		if err := inbox.Put(e.key, e.value); err != nil {
			return fmt.Errorf("inbox: %w", err)
		}
		if err := ids.Put([]byte(e.id), e.key); err != nil {
			return fmt.Errorf("inbox: %w", err)
		}
		for _, rule := range e.done {
			if err := done.Put(doneKey(e.id, rule), nil); err != nil {
				return fmt.Errorf("done mark: %w", err)
			}
		}
	}
	if err := inbox.SetSequence(o.seq); err != nil {
		return fmt.Errorf("inbox: %w", err)
	}
	return nil
}

// reset empties the overlay, keeping the inbox's memory.
func (o *overlay) reset() {
	clear(o.held)
	clear(o.at)
	clear(o.traces)
	o.held, o.seq, o.used = o.held[:0], 0, false
}

// heldTraces are one rule's traces written behind, in key order (oldest
// first). Their all-rules index entries (runs/) go with them: a run id
// is unique across rules (engine.IDs), so no other rule's trace shares
// one.
type heldTraces struct {
	kvs []keyValue
	// newest is the rule's last trace key in bbolt when the overlay first
	// held one of its traces (nil: none): a newer key is not in bbolt.
	newest []byte
}

// putTrace holds the trace t unless bbolt has its key (held false: the
// caller writes it there), logging the puts bbolt would have logged;
// fresh reports a key new to the rule.
func (o *overlay) putTrace(tx wtx, traces *bolt.Bucket, t encodedTrace) (fresh, held bool, err error) {
	h := o.tracesOf(traces, t.rule)
	i, found := slices.BinarySearchFunc(h.kvs, t.key, func(kv keyValue, k []byte) int { return bytes.Compare(kv.key, k) })
	if !found && h.newest != nil && bytes.Compare(t.key, h.newest) <= 0 && traces.Get(t.key) != nil {
		return false, false, nil
	}
	run := t.key[len(t.rule)+1:]
	if err := checkPut(t.key, t.value); err != nil {
		return false, true, err
	}
	if err := checkPut(run, nil); err != nil {
		return false, true, err
	}
	tx.logChange(walPut, bucketTraces, t.key, t.value)
	tx.logChange(walPut, bucketRuns, run, []byte(t.rule))
	if found {
		h.kvs[i].value = t.value
	} else {
		h.kvs = slices.Insert(h.kvs, i, keyValue{key: t.key, value: t.value})
	}
	return !found, true, nil
}

// tracesOf returns the rule's held traces, starting them with the rule's
// newest key in bbolt.
func (o *overlay) tracesOf(traces *bolt.Bucket, rule string) *heldTraces {
	h := o.traces[rule]
	if h != nil {
		return h
	}
	h = &heldTraces{}
	if k, _ := lastKey(traces.Cursor(), rule); k != nil {
		h.newest = bytes.Clone(k)
	}
	if o.traces == nil {
		o.traces = map[string]*heldTraces{}
	}
	o.traces[rule] = h
	return h
}

// heldTraces returns the rule's held traces, oldest first.
func (o *overlay) heldTraces(rule string) []keyValue {
	if o == nil || o.traces[rule] == nil {
		return nil
	}
	return o.traces[rule].kvs
}

// dropTraces deletes the rule's n oldest held traces, logging the deletes
// bbolt would have logged.
func (o *overlay) dropTraces(tx wtx, rule string, n int) {
	if n == 0 {
		return
	}
	h := o.traces[rule]
	for _, kv := range h.kvs[:n] {
		tx.logChange(walDelete, bucketTraces, kv.key, nil)
		tx.logChange(walDelete, bucketRuns, kv.key[len(rule)+1:], nil)
	}
	clear(h.kvs[:n])
	h.kvs = h.kvs[n:]
}

// inboxKey is an inbox key: the 8-byte big-endian sequence, then the id.
func inboxKey(seq uint64, id string) []byte {
	return append(binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(id)), seq), id...)
}

// checkPut refuses what bbolt's Put would refuse for its size, so that
// what the overlay takes in is sure to materialise.
func checkPut(key, value []byte) error {
	switch {
	case len(key) == 0:
		return berrors.ErrKeyRequired
	case len(key) > bolt.MaxKeySize:
		return berrors.ErrKeyTooLarge
	case int64(len(value)) > bolt.MaxValueSize:
		return berrors.ErrValueTooLarge
	}
	return nil
}
