package store

import (
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The writer's side of the interval sync mode (wal.go): one open
// transaction, a record of the log per write, a checkpoint now and then.

// logged applies change to the writer's open transaction and appends what
// it changed to the log. When either fails, the open transaction is
// discarded: it holds part of the failed write, or a write the log lacks.
func (s *Store) logged(change func(wtx) error) error {
	if err := s.begin(); err != nil {
		return err
	}
	s.w.changes = s.w.changes[:0]
	err := change(wtx{tx: s.w.tx, log: &s.w.changes, ov: &s.w.ov})
	if err == nil && len(s.w.changes) > 0 {
		s.txns.Add(1)
		err = s.wal.append(s.w.changes)
	}
	if err != nil {
		s.discard()
		return err
	}
	if len(s.w.changes) > 0 {
		s.dirty.Store(true)
	}
	return nil
}

// begin opens the writer's transaction when none is open, redoing the
// log's records when a failure discarded the last one.
func (s *Store) begin() error {
	if s.w.tx != nil {
		return nil
	}
	tx, err := s.db.Begin(true)
	if err != nil {
		return err
	}
	if s.w.redo {
		records, err := s.wal.records()
		if err == nil {
			_, err = redo(tx, records)
		}
		if err != nil {
			tx.Rollback()
			return err
		}
		s.w.redo = false
	}
	s.w.tx, s.w.began = tx, time.Now()
	s.w.checkpoints.arm(s.opts.CheckpointInterval)
	return nil
}

// discard rolls the open transaction back, and empties the overlay
// that went with it; the next begins with the log.
func (s *Store) discard() {
	s.w.ov.reset()
	if s.w.tx != nil {
		s.w.tx.Rollback()
		s.w.tx = nil
	}
	s.w.redo = true
}

// maybeCheckpoint commits the open transaction once it is due (when, the
// checkpoint wait ended) or the log has grown past CheckpointBytes.
func (s *Store) maybeCheckpoint(due bool) {
	if s.wal == nil || s.w.tx == nil {
		return
	}
	big := s.wal.off >= s.opts.CheckpointBytes && time.Since(s.w.failedAt) >= s.opts.CheckpointInterval
	if !due && time.Since(s.w.began) < s.opts.CheckpointInterval && !big {
		return
	}
	if err := s.checkpoint(); err != nil {
		s.w.failedAt = time.Now()
		s.log.Error("store: checkpoint failed; the write-ahead log keeps the writes", "err", err)
	}
}

// checkpoint commits the open transaction to the database file with the
// LSN of the log's last record, and starts the log again.
func (s *Store) checkpoint() error {
	tx := s.w.tx
	if tx == nil {
		return nil
	}
	s.w.tx = nil
	s.w.checkpoints.stop()
	err := s.w.ov.materialise(tx)
	if err == nil {
		err = setCheckpointedLSN(tx, s.wal.lsn)
	}
	if err == nil {
		err = tx.Commit()
	} else {
		tx.Rollback()
	}
	if err != nil {
		s.w.redo = true
		return fmt.Errorf("checkpoint: %w", err)
	}
	s.wal.off = 0
	s.dirty.Store(false)
	return nil
}

// syncFlushes makes the log durable when ops hold a Flush (interval
// mode; in the always mode every write is).
func (s *Store) syncFlushes(ops []*op) error {
	if s.wal == nil {
		return nil
	}
	for _, o := range ops {
		if o.kind == opFlush {
			return s.wal.sync()
		}
	}
	return nil
}

// closeLog checkpoints for the last time, serves the reads still queued
// and closes the log, empty when the checkpoint succeeded.
func (s *Store) closeLog() {
	if s.wal == nil {
		return
	}
	var err error
	if s.w.tx == nil && s.w.redo {
		// A failed checkpoint left the answered writes in the log only:
		// without the redo the checkpoint below would commit nothing and
		// the log be emptied.
		err = s.begin()
	}
	if err == nil {
		err = s.checkpoint()
	}
	if err != nil {
		s.log.Error("store: last checkpoint failed; the write-ahead log keeps the writes", "err", err)
		s.discard()
	}
	for len(s.reads) > 0 { // no read is queued after closed is set
		s.serve(<-s.reads)
	}
	if s.w.tx != nil { // a read redid the log after the failed checkpoint
		s.discard()
	}
	s.w.closeErr = errors.Join(err, s.wal.close(err == nil))
}

// readOp is a read the writer runs in its open transaction, so it sees
// every write answered before it.
type readOp struct {
	fn   func(*bolt.Tx) error
	done chan error
}

// view runs fn in a read transaction that sees every write answered
// before view was called: bbolt's own when nothing waits for a
// checkpoint, else the writer's open transaction, on the writer's
// goroutine. fn must copy what it keeps.
func (s *Store) view(fn func(*bolt.Tx) error) error {
	if !s.dirty.Load() {
		return s.db.View(fn)
	}
	r := &readOp{fn: fn, done: make(chan error, 1)}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		<-s.done // the last checkpoint ran
		return s.db.View(fn)
	}
	s.reads <- r
	s.mu.RUnlock()
	return <-r.done
}

func (s *Store) serve(r *readOp) {
	if s.w.tx != nil {
		if err := s.w.ov.materialise(s.w.tx); err != nil {
			// The log has every answered write: redo it below.
			s.log.Error("store: entries written behind could not be written; redoing the write-ahead log", "err", err)
			s.discard()
		}
	}
	if s.wal != nil && s.w.tx == nil && s.w.redo {
		// A failed write or checkpoint discarded the open transaction:
		// the answered writes are in the log only.
		if err := s.begin(); err != nil {
			r.done <- err
			return
		}
	}
	if s.w.tx == nil {
		r.done <- s.db.View(r.fn)
		return
	}
	r.done <- r.fn(s.w.tx)
}

// openLog redoes the records of a log that a killed engine left, and
// returns the interval mode's log; the always mode removes the log.
func openLog(db *bolt.DB, path, mode string) (*walLog, error) {
	if mode == SyncAlways && !hasLog(path) {
		return nil, nil
	}
	l, err := recoverLog(db, path)
	if err != nil || mode == SyncInterval {
		return l, err
	}
	return nil, l.remove()
}

// recoverLog redoes the log's records the database lacks in one
// transaction, and returns the log ready for the next record.
func recoverLog(db *bolt.DB, path string) (*walLog, error) {
	l, err := openWAL(path)
	if err != nil {
		return nil, err
	}
	records, err := l.records()
	if err == nil && len(records) == 0 {
		err = db.View(func(tx *bolt.Tx) error {
			l.lsn = checkpointedLSN(tx)
			return nil
		})
	} else if err == nil {
		err = db.Update(func(tx *bolt.Tx) error {
			last, err := redo(tx, records)
			if err == nil {
				l.lsn = last
				err = setCheckpointedLSN(tx, last)
			}
			return err
		})
	}
	if err == nil && len(records) > 0 {
		// Nothing of the old log may follow the new records: a record a
		// power cut damaged ended the redo, and a whole one behind it
		// would otherwise follow the new ones.
		err = errors.Join(l.f.Truncate(0), l.f.Sync())
	}
	if err != nil {
		l.f.Close()
		return nil, fmt.Errorf("recover write-ahead log %s: %w", walPath(path), err)
	}
	return l, nil
}

var errBadSync = errors.New(`store sync mode must be "interval" or "always"`)

// ValidSync reports whether mode is a sync mode Options.Sync takes ("" is
// the default, SyncInterval).
func ValidSync(mode string) bool {
	return mode == "" || mode == SyncInterval || mode == SyncAlways
}
