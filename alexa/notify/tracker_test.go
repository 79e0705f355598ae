package notify_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexarules/alexarules/alexa/notify"
	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/engine/enginetest"
	"github.com/alexarules/alexarules/engine/store"
)

// env is one tracker process: a virtual clock, a store file and the
// events the tracker emitted.
type env struct {
	t     *testing.T
	clock *engine.Virtual
	path  string
	loc   *time.Location
	grace time.Duration

	st     *store.Store
	tr     *notify.Tracker
	cancel context.CancelFunc
	done   chan error

	mu     sync.Mutex
	events []notify.Event
}

func newEnv(t *testing.T, loc *time.Location, now time.Time) *env {
	t.Helper()
	e := &env{t: t, clock: engine.NewVirtual(now), path: filepath.Join(t.TempDir(), "state.db"), loc: loc}
	e.open()
	t.Cleanup(e.stop)
	return e
}

// open starts a tracker process on the store file (a restart when one ran
// before).
func (e *env) open() {
	e.t.Helper()
	st, err := store.Open(e.path, store.Options{})
	if err != nil {
		e.t.Fatal(err)
	}
	e.st = st
	e.tr, err = notify.NewTracker(notify.Options{
		Clock:    e.clock,
		Store:    st,
		Location: func(string) *time.Location { return e.loc },
		Grace:    e.grace,
		Emit: func(ev notify.Event) {
			if ev.State == notify.StateRinging {
				// Exactly once: the ring carries the record of its
				// occurrence, for the publisher to make durable with it
				// (engine.Event.Writes); here, as a publisher would.
				key := "fired/" + ev.Notification.ID + "/" + fmt.Sprint(ev.Time.UnixMilli())
				if !slices.ContainsFunc(ev.Writes, func(w engine.Write) bool { return w.Bucket == notify.Bucket && w.Key == key }) {
					e.t.Errorf("ringing %s emitted without the record %s: %+v", ev.Notification.ID, key, ev.Writes)
				}
				for _, w := range ev.Writes {
					if err := st.Put(w.Bucket, w.Key, w.Value); err != nil {
						e.t.Error(err)
					}
				}
			}
			e.mu.Lock()
			e.events = append(e.events, ev)
			e.mu.Unlock()
		},
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

// run starts Run and waits until it has armed wantPending clock timers
// (its start-up, late rings included, is then complete).
func (e *env) run(wantPending int) {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel, e.done = cancel, make(chan error, 1)
	go func() { e.done <- e.tr.Run(ctx) }()
	e.waitPending(wantPending)
}

// waitPending waits until n clock timers are armed: after an Update made
// while Run may still be starting, the ring is armed either way.
func (e *env) waitPending(n int) {
	e.t.Helper()
	enginetest.WaitPending(e.t, e.clock, n)
}

// stop ends the process: Run returns, the store closes. Like kill -9 as
// far as the tracker knows: it writes nothing on the way out.
func (e *env) stop() {
	if e.cancel != nil {
		e.cancel()
		if err := <-e.done; err != nil {
			e.t.Errorf("Run: %v", err)
		}
		e.cancel = nil
	}
	if e.st != nil {
		if err := e.st.Close(); err != nil {
			e.t.Error(err)
		}
		e.st = nil
	}
}

func (e *env) restart(now time.Time, wantPending int) {
	e.t.Helper()
	e.stop()
	e.clock.Set(now)
	e.open()
	e.run(wantPending)
}

// take returns and clears the events so far, as "kind state id @time".
func (e *env) take() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, ev := range e.events {
		s := fmt.Sprintf("%s %s %s", strings.TrimPrefix(ev.Kind, "alexa."), ev.State, ev.Notification.ID)
		if ev.State == notify.StateRinging {
			s += " @" + ev.Time.In(e.loc).Format("01-02 15:04:05 MST")
			if ev.Late {
				s += " late"
			}
		}
		out = append(out, s)
	}
	e.events = nil
	return out
}

func (e *env) expect(want ...string) {
	e.t.Helper()
	if got := e.take(); !slices.Equal(got, want) {
		e.t.Errorf("events:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func (e *env) update(objs ...map[string]any) {
	e.t.Helper()
	list := make([]json.RawMessage, len(objs))
	for i, o := range objs {
		list[i] = obj(e.t, o)
	}
	e.tr.Update(list, e.clock.Now())
}

func with(m map[string]any, kv ...any) map[string]any {
	out := map[string]any{}
	maps.Copy(out, m)
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

func TestAlarmAFewSecondsAheadRingsOnce(t *testing.T) {
	loc := zone(t, "Europe/Berlin")
	e := newEnv(t, loc, at(t, loc, "2026-04-01 06:59:55"))
	e.update() // the first list is the baseline
	e.run(0)
	e.update(alarm("2026-04-01", "07:00:00.000", "", nil))
	e.waitPending(1)
	e.expect("alarm created A1-SERIAL-1")
	e.clock.Advance(4 * time.Second)
	e.expect()
	e.clock.Advance(time.Second)
	e.expect("alarm ringing A1-SERIAL-1 @04-01 07:00:00 CEST")
	// A re-fetch of the same version, and time passing, ring nothing more.
	e.update(alarm("2026-04-01", "07:00:00.000", "", nil))
	e.clock.Advance(48 * time.Hour)
	e.expect()
	if e.clock.Pending() != 0 {
		t.Errorf("%d clock timers pending for a one-shot that rang", e.clock.Pending())
	}
}

func TestRestartDoesNotRingTwice(t *testing.T) {
	loc := zone(t, "Europe/Berlin")
	e := newEnv(t, loc, at(t, loc, "2026-04-01 06:59:55"))
	daily := alarm("2026-03-01", "07:00:00.000", "P1D", nil)
	e.update(daily)
	e.expect() // baseline
	e.run(1)
	e.clock.Advance(10 * time.Second)
	e.expect("alarm ringing A1-SERIAL-1 @04-01 07:00:00 CEST")

	// Restarted a few seconds after the ring: within the grace, but it
	// rang already.
	e.restart(at(t, loc, "2026-04-01 07:00:07"), 1)
	e.expect()
	// Tomorrow's ring still comes, once.
	e.clock.Set(at(t, loc, "2026-04-02 07:00:00"))
	e.expect("alarm ringing A1-SERIAL-1 @04-02 07:00:00 CEST")
	e.restart(at(t, loc, "2026-04-02 07:01:00"), 1)
	e.clock.Set(at(t, loc, "2026-04-02 23:00:00"))
	e.expect()
}

func TestRingDueWhileDown(t *testing.T) {
	loc := zone(t, "America/New_York")
	daily := alarm("2026-03-01", "07:00:00.000", "P1D", nil)
	e := newEnv(t, loc, at(t, loc, "2026-04-01 06:00:00"))
	e.update(daily)
	e.run(1)

	// Down over 07:00, back within the grace: it rings once, late.
	e.restart(at(t, loc, "2026-04-01 07:03:00"), 1)
	e.expect("alarm ringing A1-SERIAL-1 @04-01 07:00:00 EDT late")
	e.restart(at(t, loc, "2026-04-01 07:04:00"), 1)
	e.expect()

	// Down over the next 07:00 for longer than the grace: skipped.
	e.restart(at(t, loc, "2026-04-02 07:05:01"), 1)
	e.expect()
	e.clock.Set(at(t, loc, "2026-04-03 07:00:00"))
	e.expect("alarm ringing A1-SERIAL-1 @04-03 07:00:00 EDT")
}

func TestGraceOption(t *testing.T) {
	loc := time.UTC
	daily := alarm("2026-03-01", "07:00:00.000", "P1D", nil)
	for _, tt := range []struct {
		grace time.Duration
		down  time.Duration
		want  []string
	}{
		{time.Hour, 50 * time.Minute, []string{"alarm ringing A1-SERIAL-1 @04-01 07:00:00 UTC late"}},
		{time.Hour, 61 * time.Minute, nil},
		{-1, 2 * time.Second, nil},
	} {
		t.Run(fmt.Sprint(tt.grace, tt.down), func(t *testing.T) {
			e := newEnv(t, loc, at(t, loc, "2026-04-01 06:00:00"))
			e.grace = tt.grace
			e.update(daily)
			e.restart(at(t, loc, "2026-04-01 07:00:00").Add(tt.down), 1)
			e.expect(tt.want...)
		})
	}
}

func TestUpdateDiff(t *testing.T) {
	loc := time.UTC
	e := newEnv(t, loc, at(t, loc, "2026-04-01 06:00:00"))
	a := alarm("2026-03-01", "07:00:00.000", "P1D", map[string]any{"version": "3"})
	timer := map[string]any{"id": "T1", "type": "Timer", "status": "ON", "version": "1", "remainingTime": 600000, "timerLabel": "tea"}
	rem := map[string]any{"id": "R1", "type": "Reminder", "status": "ON", "version": "2", "alarmTime": at(t, loc, "2026-04-01 20:00:00").UnixMilli(), "reminderLabel": "bins"}
	other := map[string]any{"id": "X1", "type": "Birthday", "status": "ON", "version": "1"}

	e.update(a, other)
	e.expect() // baseline
	e.update(a, timer, rem, other)
	e.expect("timer created T1", "reminder created R1")
	// Same versions, the timer's remainingTime counting down: no change.
	e.clock.Advance(time.Minute)
	e.update(a, with(timer, "remainingTime", 540000), rem, other)
	e.expect()
	// An edit (+2) is a change; so is pausing a timer.
	e.update(with(a, "version", "5", "originalTime", "07:30:00.000"), with(timer, "version", "2", "status", "PAUSED"), rem)
	e.expect("alarm changed A1-SERIAL-1", "timer changed T1")
	snoozed := with(a, "version", "6", "originalTime", "07:30:00.000", "status", "SNOOZED", "snoozedToTime", at(t, loc, "2026-04-01 07:39:00").UnixMilli())
	e.update(snoozed, rem)
	e.expect("alarm snoozed A1-SERIAL-1", "timer deleted T1")
	e.update(with(snoozed, "version", "7", "snoozedToTime", at(t, loc, "2026-04-01 07:48:00").UnixMilli()), rem)
	e.expect("alarm snoozed A1-SERIAL-1")
	// +1 from SNOOZED to ON: dismissed; +1 from ON to OFF: dismissed too.
	e.update(with(a, "version", "8", "originalTime", "07:30:00.000"), with(rem, "version", "3", "status", "OFF"))
	e.expect("alarm dismissed A1-SERIAL-1", "reminder dismissed R1")
	// +1 from OFF is an edit, not a dismissal.
	e.update(with(a, "version", "8", "originalTime", "07:30:00.000"), with(rem, "version", "4", "status", "ON"))
	e.expect("reminder changed R1")
	e.update()
	e.expect("alarm deleted A1-SERIAL-1", "reminder deleted R1")

	// The stored list survives a restart: changes made while down are
	// reported against it.
	e.update(a, rem)
	e.expect("alarm created A1-SERIAL-1", "reminder created R1")
	e.restart(e.clock.Now(), 1)
	e.update(with(a, "version", "4"))
	e.expect("alarm dismissed A1-SERIAL-1", "reminder deleted R1")
}

func TestEventFields(t *testing.T) {
	loc := zone(t, "Europe/Berlin")
	e := newEnv(t, loc, at(t, loc, "2026-04-01 06:00:00"))
	e.update()
	e.run(0)
	e.update(alarm("2026-03-01", "07:00:00.000", "P1D", map[string]any{"alarmLabel": "work"}))
	e.waitPending(1)
	e.clock.Set(at(t, loc, "2026-04-01 07:00:00"))
	e.mu.Lock()
	evs := slices.Clone(e.events)
	e.mu.Unlock()
	if len(evs) != 2 {
		t.Fatalf("%d events, want created and ringing", len(evs))
	}
	created, ringing := evs[0], evs[1]
	seven, tomorrow := at(t, loc, "2026-04-01 07:00:00"), at(t, loc, "2026-04-02 07:00:00")
	if created.Kind != engine.KindAlarm || !created.Next.Equal(seven) || !created.Time.Equal(at(t, loc, "2026-04-01 06:00:00")) {
		t.Errorf("created = %+v", created)
	}
	if !ringing.Time.Equal(seven) || !ringing.Next.Equal(tomorrow) || ringing.Late || ringing.Notification.Label != "work" {
		t.Errorf("ringing = %+v", ringing)
	}
	want := map[string]any{"state": "ringing", "notification": map[string]any{
		"id": "A1-SERIAL-1", "label": "work", "time": float64(seven.Unix())}}
	if got := ringing.Data(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Data = %v, want %v", got, want)
	}
}

func TestTimerRemainingTimeRingsOnce(t *testing.T) {
	loc := time.UTC
	e := newEnv(t, loc, at(t, loc, "2026-04-01 10:00:00"))
	timer := map[string]any{"id": "T1", "type": "Timer", "status": "ON", "version": "1", "remainingTime": 60000}
	e.update()
	e.run(0)
	e.update(timer)
	e.waitPending(1)
	e.clock.Advance(30 * time.Second)
	// Fetched again, 30 s later and a little skewed: the ring does not move.
	e.tr.Update([]json.RawMessage{obj(t, with(timer, "remainingTime", 30500))}, e.clock.Now())
	e.clock.Advance(31 * time.Second)
	e.expect("timer created T1", "timer ringing T1 @04-01 10:01:00 UTC")
	e.update(with(timer, "remainingTime", 0))
	e.clock.Advance(time.Hour)
	e.expect()
	// Paused and resumed: a new version with a new ring.
	e.update(with(timer, "version", "2", "status", "PAUSED", "remainingTime", 20000))
	e.clock.Advance(time.Hour)
	e.update(with(timer, "version", "3", "status", "ON", "remainingTime", 20000))
	e.clock.Advance(20 * time.Second)
	e.expect("timer changed T1", "timer changed T1", "timer ringing T1 @04-01 12:01:21 UTC")
}

func TestSnoozeRings(t *testing.T) {
	loc := zone(t, "Europe/Berlin")
	e := newEnv(t, loc, at(t, loc, "2026-04-01 06:00:00"))
	a := alarm("2026-03-01", "07:00:00.000", "XXXX-WD", map[string]any{"version": "1"})
	e.update(a)
	e.run(1)
	e.clock.Set(at(t, loc, "2026-04-01 07:01:00"))
	e.update(with(a, "version", "2", "status", "SNOOZED", "snoozedToTime", at(t, loc, "2026-04-01 07:10:00").UnixMilli()))
	e.clock.Set(at(t, loc, "2026-04-01 07:11:00"))
	e.update(with(a, "version", "3"))
	e.clock.Set(at(t, loc, "2026-04-02 07:00:00"))
	e.expect(
		"alarm ringing A1-SERIAL-1 @04-01 07:00:00 CEST",
		"alarm snoozed A1-SERIAL-1",
		"alarm ringing A1-SERIAL-1 @04-01 07:10:00 CEST",
		"alarm dismissed A1-SERIAL-1",
		"alarm ringing A1-SERIAL-1 @04-02 07:00:00 CEST",
	)
}

// TestDSTOnVirtualClock runs daily alarms through both transitions of two
// zones: once per day, in the gap at its end, in the repeated hour at its
// first occurrence.
func TestDSTOnVirtualClock(t *testing.T) {
	tests := []struct {
		zone, clock, from, to string
		want                  []string
	}{
		{"America/New_York", "02:30:00.000", "2026-03-07 00:00:00", "2026-03-10 00:00:00", []string{
			"@03-07 02:30:00 EST", "@03-08 03:00:00 EDT", "@03-09 02:30:00 EDT"}},
		{"America/New_York", "01:30:00.000", "2026-10-31 00:00:00", "2026-11-03 00:00:00", []string{
			"@10-31 01:30:00 EDT", "@11-01 01:30:00 EDT", "@11-02 01:30:00 EST"}},
		{"Europe/Berlin", "02:30:00.000", "2026-03-28 00:00:00", "2026-03-31 00:00:00", []string{
			"@03-28 02:30:00 CET", "@03-29 03:00:00 CEST", "@03-30 02:30:00 CEST"}},
		{"Europe/Berlin", "02:30:00.000", "2026-10-24 00:00:00", "2026-10-27 00:00:00", []string{
			"@10-24 02:30:00 CEST", "@10-25 02:30:00 CEST", "@10-26 02:30:00 CET"}},
	}
	for _, tt := range tests {
		t.Run(tt.zone+" "+tt.from, func(t *testing.T) {
			loc := zone(t, tt.zone)
			e := newEnv(t, loc, at(t, loc, tt.from))
			e.update(alarm("2026-01-05", tt.clock, "P1D", nil))
			e.run(1)
			// Minute by minute, so a second arming in the repeated hour
			// would show.
			for end := at(t, loc, tt.to); e.clock.Now().Before(end); {
				e.clock.Advance(time.Minute)
			}
			var want []string
			for _, w := range tt.want {
				want = append(want, "alarm ringing A1-SERIAL-1 "+w)
			}
			e.expect(want...)
		})
	}
}

func TestNextAndList(t *testing.T) {
	berlin := zone(t, "Europe/Berlin")
	e := newEnv(t, berlin, at(t, berlin, "2026-11-17 09:00:00"))
	stale := alarm("2019-03-04", "06:45:00.000", "", map[string]any{
		"id": "OLD", "rRuleData": map[string]any{"recurrenceRules": []string{"FREQ=WEEKLY;BYDAY=MO"}}})
	off := alarm("2026-11-18", "05:00:00.000", "", map[string]any{"id": "OFF", "status": "OFF"})
	past := alarm("2026-11-01", "05:00:00.000", "", map[string]any{"id": "PAST"})
	soon := alarm("2026-11-30", "05:00:00.000", "", map[string]any{"id": "LATER"})
	elsewhere := alarm("2026-11-18", "04:00:00.000", "", map[string]any{"id": "KITCHEN", "deviceSerialNumber": "OTHER"})
	timer := map[string]any{"id": "T", "type": "Timer", "status": "ON", "remainingTime": 60000, "deviceSerialNumber": "SERIAL"}
	e.update(soon, off, stale, past, elsewhere, timer)

	u, ok := e.tr.Next("SERIAL", engine.KindAlarm)
	if want := at(t, berlin, "2026-11-23 06:45:00"); !ok || u.Notification.ID != "OLD" || !u.Time.Equal(want) || !u.Recurring {
		t.Errorf("Next = %+v, %v; want OLD at %v, recurring", u, ok, want)
	}
	if u, ok := e.tr.Next("", engine.KindAlarm); !ok || u.Notification.ID != "KITCHEN" {
		t.Errorf("Next on any device = %+v, %v; want KITCHEN", u, ok)
	}
	if u, ok := e.tr.Next("SERIAL", engine.KindTimer); !ok || !u.Time.Equal(e.clock.Now().Add(time.Minute)) {
		t.Errorf("Next timer = %+v, %v", u, ok)
	}
	if _, ok := e.tr.Next("SERIAL", engine.KindReminder); ok {
		t.Error("Next reminder found one")
	}
	var ids []string
	for _, u := range e.tr.List("serial", engine.KindAlarm) {
		ids = append(ids, u.Notification.ID)
	}
	if want := []string{"OLD", "LATER", "OFF", "PAST"}; !slices.Equal(ids, want) {
		t.Errorf("List = %v, want %v", ids, want)
	}
	// The week after, computed again from the rule.
	e.clock.Set(at(t, berlin, "2026-11-23 06:45:01"))
	if u, _ := e.tr.Next("SERIAL", engine.KindAlarm); u.Notification.ID != "LATER" {
		t.Errorf("after the ring, Next = %s at %v", u.Notification.ID, u.Time)
	}
}

func TestRunTwiceAndPanickingEmit(t *testing.T) {
	loc := time.UTC
	e := newEnv(t, loc, at(t, loc, "2026-04-01 06:59:00"))
	e.update(alarm("2026-03-01", "07:00:00.000", "P1D", nil))
	e.run(1)
	if err := e.tr.Run(context.Background()); err == nil {
		t.Error("a second Run succeeded")
	}

	st, err := store.Open(filepath.Join(t.TempDir(), "p.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var rang int
	tr, err := notify.NewTracker(notify.Options{Clock: e.clock, Store: st, Emit: func(ev notify.Event) {
		rang++
		panic("subscriber bug")
	}})
	if err != nil {
		t.Fatal(err)
	}
	tr.Update([]json.RawMessage{obj(t, alarm("2026-03-01", "07:00:00.000", "P1D", nil))}, e.clock.Now())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tr.Run(ctx) }()
	enginetest.WaitPending(t, e.clock, 2)
	e.clock.Set(at(t, loc, "2026-04-02 07:00:00"))
	cancel()
	<-done
	if rang != 2 {
		t.Errorf("emit called %d times after panics, want 2", rang)
	}
	if _, err := notify.NewTracker(notify.Options{Store: st}); err == nil {
		t.Error("NewTracker without a clock succeeded")
	}
}

// manualClock runs nothing by itself: the test moves the time and fires
// the armed function when it wants, to interleave a due ring and an Update.
type manualClock struct {
	mu      sync.Mutex
	now     time.Time
	f       func()
	armedCh chan struct{} // gets a value each time a function is armed
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) AfterFunc(d time.Duration, f func()) engine.Stopper {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.f = f
	select {
	case c.armedCh <- struct{}{}:
	default:
	}
	return stopper{}
}

func (c *manualClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// waitArmed waits until a function is armed, failing the test if none is
// within 10 s.
func (c *manualClock) waitArmed(t *testing.T) {
	t.Helper()
	select {
	case <-c.armedCh:
	case <-time.After(10 * time.Second):
		t.Fatal("nothing armed on the clock within 10 s")
	}
}

func (c *manualClock) fire() {
	c.mu.Lock()
	f := c.f
	c.mu.Unlock()
	if f != nil {
		f()
	}
}

type stopper struct{}

func (stopper) Stop() bool { return true }

// TestUpdateWhileRingIsDue: an edit that arrives between a ring falling due
// and its clock timer running does not lose the ring.
func TestUpdateWhileRingIsDue(t *testing.T) {
	loc := time.UTC
	clock := &manualClock{now: at(t, loc, "2026-04-01 06:59:00"), armedCh: make(chan struct{}, 1)}
	st, err := store.Open(filepath.Join(t.TempDir(), "s.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var got []string
	tr, err := notify.NewTracker(notify.Options{Clock: clock, Store: st, Emit: func(ev notify.Event) {
		got = append(got, ev.State+" "+ev.Notification.Label+" "+ev.Time.Format("15:04"))
	}})
	if err != nil {
		t.Fatal(err)
	}
	a := alarm("2026-03-01", "07:00:00.000", "P1D", map[string]any{"alarmLabel": "old"})
	tr.Update([]json.RawMessage{obj(t, a)}, clock.Now())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tr.Run(ctx) }()
	defer func() { cancel(); <-done }()
	clock.waitArmed(t) // Run armed the ring
	clock.set(at(t, loc, "2026-04-01 07:00:00.002"))
	tr.Update([]json.RawMessage{obj(t, with(a, "version", "3", "alarmLabel", "new"))}, clock.Now())
	clock.fire()
	want := []string{"changed new 07:00", "ringing new 07:00"}
	if !slices.Equal(got, want) {
		t.Errorf("events %q, want %q", got, want)
	}
}

// TestWithoutVersions: objects without a version field are compared by
// their schedule, so a running timer's remainingTime is no change.
func TestWithoutVersions(t *testing.T) {
	loc := time.UTC
	e := newEnv(t, loc, at(t, loc, "2026-04-01 10:00:00"))
	timer := map[string]any{"id": "T1", "type": "Timer", "status": "ON", "remainingTime": 60000}
	e.update()
	e.update(timer)
	e.clock.Advance(20 * time.Second)
	e.update(with(timer, "remainingTime", 40000))
	e.update(with(timer, "status", "PAUSED", "remainingTime", 40000))
	e.expect("timer created T1", "timer changed T1")
}

// TestRingsInTimeThenListOrderWithOneTimer: alarms due at the same time
// ring in list order, an edit moves a ring, a deletion takes it off, and
// one clock timer is pending however many notifications wait.
func TestRingsInTimeThenListOrderWithOneTimer(t *testing.T) {
	loc := time.UTC
	e := newEnv(t, loc, at(t, loc, "2026-04-01 06:00:00"))
	id := func(s string) map[string]any { return map[string]any{"id": s} }
	c := alarm("2026-04-01", "07:00:00.000", "", id("C"))
	a := alarm("2026-04-01", "07:00:00.000", "", id("A"))
	b := alarm("2026-04-01", "06:30:00.000", "", id("B"))
	gone := alarm("2026-04-01", "06:45:00.000", "", id("GONE"))
	moved := alarm("2026-04-01", "06:15:00.000", "", id("MOVED"))
	e.update(c, a, b, gone, moved) // the baseline
	e.run(1)
	if e.clock.Pending() != 1 {
		t.Fatalf("%d clock timers for five alarms, want 1", e.clock.Pending())
	}
	// A and C swap places in the list: the new order decides.
	e.update(a, c, b, with(moved, "version", "3", "originalTime", "07:00:00.000"))
	e.expect("alarm changed MOVED", "alarm deleted GONE")
	e.clock.Advance(2 * time.Hour)
	e.expect(
		"alarm ringing B @04-01 06:30:00 UTC",
		"alarm ringing A @04-01 07:00:00 UTC",
		"alarm ringing C @04-01 07:00:00 UTC",
		"alarm ringing MOVED @04-01 07:00:00 UTC")
	if e.clock.Pending() != 0 {
		t.Errorf("%d clock timers pending after every one-shot rang", e.clock.Pending())
	}
}
