package schedule_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/engine/enginetest"
	"github.com/alexarules/alexarules/engine/schedule"
)

// recorder collects fire calls and acts as the persisted LastRuns.
type recorder struct {
	mu     sync.Mutex
	fires  []string
	last   map[string]time.Time
	onFire func(id string, at time.Time, late bool)
	setErr error
}

func newRecorder() *recorder { return &recorder{last: map[string]time.Time{}} }

func (r *recorder) fire(id string, at time.Time, late bool) {
	r.mu.Lock()
	s := id + "@" + at.UTC().Format("01-02T15:04:05")
	if late {
		s += " late"
	}
	r.fires = append(r.fires, s)
	hook := r.onFire
	r.mu.Unlock()
	if hook != nil {
		hook(id, at, late)
	}
}

func (r *recorder) LastRun(id string) (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.last[id]
	return t, ok
}

func (r *recorder) SetLastRun(id string, t time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.last[id] = t
	return r.setErr
}

// take returns and clears the fires so far.
func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.fires
	r.fires = nil
	return out
}

func entry(t testing.TB, id, spec, missed string) schedule.Entry {
	t.Helper()
	m, err := schedule.ParseMissed(missed)
	if err != nil {
		t.Fatal(err)
	}
	var s schedule.Spec
	if strings.ContainsAny(spec[:1], "@*0123456789") {
		s, err = schedule.ParseCron(spec, time.UTC)
	} else {
		s, err = schedule.ParseSchedule(spec, time.UTC)
	}
	if err != nil {
		t.Fatal(err)
	}
	return schedule.Entry{ID: id, Spec: s, Missed: m}
}

// start runs s until the test ends and returns once Run has finished its
// start-up (catch-up fires done, timer armed).
func start(t *testing.T, s *schedule.Scheduler, v *engine.Virtual, wantPending int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	enginetest.WaitPending(t, v, wantPending)
}

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestEverySecondForAMinute(t *testing.T) {
	v := engine.NewVirtual(t0)
	rec := newRecorder()
	s := schedule.New(v, rec.fire, rec, nil)
	s.Set([]schedule.Entry{entry(t, "tick", "@every 1s", "")})
	start(t, s, v, 1)

	v.Advance(time.Minute)
	got := rec.take()
	if len(got) != 60 {
		t.Fatalf("fired %d times in a minute, want 60: %v", len(got), got)
	}
	for i, f := range got {
		if want := fmt.Sprintf("tick@01-01T00:%02d:%02d", (i+1)/60, (i+1)%60); f != want {
			t.Errorf("fire %d = %s, want %s", i, f, want)
		}
	}
	if last, _ := rec.LastRun("tick"); !last.Equal(t0.Add(time.Minute)) {
		t.Errorf("LastRun = %v, want %v", last, t0.Add(time.Minute))
	}
	// Advancing in odd steps changes nothing.
	for range 10 {
		v.Advance(700 * time.Millisecond)
	}
	if got := rec.take(); len(got) != 7 {
		t.Errorf("fired %d times in 7s, want 7: %v", len(got), got)
	}
}

func TestMissedAtStart(t *testing.T) {
	now := time.Date(2026, 1, 3, 7, 20, 0, 0, time.UTC) // 20 minutes after today's 07:00
	tests := []struct {
		name, spec, missed string
		last               time.Time // zero: never ran
		want               []string
	}{
		{"skip by default", "daily 07:00", "", now.Add(-50 * time.Hour), nil},
		{"skip", "daily 07:00", "skip", now.Add(-50 * time.Hour), nil},
		{"run once, latest occurrence", "daily 07:00", "run", now.Add(-50 * time.Hour), []string{"e@01-03T07:00:00 late"}},
		{"within the window", "daily 07:00", "30m", now.Add(-24 * time.Hour), []string{"e@01-03T07:00:00 late"}},
		{"outside the window", "daily 07:00", "15m", now.Add(-24 * time.Hour), nil},
		{"never ran: no catch-up", "daily 07:00", "run", time.Time{}, nil},
		{"already ran that occurrence", "daily 07:00", "run", time.Date(2026, 1, 3, 7, 0, 0, 0, time.UTC), nil},
		{"nothing missed", "daily 07:00", "run", time.Date(2026, 1, 3, 7, 10, 0, 0, time.UTC), nil},
		{"dense schedule: only the latest", "@every 1s", "run", now.Add(-100 * time.Hour), []string{"e@01-03T07:20:00 late"}},
		{"dense window schedule", "every 7m between 06:00 and 07:00", "run", now.Add(-300 * time.Hour), []string{"e@01-03T06:57:00 late"}},
		{"clock behind the last run", "daily 07:00", "run", now.Add(48 * time.Hour), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := engine.NewVirtual(now)
			rec := newRecorder()
			if !tt.last.IsZero() {
				rec.last["e"] = tt.last
			}
			s := schedule.New(v, rec.fire, rec, nil)
			s.Set([]schedule.Entry{entry(t, "e", tt.spec, tt.missed)})
			start(t, s, v, 1)
			if got := rec.take(); !slices.Equal(got, tt.want) {
				t.Errorf("fires at start = %v, want %v", got, tt.want)
			}
			last, ok := rec.LastRun("e")
			switch {
			case len(tt.want) > 0 && !strings.Contains(tt.want[0], last.UTC().Format("01-02T15:04:05")):
				t.Errorf("LastRun after the late run = %v", last)
			case len(tt.want) == 0 && (ok != !tt.last.IsZero() || !last.Equal(tt.last)):
				t.Errorf("LastRun changed without a run: %v", last)
			}
		})
	}
}

func TestMissedThenRegularSchedule(t *testing.T) {
	now := time.Date(2026, 1, 3, 9, 0, 0, 0, time.UTC)
	v := engine.NewVirtual(now)
	rec := newRecorder()
	rec.last["e"] = now.Add(-48 * time.Hour)
	s := schedule.New(v, rec.fire, rec, nil)
	s.Set([]schedule.Entry{entry(t, "e", "daily 07:00", "run")})
	start(t, s, v, 1)
	v.Advance(48 * time.Hour)
	want := []string{"e@01-03T07:00:00 late", "e@01-04T07:00:00", "e@01-05T07:00:00"}
	if got := rec.take(); !slices.Equal(got, want) {
		t.Errorf("fires = %v, want %v", got, want)
	}
}

// TestNoOccurrenceTwiceAcrossRestart stops and restarts the scheduler at
// the instant it fired, with missed = run.
func TestNoOccurrenceTwiceAcrossRestart(t *testing.T) {
	v := engine.NewVirtual(t0)
	rec := newRecorder()
	e := entry(t, "e", "daily 07:00", "run")

	s := schedule.New(v, rec.fire, rec, nil)
	s.Set([]schedule.Entry{e})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	enginetest.WaitPending(t, v, 1)
	v.Advance(7 * time.Hour)
	cancel()
	<-done
	v.Advance(time.Hour) // nothing runs while stopped

	// A new process: fresh Scheduler, same store.
	s2 := schedule.New(v, rec.fire, rec, nil)
	s2.Set([]schedule.Entry{e})
	start(t, s2, v, 1)
	v.Advance(24 * time.Hour)
	want := []string{"e@01-01T07:00:00", "e@01-02T07:00:00"}
	if got := rec.take(); !slices.Equal(got, want) {
		t.Errorf("fires = %v, want %v", got, want)
	}
}

func TestRestartSameSchedulerCatchesUp(t *testing.T) {
	v := engine.NewVirtual(t0)
	rec := newRecorder()
	s := schedule.New(v, rec.fire, nil, nil) // nothing persisted: memory only
	s.Set([]schedule.Entry{entry(t, "e", "daily 07:00", "run")})
	for round := range 2 {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx) }()
		enginetest.WaitPending(t, v, 1)
		v.Advance(8 * time.Hour)
		cancel()
		<-done
		if round == 0 {
			v.Advance(24 * time.Hour) // down over 01-02 07:00
		}
	}
	want := []string{"e@01-01T07:00:00", "e@01-02T07:00:00 late"}
	if got := rec.take(); !slices.Equal(got, want) {
		t.Errorf("fires = %v, want %v", got, want)
	}
}

func TestSetReplaces(t *testing.T) {
	v := engine.NewVirtual(t0)
	rec := newRecorder()
	s := schedule.New(v, rec.fire, rec, nil)
	s.Set([]schedule.Entry{
		entry(t, "keep", "every 10s", ""),
		entry(t, "change", "every 15s", ""),
		entry(t, "drop", "every 20s", ""),
	})
	start(t, s, v, 1)
	v.Advance(30 * time.Second)
	want := []string{"keep@01-01T00:00:10", "change@01-01T00:00:15", "drop@01-01T00:00:20", "keep@01-01T00:00:20", "change@01-01T00:00:30", "keep@01-01T00:00:30"}
	if got := rec.take(); !slices.Equal(got, want) {
		t.Errorf("before reload fires = %v, want %v", got, want)
	}

	v.Advance(5 * time.Second)
	s.Set([]schedule.Entry{
		entry(t, "keep", "every 10s", "run"), // same spec, other policy: keeps its schedule
		entry(t, "change", "every 25s", ""),
		entry(t, "new", "every 12s", ""),
	})
	if got := s.NextRuns("drop", 1); got != nil {
		t.Errorf("NextRuns of a dropped entry = %v", got)
	}
	if got := s.NextRuns("change", 2); !slices.EqualFunc(got, []time.Time{t0.Add(50 * time.Second), t0.Add(75 * time.Second)}, time.Time.Equal) {
		t.Errorf("NextRuns(change) = %v", got)
	}
	v.Advance(15 * time.Second) // to 00:50
	want = []string{"new@01-01T00:00:36", "keep@01-01T00:00:40", "new@01-01T00:00:48", "change@01-01T00:00:50", "keep@01-01T00:00:50"}
	if got := rec.take(); !slices.Equal(got, want) {
		t.Errorf("after reload fires = %v, want %v", got, want)
	}

	s.Set(nil)
	v.Advance(time.Minute)
	if got := rec.take(); len(got) != 0 {
		t.Errorf("fires after removing all entries: %v", got)
	}
	if v.Pending() != 0 {
		t.Errorf("%d timers pending with no entries", v.Pending())
	}
}

// TestSetFromFire reloads from inside the fire callback, which on a
// Virtual clock runs inside Advance: no deadlock, no repeated occurrence.
func TestSetFromFire(t *testing.T) {
	v := engine.NewVirtual(t0)
	rec := newRecorder()
	s := schedule.New(v, rec.fire, rec, nil)
	same := entry(t, "a", "every 10s", "")
	other := entry(t, "a", "every 5s", "")
	reloads := 0
	rec.onFire = func(id string, at time.Time, late bool) {
		reloads++
		switch reloads {
		case 1:
			s.Set([]schedule.Entry{same}) // unchanged
		default:
			s.Set([]schedule.Entry{other}) // changed on the 2nd fire, then unchanged
		}
		_ = s.NextRuns("a", 3)
	}
	s.Set([]schedule.Entry{same})
	start(t, s, v, 1)
	v.Advance(30 * time.Second)
	want := []string{"a@01-01T00:00:10", "a@01-01T00:00:20", "a@01-01T00:00:25", "a@01-01T00:00:30"}
	if got := rec.take(); !slices.Equal(got, want) {
		t.Errorf("fires = %v, want %v", got, want)
	}
}

func TestFirePanicDoesNotStopScheduler(t *testing.T) {
	v := engine.NewVirtual(t0)
	rec := newRecorder()
	rec.onFire = func(id string, at time.Time, late bool) {
		if at.Second() == 2 {
			panic("rule engine bug")
		}
	}
	s := schedule.New(v, rec.fire, rec, nil)
	s.Set([]schedule.Entry{entry(t, "e", "@every 1s", "")})
	start(t, s, v, 1)
	v.Advance(4 * time.Second)
	if got := rec.take(); len(got) != 4 {
		t.Errorf("fires = %v, want 4", got)
	}
}

func TestSetLastRunErrorKeepsRunning(t *testing.T) {
	v := engine.NewVirtual(t0)
	rec := newRecorder()
	rec.setErr = errors.New("disk full")
	s := schedule.New(v, rec.fire, rec, nil)
	s.Set([]schedule.Entry{entry(t, "e", "@every 1s", "")})
	start(t, s, v, 1)
	v.Advance(3 * time.Second)
	if got := rec.take(); len(got) != 3 {
		t.Errorf("fires = %v, want 3", got)
	}
}

func TestRunTwice(t *testing.T) {
	v := engine.NewVirtual(t0)
	rec := newRecorder()
	s := schedule.New(v, rec.fire, nil, nil)
	s.Set([]schedule.Entry{entry(t, "e", "@every 1s", "")})
	start(t, s, v, 1)
	if err := s.Run(context.Background()); err == nil {
		t.Error("second concurrent Run returned nil error")
	}
}

func TestStopsWithContext(t *testing.T) {
	v := engine.NewVirtual(t0)
	rec := newRecorder()
	s := schedule.New(v, rec.fire, nil, nil)
	s.Set([]schedule.Entry{entry(t, "e", "@every 1s", "")})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	enginetest.WaitPending(t, v, 1)
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v, want nil after cancel", err)
	}
	v.Advance(time.Minute)
	if got := rec.take(); len(got) != 0 {
		t.Errorf("fired after Run ended: %v", got)
	}
	if got := s.NextRuns("e", 2); !slices.EqualFunc(got, []time.Time{t0.Add(61 * time.Second), t0.Add(62 * time.Second)}, time.Time.Equal) {
		t.Errorf("NextRuns while stopped = %v", got)
	}
}

func TestDSTOnScheduler(t *testing.T) {
	ny := mustLoad(t, "America/New_York")
	v := engine.NewVirtual(time.Date(2026, 3, 7, 12, 0, 0, 0, ny))
	rec := newRecorder()
	s := schedule.New(v, rec.fire, rec, nil)
	daily := parse(t, "schedule", "daily 02:30", ny)
	every := parse(t, "schedule", "every 30m between 01:00 and 04:00", ny)
	s.Set([]schedule.Entry{{ID: "daily", Spec: daily}, {ID: "every", Spec: every}})
	start(t, s, v, 1)
	v.Advance(24 * time.Hour)
	want := []string{
		"every@03-08T06:00:00", "every@03-08T06:30:00", // 01:00, 01:30 EST
		"daily@03-08T07:00:00", "every@03-08T07:00:00", // 03:00 EDT
		"every@03-08T07:30:00", "every@03-08T08:00:00", // 03:30, 04:00 EDT
	}
	if got := rec.take(); !slices.Equal(got, want) {
		t.Errorf("fires = %v, want %v", got, want)
	}
}

// TestManyEntriesOneTimer: 60 entries with periods of 2, 3 and 5 s fire in
// time order, those due together by id, with one clock timer pending
// between fires, however many entries there are.
func TestManyEntriesOneTimer(t *testing.T) {
	v := engine.NewVirtual(t0)
	rec := newRecorder()
	s := schedule.New(v, rec.fire, rec, nil)
	periods := []int{5, 3, 2}
	var entries []schedule.Entry
	for i := range 60 {
		entries = append(entries, entry(t, fmt.Sprintf("e%02d", i), fmt.Sprintf("@every %ds", periods[i%3]), ""))
	}
	s.Set(entries)
	start(t, s, v, 1)
	var want []string
	for sec := 1; sec <= 30; sec++ {
		for i := range 60 {
			if sec%periods[i%3] == 0 {
				want = append(want, fmt.Sprintf("e%02d@01-01T00:00:%02d", i, sec))
			}
		}
		v.Advance(time.Second)
		if v.Pending() != 1 {
			t.Fatalf("%d clock timers pending at +%ds, want 1", v.Pending(), sec)
		}
	}
	if got := rec.take(); !slices.Equal(got, want) {
		t.Errorf("fires = %v\nwant %v", got, want)
	}
}
