package poll

import (
	"cmp"
	"context"
	"errors"
	"hash/fnv"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/engine/heapq"
)

type key struct{ endpoint, attr string }

// target is a Target as the loop schedules it. Slot k of a target fires
// at k·eff + off (Unix nanoseconds) plus that cycle's jitter: anchored to
// absolute time, so slots never drift.
type target struct {
	key
	name     string
	asked    time.Duration // interval asked for
	eff      int64         // effective interval, ns
	off      int64         // place of the slot in the interval, ns
	hash     uint64
	jseed    uint64 // draws the jitter: the hash, or in batches the chunk's
	k        int64  // cycle of the pending slot
	slotFire int64  // when the pending slot fires, jitter included
	retryAt  int64  // a back-off retry before the pending slot; 0: none
	dueAt    int64  // when the queued read was due, for lateness
	failures int    // retryable failures in a row
	queued   bool
	running  bool
	removed  bool
	index    int // in the heap; -1 when not in it
}

// due is when the target next needs the loop.
func (t *target) due() int64 {
	if t.retryAt != 0 && t.retryAt < t.slotFire {
		return t.retryAt
	}
	return t.slotFire
}

// setSlot makes cycle k the pending slot.
func (t *target) setSlot(k int64, jitter float64) {
	t.k = k
	t.slotFire = k*t.eff + t.off + int64(unit(mix(t.jseed^uint64(k)*0x9e3779b97f4a7c15))*jitter*float64(t.eff))
}

// firstCycleAfter is the first cycle whose slot (before jitter) is after now.
func (t *target) firstCycleAfter(now int64) int64 {
	return floorDiv(now-t.off, t.eff) + 1
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// hashKey orders targets in their interval and draws their jitter:
// FNV-1a finished with a 64-bit mixer, because FNV alone leaves ids that
// differ in their last bytes close together.
func hashKey(k key) uint64 {
	h := fnv.New64a()
	h.Write([]byte(k.endpoint))
	h.Write([]byte{0})
	h.Write([]byte(k.attr))
	return mix(h.Sum64())
}

// mix is the splitmix64 finaliser.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// unit maps a hash to [0, 1).
func unit(h uint64) float64 { return float64(h>>11) / (1 << 53) }

// targetBefore orders the loop's heap: the next due first, ties by hash
// so the order does not depend on when targets were added.
func targetBefore(a, b *target) bool {
	if x, y := a.due(), b.due(); x != y {
		return x < y
	}
	return a.hash < b.hash
}

// limiter paces requests: a token bucket in its GCRA form, 1/rate apart
// with a tolerance of burst−1 requests. tat is the theoretical arrival
// time of the next request, and a request may go when
// now ≥ tat − (burst−1)·spacing. The tolerance lets the loop catch up
// after a timer fired late, which with a strict spacing would lose budget
// for good (about 6% at 100/s on a loaded machine). The window makes the
// budget strict whatever the tolerance.
type limiter struct {
	spacing int64 // ns between requests at the budgeted rate
	burst   int64
	tat     int64
}

func newLimiter(rate float64, burst int) limiter {
	// Round up: rounding down would exceed the budget.
	return limiter{spacing: int64(math.Ceil(float64(time.Second) / rate)), burst: int64(burst)}
}

// next is the earliest time a request may go.
func (l *limiter) next(now int64) int64 { return max(now, l.tat-(l.burst-1)*l.spacing) }

// take spends a token at now ≥ next(now).
func (l *limiter) take(now int64) { l.tat = max(l.tat, now) + l.spacing }

// maxWindow caps the requests the window remembers; above that rate the
// window is shorter than a second.
const maxWindow = 4096

// window is the hard budget: no span of n/rate (1 s for a whole rate up
// to maxWindow) holds more than n requests, n = ⌈rate⌉. The read goroutine
// passes it immediately before calling the Reader, so a goroutine that
// started late cannot push a request into a full second; it waits.
type window struct {
	clock engine.Clock
	span  int64 // ns

	mu   sync.Mutex
	sent []int64 // the last len(sent) requests, a ring
	pos  int     // the oldest entry once full
	full bool
}

func newWindow(clock engine.Clock, rate float64) *window {
	n := max(1, min(int(math.Ceil(rate-1e-9)), maxWindow))
	return &window{clock: clock, span: int64(math.Ceil(float64(n) * float64(time.Second) / rate)), sent: make([]int64, n)}
}

// wait returns when a request may go now, and counts it.
func (w *window) wait(ctx context.Context) error {
	for {
		w.mu.Lock()
		now := w.clock.Now().UnixNano()
		if !w.full || w.sent[w.pos]+w.span <= now {
			w.sent[w.pos] = now
			w.pos++
			if w.pos == len(w.sent) {
				w.pos, w.full = 0, true
			}
			w.mu.Unlock()
			return nil
		}
		d := time.Duration(w.sent[w.pos] + w.span - now)
		w.mu.Unlock()
		ready := make(chan struct{})
		timer := w.clock.AfterFunc(d, func() { close(ready) })
		select {
		case <-ready:
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		}
	}
}

// result is a finished request: a single read (t, value, err) or a
// batch (its targets and their results, in the same order).
type result struct {
	t     *target
	value any
	err   error

	batch []*target
	got   []ReadResult
}

// loop owns the schedule; one goroutine runs it.
type loop struct {
	p       *Poller
	clock   engine.Clock
	targets map[key]*target
	heap    heapq.Heap[*target]
	queue   []*target // due reads waiting for a token or a concurrency slot
	qhead   int
	lim     limiter
	limAt   int64 // when the limiter next allows a request, if the queue waits for it
	window  *window

	inflight int
	results  chan result
	wg       sync.WaitGroup

	wake    chan struct{}
	timer   engine.Stopper
	timerAt int64

	stretch   float64
	effectDef int64 // default interval, stretched, ns

	// Batched reads (batch.go), when the Reader is a BatchReader.
	batch    BatchReader
	maxBatch int   // reads per request at most; 0: single reads
	phase    int64 // where the first chunk of every interval sits, ns
	seed     uint64
	maxEff   int64 // the longest effective interval, ns
	paused   int64 // a throttled batch holds every request until then
}

func newLoop(p *Poller) *loop {
	l := &loop{
		p:         p,
		clock:     p.o.Clock,
		targets:   map[key]*target{},
		heap:      heapq.New(targetBefore, func(t *target, i int) { t.index = i }),
		lim:       newLimiter(p.o.Rate, p.o.Burst),
		window:    newWindow(p.o.Clock, p.o.Rate),
		results:   make(chan result, p.o.Concurrency),
		wake:      make(chan struct{}, 1),
		stretch:   1,
		effectDef: int64(p.o.Interval),
	}
	if br, ok := p.o.Reader.(BatchReader); ok {
		l.batch, l.maxBatch = br, max(1, br.MaxBatch())
	}
	return l
}

func (l *loop) run(ctx context.Context) {
	for {
		// Room (the engine at capacity) may wait long: now is read after
		// it, so that reads, their lateness and the timer go by the time
		// they start at.
		if l.p.o.Room != nil && l.p.o.Room(ctx) != nil {
			l.shutdown()
			return
		}
		now := l.clock.Now().UnixNano()
		if now >= l.timerAt {
			l.timerAt = 0 // it fired (or is about to): arm anew
		}
		l.p.mu.RLock()
		changed := l.p.newSet
		l.p.mu.RUnlock()
		if changed {
			l.applyTargets(now)
		}
		l.fire(now)
		l.dispatch(ctx, now)
		l.arm(now)
		select {
		case <-ctx.Done():
			l.shutdown()
			return
		case r := <-l.results:
			l.handle(ctx, r)
		case <-l.wake:
		case <-l.p.kick:
		}
	}
}

// shutdown waits for the reads in flight and keeps what they read.
func (l *loop) shutdown() {
	if l.timer != nil {
		l.timer.Stop()
	}
	l.wg.Wait()
	for l.inflight > 0 {
		l.handle(context.Background(), <-l.results)
	}
}

// applyTargets installs the targets SetTargets handed over.
func (l *loop) applyTargets(now int64) {
	p := l.p
	p.mu.Lock()
	ts := p.pending
	p.pending, p.newSet = nil, false
	p.mu.Unlock()

	want := wantedTargets(ts, p.o.Interval)
	demand := demandPerSecond(want, l.maxBatch)
	stretch := max(1, demand/p.o.Rate)
	if stretch < 1+1e-9 {
		// A budget summed from the same intervals in another order
		// (host.Config.PollOptions) may differ in the last bit.
		stretch = 1
	}

	for k, t := range l.targets {
		if _, ok := want[k]; !ok {
			t.removed = true
			t.index = -1
			delete(l.targets, k)
		}
	}
	list := make([]*target, 0, len(want))
	groups := l.groupByInterval(want, stretch)
	l.setPhase(groups)
	for eff, g := range groups {
		list = l.place(list, g, eff, now)
	}
	l.heap.Reset(list)
	l.setStretch(stretch, demand, len(want))
}

// wantedTargets keeps the usable targets of ts, one per endpoint and
// attribute (the shortest interval asked), with the default interval
// filled in.
func wantedTargets(ts []Target, interval time.Duration) map[key]Target {
	want := make(map[key]Target, len(ts))
	for _, t := range ts {
		if t.EndpointID == "" || t.Attr == "" {
			continue
		}
		if t.Interval <= 0 {
			t.Interval = interval
		}
		k := key{t.EndpointID, t.Attr}
		if old, ok := want[k]; ok && old.Interval <= t.Interval {
			continue
		}
		want[k] = t
	}
	return want
}

// demandPerSecond is the request rate the targets ask for, summed per
// interval group, so 30,000 targets at 60 s ask for exactly 500/s. With
// batches of at most maxBatch reads (0: single reads) a group needs a
// request per chunk.
func demandPerSecond(want map[key]Target, maxBatch int) float64 {
	perInterval := map[time.Duration]int{}
	for _, t := range want {
		perInterval[t.Interval]++
	}
	demand := 0.0
	for d, n := range perInterval {
		if maxBatch > 0 {
			n = (n + maxBatch - 1) / maxBatch
		}
		demand += float64(n) / d.Seconds()
	}
	return demand
}

// groupByInterval finds or makes the loop's target for each wanted one and
// groups them by effective (stretched) interval.
func (l *loop) groupByInterval(want map[key]Target, stretch float64) map[int64][]*target {
	groups := map[int64][]*target{}
	for k, w := range want {
		t := l.targets[k]
		if t == nil {
			t = &target{key: k, hash: hashKey(k), index: -1}
			t.jseed = t.hash
			l.targets[k] = t
		}
		t.name = w.Name
		t.asked = w.Interval
		eff := int64(stretched(w.Interval, stretch))
		groups[eff] = append(groups[eff], t)
	}
	return groups
}

// place spreads the targets g sharing the effective interval eff evenly
// across it, in the order of their hashes: slot i of n is i/n of the way
// in (for a BatchReader, chunks of targets are: see slotOf). The order
// does not depend on the time or on the order of the targets set, so a
// restart keeps every slot, and adding or removing one target moves the
// others by at most one spacing (interval/n). It appends g to list.
func (l *loop) place(list, g []*target, eff, now int64) []*target {
	slices.SortFunc(g, func(a, b *target) int {
		if c := cmp.Compare(a.hash, b.hash); c != 0 {
			return c
		}
		if c := cmp.Compare(a.endpoint, b.endpoint); c != 0 {
			return c
		}
		return cmp.Compare(a.attr, b.attr)
	})
	for i, t := range g {
		off := l.slotOf(t, i, len(g), eff)
		switch {
		case t.slotFire != 0 && t.eff == eff && t.slotFire > now:
			// Keep the pending slot; the new place applies from the
			// next cycle, so no read is lost or doubled by a reload.
			t.off = off
		case t.slotFire == 0 || t.eff != eff || t.off != off:
			t.eff, t.off = eff, off
			t.setSlot(t.firstCycleAfter(now), l.p.o.Jitter)
		}
		if t.retryAt >= t.slotFire {
			t.retryAt = 0
		}
		list = append(list, t)
	}
	return list
}

// setStretch records the stretch the targets need, logs when it changes,
// and publishes it in the stats.
func (l *loop) setStretch(stretch, demand float64, targets int) {
	p := l.p
	effDef := stretched(p.o.Interval, stretch)
	if stretch != l.stretch {
		if stretch > 1 {
			p.log.Warn("poll: intervals stretched to fit the request budget",
				"targets", targets, "demand_per_s", demand, "budget_per_s", p.o.Rate,
				"interval", p.o.Interval, "effective_interval", time.Duration(effDef), "stretch", stretch)
		} else {
			p.log.Info("poll: the targets fit the request budget again", "targets", targets, "interval", p.o.Interval)
		}
	}
	l.stretch, l.effectDef = stretch, int64(effDef)
	p.mu.Lock()
	p.stats.Targets = targets
	p.stats.Demand = demand
	p.stats.Stretch = stretch
	p.stats.EffectiveInterval = effDef
	p.mu.Unlock()
	p.log.Debug("poll: targets set", "targets", targets, "effective_interval", effDef)
}

// stretched is d·s rounded up to the millisecond (up, so the budget
// holds; ignoring float noise, so 10 s × 1.2 is 12 s).
func stretched(d time.Duration, s float64) time.Duration {
	if s <= 1 {
		return d
	}
	ms := math.Ceil(float64(d)*s/float64(time.Millisecond) - 1e-6)
	return time.Duration(ms) * time.Millisecond
}

// fire queues every target whose slot or retry has come.
func (l *loop) fire(now int64) {
	skipped := uint64(0)
	for {
		t, ok := l.heap.Peek()
		if !ok || t.due() > now {
			break
		}
		if t.retryAt != 0 && t.retryAt <= now {
			if !t.queued && !t.running {
				l.enqueue(t, t.retryAt)
			}
			t.retryAt = 0
		}
		if t.slotFire <= now {
			if t.queued || t.running {
				skipped++
			} else {
				l.enqueue(t, t.slotFire)
			}
			next := t.k + 1
			t.setSlot(next, l.p.o.Jitter)
			if t.slotFire <= now {
				// The loop stood still (a suspended machine, a virtual
				// clock jump): count the slots missed, do not replay them.
				next = t.firstCycleAfter(now)
				skipped += uint64(next - t.k)
				t.setSlot(next, l.p.o.Jitter)
			}
			if t.retryAt >= t.slotFire {
				t.retryAt = 0
			}
		}
		l.heap.Fix(0)
	}
	if skipped > 0 {
		l.p.mu.Lock()
		l.p.stats.Skipped += skipped
		l.p.mu.Unlock()
	}
}

func (l *loop) enqueue(t *target, dueAt int64) {
	t.queued = true
	t.dueAt = dueAt
	if l.qhead > 0 && l.qhead == len(l.queue) {
		clear(l.queue)
		l.queue, l.qhead = l.queue[:0], 0
	}
	l.queue = append(l.queue, t)
}

// dispatch starts queued reads while the budget and the concurrency
// limit allow.
func (l *loop) dispatch(ctx context.Context, now int64) {
	l.limAt = 0
	if l.batch != nil {
		l.dispatchBatches(ctx, now)
		return
	}
	for l.qhead < len(l.queue) && l.inflight < l.p.o.Concurrency {
		t := l.queue[l.qhead]
		if t.removed {
			l.queue[l.qhead] = nil
			l.qhead++
			t.queued = false
			continue
		}
		if at := l.lim.next(now); at > now {
			l.limAt = at
			break
		}
		l.queue[l.qhead] = nil
		l.qhead++
		t.queued = false
		l.lim.take(now)
		t.running = true
		l.inflight++
		l.observeDispatch(now, now-t.dueAt, 1)
		l.wg.Add(1)
		go l.read(ctx, t, t.endpoint, t.attr)
	}
}

// observeDispatch counts a request of reads reads that goes now, late
// behind the earliest of their slots.
func (l *loop) observeDispatch(now, late int64, reads int) {
	p := l.p
	cycle := floorDiv(now, l.effectDef)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stats.Requests++
	p.stats.Reads += uint64(reads)
	p.stats.InFlight = l.inflight
	p.stats.Queued = len(l.queue) - l.qhead
	if cycle != p.curCycle {
		if cycle == p.curCycle+1 {
			p.stats.MaxLatenessLastCycle = p.stats.MaxLateness
		} else {
			p.stats.MaxLatenessLastCycle = 0
		}
		p.stats.MaxLateness = 0
		p.curCycle = cycle
	}
	p.stats.MaxLateness = max(p.stats.MaxLateness, time.Duration(late))
}

func (l *loop) read(ctx context.Context, t *target, endpointID, attr string) {
	defer l.wg.Done()
	if err := l.window.wait(ctx); err != nil {
		l.results <- result{t: t, err: err}
		return
	}
	rctx, cancel := context.WithTimeout(ctx, l.p.o.ReadTimeout)
	v, err := l.p.o.Reader.Get(rctx, endpointID, attr)
	cancel()
	l.results <- result{t: t, value: v, err: err}
}

// arm sets the one timer for the next thing due: a slot, a retry or a
// token for a queued read.
func (l *loop) arm(now int64) {
	next := int64(math.MaxInt64)
	if t, ok := l.heap.Peek(); ok {
		next = t.due()
	}
	if l.limAt != 0 && l.inflight < l.p.o.Concurrency {
		next = min(next, l.limAt)
	}
	if next == math.MaxInt64 || next == l.timerAt {
		return
	}
	if l.timer != nil {
		l.timer.Stop()
	}
	l.timerAt = next
	l.timer = l.clock.AfterFunc(time.Duration(max(0, next-now)), func() {
		select {
		case l.wake <- struct{}{}:
		default:
		}
	})
}

// handle takes in a finished request.
func (l *loop) handle(ctx context.Context, r result) {
	l.inflight--
	now := l.clock.Now()
	if r.batch != nil {
		l.handleBatch(ctx, r.batch, r.got, now)
	} else {
		l.handleRead(ctx, r.t, r.value, r.err, now)
	}
	l.p.mu.Lock()
	l.p.stats.InFlight = l.inflight
	l.p.mu.Unlock()
	if r.t != nil {
		l.refix(r.t)
	}
	for _, t := range r.batch {
		l.refix(t)
	}
}

// handleRead takes in a single read.
func (l *loop) handleRead(ctx context.Context, t *target, v any, err error, now time.Time) {
	switch l.settle(ctx, t, v, err, now) {
	case retry:
		delay := l.backoff(t.failures, err)
		l.retryAt(t, now, delay)
		l.p.log.Debug("poll: read throttled, backing off", "endpoint", t.endpoint, "attr", t.attr,
			"retry_in", delay, "failures", t.failures, "err", err)
	case failed:
		l.p.log.Warn("poll: read failed", "endpoint", t.endpoint, "device", t.name, "attr", t.attr, "err", err)
	}
}

// refix restores the heap's order after t's retry changed.
func (l *loop) refix(t *target) {
	if !t.removed && t.index >= 0 {
		l.heap.Fix(t.index)
	}
}

// outcome is what became of one read, for its caller to act on.
type outcome int

const (
	settled outcome = iota // a value, an unreachable endpoint, or shutting down
	retry                  // a retryable error: back off and retry
	failed                 // another error: to be logged
)

// settle takes in the answer to one read: the value, or the error
// classified (not found, unreachable, retryable, other) and counted.
// The caller schedules a retry and logs a failure.
func (l *loop) settle(ctx context.Context, t *target, v any, err error, now time.Time) outcome {
	t.running = false
	p := l.p
	if err == nil {
		t.failures = 0
		p.observe(t, v, now)
		return settled
	}
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return settled // shutting down: not a failure of the endpoint
	}
	switch {
	case hasTrue(err, func(e interface{ NotFound() bool }) bool { return e.NotFound() }):
		l.countError(false, true)
		t.failures = 0
		p.unreachable(t, ConnectivityNotFound, now)
	case hasTrue(err, func(e interface{ Unreachable() bool }) bool { return e.Unreachable() }):
		l.countError(false, true)
		t.failures = 0
		p.unreachable(t, ConnectivityUnreachable, now)
	case hasTrue(err, func(e interface{ Retryable() bool }) bool { return e.Retryable() }):
		l.countError(true, false)
		t.failures++
		return retry
	default:
		l.countError(false, false)
		return failed
	}
	return settled
}

// retryAt schedules t's retry after delay if that comes before its next
// slot; otherwise the slot reads it.
func (l *loop) retryAt(t *target, now time.Time, delay time.Duration) {
	if at := now.UnixNano() + int64(delay); !t.removed && at < t.slotFire {
		t.retryAt = at
	}
}

func (l *loop) countError(throttled, unreachable bool) {
	p := l.p
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stats.Errors++
	if throttled {
		p.stats.Throttled++
	}
	if unreachable {
		p.stats.Unreachable++
	}
}

// backoff is the server's Retry-After, or 1 s doubling per failure in a
// row (never faster than the budget's pace), at most MaxBackoff.
func (l *loop) backoff(failures int, err error) time.Duration {
	var ra interface{ RetryAfterDuration() time.Duration }
	if errors.As(err, &ra) {
		if d := ra.RetryAfterDuration(); d > 0 {
			return d
		}
	}
	d := max(time.Second, time.Duration(l.lim.spacing))
	for i := 1; i < failures && d < l.p.o.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, l.p.o.MaxBackoff)
}

// hasTrue reports whether some error in err's tree has the method and it
// answers true.
func hasTrue[I any](err error, f func(I) bool) bool {
	var v I
	return errors.As(err, &v) && f(v)
}
