package engine_test

import (
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/alexarules/alexarules/engine"
)

// BenchmarkTimerQueue measures a queue holding 10,000 keys on the wall
// clock, due hours ahead so none fires: one op is one change.
func BenchmarkTimerQueue(b *testing.B) {
	const n = 10_000
	setup := func(b *testing.B) (*engine.TimerQueue[string], []string, time.Time, *rand.Rand) {
		q := engine.NewTimerQueue(engine.RealClock{}, func([]string) { b.Error("a key fell due") })
		b.Cleanup(q.Stop)
		rng := rand.New(rand.NewPCG(1, 2))
		base := time.Now().Add(time.Hour)
		keys := make([]string, n)
		for i := range keys {
			keys[i] = "key-" + strconv.Itoa(i)
			q.Schedule(keys[i], base.Add(time.Duration(rng.Int64N(int64(time.Hour)))))
		}
		return q, keys, base, rng
	}
	b.Run("cancel_and_schedule_10k", func(b *testing.B) {
		q, keys, base, rng := setup(b)
		for b.Loop() {
			k := keys[rng.IntN(n)]
			q.Cancel(k)
			q.Schedule(k, base.Add(time.Duration(rng.Int64N(int64(time.Hour)))))
		}
	})
	b.Run("reschedule_10k", func(b *testing.B) {
		q, keys, base, rng := setup(b)
		for b.Loop() {
			q.Schedule(keys[rng.IntN(n)], base.Add(time.Duration(rng.Int64N(int64(time.Hour)))))
		}
	})
}

// BenchmarkTimerQueueFire fires 10,000 keys due at distinct times on a
// Virtual clock, each scheduling itself again: one op is one fire, clock
// timer included.
func BenchmarkTimerQueueFire(b *testing.B) {
	const n = 10_000
	v := engine.NewVirtual(q0)
	var q *engine.TimerQueue[int]
	q = engine.NewTimerQueue(v, func(due []int) {
		for _, k := range due {
			q.Schedule(k, v.Now().Add(time.Duration(n)*time.Millisecond))
		}
	})
	for i := range n {
		q.Schedule(i, q0.Add(time.Duration(i+1)*time.Millisecond))
	}
	for b.Loop() {
		v.Advance(time.Millisecond)
	}
	if q.Len() != n {
		b.Fatalf("%d keys pending, want %d", q.Len(), n)
	}
}
