package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/alexarules/alexarules/engine"
	bolt "go.etcd.io/bbolt"
)

// maxBatchOps bounds the waiting writes one transaction takes, so a flood
// of commits does not grow one transaction (and everyone's wait) without
// limit.
const maxBatchOps = 1024

type opKind uint8

const (
	opCommit opKind = iota
	opPut
	opDelete
	opFlush
	opAccept // inbox; then instead of done
)

// op is one write a caller waits for.
type op struct {
	kind   opKind
	commit *prepared
	bucket string
	key    string
	value  []byte
	inbox  *inboxEntry
	fresh  bool // set by the writer: the accept was new
	done   chan error
	// then, when set, is called with the result instead of sending it
	// on done (an Accept nobody waits for).
	then func(fresh bool, err error)
	// lazy: the op does not make the writer write at once; it rides with
	// the next op that does, or waits like a recorded trace (QueuePut).
	lazy bool
}

// reply answers the op's caller.
func (o *op) reply(err error) {
	if o.then != nil {
		o.then(o.fresh && err == nil, err)
		return
	}
	o.done <- err
}

// inboxEntry is an accepted event, encoded.
type inboxEntry struct {
	id    string
	value []byte // engine.Event JSON
	// journal and journalKey, when set, add the event to the
	// recent-events journal.
	journal, journalKey []byte
	// writes are the source's records of the event (engine.Event.Writes),
	// put in the same transaction.
	writes []engine.Write
}

// prepared is a Commit encoded by the caller's goroutine, so the writer
// only copies bytes into bbolt.
type prepared struct {
	rule         string
	state        json.RawMessage
	trace        encodedTrace
	globalSet    map[string]json.RawMessage
	globalDelete []string
	putTimers    []keyValue
	deleteTimers []string
	accepts      []*inboxEntry
	complete     string // engine.Commit.Complete
}

type encodedTrace struct {
	rule  string
	event string // the trace's event id: its done mark when in the inbox
	key   []byte // traceKey; nil: no trace
	value []byte
}

type keyValue struct{ key, value []byte }

// writerState is owned by the writer goroutine.
type writerState struct {
	// traceCount is the number of stored traces per rule; a missing rule
	// has not been counted since Open. Both are reset when a transaction
	// fails, because the counts it changed were rolled back.
	traceCount map[string]int
	eventCount int // -1: not counted
	// lastEvent is the journal's greatest key when eventCount was
	// counted, or a greater one put since: a newer key is not there yet.
	lastEvent []byte
	// touched lists the rules whose traces the running transaction put,
	// for prune (a rule once per trace); reused by every transaction: a
	// map per transaction cost two allocations per event.
	touched []string
	logged  uint64
	// lastAccept is when the writer last wrote an Accept: commits wait
	// for company (Options.CommitDelay) only while accepts come.
	lastAccept time.Time
	// The interval sync mode's open transaction (logged.go).
	tx          *bolt.Tx
	began       time.Time // when tx began
	redo        bool      // tx must begin with the log's records
	changes     []byte    // the log entries of the write being applied
	checkpoints *wait     // due CheckpointInterval after tx began
	// failedAt is when the last checkpoint failed: the log's size does
	// not call for another before CheckpointInterval has passed, since
	// each failure discards the transaction and the next write redoes
	// the whole log.
	failedAt time.Time
	closeErr error // the last checkpoint's or the log's, for Close
	// ov holds the open transaction's inbox entries and traces written
	// behind (overlay.go).
	ov overlay
	// company decides whether the interval mode's writer yields before it
	// takes its batch (run).
	company yields
}

// batch is what one transaction writes.
type batch struct {
	ops       []*op
	events    []engine.EventRecord
	traces    []engine.Trace
	completes []string // ids of accepted events whose runs all finished
	flush     bool     // recorded items waited long enough, or held ones are in it
	cut       bool     // drain stopped at its limit with work still queued
	// carried counts the Flush ops heldRecords.carry put first in ops:
	// they do not take a queued op's place in the transaction.
	carried int
	// checkpoint: the open transaction has waited CheckpointInterval.
	checkpoint bool
}

func (b *batch) records() int { return len(b.events) + len(b.traces) + len(b.completes) }

// full reports whether b took as many queued ops as one transaction may.
func (b *batch) full() bool { return len(b.ops)-b.carried >= maxBatchOps }

// urgent reports whether one of b's ops makes the writer write at once.
func (b *batch) urgent() bool {
	for _, o := range b.ops {
		if !o.lazy {
			return true
		}
	}
	return false
}

func (b *batch) reset() {
	clear(b.ops)
	clear(b.events)
	clear(b.traces)
	b.ops, b.events, b.traces, b.completes = b.ops[:0], b.events[:0], b.traces[:0], b.completes[:0]
	b.flush, b.cut, b.checkpoint, b.carried = false, false, false, 0
}

// submit hands o to the writer and waits for its transaction.
func (s *Store) submit(o *op) error {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	s.ops <- o
	s.mu.RUnlock()
	return <-o.done
}

// run is the writer: it waits for work, takes everything queued and
// writes it in one transaction. Waiting callers make it write at once
// (in the interval mode a lone one first yields the processor once, so
// writes already on their way share its log record: gather); recorded
// events and traces alone wait up to RecordDelay for company.
func (s *Store) run() {
	defer close(s.done)
	records, commits := newWait(), newWait()
	var b batch
	var held heldRecords
	for open := true; open; {
		if !b.flush && !s.await(&b, records, commits) {
			open = false
		}
		if !s.drain(&b) {
			open = false
		}
		if open && !s.gather(&b) {
			open = false
		}
		if open && !b.flush {
			if !b.urgent() && !b.full() && b.records() < s.opts.QueueSize/2 {
				records.arm(s.opts.RecordDelay)
				continue
			}
			if s.commitsMayWait(&b) {
				commits.arm(s.opts.CommitDelay)
				continue
			}
		}
		records.stop()
		commits.stop()
		held.hold(&b, open)
		s.write(&b)
		s.maybeCheckpoint(b.checkpoint)
		b.reset()
		// What a full batch held goes in the next transaction, whether or
		// not anything else arrives.
		b.flush = held.carry(&b)
	}
	s.closeLog()
}

// await blocks until the writer has something to do: an op, a recorded
// item, or a timer's end (which sets b.flush). Like drain, it reports
// false once the ops channel is closed.
func (s *Store) await(b *batch, records, commits *wait) (open bool) {
	select {
	case o, ok := <-s.ops:
		if !ok {
			return false
		}
		b.ops = append(b.ops, o)
	case ev := <-s.events:
		b.events = append(b.events, ev)
	case t := <-s.traces:
		b.traces = append(b.traces, t)
	case id := <-s.completes:
		b.completes = append(b.completes, id)
	case <-records.due():
		records.armed, b.flush = false, true
	case <-commits.due():
		commits.armed, b.flush = false, true
	case <-s.w.checkpoints.due():
		s.w.checkpoints.armed, b.flush, b.checkpoint = false, true, true
	case r := <-s.reads:
		s.serve(r)
	}
	return true
}

// heldRecords are the traces and completes a full batch took: an op
// queued before one of them (a QueuePut of a trigger's state) may still
// wait in the ops queue, and a run's done mark or its event's completion
// must not land before the writes queued ahead of it. The ops queue holds
// at most maxBatchOps, so the next transaction takes every op that was
// queued when they were taken, and writes them with it. A Flush the full
// batch took is held with them: it promised the records recorded before
// it. The same holds for a batch whose drain stopped at its limit.
type heldRecords struct {
	traces    []engine.Trace
	completes []string
	flushes   []*op
	// nt, nc and nf are how many of b's traces, completes and ops carry
	// put there.
	nt, nc, nf int
}

// hold takes from b what it took after those carry put there, when b
// took as many ops as one transaction may (maxBatchOps) or its drain was
// cut short, and the store is open; what carry put there is written now.
func (h *heldRecords) hold(b *batch, open bool) {
	clear(h.traces)
	clear(h.flushes)
	h.traces, h.completes, h.flushes = h.traces[:0], h.completes[:0], h.flushes[:0]
	if !open || (!b.full() && !b.cut) {
		return
	}
	h.traces = append(h.traces, b.traces[h.nt:]...)
	h.completes = append(h.completes, b.completes[h.nc:]...)
	clear(b.traces[h.nt:])
	b.traces, b.completes = b.traces[:h.nt], b.completes[:h.nc]
	kept := b.ops[:h.nf]
	for _, o := range b.ops[h.nf:] {
		if o.kind == opFlush {
			h.flushes = append(h.flushes, o)
		} else {
			kept = append(kept, o)
		}
	}
	clear(b.ops[len(kept):])
	b.ops = kept
}

// carry puts what hold took into the next batch b, and reports whether
// there was any: it must then be written without waiting for more.
func (h *heldRecords) carry(b *batch) bool {
	b.traces = append(b.traces, h.traces...)
	b.completes = append(b.completes, h.completes...)
	b.ops = append(b.ops, h.flushes...)
	h.nt, h.nc, h.nf = len(h.traces), len(h.completes), len(h.flushes)
	b.carried = h.nf
	return h.nt+h.nc+h.nf > 0
}

// commitsMayWait reports whether b's waiting writes are all commits that
// may wait for an accept to share their transaction (Options.CommitDelay).
func (s *Store) commitsMayWait(b *batch) bool {
	if s.wal != nil || s.opts.CommitDelay < 0 || b.full() || time.Since(s.w.lastAccept) >= s.opts.CommitDelay {
		return false
	}
	for _, o := range b.ops {
		if !o.lazy && (o.kind != opCommit || len(o.commit.accepts) > 0) {
			return false
		}
	}
	return true
}

// wait is one of the writer's deadlines for writing what waits.
type wait struct {
	timer *time.Timer
	armed bool
}

func newWait() *wait {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &wait{timer: t}
}

// arm starts the wait unless it runs already.
func (w *wait) arm(d time.Duration) {
	if !w.armed {
		w.timer.Reset(d)
		w.armed = true
	}
}

func (w *wait) stop() {
	if w.armed {
		w.timer.Stop()
		w.armed = false
	}
}

// due is the wait's channel, nil (never ready) when it is not armed.
func (w *wait) due() <-chan time.Time {
	if w.armed {
		return w.timer.C
	}
	return nil
}

// drain takes whatever else is queued without waiting. It reports false
// once the ops channel is closed (the store is closing); it then keeps
// draining the recorded items so Close writes them.
func (s *Store) drain(b *batch) (open bool) {
	ops, open := s.takeOps(b)
	// Producers may refill the queues as fast as they empty; stop after
	// what two full queues hold.
	for range 2*s.opts.QueueSize + maxBatchOps {
		if b.full() {
			ops = nil
		}
		select {
		case o, ok := <-ops:
			if !ok {
				open, ops = false, nil
				continue
			}
			b.ops = append(b.ops, o)
		case ev := <-s.events:
			b.events = append(b.events, ev)
		case t := <-s.traces:
			b.traces = append(b.traces, t)
		case id := <-s.completes:
			b.completes = append(b.completes, id)
		case r := <-s.reads:
			s.serve(r)
		default:
			return open
		}
	}
	b.cut = true
	return open
}

// takeOps takes the queued ops first, without waiting, until b is full:
// every op queued ahead of the records a full batch held (heldRecords) is
// then in b, even when the recorded items' queues keep drain's loop from
// reaching them before its limit. It returns the ops channel for drain
// (nil once closed) and whether it is open.
func (s *Store) takeOps(b *batch) (chan *op, bool) {
	for !b.full() {
		select {
		case o, ok := <-s.ops:
			if !ok {
				return nil, false
			}
			b.ops = append(b.ops, o)
		default:
			return s.ops, true
		}
	}
	return s.ops, true
}

// write commits one batch and answers its callers. When the shared
// transaction fails, each op is retried alone so one bad write does not
// fail the others.
func (s *Store) write(b *batch) {
	for _, o := range b.ops {
		if o.kind == opAccept {
			s.w.lastAccept = time.Now()
			break
		}
	}
	events, traces := s.encodeRecords(b)
	work := len(events) + len(traces) + len(b.completes)
	for _, o := range b.ops {
		if o.kind != opFlush {
			work++
		}
	}
	if work == 0 {
		s.answer(b.ops, s.syncFlushes(b.ops))
		s.logDrops()
		return
	}
	// Recorded traces go first: one recorded before a Complete of its
	// event then writes its done mark before the event leaves the inbox.
	err := s.update(func(tx wtx) error {
		if err := s.applyRecords(tx, events, traces, b.completes); err != nil {
			return err
		}
		for _, o := range b.ops {
			if err := s.apply(tx, o); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		s.answer(b.ops, s.syncFlushes(b.ops))
		s.logDrops()
		return
	}
	if len(b.ops) == 1 && work == 1 {
		s.answer(b.ops, err)
		return
	}
	s.log.Warn("store: group write failed, retrying each write alone", "err", err)
	var flushes []*op
	for _, o := range b.ops {
		if o.kind == opFlush {
			flushes = append(flushes, o)
			continue
		}
		o.reply(s.update(func(tx wtx) error {
			return s.apply(tx, o)
		}))
	}
	var recordErr error
	if len(events)+len(traces)+len(b.completes) > 0 {
		recordErr = s.update(func(tx wtx) error {
			return s.applyRecords(tx, events, traces, b.completes)
		})
		if recordErr != nil {
			s.dropped.Add(uint64(len(events) + len(traces)))
			s.log.Error("store: recorded events and traces lost", "err", recordErr, "events", len(events), "traces", len(traces))
		}
	}
	// A flush promised the recorded items: it answers after them.
	if recordErr == nil {
		recordErr = s.syncFlushes(flushes)
	}
	s.answer(flushes, recordErr)
	s.logDrops()
}

// update runs one write transaction of fn and the pruning of what it
// touched, forgetting the cached counts when it fails.
func (s *Store) update(fn func(tx wtx) error) error {
	change := func(tx wtx) error {
		clear(s.w.touched)
		s.w.touched = s.w.touched[:0]
		if err := fn(tx); err != nil {
			return err
		}
		return s.prune(tx)
	}
	var err error
	if s.wal != nil {
		err = s.logged(change)
	} else {
		s.txns.Add(1)
		err = s.db.Update(func(tx *bolt.Tx) error { return change(wtx{tx: tx}) })
	}
	if err != nil {
		s.forgetCounts()
	}
	return err
}

func (s *Store) answer(ops []*op, err error) {
	for _, o := range ops {
		o.reply(err)
	}
}

func (s *Store) forgetCounts() {
	clear(s.w.traceCount)
	s.w.eventCount = -1
}

// logDrops reports new drops once per write rather than once per drop,
// which would flood the log exactly when the system is overloaded.
func (s *Store) logDrops() {
	if n := s.dropped.Load(); n != s.w.logged {
		s.log.Warn("store: recorded events or traces dropped", "dropped", n-s.w.logged, "total", n)
		s.w.logged = n
	}
}

// encodeRecords encodes recorded events and traces outside the
// transaction; what cannot be encoded is dropped and counted.
func (s *Store) encodeRecords(b *batch) ([]keyValue, []encodedTrace) {
	events := make([]keyValue, 0, len(b.events))
	for _, ev := range b.events {
		v, err := json.Marshal(ev)
		if err != nil {
			s.dropped.Add(1)
			s.log.Warn("store: event not journaled", "event", ev.ID, "kind", ev.Kind, "err", err)
			continue
		}
		events = append(events, keyValue{key: timeKey(ev.Time, ev.ID), value: v})
	}
	traces := make([]encodedTrace, 0, len(b.traces))
	for _, t := range b.traces {
		et, err := encodeTrace(t, "")
		if err != nil {
			s.dropped.Add(1)
			s.log.Warn("store: trace not recorded", "rule", t.Rule, "err", err)
			continue
		}
		traces = append(traces, et)
	}
	return events, traces
}

// apply writes one op into tx.
func (s *Store) apply(tx wtx, o *op) error {
	switch o.kind {
	case opCommit:
		return s.applyCommit(tx, o.commit)
	case opPut:
		return putKV(tx, o.bucket, o.key, o.value)
	case opDelete:
		b, err := tx.component(o.bucket, false)
		if err != nil || b.Bucket == nil {
			return err
		}
		return b.Delete([]byte(o.key))
	case opAccept:
		fresh, err := s.applyAccept(tx, o.inbox)
		o.fresh = fresh
		return err
	}
	return nil
}

// applyAccept puts an event into the inbox unless its id is there; it
// reports whether it did.
func (s *Store) applyAccept(tx wtx, in *inboxEntry) (bool, error) {
	for _, w := range in.writes {
		if err := putKV(tx, w.Bucket, w.Key, w.Value); err != nil {
			return false, fmt.Errorf("record of event %s: %w", in.id, err)
		}
	}
	ids := tx.bucket(bucketIDs)
	if tx.ov.holds(in.id) || ids.Get([]byte(in.id)) != nil {
		return false, nil
	}
	if err := putInbox(tx, ids, in); err != nil {
		return false, fmt.Errorf("inbox: %w", err)
	}
	if in.journal != nil {
		if err := s.putJournal(tx, []keyValue{{key: in.journalKey, value: in.journal}}); err != nil {
			return false, err
		}
	}
	return true, nil
}

// putInbox puts a new event into the inbox under the bucket's next
// sequence, and its id beside it; the overlay takes them when there is one.
func putInbox(tx wtx, ids wbucket, in *inboxEntry) error {
	if tx.ov != nil {
		return tx.ov.accept(tx, in.id, in.value)
	}
	inbox := tx.bucket(bucketInbox)
	seq, err := inbox.NextSequence()
	if err != nil {
		return err
	}
	key := inboxKey(seq, in.id)
	if err := inbox.Put(key, in.value); err != nil {
		return err
	}
	return ids.Put([]byte(in.id), key)
}

// applyComplete removes an event, its id and its done marks.
func applyComplete(tx wtx, id string) error {
	if tx.ov.complete(tx, id) {
		return nil
	}
	ids := tx.bucket(bucketIDs)
	key := ids.Get([]byte(id))
	if key == nil {
		return nil
	}
	if err := tx.bucket(bucketInbox).Delete(bytes.Clone(key)); err != nil {
		return fmt.Errorf("complete %s: %w", id, err)
	}
	if err := ids.Delete([]byte(id)); err != nil {
		return fmt.Errorf("complete %s: %w", id, err)
	}
	done := tx.bucket(bucketDone)
	for _, k := range firstKeys(done.Bucket, donePrefix(id), -1) {
		if err := done.Delete(k); err != nil {
			return fmt.Errorf("complete %s: %w", id, err)
		}
	}
	return nil
}

func donePrefix(id string) []byte { return append([]byte(id), 0) }

// doneKey is the done mark of rule's run of event id: done/<id> 0x00 <rule>.
func doneKey(id, rule string) []byte { return append(donePrefix(id), rule...) }

func (s *Store) applyCommit(tx wtx, c *prepared) error {
	if c.trace.key != nil {
		if err := s.putTrace(tx, c.trace); err != nil {
			return fmt.Errorf("trace: %w", err)
		}
	}
	if c.state != nil {
		if err := tx.bucket(bucketState).Put([]byte(c.rule), tx.own(c.state)); err != nil {
			return fmt.Errorf("state: %w", err)
		}
	}
	global := tx.bucket(bucketGlobal)
	for _, k := range c.globalDelete {
		if err := global.Delete([]byte(k)); err != nil {
			return fmt.Errorf("global %q: %w", k, err)
		}
	}
	for k, v := range c.globalSet {
		if err := global.Put([]byte(k), tx.own(v)); err != nil {
			return fmt.Errorf("global %q: %w", k, err)
		}
	}
	timers := tx.bucket(bucketTimers)
	for _, id := range c.deleteTimers {
		if err := timers.Delete([]byte(id)); err != nil {
			return fmt.Errorf("timer %s: %w", id, err)
		}
	}
	for _, t := range c.putTimers {
		if err := timers.Put(t.key, t.value); err != nil {
			return fmt.Errorf("timer %s: %w", t.key, err)
		}
	}
	for _, in := range c.accepts {
		if _, err := s.applyAccept(tx, in); err != nil {
			return fmt.Errorf("event %s: %w", in.id, err)
		}
	}
	if c.complete != "" {
		return applyComplete(tx, c.complete)
	}
	return nil
}

// applyRecords writes recorded traces, then completions (so a trace
// recorded before its event's completion still writes its done mark), then
// journal entries.
func (s *Store) applyRecords(tx wtx, events []keyValue, traces []encodedTrace, completes []string) error {
	var completing map[string]bool
	if len(completes) > 0 && len(traces) > 0 {
		completing = make(map[string]bool, len(completes))
		for _, id := range completes {
			completing[id] = true
		}
	}
	for _, t := range traces {
		if completing[t.event] {
			// Its event leaves the inbox in this transaction: a done mark
			// would be deleted before anyone could read it.
			t.event = ""
		}
		if err := s.putTrace(tx, t); err != nil {
			return fmt.Errorf("record trace of %s: %w", t.rule, err)
		}
	}
	for _, id := range completes {
		if err := applyComplete(tx, id); err != nil {
			return err
		}
	}
	return s.putJournal(tx, events)
}

// putJournal adds events to the recent-events journal and prunes it to
// Options.JournalSize once it exceeds that by a slack (as traces are
// pruned): deleting the oldest entry of every transaction rewrote the
// journal's first pages in each one. RecentEvents lists JournalSize at most.
func (s *Store) putJournal(tx wtx, events []keyValue) error {
	if len(events) == 0 {
		return nil
	}
	journal := tx.bucket(bucketEvents)
	if s.w.eventCount < 0 {
		s.w.eventCount = countPrefix(journal.Bucket, nil)
		k, _ := journal.Cursor().Last()
		s.w.lastEvent = bytes.Clone(k)
	}
	for _, ev := range events {
		if bytes.Compare(ev.key, s.w.lastEvent) > 0 {
			s.w.eventCount++
			s.w.lastEvent = ev.key
		} else if journal.Get(ev.key) == nil {
			s.w.eventCount++
		}
		if err := journal.Put(ev.key, ev.value); err != nil {
			return fmt.Errorf("journal event: %w", err)
		}
	}
	if excess := s.w.eventCount - s.opts.JournalSize; excess > s.opts.JournalSize/10 {
		for _, k := range firstKeys(journal.Bucket, nil, excess) {
			if err := journal.Delete(k); err != nil {
				return fmt.Errorf("prune journal: %w", err)
			}
		}
		s.w.eventCount -= excess
	}
	return nil
}

// putTrace stores a trace under its rule and in the all-rules index, and
// keeps the rule's trace count.
func (s *Store) putTrace(tx wtx, t encodedTrace) error {
	traces := tx.bucket(bucketTraces)
	n, ok := s.w.traceCount[t.rule]
	if !ok {
		n = countPrefix(traces.Bucket, rulePrefix(t.rule))
	}
	fresh, err := storeTrace(tx, traces, t)
	if err != nil {
		return err
	}
	if fresh {
		n++
	}
	s.w.traceCount[t.rule] = n
	s.w.touched = append(s.w.touched, t.rule)
	if t.event == "" {
		return nil
	}
	if held, err := tx.ov.mark(tx, t.event, t.rule); held || err != nil {
		return err
	}
	if tx.bucket(bucketIDs).Get([]byte(t.event)) != nil {
		return tx.bucket(bucketDone).Put(doneKey(t.event, t.rule), nil)
	}
	return nil
}

// storeTrace puts a trace and its all-rules index entry, in the overlay
// when there is one, and reports whether its key is new.
func storeTrace(tx wtx, traces wbucket, t encodedTrace) (fresh bool, err error) {
	if tx.ov != nil {
		if fresh, held, err := tx.ov.putTrace(tx, traces.Bucket, t); held || err != nil {
			return fresh, err
		}
	}
	fresh = traces.Get(t.key) == nil
	if err := traces.Put(t.key, t.value); err != nil {
		return false, err
	}
	return fresh, tx.bucket(bucketRuns).Put(t.key[len(t.rule)+1:], []byte(t.rule))
}

// prune cuts the rules touched in this transaction back to TraceRetention
// once they exceed it by a slack, so pruning costs one cursor walk every
// slack commits instead of a delete on every commit.
func (s *Store) prune(tx wtx) error {
	keep := s.opts.TraceRetention
	slack := keep/10 + 1
	for _, rule := range s.w.touched { // a rule may be listed more than once
		n := s.w.traceCount[rule]
		if n <= keep+slack {
			continue
		}
		if err := pruneOldest(tx, rule, n-keep); err != nil {
			return fmt.Errorf("prune traces of %s: %w", rule, err)
		}
		s.w.traceCount[rule] = keep
	}
	return nil
}

// pruneOldest deletes rule's n oldest traces and their index entries,
// whether bbolt or the overlay holds them.
func pruneOldest(tx wtx, rule string, n int) error {
	prefix := rulePrefix(rule)
	traces, runs := tx.bucket(bucketTraces), tx.bucket(bucketRuns)
	stored := firstKeys(traces.Bucket, prefix, n)
	held := tx.ov.heldTraces(rule)
	// The n oldest of both, each list being in key order.
	i, j := 0, 0
	for i+j < n && (i < len(stored) || j < len(held)) {
		if j < len(held) && (i == len(stored) || bytes.Compare(held[j].key, stored[i]) < 0) {
			j++
		} else {
			i++
		}
	}
	for _, k := range stored[:i] {
		if err := traces.Delete(k); err != nil {
			return err
		}
		if err := runs.Delete(k[len(prefix):]); err != nil {
			return err
		}
	}
	tx.ov.dropTraces(tx, rule, j)
	return nil
}

// firstKeys returns copies of the first n keys (all when n < 0) of b that
// start with prefix. Callers delete after collecting because deleting under a moving
// cursor can skip keys.
func firstKeys(b *bolt.Bucket, prefix []byte, n int) [][]byte {
	keys := make([][]byte, 0, max(n, 0))
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && (n < 0 || len(keys) < n); k, _ = c.Next() {
		keys = append(keys, bytes.Clone(k))
	}
	return keys
}

func countPrefix(b *bolt.Bucket, prefix []byte) int {
	n := 0
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		n++
	}
	return n
}

// putKV writes one key of a component bucket (Put), creating the bucket on
// first use.
func putKV(tx wtx, bucket, key string, value []byte) error {
	b, err := tx.component(bucket, true)
	if err != nil {
		return err
	}
	return b.Put([]byte(key), tx.own(value))
}
