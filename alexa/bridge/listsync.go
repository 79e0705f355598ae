package bridge

import (
	"context"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/alexarules/alexarules/alexa/internal/retry"
)

// syncQueue holds the list syncs waiting to run. Requests for the same
// list merge, so the queue never overflows and drops one; a sync that
// failed is put back and tried again after a back-off, so an item that
// only that sync would have found (the last one added before a quiet
// spell) is never lost to a throttled fetch.
type syncQueue struct {
	mu    sync.Mutex
	all   bool                // every list
	lists map[string][]string // one list: id → items a push said were created
	wake  chan struct{}       // capacity 1: something is waiting
}

func newSyncQueue() *syncQueue {
	return &syncQueue{lists: map[string][]string{}, wake: make(chan struct{}, 1)}
}

// add merges req into the waiting syncs.
func (q *syncQueue) add(req listSync) {
	q.mu.Lock()
	if req.ID == "" {
		q.all = true
	} else {
		q.merge(req)
	}
	q.mu.Unlock()
	q.poke()
}

// poke wakes the loop.
func (q *syncQueue) poke() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// take removes and returns every waiting sync, in list id order (a full
// sync first).
func (q *syncQueue) take() []listSync {
	q.mu.Lock()
	defer q.mu.Unlock()
	var reqs []listSync
	if q.all {
		reqs = append(reqs, listSync{})
		q.all = false
	}
	for _, id := range slices.Sorted(maps.Keys(q.lists)) {
		reqs = append(reqs, listSync{ID: id, News: q.lists[id]})
	}
	clear(q.lists)
	return reqs
}

// putBack returns syncs that failed to the queue, without waking the
// loop: it wakes itself after its back-off.
func (q *syncQueue) putBack(reqs []listSync) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, r := range reqs {
		if r.ID == "" {
			q.all = true
			continue
		}
		q.merge(r)
	}
}

// merge adds req's news to its list's waiting sync; q.mu is held.
func (q *syncQueue) merge(req listSync) {
	news := q.lists[req.ID]
	for _, it := range req.News {
		if !slices.Contains(news, it) {
			news = append(news, it)
		}
	}
	q.lists[req.ID] = news
}

const (
	syncRetryBase  = time.Second
	syncRetryLimit = time.Minute
)

// syncLoop re-syncs lists one request at a time, so diffs never race. A
// failed sync is retried on the engine clock with a growing back-off
// until it succeeds or ctx ends.
func (b *Bridge) syncLoop(ctx context.Context) {
	sleep := retry.ClockSleep(b.o.Clock)
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-b.syncs.wake:
		}
		var failed []listSync
		for _, req := range b.syncs.take() {
			if err := b.syncLists(ctx, req); err != nil && ctx.Err() == nil {
				b.log.Warn("list sync failed; will retry", "list", req.ID, "err", err)
				failed = append(failed, req)
			}
		}
		if len(failed) == 0 {
			failures = 0
			continue
		}
		b.syncs.putBack(failed)
		if sleep(ctx, retry.Backoff(failures, syncRetryBase, syncRetryLimit)) != nil {
			return
		}
		failures++
		b.syncs.poke()
	}
}
