package cluster

import (
	"errors"
	"fmt"
	"time"

	"github.com/alexarules/alexarules/engine"
)

// queueDelay is how long a queued put waits for a write to ride with
// before it is written alone (like engine/store's RecordDelay).
const queueDelay = 100 * time.Millisecond

// queued are the puts QueuePut queued that no batch has taken yet, and the
// batch in flight that carries earlier ones.
type queued struct {
	puts []queuedPut
	// flight is closed when the batch carrying queued puts has its
	// answer: a write started meanwhile waits for it, so that it cannot
	// land before them.
	flight chan struct{}
	timer  *time.Timer // writes the puts alone after the delay; nil: not armed
	delay  time.Duration
}

type queuedPut struct {
	w    write
	then func(error)
}

// QueuePut writes value under key like Put, without waiting
// (engine.PutQueuer): the write goes first in the atomic batch of the
// store's next write (a commit, an accept, a done mark, a completion, a
// put), or alone after queueDelay when none comes, in the order of the
// calls. A write started after QueuePut returns waits while a batch
// carrying the put is in flight, so it never lands before the put. then is
// called once the put is durable, or refused with the batch that carried
// it (ErrFenced), or failed for good (the store's life ended); it must not
// block. When the batch carrying them is refused for a reason of its own
// (its done mark exists, an accept that is not fresh), the puts are
// written alone before that write returns; when it failed while NATS is
// away, they stay queued, ahead of later ones, and are written again.
// A put with an empty bucket or key is refused at once: then gets the
// error.
func (s *Store) QueuePut(bucket, key string, value []byte, then func(error)) {
	k, err := s.kvKey(bucket, key)
	if err != nil {
		then(err)
		return
	}
	s.mu.Lock()
	s.queue.puts = append(s.queue.puts, queuedPut{w: write{key: k, value: value}, then: then})
	s.armQueue()
	s.mu.Unlock()
}

// Flush writes the puts queued so far now, retrying while NATS is away
// and the store's life goes on, and waits for them: a stopping engine's
// last trigger states, the sources' last records.
func (s *Store) Flush() error { return s.write(nil) }

// armQueue starts the queued puts' timer when it is not running; s.mu is
// held.
func (s *Store) armQueue() {
	if s.queue.timer != nil || len(s.queue.puts) == 0 {
		return
	}
	d := s.queue.delay
	if d == 0 {
		d = queueDelay
	}
	var t *time.Timer
	t = time.AfterFunc(d, func() {
		s.mu.Lock()
		if s.queue.timer == t {
			s.queue.timer = nil
		}
		s.mu.Unlock()
		if err := s.Flush(); err != nil {
			s.c.log.Warn("cluster: queued writes not stored", "partition", s.partition, "err", err)
		}
	})
	s.queue.timer = t
}

// stopQueueTimer stops the queued puts' timer: a batch takes them; s.mu
// is held.
func (s *Store) stopQueueTimer() {
	if s.queue.timer != nil {
		s.queue.timer.Stop()
		s.queue.timer = nil
	}
}

// takeQueued waits until no batch carrying queued puts is in flight and
// takes the queued puts, making the caller's batch the one in flight.
func (s *Store) takeQueued() []queuedPut {
	for {
		s.mu.Lock()
		f := s.queue.flight
		if f == nil {
			puts := s.queue.puts
			s.queue.puts = nil
			if len(puts) > 0 {
				s.queue.flight = make(chan struct{})
				s.stopQueueTimer()
			}
			s.mu.Unlock()
			return puts
		}
		s.mu.Unlock()
		<-f
	}
}

// withQueued runs do with ws behind the queued puts, in one batch: they
// share its fate. When the batch fails for a reason that is not theirs,
// they are written alone (its own check refused it, or a retry found its
// done mark after an attempt that may not have reached the server) or
// queued again (NATS is away). Puts too many to share a batch with ws are
// written alone first, in batches the server takes.
func (s *Store) withQueued(ws []write, do func([]write) error) error {
	puts := s.takeQueued()
	if len(puts) == 0 {
		return s.doOwn(ws, do)
	}
	if len(puts)+len(ws) >= maxBatch {
		if err := s.putAlone(puts); err != nil {
			return err
		}
		return s.doOwn(ws, do)
	}
	all := make([]write, 0, len(puts)+len(ws))
	for _, p := range puts {
		all = append(all, p.w)
	}
	err := do(append(all, ws...))
	switch {
	case errors.Is(err, errDoneUnsure):
		// ws counts as done, but the attempt that would have carried
		// the puts may never have reached the server.
		_ = s.putAlone(puts) // their callers have the error
		return nil
	case errors.Is(err, ErrDone) && len(ws) > 0:
		// Refused by ws's own check: nothing was applied, NATS is there.
		_ = s.putAlone(puts)
	case err == nil || errors.Is(err, ErrFenced) || errors.Is(err, ErrBatchLimit) || s.life.Err() != nil:
		s.settle(puts, 0, err)
	default:
		s.requeue(puts)
	}
	return err
}

// doOwn runs do with ws when there is any: a batch that carries no queued
// puts. A retry's done mark found after an unsure attempt counts as done.
func (s *Store) doOwn(ws []write, do func([]write) error) error {
	if len(ws) == 0 {
		return nil
	}
	if err := do(ws); !errors.Is(err, errDoneUnsure) {
		return err
	}
	return nil
}

// putAlone writes the puts of the flight in order, in batches of at most
// maxBatch-1 keys (the fence may add one), retrying like retry, and ends
// the flight: the puts of the batches written are durable, the others
// failed with the first error.
func (s *Store) putAlone(puts []queuedPut) error {
	written := 0
	var err error
	for written < len(puts) && err == nil {
		n := min(len(puts)-written, maxBatch-1)
		ws := make([]write, 0, n)
		for _, p := range puts[written : written+n] {
			ws = append(ws, p.w)
		}
		if err = s.retry(ws); err == nil {
			written += n
		}
	}
	s.settle(puts, written, err)
	return err
}

// settle ends the flight of puts and answers their callers: the first
// written ones are durable, the others have err (when it is nil, all are
// durable).
func (s *Store) settle(puts []queuedPut, written int, err error) {
	s.mu.Lock()
	close(s.queue.flight)
	s.queue.flight = nil
	s.mu.Unlock()
	for i, p := range puts {
		if i >= written && err != nil {
			p.then(fmt.Errorf("cluster: put %s: %w", p.w.key, err))
			continue
		}
		p.then(nil)
	}
}

// requeue puts the puts of a failed batch back ahead of those queued
// since, ends its flight and arms the timer that writes them again.
func (s *Store) requeue(puts []queuedPut) {
	s.mu.Lock()
	s.queue.puts = append(puts, s.queue.puts...)
	close(s.queue.flight)
	s.queue.flight = nil
	s.armQueue()
	s.mu.Unlock()
}

var _ engine.PutQueuer = (*Store)(nil)
