package store

// The write-ahead log of the interval sync mode (Options.Sync).
//
// In that mode the writer keeps one bbolt write transaction open and
// applies every batch to it; the changes a batch made (each put, delete and
// bucket sequence, as raw keys and values) are appended to the log file
// beside the database in one write before the batch's callers are
// answered. The operating system holds that write from then on, so the
// answered writes survive the engine being killed (kill -9) or crashing;
// the log is made durable on disk (fsync) within Options.SyncInterval, and
// the open transaction is committed to bbolt (a checkpoint, with bbolt's
// own two syncs) every Options.CheckpointInterval or when the log passes
// Options.CheckpointBytes. Open redoes the records the database lacks.
//
// A record is
//
//	u32 length of the changes (big-endian)
//	u32 CRC-32C of the next 8 bytes and the changes
//	u64 log sequence number (LSN)
//	the changes: entries of
//	    kind byte (put, delete, sequence)
//	    uvarint-prefixed top-level bucket name, component bucket name
//	    (empty: none), key, value
//
// A checkpoint stores the last LSN it holds under meta/wal_lsn and starts
// the log again at offset 0 without truncating it: records are read from
// the start while each is whole, its CRC matches and its LSN follows the
// previous one, so what is left of older records behind the new ones (all
// of lower LSNs) ends the log, and so does a record torn by a power cut.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

const (
	walHeader = 16

	walPut byte = iota + 1
	walDelete
	walSequence
)

var (
	keyWALLSN = []byte("wal_lsn")
	crcTable  = crc32.MakeTable(crc32.Castagnoli)
)

// walPath is the log file of the database at path.
func walPath(path string) string { return path + ".wal" }

// hasLog reports whether the database at path has a log with records.
func hasLog(path string) bool {
	fi, err := os.Stat(walPath(path))
	return err == nil && fi.Size() > 0
}

// errForeignLog is a log whose records do not follow the database's.
var errForeignLog = errors.New("the write-ahead log does not follow this database; move it away to open the database without it")

// walLog is the open log file. off and lsn belong to the writer
// goroutine; the syncer only calls sync.
type walLog struct {
	f   *os.File
	off int64  // where the next record goes
	lsn uint64 // of the last record written or checkpointed
	buf []byte

	wrote   chan struct{} // wakes the syncer: something was written
	stopped chan struct{} // closed when the syncer has exited
	syncMu  sync.Mutex    // one fsync at a time
}

func openWAL(path string) (*walLog, error) {
	f, err := os.OpenFile(walPath(path), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open write-ahead log: %w", err)
	}
	return &walLog{f: f, wrote: make(chan struct{}, 1), stopped: make(chan struct{})}, nil
}

// append writes one record of changes at the log's end.
func (l *walLog) append(changes []byte) error {
	l.buf = binary.BigEndian.AppendUint32(l.buf[:0], uint32(len(changes)))
	l.buf = binary.BigEndian.AppendUint32(l.buf, 0)
	l.buf = binary.BigEndian.AppendUint64(l.buf, l.lsn+1)
	l.buf = append(l.buf, changes...)
	binary.BigEndian.PutUint32(l.buf[4:], crc32.Checksum(l.buf[8:], crcTable))
	if _, err := l.f.WriteAt(l.buf, l.off); err != nil {
		return fmt.Errorf("write-ahead log: %w", err)
	}
	l.off += int64(len(l.buf))
	l.lsn++
	select {
	case l.wrote <- struct{}{}:
	default:
	}
	return nil
}

// sync makes what was written durable.
func (l *walLog) sync() error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("sync write-ahead log: %w", err)
	}
	return nil
}

// syncLoop fsyncs the log at most every interval while records are
// written, until wrote is closed.
func (l *walLog) syncLoop(interval time.Duration, failed func(error)) {
	defer close(l.stopped)
	t := time.NewTimer(interval)
	t.Stop()
	for range l.wrote {
		t.Reset(interval)
		<-t.C
		if err := l.sync(); err != nil {
			failed(err)
		}
	}
}

// close stops the syncer and closes the file; empty truncates it first
// (everything is in the database).
func (l *walLog) close(empty bool) error {
	close(l.wrote)
	<-l.stopped
	var err error
	if empty {
		err = l.f.Truncate(0)
	}
	return errors.Join(err, l.f.Close())
}

// remove closes and deletes the log file of the always mode, whose
// records recoverLog has redone; the syncer never ran.
func (l *walLog) remove() error {
	err := l.f.Close()
	return errors.Join(err, os.Remove(l.f.Name()))
}

// finishLog redoes the records of the log of the database at path, when
// there is one with records, so that a read-only open sees them: it opens
// the database for writing, which fails with ErrInUse while an engine
// runs.
func finishLog(path string) error {
	if !hasLog(path) {
		return nil
	}
	if _, err := os.Stat(path); err != nil {
		return nil // no database: the read-only open says so
	}
	s, err := Open(path, Options{Sync: SyncAlways})
	if err != nil {
		return err
	}
	return s.Close()
}

// records reads the log's whole records from its start.
func (l *walLog) records() ([]walRecord, error) {
	data, err := io.ReadAll(io.NewSectionReader(l.f, 0, 1<<62))
	if err != nil {
		return nil, fmt.Errorf("read write-ahead log: %w", err)
	}
	return parseWAL(data), nil
}

type walRecord struct {
	lsn     uint64
	changes []byte
}

// parseWAL returns the records from data's start while they are whole,
// their CRCs match and their LSNs follow one another.
func parseWAL(data []byte) []walRecord {
	var out []walRecord
	for len(data) >= walHeader {
		n := binary.BigEndian.Uint32(data)
		if uint64(n) > uint64(len(data)-walHeader) {
			break
		}
		body := data[8 : walHeader+int(n)]
		if crc32.Checksum(body, crcTable) != binary.BigEndian.Uint32(data[4:]) {
			break
		}
		lsn := binary.BigEndian.Uint64(body)
		if len(out) > 0 && lsn != out[len(out)-1].lsn+1 {
			break
		}
		out = append(out, walRecord{lsn: lsn, changes: body[8:]})
		data = data[walHeader+int(n):]
	}
	return out
}

// checkpointedLSN is the LSN of the last record the database holds.
func checkpointedLSN(tx *bolt.Tx) uint64 {
	if v := tx.Bucket(bucketMeta).Get(keyWALLSN); len(v) == 8 {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

func setCheckpointedLSN(tx *bolt.Tx, lsn uint64) error {
	return tx.Bucket(bucketMeta).Put(keyWALLSN, binary.BigEndian.AppendUint64(nil, lsn))
}

// redo applies to tx the records after the database's checkpointed LSN
// and returns the last LSN applied (the checkpointed one when none).
func redo(tx *bolt.Tx, records []walRecord) (uint64, error) {
	last := checkpointedLSN(tx)
	for _, r := range records {
		if r.lsn <= last {
			continue
		}
		if r.lsn != last+1 {
			// Records missing between the checkpoint and the log: the
			// log is another copy's (a database deleted or restored).
			return 0, fmt.Errorf("%w: it starts at record %d, the database's last checkpoint holds record %d", errForeignLog, r.lsn, last)
		}
		if err := applyChanges(tx, r.changes); err != nil {
			return 0, fmt.Errorf("write-ahead log record %d: %w", r.lsn, err)
		}
		last = r.lsn
	}
	return last, nil
}

// applyChanges redoes one record's changes.
func applyChanges(tx *bolt.Tx, changes []byte) error {
	for len(changes) > 0 {
		kind := changes[0]
		var fields [4][]byte
		rest := changes[1:]
		for i := range fields {
			n, w := binary.Uvarint(rest)
			if w <= 0 || uint64(len(rest)-w) < n {
				return errors.New("malformed change")
			}
			fields[i], rest = rest[w:w+int(n)], rest[w+int(n):]
		}
		changes = rest
		if err := applyChange(tx, kind, fields[0], fields[1], fields[2], fields[3]); err != nil {
			return err
		}
	}
	return nil
}

func applyChange(tx *bolt.Tx, kind byte, top, sub, key, value []byte) error {
	b := tx.Bucket(top)
	if b == nil {
		return fmt.Errorf("no bucket %q", top)
	}
	if len(sub) > 0 {
		var err error
		if b, err = b.CreateBucketIfNotExists(sub); err != nil {
			return fmt.Errorf("bucket %q/%q: %w", top, sub, err)
		}
	}
	switch kind {
	case walPut:
		return b.Put(bytes.Clone(key), bytes.Clone(value))
	case walDelete:
		return b.Delete(key)
	case walSequence:
		if len(value) != 8 {
			return errors.New("malformed sequence")
		}
		return b.SetSequence(binary.BigEndian.Uint64(value))
	}
	return fmt.Errorf("unknown change kind %d", kind)
}

// wtx is the writer's view of a write transaction: every change made
// through it is also appended to log, when log is set, as the
// write-ahead log's entries. ov, when set (the interval mode), holds the
// inbox entries and traces written behind (overlay.go).
type wtx struct {
	tx  *bolt.Tx
	log *[]byte
	ov  *overlay
}

// logChange appends one change of the top-level bucket top to the log,
// when there is one, without making it.
func (t wtx) logChange(kind byte, top, key, value []byte) {
	appendChange(t.log, kind, top, nil, key, value)
}

// wbucket is a bucket of a wtx.
type wbucket struct {
	*bolt.Bucket
	top, sub []byte
	log      *[]byte
}

// own returns value as the transaction may keep it: in the interval mode
// bbolt holds it until the checkpoint, long after the write was
// answered and its caller free to reuse the slice, so it gets a copy.
func (t wtx) own(value []byte) []byte {
	if t.log == nil {
		return value
	}
	return bytes.Clone(value)
}

// bucket is the top-level bucket name.
func (t wtx) bucket(name []byte) wbucket {
	return wbucket{Bucket: t.tx.Bucket(name), top: name, log: t.log}
}

// component is the component bucket name (kv/<name>), created when
// create is set; its Bucket is nil when it does not exist.
func (t wtx) component(name string, create bool) (wbucket, error) {
	kv := t.tx.Bucket(bucketKV)
	b := wbucket{Bucket: kv.Bucket([]byte(name)), top: bucketKV, sub: []byte(name), log: t.log}
	if b.Bucket == nil && create {
		var err error
		if b.Bucket, err = kv.CreateBucket([]byte(name)); err != nil {
			return b, err
		}
	}
	return b, nil
}

func (b wbucket) Put(key, value []byte) error {
	if err := b.Bucket.Put(key, value); err != nil {
		return err
	}
	b.logChange(walPut, key, value)
	return nil
}

func (b wbucket) Delete(key []byte) error {
	if err := b.Bucket.Delete(key); err != nil {
		return err
	}
	b.logChange(walDelete, key, nil)
	return nil
}

func (b wbucket) NextSequence() (uint64, error) {
	seq, err := b.Bucket.NextSequence()
	if err == nil {
		b.logChange(walSequence, nil, binary.BigEndian.AppendUint64(nil, seq))
	}
	return seq, err
}

func (b wbucket) logChange(kind byte, key, value []byte) {
	appendChange(b.log, kind, b.top, b.sub, key, value)
}

// appendChange appends one log entry to *log, when log is set.
func appendChange(log *[]byte, kind byte, top, sub, key, value []byte) {
	if log == nil {
		return
	}
	l := append(*log, kind)
	for _, f := range [][]byte{top, sub, key, value} {
		l = binary.AppendUvarint(l, uint64(len(f)))
		l = append(l, f...)
	}
	*log = l
}
