package cluster

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/alexarules/alexarules/engine"
)

// Store is engine.Store on the cluster's KV bucket for one partition: the
// engine that owns the partition commits through it. Every key is
// p.<partition>.<kind>.<...>; the layout is in docs/CLUSTER.md.
//
// A run's commit is one atomic batch that starts with the run's done mark
// (p.P.done.<event>.<rule>), written only if it has never existed: a
// second commit of the same (event, rule) fails as a whole with ErrDone,
// so a redelivered or replayed event never applies a rule's run twice.
//
// The store of a partition's owner (Claim) fences every write: each batch
// checks that the partition's owner key still has the revision the owner
// wrote when it took the partition, so once another node has claimed it,
// every write of the former owner is refused whole (ErrFenced) and its
// store stops writing (Fenced).
type Store struct {
	c         *Conn
	b         *bucket
	life      context.Context // retries of failed writes stop when it ends
	partition string
	prefix    string // "p.<partition>."
	log       *logs

	mu sync.Mutex
	// inbox maps the accepted, not completed events to the rules whose
	// done marks this store wrote or read (Complete deletes them).
	inbox map[string][]string
	// broken are events whose commit failed for a reason other than
	// ErrDone: their failed trace writes no done mark, so the event runs
	// again when the partition restarts (Faults).
	broken map[string]bool
	faults chan error

	queue queued // QueuePut's puts, under mu

	fence      *fence        // nil: a reader's store (views, tests)
	fenced     chan struct{} // closed at the first write refused by fence
	fencedOnce sync.Once
}

// NewStore returns the store of partition on c. A write that fails
// because NATS is away is retried until it goes through or life ends (the
// partition is given up): the engine pauses instead of failing runs whose
// actions were sent.
func (c *Conn) NewStore(life context.Context, partition string) *Store {
	return &Store{c: c, b: c.state, life: life, partition: partition, prefix: "p." + partition + ".",
		log: &logs{c: c}, inbox: map[string][]string{}, broken: map[string]bool{}, faults: make(chan error, 1),
		fenced: make(chan struct{})}
}

// Claim makes node the owner of partition in the state bucket (it must
// hold the partition's lease): it writes the owner key p.<partition>.owner
// and returns the partition's store fenced by that revision. A store
// claimed earlier, by any node, has every write refused from now on.
func (c *Conn) Claim(ctx, life context.Context, partition, node string) (*Store, error) {
	return c.claim(ctx, c.NewStore(life, partition), node)
}

// ClaimAccount makes node the holder of the account's key-value space
// (it must hold the account lease) and returns the account's store for
// this term of the lease, fenced like a partition's: once another node
// claimed the account, every write of this store, queued or retried, is
// refused, so a former holder's records never land over the next one's.
func (c *Conn) ClaimAccount(ctx, life context.Context, node string) (*Store, error) {
	return c.claim(ctx, c.AccountStore(life), node)
}

// claim writes s's owner key with node and fences s by its revision.
func (c *Conn) claim(ctx context.Context, s *Store, node string) (*Store, error) {
	owner := s.prefix + "owner"
	ctx, cancel := context.WithTimeout(ctx, c.ttl/2)
	defer cancel()
	seq, err := c.state.kv.Put(ctx, owner, []byte(node))
	if err != nil {
		return nil, fmt.Errorf("cluster: claim %s: %w", s.partition, err)
	}
	s.fence = &fence{owner: owner, mark: s.prefix + "fence", seq: seq}
	return s, nil
}

// Fenced is closed once a write was refused because another node claimed
// the partition: the partition's engine must stop at once, and nothing it
// does is written any more.
func (s *Store) Fenced() <-chan struct{} { return s.fenced }

// commit writes ws in one batch behind the puts queued before it
// (QueuePut), once: a failure is the caller's to handle.
func (s *Store) commit(ws []write) error { return s.withQueued(ws, s.apply) }

// write is commit retrying like retry.
func (s *Store) write(ws []write) error { return s.withQueued(ws, s.retry) }

// apply writes ws through the store's fence, refusing at once after the
// fence has refused a write.
//
// A batch refused because another one checking the same owner key was
// being applied (errBusy) is sent again at once: nothing of it was
// applied, and the other batch is applied within milliseconds. A store
// that writes from several goroutines (the account's sources) meets it
// with any write, not only with those retried.
func (s *Store) apply(ws []write) error {
	for {
		select {
		case <-s.fenced:
			return ErrFenced
		default:
		}
		err := s.b.commit(bg(), ws, s.fence)
		if errors.Is(err, ErrFenced) {
			s.fencedOnce.Do(func() {
				s.c.log.Warn("cluster: another node owns the partition now; its writes from here are refused", "partition", s.partition)
				close(s.fenced)
			})
		}
		if !errors.Is(err, errBusy) || !sleep(s.life, time.Millisecond) {
			return err
		}
	}
}

// Faults receives an error when a write failed in a way that leaves the
// partition's engine behind the bucket (a commit that did not go through):
// the owner restarts the partition, which replays what is not done.
func (s *Store) Faults() <-chan error { return s.faults }

func (s *Store) fault(err error) {
	select {
	case s.faults <- err:
	default:
	}
}

func (s *Store) key(kind string, parts ...string) string {
	var k strings.Builder
	k.WriteString(s.prefix + kind)
	for _, p := range parts {
		k.WriteString("." + escape(p))
	}
	return k.String()
}

func bg() context.Context { return context.Background() }

// Commit writes c's done mark, state, global keys, timers and emitted
// events in one atomic batch, then its trace behind the hot path.
func (s *Store) Commit(c engine.Commit) error {
	var ws []write
	ev := c.Trace.EventID
	inInbox := s.inInbox(ev)
	switch {
	case inInbox:
		ws = append(ws, write{key: s.key("done", ev, c.Rule), value: []byte("1"), fresh: true})
	case c.Trace.Handler != "" && ev != "":
		// A timer's firing (its id is the same on every owner): a former
		// owner that ran it committed this mark with the timer's delete.
		ws = append(ws, write{key: s.key("done", ev, c.Rule), value: []byte("1"), fresh: true, expires: true})
	}
	if c.RuleState != nil {
		ws = append(ws, write{key: s.key("state", c.Rule), value: c.RuleState})
	}
	for k, v := range c.GlobalSet {
		ws = append(ws, write{key: s.key("global", k), value: v})
	}
	for _, k := range c.GlobalDelete {
		ws = append(ws, write{key: s.key("global", k), del: true})
	}
	for _, t := range c.PutTimers {
		b, err := json.Marshal(t)
		if err != nil {
			return fmt.Errorf("cluster: encode timer %s: %w", t.ID, err)
		}
		ws = append(ws, write{key: s.key("timer", t.ID), value: b})
	}
	for _, id := range c.DeleteTimers {
		ws = append(ws, write{key: s.key("timer", id), del: true})
	}
	for _, e := range c.Accept {
		b, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("cluster: encode event %s: %w", e.ID, err)
		}
		ws = append(ws, write{key: s.key("inbox", e.ID), value: b, fresh: true})
	}
	err := s.write(ws)
	switch {
	case errors.Is(err, ErrDone):
		return fmt.Errorf("cluster: event %s, rule %s: %w", ev, c.Rule, err)
	case errors.Is(err, ErrFenced):
		s.markBroken(ev) // the new owner's replay runs it
		return fmt.Errorf("cluster: event %s, rule %s: %w", ev, c.Rule, err)
	case err != nil:
		s.markBroken(ev)
		s.fault(err)
		return err
	}
	s.mu.Lock()
	if inInbox {
		s.inbox[ev] = append(s.inbox[ev], c.Rule)
	}
	for _, e := range c.Accept {
		s.inbox[e.ID] = nil
	}
	s.mu.Unlock()
	s.log.trace(s.partition, c.Trace)
	for _, e := range c.Accept {
		s.log.event(s.partition, e.Record())
	}
	if c.Complete != "" {
		s.Complete(c.Complete) // its own write, after the done mark's
	}
	return nil
}

func (s *Store) inInbox(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.inbox[id]
	return ok && id != ""
}

func (s *Store) markBroken(id string) {
	s.mu.Lock()
	s.broken[id] = true
	s.mu.Unlock()
}

// RecordTrace writes, for an event in the inbox, the rule's done mark and
// then the trace. It waits for the done mark (so Complete, called after
// it, finds it), not for the trace.
func (s *Store) RecordTrace(t engine.Trace) {
	// After the done mark: an engine killed between the two leaves no
	// trace of a run that its successor runs again.
	defer s.log.trace(s.partition, t)
	if !s.inInbox(t.EventID) {
		return
	}
	s.mu.Lock()
	broken := s.broken[t.EventID]
	s.mu.Unlock()
	if broken {
		return // its commit failed: it runs again after the restart
	}
	err := s.write([]write{{key: s.key("done", t.EventID, t.Rule), value: []byte("1"), fresh: true}})
	switch {
	case err == nil || errors.Is(err, ErrDone):
		s.mu.Lock()
		s.inbox[t.EventID] = append(s.inbox[t.EventID], t.Rule)
		s.mu.Unlock()
	case errors.Is(err, ErrFenced):
		s.markBroken(t.EventID)
	default:
		s.markBroken(t.EventID)
		s.fault(err)
	}
}

// Accept writes ev to the inbox unless its key was ever written: an event
// accepted before (in the inbox, or completed) is not fresh. The event's
// records (engine.Event.Writes: the state a hold's expiry leaves) are
// written in the same atomic batch, so they land exactly when the event
// does: with its first accept, never with a refused one.
func (s *Store) Accept(ev engine.Event, journal bool, then func(fresh bool, err error)) {
	b, err := json.Marshal(ev) // without Writes: they are not part of the event
	if err != nil {
		then(false, fmt.Errorf("cluster: encode event %s: %w", ev.ID, err))
		return
	}
	ws := make([]write, 0, 1+len(ev.Writes))
	ws = append(ws, write{key: s.key("inbox", ev.ID), value: b, fresh: true})
	for _, w := range ev.Writes {
		ws = append(ws, write{key: s.key("kv", w.Bucket, w.Key), value: w.Value})
	}
	err = s.commit(ws)
	switch {
	case errors.Is(err, ErrDone) && s.lostAccept(ev.ID):
		// An earlier accept whose answer was lost wrote it: it is this
		// accept's to run.
	case errors.Is(err, ErrDone):
		then(false, nil)
		return
	case err != nil:
		then(false, err)
		return
	}
	s.mu.Lock()
	s.inbox[ev.ID] = nil
	s.mu.Unlock()
	if journal {
		s.log.event(s.partition, ev.Record())
	}
	then(true, nil)
}

// lostAccept reports whether event id is in the bucket's inbox although
// this store neither accepted nor loaded it: an accept whose answer was
// lost (NATS went away after storing it), whose message came again.
func (s *Store) lostAccept(id string) bool {
	s.mu.Lock()
	_, known := s.inbox[id]
	s.mu.Unlock()
	if known {
		return false
	}
	v, err := s.b.get(bg(), s.key("inbox", id))
	return err == nil && v != nil
}

// errDoneUnsure is retry's answer when a retry after an attempt whose
// outcome is unknown found ws's done mark written: ws counts as done (the
// attempt whose answer was lost wrote it, or an earlier run did), but
// whether the attempt reached the server is unknown.
var errDoneUnsure = errors.New("cluster: done mark found after an attempt whose outcome is unknown")

// retry applies ws, retrying while it fails for any reason but ErrDone,
// ErrFenced or ErrBatchLimit and the store's life goes on. A retry after
// an attempt whose outcome is unknown that finds the done mark written
// answers errDoneUnsure, which withQueued counts as done. A fenced write
// is never retried: it is the new owner's to make; nor is one too big,
// which would fail the same way for ever.
func (s *Store) retry(ws []write) error {
	wait := 50 * time.Millisecond
	unsure := false // an earlier attempt may have been applied
	for {
		err := s.apply(ws)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, ErrFenced), errors.Is(err, ErrBatchLimit):
			return err
		case errors.Is(err, ErrDone) && unsure:
			return errDoneUnsure
		case errors.Is(err, ErrDone):
			return err
		case errors.Is(err, errBusy):
			return err // the store's life ended while apply waited
		}
		if !unsure {
			s.c.log.Warn("cluster: write to NATS failed; retrying until it is back", "partition", s.partition, "err", err)
		}
		unsure = true
		if !s.backoff(&wait) {
			return err
		}
	}
}

// read gets key, retrying like write while NATS is away: a run that loads
// its state waits for NATS instead of failing, because a failed run is
// final and its event would never run.
func (s *Store) read(key string) ([]byte, error) {
	wait := 50 * time.Millisecond
	for {
		v, err := s.b.get(bg(), key)
		if err == nil || !s.backoff(&wait) {
			return v, err
		}
	}
}

// backoff waits *wait, doubling it up to 2 s, and reports false when the
// store's life ended first.
func (s *Store) backoff(wait *time.Duration) bool {
	if !sleep(s.life, *wait) {
		return false
	}
	*wait = min(2**wait, 2*time.Second)
	return true
}

// Inbox lists the accepted events not completed, oldest first, with their
// done marks.
func (s *Store) Inbox() ([]engine.Pending, error) {
	events, err := s.b.list(bg(), s.prefix+"inbox.")
	if err != nil {
		return nil, err
	}
	marks, err := s.b.list(bg(), s.prefix+"done.")
	if err != nil {
		return nil, err
	}
	done := map[string][]string{}
	for _, m := range marks {
		parts := strings.Split(strings.TrimPrefix(m.Key(), s.prefix+"done."), ".")
		if len(parts) == 2 {
			id := unescape(parts[0])
			done[id] = append(done[id], unescape(parts[1]))
		}
	}
	out := make([]engine.Pending, 0, len(events))
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range events {
		var ev engine.Event
		if err := json.Unmarshal(e.Value(), &ev); err != nil {
			return nil, fmt.Errorf("cluster: inbox key %s: %w", e.Key(), err)
		}
		out = append(out, engine.Pending{Event: ev, Done: done[ev.ID]})
		s.inbox[ev.ID] = slices.Clone(done[ev.ID])
	}
	return out, nil
}

// Complete deletes an event's inbox key and done marks. The deleted keys
// keep markers for a day, so a redelivery of the event is not fresh.
func (s *Store) Complete(eventID string) {
	s.mu.Lock()
	rules, ok := s.inbox[eventID]
	broken := s.broken[eventID]
	delete(s.inbox, eventID)
	delete(s.broken, eventID)
	s.mu.Unlock()
	if !ok || broken {
		return // a run of it did not commit: it stays for the replay
	}
	ws := []write{{key: s.key("inbox", eventID), del: true}}
	for _, r := range rules {
		ws = append(ws, write{key: s.key("done", eventID, r), del: true})
	}
	if err := s.write(ws); err != nil {
		// The event stays in the inbox with every done mark: a replay
		// completes it without running anything.
		s.c.log.Warn("cluster: complete event", "event", eventID, "err", err)
	}
}

// RuleState returns a rule's state.
func (s *Store) RuleState(rule string) (json.RawMessage, error) {
	return s.read(s.key("state", rule))
}

// Global returns every key of the partition's global state.
func (s *Store) Global() (map[string]json.RawMessage, error) {
	all, err := s.b.list(bg(), s.prefix+"global.")
	if err != nil {
		return nil, err
	}
	out := make(map[string]json.RawMessage, len(all))
	for _, e := range all {
		out[unescape(strings.TrimPrefix(e.Key(), s.prefix+"global."))] = e.Value()
	}
	return out, nil
}

// Timers returns the partition's pending durable timers.
func (s *Store) Timers() ([]engine.TimerRecord, error) {
	all, err := s.b.list(bg(), s.prefix+"timer.")
	if err != nil {
		return nil, err
	}
	out := make([]engine.TimerRecord, 0, len(all))
	for _, e := range all {
		var t engine.TimerRecord
		if err := json.Unmarshal(e.Value(), &t); err != nil {
			return nil, fmt.Errorf("cluster: timer key %s: %w", e.Key(), err)
		}
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b engine.TimerRecord) int { return cmp.Or(a.Due.Compare(b.Due), cmp.Compare(a.ID, b.ID)) })
	return out, nil
}

// RecordEvent journals ev behind the hot path.
func (s *Store) RecordEvent(ev engine.EventRecord) { s.log.event(s.partition, ev) }

// RecentEvents returns the partition's newest journal entries.
func (s *Store) RecentEvents(limit int) ([]engine.EventRecord, error) {
	return s.log.events([]string{s.partition}, limit)
}

// Runs returns the partition's newest traces, of one rule or all.
func (s *Store) Runs(rule string, limit int) ([]engine.Trace, error) {
	return s.log.traces([]string{s.partition}, rule, limit)
}

// kvKey is the bucket key of a key of the key-value space. An empty
// bucket or key has none: it would make a subject NATS refuses, and a
// write of it would be retried for ever as if NATS were away.
func (s *Store) kvKey(bucket, key string) (string, error) {
	if bucket == "" || key == "" {
		return "", fmt.Errorf("cluster: key-value key %q in bucket %q: bucket and key must not be empty", key, bucket)
	}
	return s.key("kv", bucket, key), nil
}

// Get, Put, Delete and List are the components' key-value space of the
// partition.
func (s *Store) Get(bucket, key string) ([]byte, error) {
	k, err := s.kvKey(bucket, key)
	if err != nil {
		return nil, err
	}
	return s.read(k)
}

// Put writes a key of the key-value space.
func (s *Store) Put(bucket, key string, value []byte) error {
	k, err := s.kvKey(bucket, key)
	if err != nil {
		return err
	}
	return s.commit([]write{{key: k, value: value}})
}

// Delete removes a key of the key-value space.
func (s *Store) Delete(bucket, key string) error {
	k, err := s.kvKey(bucket, key)
	if err != nil {
		return err
	}
	return s.commit([]write{{key: k, del: true}})
}

// List returns the keys of a bucket that start with prefix.
func (s *Store) List(bucket, prefix string) (map[string][]byte, error) {
	base := s.key("kv", bucket) + "."
	all, err := s.b.list(bg(), base)
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	for _, e := range all {
		if k := unescape(strings.TrimPrefix(e.Key(), base)); strings.HasPrefix(k, prefix) {
			out[k] = e.Value()
		}
	}
	return out, nil
}

var _ engine.Store = (*Store)(nil)

// keysOf is maps.Keys sorted, for stable output.
func keysOf[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
