// Package store is the one bbolt database of alexarules. It implements
// engine.Store: run commits (trace, rule state, global keys and durable
// timers in one transaction), the recent-events journal and a small
// key-value space per component.
//
// Every write goes through one writer goroutine that takes whatever is
// queued as one batch. In the always sync mode it commits the batch in one
// bbolt transaction, so N concurrent commits share one round of fsyncs and
// a lone commit pays one transaction without waiting for a timer (bbolt's
// default Batch would add 10 ms to it). In the interval mode (the
// default) it applies the batch to a transaction it keeps open and
// appends what the batch changed to a write-ahead log before answering;
// the log is fsynced every SyncInterval and the transaction committed
// every CheckpointInterval (wal.go, logged.go). Since a caller's send
// runs the writer next on the caller's processor, a busy engine would hand
// it one write at a time; it yields once before writing a lone write, so
// one log record carries the writes of every caller ready to run
// (yield.go). Inbox entries and traces that come and go between two
// checkpoints stay in the writer's memory and never reach bbolt; what is
// left of them is written into the transaction before a read or the
// checkpoint (overlay.go).
//
// On-disk layout, schema version 2 (keys sort bytewise; a time key is the
// Unix nanoseconds as 8 big-endian bytes with the sign bit flipped, so
// earlier times sort first):
//
//	meta/schema_version           8-byte big-endian uint64
//	state/<rule>                  rule state JSON
//	global/<key>                  one top-level key of the global state, JSON
//	timers/<id>                   engine.TimerRecord JSON
//	traces/<rule> 0x00 <time><id> engine.Trace JSON, time = trace start
//	runs/<time><id>               rule name: the all-rules index of traces
//	                              (run ids are unique across rules)
//	events/<time><id>             engine.EventRecord JSON
//	inbox/<seq><id>               engine.Event JSON of an accepted event not
//	                              yet completed; seq is the bucket's 8-byte
//	                              big-endian sequence, so keys sort in
//	                              acceptance order
//	inbox_ids/<id>                the event's inbox key
//	done/<id> 0x00 <rule>         empty: the rule's run of the event finished
//	kv/<bucket>/<key>             raw bytes of Get/Put/Delete/List
//	meta/wal_lsn                  8-byte LSN of the last log record the
//	                              file holds (interval mode)
//
// Version 2 added inbox, inbox_ids and done; a version 1 file gains them
// (empty) when it is opened.
package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alexarules/alexarules/engine"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// SchemaVersion is the layout version this package reads and writes.
const SchemaVersion = 2

// Defaults for zero Options fields.
const (
	DefaultTraceRetention = 200
	DefaultJournalSize    = 10_000
	DefaultQueueSize      = 4096
	DefaultRecordDelay    = 100 * time.Millisecond
	DefaultCommitDelay    = time.Millisecond
	DefaultSyncInterval   = 100 * time.Millisecond
	DefaultCheckpoint     = time.Second
	DefaultCheckpointSize = 2 << 20
)

// Sync modes (Options.Sync).
const (
	// SyncInterval answers a write once the write-ahead log's write has
	// returned (the operating system holds it: it survives the engine's
	// crash or kill -9) and fsyncs the log every Options.SyncInterval: a
	// power cut loses at most that much.
	SyncInterval = "interval"
	// SyncAlways answers a write once bbolt has committed it with its
	// fsyncs: it survives a power cut too.
	SyncAlways = "always"
)

// Sentinel errors; Open and the methods wrap them with the path or the
// operation, so match them with errors.Is.
var (
	// ErrInUse means another process (or another Store in this one) holds
	// the database file.
	ErrInUse = errors.New("database in use")
	// ErrNewerSchema means the file was written by a newer alexarules.
	ErrNewerSchema = errors.New("database schema is newer than this program")
	// ErrClosed is returned by writes after Close.
	ErrClosed = errors.New("store closed")
)

var (
	bucketMeta   = []byte("meta")
	bucketState  = []byte("state")
	bucketGlobal = []byte("global")
	bucketTimers = []byte("timers")
	bucketTraces = []byte("traces")
	bucketRuns   = []byte("runs")
	bucketEvents = []byte("events")
	bucketKV     = []byte("kv")
	bucketInbox  = []byte("inbox")
	bucketIDs    = []byte("inbox_ids")
	bucketDone   = []byte("done")

	keySchemaVersion = []byte("schema_version")
)

// topBuckets are created once, when the file is opened.
var topBuckets = [][]byte{bucketMeta, bucketState, bucketGlobal, bucketTimers, bucketTraces, bucketRuns, bucketEvents, bucketKV,
	bucketInbox, bucketIDs, bucketDone}

// Options tune a Store. The zero value is usable.
type Options struct {
	// TraceRetention is how many traces are kept per rule (default 200).
	// Pruning runs when a rule has TraceRetention/10+1 more than that, so
	// up to that many extra traces may be listed.
	TraceRetention int
	// JournalSize is how many recent events are kept and listed (default
	// 10,000). Pruning runs when the journal has JournalSize/10 more than
	// that, so the file may hold up to that many extra.
	JournalSize int
	// QueueSize bounds the events and traces waiting for the writer
	// (default 4096 each); RecordEvent and RecordTrace wait for room when
	// it is full.
	QueueSize int
	// RecordDelay is how long recorded events and traces may wait for a
	// commit to ride along with before the writer spends an fsync on them
	// alone (default 100 ms). A Commit, Put, Delete, Flush or Close writes
	// them at once.
	RecordDelay time.Duration
	// CommitDelay is how long a Commit may wait for an Accept to share its
	// transaction (default 1 ms; negative: never): while events are being
	// accepted, each event otherwise costs two transactions (its accept,
	// then its run's commit), and a transaction's two fdatasyncs cost more
	// CPU than everything else the store does for an event. Only a commit
	// that accepts no events waits, and only when an accept was written
	// less than CommitDelay before; accepts, puts and flushes never wait,
	// and they take the waiting commits along. The always mode only: in
	// the interval mode a write costs no fsync, and commits never wait.
	CommitDelay time.Duration
	// Sync is SyncInterval (the default) or SyncAlways.
	Sync string
	// SyncInterval is how often the interval mode fsyncs the log
	// (default 100 ms).
	SyncInterval time.Duration
	// CheckpointInterval is how long the interval mode keeps writes in its
	// open transaction before committing them to the database file
	// (default 1 s); CheckpointBytes is the log size that commits them
	// sooner (default 2 MiB).
	CheckpointInterval time.Duration
	CheckpointBytes    int64
	// Logger receives write failures and drop counts (default: discarded).
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.TraceRetention <= 0 {
		o.TraceRetention = DefaultTraceRetention
	}
	if o.JournalSize <= 0 {
		o.JournalSize = DefaultJournalSize
	}
	if o.QueueSize <= 0 {
		o.QueueSize = DefaultQueueSize
	}
	if o.RecordDelay <= 0 {
		o.RecordDelay = DefaultRecordDelay
	}
	if o.CommitDelay == 0 {
		o.CommitDelay = DefaultCommitDelay
	}
	if o.Sync == "" {
		o.Sync = SyncInterval
	}
	if o.SyncInterval <= 0 {
		o.SyncInterval = DefaultSyncInterval
	}
	if o.CheckpointInterval <= 0 {
		o.CheckpointInterval = DefaultCheckpoint
	}
	if o.CheckpointBytes <= 0 {
		o.CheckpointBytes = DefaultCheckpointSize
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Store is the bbolt-backed engine.Store. Its methods are safe for
// concurrent use.
type Store struct {
	db   *bolt.DB
	path string
	opts Options
	log  *slog.Logger

	// mu guards closed against the channel sends: writers hold it shared
	// while they enqueue, Close takes it exclusively to close ops.
	mu     sync.RWMutex
	closed bool

	ops    chan *op
	events chan engine.EventRecord
	traces chan engine.Trace
	// completes carries Complete's event ids, written like recorded traces.
	completes chan string
	// wal is the interval mode's log (nil: the always mode); dirty is set
	// while its open transaction holds writes not yet checkpointed, and
	// reads then go to the writer (view).
	wal     *walLog
	dirty   atomic.Bool
	reads   chan *readOp
	dropped atomic.Uint64
	txns    atomic.Int64  // write transactions (always) or log records (interval) written, for the benchmarks
	done    chan struct{} // closed when the writer has exited

	closeOnce sync.Once
	closeErr  error

	w writerState // owned by the writer goroutine
}

var _ engine.Store = (*Store)(nil)

// Open opens (or creates) the database at path with mode 0600, checks its
// schema version, creates the buckets and starts the writer. It fails with
// ErrInUse after one second when another process holds the file.
func Open(path string, opts Options) (*Store, error) {
	opts = opts.withDefaults()
	if !ValidSync(opts.Sync) {
		return nil, fmt.Errorf("database %s: %w, not %q", path, errBadSync, opts.Sync)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("database %s is in use by another alexarules process: %w", path, ErrInUse)
	}
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	if err := db.Update(initSchema); err != nil {
		db.Close()
		return nil, fmt.Errorf("database %s: %w", path, err)
	}
	wal, err := openLog(db, path, opts.Sync)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("database %s: %w", path, err)
	}
	s := &Store{
		db:        db,
		path:      path,
		opts:      opts,
		log:       opts.Logger,
		ops:       make(chan *op, maxBatchOps), // heldRecords relies on it
		events:    make(chan engine.EventRecord, opts.QueueSize),
		traces:    make(chan engine.Trace, opts.QueueSize),
		completes: make(chan string, opts.QueueSize),
		done:      make(chan struct{}),
		wal:       wal,
		reads:     make(chan *readOp, 64),
		w:         writerState{traceCount: map[string]int{}, eventCount: -1, checkpoints: newWait()},
	}
	if wal != nil {
		go wal.syncLoop(opts.SyncInterval, func(err error) { s.log.Error("store: sync write-ahead log", "err", err) })
	}
	go s.run()
	return s, nil
}

// OpenReadOnly opens the database at path for reading only, for looking
// inside while no engine runs (alexarules state, timers, trace): it
// writes nothing but the records of a write-ahead log that an engine
// killed or crashed in the interval mode left (finishLog), and its
// writes fail with ErrClosed. It fails with
// ErrInUse after one second when a running alexarules holds the file,
// and when the file does not exist.
func OpenReadOnly(path string) (*Store, error) {
	if err := finishLog(path); err != nil {
		return nil, err
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("database %s is in use by a running alexarules: %w", path, ErrInUse)
	}
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	if err := db.View(checkReadable); err != nil {
		db.Close()
		return nil, fmt.Errorf("database %s: %w", path, err)
	}
	done := make(chan struct{})
	close(done) // no writer
	opts := Options{}.withDefaults()
	return &Store{db: db, path: path, opts: opts, log: opts.Logger, closed: true, ops: make(chan *op), done: done}, nil
}

// checkReadable refuses a newer schema and a file without the buckets
// the reads use (not an alexarules data file).
func checkReadable(tx *bolt.Tx) error {
	for _, name := range [][]byte{bucketMeta, bucketState, bucketGlobal, bucketTimers, bucketTraces, bucketRuns, bucketEvents, bucketKV} {
		if tx.Bucket(name) == nil {
			return fmt.Errorf("no %s bucket: not an alexarules data file", name)
		}
	}
	v := tx.Bucket(bucketMeta).Get(keySchemaVersion)
	if len(v) == 8 && binary.BigEndian.Uint64(v) > SchemaVersion {
		return fmt.Errorf("schema version %d, this alexarules supports up to %d: %w", binary.BigEndian.Uint64(v), SchemaVersion, ErrNewerSchema)
	}
	return nil
}

// initSchema refuses a newer schema before touching anything, then creates
// the buckets and stamps a new file.
func initSchema(tx *bolt.Tx) error {
	var version uint64
	if meta := tx.Bucket(bucketMeta); meta != nil {
		if v := meta.Get(keySchemaVersion); v != nil {
			if len(v) != 8 {
				return fmt.Errorf("schema version is %d bytes, want 8", len(v))
			}
			version = binary.BigEndian.Uint64(v)
		}
	}
	if version > SchemaVersion {
		return fmt.Errorf("schema version %d, this alexarules supports up to %d: %w", version, SchemaVersion, ErrNewerSchema)
	}
	for _, name := range topBuckets {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	// A file without a version is new. Version 1 lacks the inbox buckets,
	// which the loop above has just created: no data moves.
	if version < SchemaVersion {
		return tx.Bucket(bucketMeta).Put(keySchemaVersion, binary.BigEndian.AppendUint64(nil, SchemaVersion))
	}
	return nil
}

// Path returns the database file name.
func (s *Store) Path() string { return s.path }

// Close writes everything still queued (commits, puts, recorded events and
// traces), stops the writer and closes the file. Later writes fail with
// ErrClosed; Close itself may be called again.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		close(s.ops)
		s.mu.Unlock()
		<-s.done
		err := errors.Join(s.w.closeErr, s.db.Close())
		if err != nil {
			s.closeErr = fmt.Errorf("close database %s: %w", s.path, err)
		}
	})
	return s.closeErr
}

// Dropped returns how many recorded events and traces were never written:
// the store was closed, they could not be encoded, or their transaction
// failed.
func (s *Store) Dropped() uint64 { return s.dropped.Load() }
