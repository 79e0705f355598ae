package poll

import (
	"context"
	"fmt"
	"math"
	"time"
)

// BatchReader is a Reader that can read many attributes in one request,
// as the household smart-home API's POST /api/phoenix/state does. When
// Options.Reader is one, the poller reads every target due at the same
// time, and those due within the coalescing window (Options.Coalesce),
// with one ReadMany call of at most MaxBatch reads; the budget
// (Options.Rate, Options.Concurrency) counts that call as one request.
//
// A result's Err is classified per target as a single read's error is
// (see Reader): unreachable, not found, retryable (the whole batch then
// backs off together) or other. An error of the whole request is the Err
// of every result.
type BatchReader interface {
	Reader
	// ReadMany reads every (EndpointID, Attr) pair with as few requests
	// as the backend allows; results in the same order as reads.
	ReadMany(ctx context.Context, reads []Read) []ReadResult
	// MaxBatch is the most reads one ReadMany call may carry (below 1
	// counts as 1).
	MaxBatch() int
}

// Read is one attribute of one endpoint to read in a batch.
type Read struct{ EndpointID, Attr string }

// ReadResult is the answer to one Read: the value as Reader.Get returns
// it, or the error.
type ReadResult struct {
	Value any
	Err   error
}

// Batched reads. For a BatchReader the loop places the targets of one
// effective interval in chunks of at most MaxBatch that share a slot
// (slotOf), so that they fall due together and go in one request; every
// interval's first chunk sits at the same phase, so intervals that divide
// one another fall due together too. Whatever still falls due apart (a
// retry, intervals that do not divide, a reload) joins a request going
// out when its slot is within the coalescing window (coalesce).

// maxCoalesceScan bounds the targets one request looks at to fill its
// room, so that a request with room costs little among many targets.
const maxCoalesceScan = 1024

// setPhase draws the phase of the chunks from the targets' smallest hash
// (stable while that target stays) within the shortest interval.
func (l *loop) setPhase(groups map[int64][]*target) {
	if l.batch == nil || len(groups) == 0 {
		return
	}
	minEff, maxEff, minHash := int64(math.MaxInt64), int64(0), uint64(math.MaxUint64)
	for eff, g := range groups {
		minEff, maxEff = min(minEff, eff), max(maxEff, eff)
		for _, t := range g {
			minHash = min(minHash, t.hash)
		}
	}
	l.seed = mix(minHash)
	l.phase = int64(unit(l.seed) * float64(minEff))
	l.maxEff = maxEff
}

// slotOf is the place in the interval eff of t, the i-th of n targets in
// hash order, and sets the seed of its jitter. Single reads are spread
// evenly: i/n of the way in. Batched reads go in m = ⌈n/MaxBatch⌉ chunks
// of consecutive targets, chunk c at phase + c/m of the way in, with the
// jitter of the chunk, so a chunk stays one request.
func (l *loop) slotOf(t *target, i, n int, eff int64) int64 {
	if l.batch == nil {
		t.jseed = t.hash
		return int64((float64(i) + 0.5) / float64(n) * float64(eff))
	}
	m := (n + l.maxBatch - 1) / l.maxBatch
	c := i * m / n
	t.jseed = mix(l.seed ^ uint64(eff)*0x9e3779b97f4a7c15 ^ uint64(c))
	return (l.phase + int64(float64(c)/float64(m)*float64(eff))) % eff
}

// dispatchBatches sends the queued reads in requests of at most MaxBatch
// reads while the budget, the concurrency limit and a throttle's pause
// allow.
func (l *loop) dispatchBatches(ctx context.Context, now int64) {
	for l.qhead < len(l.queue) && l.inflight < l.p.o.Concurrency {
		if at := max(l.lim.next(now), l.paused); at > now {
			l.limAt = at
			return
		}
		batch := l.takeQueued()
		if len(batch) == 0 {
			continue // only removed targets were queued
		}
		batch = l.coalesce(batch, now)
		l.lim.take(now)
		l.inflight++
		late := int64(0)
		reads := make([]Read, len(batch))
		for i, t := range batch {
			late = max(late, now-t.dueAt)
			reads[i] = Read{EndpointID: t.endpoint, Attr: t.attr}
		}
		l.observeDispatch(now, late, len(batch))
		l.wg.Add(1)
		go l.readMany(ctx, batch, reads)
	}
}

// takeQueued takes up to MaxBatch queued reads, dropping removed targets,
// and marks them running.
func (l *loop) takeQueued() []*target {
	var batch []*target
	for l.qhead < len(l.queue) && len(batch) < l.maxBatch {
		t := l.queue[l.qhead]
		l.queue[l.qhead] = nil
		l.qhead++
		t.queued = false
		if !t.removed {
			t.running = true
			batch = append(batch, t)
		}
	}
	return batch
}

// coalesce fills the room left in batch with idle targets whose retry or
// slot comes within the coalescing window (Options.Coalesce of their own
// interval): they are read that much early rather than in a request of
// their own, and that slot is taken.
func (l *loop) coalesce(batch []*target, now int64) []*target {
	if l.p.o.Coalesce == 0 {
		return batch
	}
	horizon := now + int64(l.p.o.Coalesce*float64(l.maxEff))
	var aside []*target
	for len(batch) < l.maxBatch && len(aside) < maxCoalesceScan {
		t, ok := l.heap.Peek()
		if !ok || t.due() > horizon {
			break
		}
		l.heap.Pop()
		aside = append(aside, t)
		if t.queued || t.running || t.due() > now+int64(l.p.o.Coalesce*float64(t.eff)) {
			continue
		}
		if t.retryAt != 0 && t.retryAt < t.slotFire {
			t.retryAt = 0
		} else {
			t.setSlot(t.k+1, l.p.o.Jitter)
			if t.retryAt >= t.slotFire {
				t.retryAt = 0
			}
		}
		t.dueAt, t.running = now, true
		batch = append(batch, t)
	}
	for _, t := range aside {
		l.heap.Push(t)
	}
	return batch
}

// readMany sends one batched request once the budget's window allows.
func (l *loop) readMany(ctx context.Context, batch []*target, reads []Read) {
	defer l.wg.Done()
	got := make([]ReadResult, len(reads))
	if err := l.window.wait(ctx); err != nil {
		for i := range got {
			got[i].Err = err
		}
		l.results <- result{batch: batch, got: got}
		return
	}
	rctx, cancel := context.WithTimeout(ctx, l.p.o.ReadTimeout)
	res := l.batch.ReadMany(rctx, reads)
	cancel()
	copy(got, res)
	if len(res) < len(reads) {
		err := fmt.Errorf("poll: the batch reader answered %d of %d reads", len(res), len(reads))
		for i := len(res); i < len(got); i++ {
			got[i].Err = err
		}
	}
	l.results <- result{batch: batch, got: got}
}

// handleBatch takes in a finished batch, read by read. The reads to retry
// (a throttled request answers each with the throttle) back off together,
// by the longest back-off any of them needs, so they are retried in one
// request; and no request goes before then: the account is throttled,
// not one read. Other failures are logged once per batch (an error of the
// whole request fails every read).
func (l *loop) handleBatch(ctx context.Context, batch []*target, got []ReadResult, now time.Time) {
	var (
		retries []*target
		delay   time.Duration
		cause   error // of the longest back-off
		fails   []*target
		failErr error // of the first failure
	)
	for i, t := range batch {
		switch l.settle(ctx, t, got[i].Value, got[i].Err, now) {
		case retry:
			retries = append(retries, t)
			if d := l.backoff(t.failures, got[i].Err); d >= delay {
				delay, cause = d, got[i].Err
			}
		case failed:
			if len(fails) == 0 {
				failErr = got[i].Err
			}
			fails = append(fails, t)
		}
	}
	if len(fails) > 0 {
		l.p.log.Warn("poll: batched reads failed", "reads", len(fails), "batch", len(batch),
			"endpoint", fails[0].endpoint, "device", fails[0].name, "attr", fails[0].attr, "err", failErr)
	}
	if len(retries) == 0 {
		return
	}
	for _, t := range retries {
		l.retryAt(t, now, delay)
	}
	l.paused = max(l.paused, now.UnixNano()+int64(delay))
	l.p.log.Warn("poll: batched read throttled, every request waits", "reads", len(retries), "batch", len(batch),
		"retry_in", delay, "err", cause)
}
