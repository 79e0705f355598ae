package engine_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/alexarules/alexarules/engine"
)

var q0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// fires records the calls of a queue's fire function as "+offset:[keys]".
type fires struct {
	mu    sync.Mutex
	clock engine.Clock
	calls []string
	hook  func(due []string)
}

func (f *fires) fire(due []string) {
	f.mu.Lock()
	f.calls = append(f.calls, fmt.Sprintf("+%v:%v", f.clock.Now().Sub(q0), due))
	hook := f.hook
	f.mu.Unlock()
	if hook != nil {
		hook(due)
	}
}

func (f *fires) take() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.calls
	f.calls = nil
	return out
}

func newQueue(t *testing.T) (*engine.Virtual, *engine.TimerQueue[string], *fires) {
	t.Helper()
	v := engine.NewVirtual(q0)
	f := &fires{clock: v}
	return v, engine.NewTimerQueue(v, f.fire), f
}

func expect(t *testing.T, f *fires, want ...string) {
	t.Helper()
	if got := f.take(); !slices.Equal(got, want) {
		t.Errorf("fire calls %q, want %q", got, want)
	}
}

func TestTimerQueueOrderAndTies(t *testing.T) {
	v, q, f := newQueue(t)
	for _, s := range []struct {
		key string
		at  time.Duration
	}{{"a", 10 * time.Second}, {"b", 5 * time.Second}, {"c", 10 * time.Second}, {"d", 5 * time.Second}, {"e", 7 * time.Second}} {
		q.Schedule(s.key, q0.Add(s.at))
	}
	if v.Pending() != 1 || q.Len() != 5 {
		t.Fatalf("%d clock timers for %d keys, want 1", v.Pending(), q.Len())
	}
	v.Advance(6 * time.Second)
	expect(t, f, "+5s:[b d]")
	v.Advance(time.Minute)
	expect(t, f, "+7s:[e]", "+10s:[a c]")
	if v.Pending() != 0 || q.Len() != 0 {
		t.Errorf("%d clock timers and %d keys left", v.Pending(), q.Len())
	}
}

func TestTimerQueueReschedule(t *testing.T) {
	v, q, f := newQueue(t)
	q.Schedule("a", q0.Add(10*time.Second))
	q.Schedule("b", q0.Add(20*time.Second))
	q.Schedule("c", q0.Add(20*time.Second))
	q.Schedule("a", q0.Add(20*time.Second)) // moved: after b and c
	q.Schedule("c", q0.Add(20*time.Second)) // same time: keeps its place
	q.Schedule("d", q0.Add(30*time.Second))
	q.Schedule("d", q0.Add(5*time.Second)) // earlier: the clock timer follows
	if v.Pending() != 1 {
		t.Fatalf("%d clock timers, want 1", v.Pending())
	}
	v.Advance(time.Minute)
	expect(t, f, "+5s:[d]", "+20s:[b c a]")
}

func TestTimerQueueCancel(t *testing.T) {
	v, q, f := newQueue(t)
	q.Schedule("a", q0.Add(time.Second))
	q.Schedule("b", q0.Add(2*time.Second))
	if !q.Cancel("a") || q.Cancel("a") || q.Cancel("never") {
		t.Fatal("Cancel must report true once, for a pending key")
	}
	v.Advance(3 * time.Second)
	expect(t, f, "+2s:[b]")
	if q.Cancel("b") {
		t.Error("Cancel of a key that fired reported it pending")
	}
	q.Schedule("c", q0.Add(time.Hour))
	q.Cancel("c")
	if v.Pending() != 0 {
		t.Errorf("%d clock timers armed with nothing pending", v.Pending())
	}
}

// TestTimerQueueFromFire: fire cancels and schedules keys, its own
// included, inside Advance.
func TestTimerQueueFromFire(t *testing.T) {
	v, q, f := newQueue(t)
	f.hook = func(due []string) {
		for _, k := range due {
			switch k {
			case "tick": // periodic: schedules itself again
				if q.Cancel("tick") {
					t.Error("a key handed to fire was still pending")
				}
				if v.Now().Before(q0.Add(3 * time.Second)) {
					q.Schedule("tick", v.Now().Add(time.Second))
				}
			case "killer":
				if !q.Cancel("victim") {
					t.Error("Cancel from fire did not find a pending key")
				}
				q.Schedule("now", v.Now()) // due at once: still in this Advance
			}
		}
	}
	q.Schedule("tick", q0.Add(time.Second))
	q.Schedule("killer", q0.Add(1500*time.Millisecond))
	q.Schedule("victim", q0.Add(2*time.Second))
	v.Advance(10 * time.Second)
	expect(t, f, "+1s:[tick]", "+1.5s:[killer]", "+1.5s:[now]", "+2s:[tick]", "+3s:[tick]")
	if q.Len() != 0 || v.Pending() != 0 {
		t.Errorf("%d keys, %d clock timers left", q.Len(), v.Pending())
	}
}

func TestTimerQueueScheduleAll(t *testing.T) {
	v, q, f := newQueue(t)
	q.Schedule("a", q0.Add(3*time.Second))
	q.ScheduleAll(func(yield func(string, time.Time) bool) {
		for i, k := range []string{"b", "c", "a", "d"} {
			if !yield(k, q0.Add(time.Duration(4-i%2)*time.Second)) {
				return
			}
		}
	})
	if v.Pending() != 1 || q.Len() != 4 {
		t.Fatalf("%d clock timers for %d keys, want 1 for 4", v.Pending(), q.Len())
	}
	v.Advance(time.Minute)
	expect(t, f, "+3s:[c d]", "+4s:[b a]")
}

func TestTimerQueueClearAndStop(t *testing.T) {
	v, q, f := newQueue(t)
	q.Schedule("a", q0.Add(time.Second))
	q.Clear()
	if q.Len() != 0 || v.Pending() != 0 {
		t.Fatalf("after Clear: %d keys, %d clock timers", q.Len(), v.Pending())
	}
	q.Schedule("b", q0.Add(2*time.Second)) // usable after Clear
	q.Stop()
	q.Schedule("c", q0.Add(3*time.Second)) // ignored after Stop
	if q.Len() != 0 || v.Pending() != 0 {
		t.Fatalf("after Stop: %d keys, %d clock timers", q.Len(), v.Pending())
	}
	v.Advance(time.Minute)
	expect(t, f)
}

// TestTimerQueueStopWaitsForFire: Stop returns only after the fire call in
// progress has returned.
func TestTimerQueueStopWaitsForFire(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		entered, release := make(chan struct{}), make(chan struct{})
		var returned atomic.Bool
		q := engine.NewTimerQueue(engine.RealClock{}, func([]string) {
			close(entered)
			<-release
			returned.Store(true)
		})
		q.Schedule("a", time.Now().Add(time.Second))
		<-entered
		stopped := make(chan struct{})
		go func() { q.Stop(); close(stopped) }()
		synctest.Wait() // Stop is waiting, fire is blocked
		select {
		case <-stopped:
			t.Fatal("Stop returned while fire was running")
		default:
		}
		close(release)
		<-stopped
		if !returned.Load() {
			t.Error("Stop returned before fire did")
		}
	})
}

// TestTimerQueueDueWhileFiring: a key that falls due while fire runs (on
// the wall clock, in another goroutine) fires after it, never at the same
// time, and is not lost.
func TestTimerQueueDueWhileFiring(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		var mu sync.Mutex
		var got []string
		running := 0
		q := engine.NewTimerQueue(engine.RealClock{}, func(due []string) {
			mu.Lock()
			running++
			if running > 1 {
				t.Error("fire calls overlap")
			}
			got = append(got, strings.Join(due, ","))
			mu.Unlock()
			if due[0] == "slow" {
				<-release
			}
			mu.Lock()
			running--
			mu.Unlock()
		})
		q.Schedule("slow", time.Now().Add(time.Second))
		time.Sleep(2 * time.Second) // fake time: slow is firing
		q.Schedule("next", time.Now().Add(time.Second))
		time.Sleep(5 * time.Second) // next fell due while slow runs
		close(release)
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		if want := []string{"slow", "next"}; !slices.Equal(got, want) {
			t.Errorf("fired %q, want %q", got, want)
		}
	})
}

func TestVirtualTiesAndWaitPending(t *testing.T) {
	v := engine.NewVirtual(q0)
	var got []int
	for i := range 5 {
		v.AfterFunc(time.Second, func() { got = append(got, i) })
	}
	v.Advance(time.Second)
	if !slices.Equal(got, []int{0, 1, 2, 3, 4}) {
		t.Errorf("functions due at the same time ran as %v, want insertion order", got)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	go func() {
		v.AfterFunc(time.Second, func() {})
		v.AfterFunc(time.Second, func() {})
	}()
	if err := v.WaitPending(ctx, 2); err != nil || v.Pending() < 2 {
		t.Fatalf("WaitPending: %v with %d pending", err, v.Pending())
	}
	short, cancelShort := context.WithCancel(t.Context())
	cancelShort()
	if err := v.WaitPending(short, 3); err == nil {
		t.Error("WaitPending returned nil with too few pending and its context done")
	}
}
