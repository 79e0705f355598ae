package store

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/alexarules/alexarules/engine"
	bolt "go.etcd.io/bbolt"
)

// Reads copy every byte out of bbolt inside the read transaction and
// decode after it ends: bbolt's slices are only valid during the
// transaction, and a short read transaction pins fewer pages.

// RuleState returns a rule's stored state, or nil when it has none.
func (s *Store) RuleState(rule string) (json.RawMessage, error) {
	var v []byte
	err := s.view(func(tx *bolt.Tx) error {
		v = bytes.Clone(tx.Bucket(bucketState).Get([]byte(rule)))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("state of %s: %w", rule, err)
	}
	return v, nil
}

// Global returns every top-level key of the global state.
func (s *Store) Global() (map[string]json.RawMessage, error) {
	out := map[string]json.RawMessage{}
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketGlobal).ForEach(func(k, v []byte) error {
			out[string(k)] = bytes.Clone(v)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("global state: %w", err)
	}
	return out, nil
}

// Timers returns every pending durable timer, earliest due first.
func (s *Store) Timers() ([]engine.TimerRecord, error) {
	var raw [][]byte
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketTimers).ForEach(func(_, v []byte) error {
			raw = append(raw, bytes.Clone(v))
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("timers: %w", err)
	}
	timers, err := decodeAll[engine.TimerRecord](raw)
	if err != nil {
		return nil, fmt.Errorf("timers: %w", err)
	}
	slices.SortFunc(timers, func(a, b engine.TimerRecord) int {
		return cmp.Or(a.Due.Compare(b.Due), cmp.Compare(a.ID, b.ID))
	})
	return timers, nil
}

// RecentEvents returns up to limit journal entries (all kept, at most
// Options.JournalSize, when limit <= 0), newest first.
func (s *Store) RecentEvents(limit int) ([]engine.EventRecord, error) {
	if limit <= 0 || limit > s.opts.JournalSize {
		limit = s.opts.JournalSize // the journal may hold a pruning slack more
	}
	var raw [][]byte
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketEvents).Cursor()
		for k, v := c.Last(); k != nil && len(raw) < limit; k, v = c.Prev() {
			raw = append(raw, bytes.Clone(v))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("recent events: %w", err)
	}
	events, err := decodeAll[engine.EventRecord](raw)
	if err != nil {
		return nil, fmt.Errorf("recent events: %w", err)
	}
	return events, nil
}

// Runs returns up to limit traces (all kept when limit <= 0), newest
// first, of one rule or of all rules when rule is "".
func (s *Store) Runs(rule string, limit int) ([]engine.Trace, error) {
	var raw [][]byte
	full := func() bool { return limit > 0 && len(raw) >= limit }
	err := s.view(func(tx *bolt.Tx) error {
		traces := tx.Bucket(bucketTraces)
		if rule != "" {
			prefix, c := rulePrefix(rule), traces.Cursor()
			for k, v := lastKey(c, rule); k != nil && bytes.HasPrefix(k, prefix) && !full(); k, v = c.Prev() {
				raw = append(raw, bytes.Clone(v))
			}
			return nil
		}
		c := tx.Bucket(bucketRuns).Cursor()
		for k, r := c.Last(); k != nil && !full(); k, r = c.Prev() {
			key := append(append(make([]byte, 0, len(r)+1+len(k)), r...), 0)
			if v := traces.Get(append(key, k...)); v != nil {
				raw = append(raw, bytes.Clone(v))
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("runs of %q: %w", rule, err)
	}
	out, err := decodeAll[engine.Trace](raw)
	if err != nil {
		return nil, fmt.Errorf("runs of %q: %w", rule, err)
	}
	return out, nil
}

// Get returns the value of key in the component bucket, or nil when the
// key or the bucket does not exist.
func (s *Store) Get(bucket, key string) ([]byte, error) {
	var v []byte
	err := s.view(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketKV).Bucket([]byte(bucket)); b != nil {
			v = bytes.Clone(b.Get([]byte(key)))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("get %s/%s: %w", bucket, key, err)
	}
	return v, nil
}

// List returns every key/value pair of the component bucket whose key
// starts with prefix (every pair when prefix is "").
func (s *Store) List(bucket, prefix string) (map[string][]byte, error) {
	out := map[string][]byte{}
	err := s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketKV).Bucket([]byte(bucket))
		if b == nil {
			return nil
		}
		p := []byte(prefix)
		c := b.Cursor()
		for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
			out[string(k)] = bytes.Clone(v)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s/%s: %w", bucket, prefix, err)
	}
	return out, nil
}

// lastKey moves c, a cursor of the traces, to the rule's last trace and
// returns it (nil when the rule has none).
func lastKey(c *bolt.Cursor, rule string) (k, v []byte) {
	// Seek past the rule's last key, then step back.
	k, v = c.Seek(append([]byte(rule), 1))
	if k == nil {
		k, v = c.Last()
	} else {
		k, v = c.Prev()
	}
	if k == nil || !bytes.HasPrefix(k, rulePrefix(rule)) {
		return nil, nil
	}
	return k, v
}

func decodeAll[T any](raw [][]byte) ([]T, error) {
	out := make([]T, len(raw))
	for i, v := range raw {
		if err := json.Unmarshal(v, &out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Inbox returns the accepted events not yet completed, oldest accepted
// first, each with the rules that have a done mark for it.
func (s *Store) Inbox() ([]engine.Pending, error) {
	var raw [][]byte
	var done [][]string
	err := s.view(func(tx *bolt.Tx) error {
		marks := tx.Bucket(bucketDone).Cursor()
		return tx.Bucket(bucketInbox).ForEach(func(k, v []byte) error {
			raw = append(raw, bytes.Clone(v))
			prefix := donePrefix(string(k[8:]))
			var rules []string
			for m, _ := marks.Seek(prefix); m != nil && bytes.HasPrefix(m, prefix); m, _ = marks.Next() {
				rules = append(rules, string(m[len(prefix):]))
			}
			done = append(done, rules)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("inbox: %w", err)
	}
	events, err := decodeAll[engine.Event](raw)
	if err != nil {
		return nil, fmt.Errorf("inbox: %w", err)
	}
	out := make([]engine.Pending, len(events))
	for i, ev := range events {
		out[i] = engine.Pending{Event: ev, Done: done[i]}
	}
	return out, nil
}
