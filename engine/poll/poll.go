// Package poll polls the readings rules refer to (RULES.md §5): every
// (endpoint, attribute) target is read once per interval in a slot of its
// own, within a request-rate budget, and a value that changed is published
// as an event and stored.
//
// Scheduling follows Prometheus and Telegraf. A target's slot is its
// place in the interval, set by ranking the targets by a hash of their
// identity and spacing them evenly, and anchored to absolute time (slot k
// = k·interval + offset), so the spread is even, stable across restarts,
// barely moved by reloads, and never drifts; optional jitter moves one
// read only, not the slots after it. A token bucket paces the requests, a sliding window
// passed just before each request makes the budget strict, and a limit
// bounds the reads in flight. When the targets ask for more reads than the
// budget allows, every interval is stretched by the same factor and the
// stretch is logged and exposed, rather than reads queueing without end. A
// target whose previous read has not finished when its next slot comes
// skips that slot (skip-if-still-running). A read answered with a
// retryable error (429, 5xx) is retried after a back-off (Retry-After when
// given) if that fits before the target's next slot; other targets keep
// their slots.
//
// A Reader that can read many attributes in one request (a BatchReader,
// the household smart-home API) gets batches instead: the targets of an
// interval share slots in chunks of its MaxBatch, every read due at once
// goes in one request, and a throttled batch holds every request for its
// back-off (batch.go).
package poll

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/alexarules/alexarules/engine"
)

// Reader reads one attribute of one endpoint as plain data (string,
// float64, bool, map[string]any, []any). *features.Client satisfies it.
//
// The poller classifies a failed read through methods of the error (found
// with errors.As), so that it does not depend on the Alexa client:
//
//	Unreachable() bool                 the endpoint does not answer (ENDPOINT_UNREACHABLE)
//	NotFound() bool                    the endpoint does not exist (404)
//	Retryable() bool                   back off and retry (429, 500, 503)
//	RetryAfterDuration() time.Duration the server's Retry-After, 0 when absent
type Reader interface {
	Get(ctx context.Context, endpointID, attr string) (any, error)
}

// Target is one reading to poll.
type Target struct {
	EndpointID string
	Name       string // friendly name, for events
	Attr       string // power, brightness, ..., connectivity (RULES.md §5)
	// Interval overrides Options.Interval for this target (a per-rule or
	// per-device setting); zero means the default.
	Interval time.Duration
}

// AttrConnectivity is the attribute whose changes are published as
// reachability events rather than readings.
const AttrConnectivity = "connectivity"

// Connectivity values (RULES.md §5).
const (
	ConnectivityOK          = "OK"
	ConnectivityUnreachable = "UNREACHABLE"
	ConnectivityNotFound    = "NOT_FOUND"
)

// Bucket is the engine.Store key-value bucket holding the last value of
// every reading.
const Bucket = "readings"

// Defaults for zero Options fields.
const (
	DefaultInterval    = 60 * time.Second
	DefaultRate        = 10
	DefaultBurst       = 2
	DefaultConcurrency = 4
	DefaultReadTimeout = 30 * time.Second
	DefaultMaxBackoff  = 5 * time.Minute
	DefaultCoalesce    = 0.25
)

// Defaults of the household smart-home backend (docs/CONFIG.md). Its
// state reads are batched, so one request a cycle reads every device, and
// Amazon throttles them per account: clients that read every minute (AMP)
// were answered UNOFFICIAL_CLIENT_TOO_MANY_REQUESTS in 2025 and some
// users' own Alexa app lost its devices for days; ioBroker reads each
// device every 15-20 min, node-red at most twice per 5 min ("2 requests
// for each device are allowed every 5m"). Hence one read of every device
// per 5 min, a budget of 2 requests per 5 min (room for one retry or a
// second chunk, never more than node-red's allowance for a device) and
// one request in flight.
const (
	SmartHomeInterval    = 5 * time.Minute
	SmartHomeRate        = 2.0 / 300 // requests per second: 2 per 5 min
	SmartHomeConcurrency = 1
)

// Defaults are the poll settings of a device backend, for what the
// configuration leaves unset. Zero fields keep the package's defaults
// (DefaultInterval, DefaultRate, DefaultConcurrency: the Endpoint
// Features API's).
type Defaults struct {
	Interval    time.Duration
	Rate        float64 // requests per second
	Concurrency int
	// RateFollowsInterval: when the user asks for intervals shorter than
	// Interval and sets no budget, the budget is one (batched) request per
	// interval asked for instead of Rate, which would stretch them
	// (host.Config.PollOptions). Set for batched backends, where a
	// request reads every due device.
	RateFollowsInterval bool
}

// SmartHomeDefaults are the household smart-home backend's.
func SmartHomeDefaults() Defaults {
	return Defaults{Interval: SmartHomeInterval, Rate: SmartHomeRate, Concurrency: SmartHomeConcurrency,
		RateFollowsInterval: true}
}

// Fill sets the Interval, Rate and Concurrency that o leaves zero from d.
func (d Defaults) Fill(o Options) Options {
	if o.Interval <= 0 {
		o.Interval = d.Interval
	}
	if o.Rate <= 0 {
		o.Rate = d.Rate
	}
	if o.Concurrency <= 0 {
		o.Concurrency = d.Concurrency
	}
	return o
}

// Options configure a Poller.
type Options struct {
	Clock  engine.Clock // default engine.RealClock
	Reader Reader       // required
	// Store keeps the last value of every reading in Bucket; nil keeps
	// them in memory only.
	Store engine.Store
	// Publish receives the change events; it must not block (the engine's
	// bus does not). Nil drops them.
	Publish func(engine.Event)
	// Room, when set, is asked before reads are started: it returns once
	// the engine has room for more events (Engine.WaitRoom), so an engine
	// at capacity slows polling down.
	Room func(context.Context) error
	// Interval is the default poll interval (default 60 s).
	Interval time.Duration
	// Rate is the request budget in requests per second (default 10).
	// It is never exceeded: no window of n/Rate holds more than n
	// requests, with n = ⌈Rate⌉ (so no second holds more than Rate
	// requests when Rate is a whole number up to 4096).
	Rate float64
	// Burst is how many requests may go back to back (default 2), so the
	// poller catches up after a timer fired late instead of losing that
	// budget; it never lets the budget be exceeded.
	Burst int
	// Concurrency bounds the reads in flight (default 4). It must cover
	// Rate × the API's latency, or reads fall behind their slots.
	Concurrency int
	// Jitter delays each read by up to this fraction of its interval
	// (default 0: none). The delay is drawn per target and cycle from a
	// hash, so it is reproducible, and it never shifts later slots. The
	// slots are already spread evenly and placed by endpoint identity, so
	// installations do not poll in step without it; jitter trades that
	// evenness (and some lateness at a full budget) for less regular reads.
	Jitter float64
	// ReadTimeout bounds one read (default 30 s) so that a hung request
	// cannot hold a concurrency slot for ever. It runs on the wall clock.
	ReadTimeout time.Duration
	// MaxBackoff caps the delay before retrying a read that failed with a
	// retryable error and no Retry-After (default 5 min).
	MaxBackoff time.Duration
	// Coalesce is the coalescing window of a BatchReader, as a fraction
	// of a target's interval (default 0.25, at most 1, negative: none):
	// when a request goes with room left, an idle target whose slot or
	// retry is at most that far ahead joins it, read that much early,
	// rather than taking a request of its own at its slot.
	Coalesce float64
	Logger   *slog.Logger // default: discard
}

func (o Options) withDefaults() Options {
	if o.Clock == nil {
		o.Clock = engine.RealClock{}
	}
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.Rate <= 0 || math.IsNaN(o.Rate) || math.IsInf(o.Rate, 0) {
		o.Rate = DefaultRate
	}
	if o.Burst <= 0 {
		o.Burst = DefaultBurst
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if !(o.Jitter > 0) { // NaN too
		o.Jitter = 0
	}
	o.Jitter = min(o.Jitter, 1)
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = DefaultReadTimeout
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	if o.Coalesce == 0 || math.IsNaN(o.Coalesce) {
		o.Coalesce = DefaultCoalesce
	}
	o.Coalesce = min(max(o.Coalesce, 0), 1)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Stats describe what the poller did, for /metrics.
type Stats struct {
	Targets     int    // targets polled
	Requests    uint64 // requests sent: one per read, or per batch of reads
	Reads       uint64 // reads sent (in batches or not)
	Errors      uint64 // reads that failed, any cause
	Throttled   uint64 // reads failed with a retryable error (429, 5xx): backed off
	Unreachable uint64 // reads failed because the endpoint is unreachable or gone
	Skipped     uint64 // slots skipped because the target's previous read was still queued or running
	Changes     uint64 // values that changed (events published)
	InFlight    int    // requests sent and not yet handled
	Queued      int    // reads due and waiting for a token or a concurrency slot

	Budget float64 // Options.Rate, requests per second
	// MaxBatch is the most reads one request carries: the BatchReader's
	// MaxBatch, 1 for single reads.
	MaxBatch int
	// Demand is the requests per second the targets ask for at their own
	// intervals (batched: a request per chunk of MaxBatch targets of an
	// interval); Stretch = max(1, Demand/Budget).
	Demand  float64
	Stretch float64
	// Interval is the default interval asked for; EffectiveInterval is it
	// after stretching to fit the budget.
	Interval          time.Duration
	EffectiveInterval time.Duration
	// Lateness of reads behind their slot (jitter included): the largest
	// of the last complete cycle of the effective interval, and of the
	// cycle running now.
	MaxLatenessLastCycle time.Duration
	MaxLateness          time.Duration
}

// Poller polls targets. Its methods are safe for concurrent use.
type Poller struct {
	o   Options
	log *slog.Logger

	// mu guards the targets handed over by SetTargets before the loop
	// takes them, the readings and the stats.
	mu       sync.RWMutex
	pending  []Target
	newSet   bool
	readings map[key]*reading
	loaded   bool
	stats    Stats
	curCycle int64
	running  bool

	kick chan struct{} // SetTargets → loop
	// dirty holds readings not yet stored; the persister takes them.
	dirtyMu sync.Mutex
	dirty   map[key]record
	flush   chan struct{}
}

// New returns a poller; Run starts it.
func New(o Options) *Poller {
	o = o.withDefaults()
	p := &Poller{
		o:        o,
		log:      o.Logger,
		readings: map[key]*reading{},
		kick:     make(chan struct{}, 1),
		dirty:    map[key]record{},
		flush:    make(chan struct{}, 1),
	}
	p.stats.Budget = o.Rate
	p.stats.MaxBatch = 1
	if br, ok := o.Reader.(BatchReader); ok {
		p.stats.MaxBatch = max(1, br.MaxBatch())
	}
	p.stats.Interval = o.Interval
	p.stats.EffectiveInterval = o.Interval
	p.stats.Stretch = 1
	return p
}

// SetTargets replaces the targets (on a rule reload). Targets that stay
// keep their slots, back-off and any read in flight; every last value is
// kept, so a target that comes back does not publish its value again.
// Duplicates of one (endpoint, attribute) are polled once, at the shortest
// of their intervals.
func (p *Poller) SetTargets(ts []Target) {
	p.mu.Lock()
	p.pending = append([]Target(nil), ts...)
	p.newSet = true
	p.mu.Unlock()
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// Last returns the last value read of an attribute and when it began, so
// device:last(attr) needs no request. It satisfies scripting.Readings.
// The value is shared: treat it as read-only.
func (p *Poller) Last(endpointID, attr string) (value any, since time.Time, ok bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	r := p.readings[key{endpointID, attr}]
	if r == nil {
		return nil, time.Time{}, false
	}
	return r.value, r.since, true
}

// Stats returns a snapshot of the counters.
func (p *Poller) Stats() Stats {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.stats
}

// Gauges are the stats as /metrics lines.
func (p *Poller) Gauges() []engine.Gauge {
	s := p.Stats()
	return []engine.Gauge{
		{Name: "alexarules_poll_targets", Help: "Readings polled (endpoint, attribute).", Type: "gauge", Value: float64(s.Targets)},
		{Name: "alexarules_poll_requests_total", Help: "Requests sent by the poller (a batch of reads is one).", Type: "counter", Value: float64(s.Requests)},
		{Name: "alexarules_poll_reads_total", Help: "Reads sent by the poller, in batches or not; reads per request = reads / requests.", Type: "counter", Value: float64(s.Reads)},
		{Name: "alexarules_poll_batch_max_reads", Help: "Most reads one request of the poller carries (1: no batches).", Type: "gauge", Value: float64(s.MaxBatch)},
		{Name: "alexarules_poll_errors_total", Help: "Reads that failed.", Type: "counter", Value: float64(s.Errors)},
		{Name: "alexarules_poll_throttled_total", Help: "Reads failed with 429 or 5xx and backed off.", Type: "counter", Value: float64(s.Throttled)},
		{Name: "alexarules_poll_unreachable_total", Help: "Reads failed because the endpoint was unreachable or gone.", Type: "counter", Value: float64(s.Unreachable)},
		{Name: "alexarules_poll_skipped_total", Help: "Slots skipped because the previous read of the target was still queued or running.", Type: "counter", Value: float64(s.Skipped)},
		{Name: "alexarules_poll_changes_total", Help: "Readings that changed.", Type: "counter", Value: float64(s.Changes)},
		{Name: "alexarules_poll_in_flight", Help: "Requests in flight.", Type: "gauge", Value: float64(s.InFlight)},
		{Name: "alexarules_poll_queued", Help: "Reads due and waiting for the budget or a concurrency slot.", Type: "gauge", Value: float64(s.Queued)},
		{Name: "alexarules_poll_budget_requests_per_second", Help: "Request budget of the poller.", Type: "gauge", Value: s.Budget},
		{Name: "alexarules_poll_demand_requests_per_second", Help: "Requests per second the targets ask for at their configured intervals.", Type: "gauge", Value: s.Demand},
		{Name: "alexarules_poll_interval_seconds", Help: "Default poll interval asked for.", Type: "gauge", Value: s.Interval.Seconds()},
		{Name: "alexarules_poll_effective_interval_seconds", Help: "Default poll interval after stretching it to fit the budget.", Type: "gauge", Value: s.EffectiveInterval.Seconds()},
		{Name: "alexarules_poll_lateness_seconds", Help: "Largest delay of a read behind its slot in the last complete cycle.", Type: "gauge", Value: s.MaxLatenessLastCycle.Seconds()},
	}
}

// Load reads the stored last values, so Last answers before the first
// poll. Run calls it when it has not been called; calling it again does
// nothing.
func (p *Poller) Load() error {
	p.mu.RLock()
	loaded := p.loaded
	p.mu.RUnlock()
	if loaded || p.o.Store == nil {
		return nil
	}
	raw, err := p.o.Store.List(Bucket, "")
	if err != nil {
		return fmt.Errorf("poll: load readings: %w", err)
	}
	stored := make(map[key]*reading, len(raw))
	for k, b := range raw {
		rec, err := decodeRecord(b)
		if err != nil {
			// One bad row must not stop polling: that reading starts afresh.
			p.log.Warn("poll: ignoring a stored reading", "key", k, "err", err)
			continue
		}
		stored[key{rec.Endpoint, rec.Attr}] = &reading{value: rec.Value, since: rec.Since}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.loaded {
		return nil
	}
	for k, r := range stored {
		if _, ok := p.readings[k]; !ok {
			p.readings[k] = r
		}
	}
	p.loaded = true
	return nil
}

// ErrRunning is returned by Run when the poller already runs.
var ErrRunning = errors.New("poll: already running")

// Run polls until ctx ends. It waits for the reads in flight and stores
// the readings not stored yet before it returns nil; it returns an error
// only when the stored readings cannot be loaded or it already runs.
func (p *Poller) Run(ctx context.Context) error {
	if p.o.Reader == nil {
		return errors.New("poll: no reader")
	}
	p.mu.Lock()
	if p.running {
		p.mu.Unlock()
		return ErrRunning
	}
	p.running = true
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.running = false
		p.mu.Unlock()
	}()
	if err := p.Load(); err != nil {
		return err
	}
	stop, persisted := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(persisted)
		p.persist(stop)
	}()
	newLoop(p).run(ctx)
	close(stop)
	<-persisted
	return nil
}
