package notify

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/alexarules/alexarules/engine"
)

// Event states (RULES.md §2, alexa.alarm / alexa.timer / alexa.reminder).
const (
	StateRinging   = "ringing"
	StateCreated   = "created"
	StateChanged   = "changed"
	StateDeleted   = "deleted"
	StateSnoozed   = "snoozed"
	StateDismissed = "dismissed"
)

// DefaultGrace is how late a ring may still be delivered when Options.Grace
// is zero.
const DefaultGrace = 5 * time.Minute

// Bucket is the engine.Store bucket the tracker keeps its state in: the
// last list ("snapshot") and the fired occurrences ("fired/<id>/<unix ms>").
const Bucket = "notify"

const (
	snapshotKey  = "snapshot"
	firedPrefix  = "fired/"
	minRetention = 48 * time.Hour
)

// Event is one change of a notification, or one of its rings.
type Event struct {
	Kind         string // engine.KindAlarm, engine.KindTimer or engine.KindReminder
	State        string // ringing, created, changed, deleted, snoozed, dismissed
	Notification Notification
	// Time is the occurrence's scheduled time for ringing, and when the
	// change was noticed (the clock at Update) otherwise.
	Time time.Time
	// Next is the notification's next ring after this event; zero when it
	// will not ring again (and for deleted).
	Next time.Time
	// Late is set on a ring delivered a second or more after its time: one
	// that fell due while the tracker was not running, or a clock timer
	// that fired late.
	Late bool
	// Writes, on a ring, record it as fired in the tracker's store bucket.
	// Emit must make them durable together with the event it publishes
	// (engine.Event.Writes does, in the transaction that accepts the
	// event): a crash then leaves the ring both fired and accepted, or
	// neither, and it rings exactly once, late if need be.
	Writes []engine.Write
}

// Data returns the event's RULES.md §3 fields as plain data: state and
// notification = { id, label, time } with time in epoch seconds (the ring
// for ringing, else the next ring, absent when there is none).
func (e Event) Data() map[string]any {
	n := map[string]any{"id": e.Notification.ID, "label": e.Notification.Label}
	at := e.Next
	if e.State == StateRinging {
		at = e.Time
	}
	if !at.IsZero() {
		n["time"] = float64(at.UnixMilli()) / 1000
	}
	d := map[string]any{"state": e.State, "notification": n}
	if e.Late {
		d["late"] = true
	}
	return d
}

// Upcoming is a notification with its next ring.
type Upcoming struct {
	Notification Notification
	Time         time.Time // zero when it will not ring
	Recurring    bool
}

// Options configure a Tracker.
type Options struct {
	Clock engine.Clock // required
	Store engine.Store // required; the tracker uses Bucket
	// Location returns an Echo's time zone (/api/device-preferences); nil,
	// or a nil result, means UTC. A notification's own timeZoneId wins
	// when it has one.
	Location func(deviceSerial string) *time.Location
	// Country is the account's ISO 3166-1 alpha-2 country, for the weekend
	// of the legacy XXXX-WD / XXXX-WE patterns.
	Country string
	// Emit receives every event, in order, one call at a time. It must not
	// call Update (it may call Next and List) and should return quickly.
	Emit func(Event)
	// Grace is how late a ring is still delivered: after a restart, for
	// occurrences that fell due while the tracker was down, and when a
	// clock timer fires late. Zero is DefaultGrace; negative delivers
	// only rings less than a second late.
	Grace  time.Duration
	Logger *slog.Logger
}

// Tracker keeps the current notifications of an account, rings them on the
// engine clock while Run runs, and reports changes. Its methods are safe
// for concurrent use.
//
// Exactly once: before a ring is emitted, its (notification id, occurrence)
// key is written to the store, durably. A crash between that write and the
// emit loses the ring rather than repeating it on restart: a rule that
// turns on a lamp at an alarm must not run twice, and a lost ring is
// visible in the log. When the write fails the ring is still emitted (and
// remembered in memory), since not ringing at all is the worse failure.
type Tracker struct {
	clock    engine.Clock
	store    engine.Store
	location func(string) *time.Location
	country  string
	emit     func(Event)
	grace    time.Duration
	log      *slog.Logger

	// emitMu serialises everything that emits, so events leave in the
	// order they were decided. Taken before mu.
	emitMu sync.Mutex

	mu       sync.Mutex
	items    map[string]*item
	order    []string            // ids in list order, for stable event order
	fired    map[string]struct{} // firedKey(id, occurrence)
	baseline bool                // a list has been seen (now or before a restart)
	running  bool
	queue    *engine.TimerQueue[string] // next rings by id, once Run has started
	zones    map[string]*time.Location  // loaded timeZoneId values; nil = unloadable
}

type item struct {
	n       Notification
	fetched time.Time // when the list that first held this version was fetched
	next    time.Time // next ring while running; zero when none
	pos     int       // index in Tracker.order
}

// storedSnapshot is the last list, as kept in the store.
type storedSnapshot struct {
	Items []storedItem `json:"items"`
}

type storedItem struct {
	Fetched time.Time       `json:"fetched"`
	Raw     json.RawMessage `json:"raw"`
}

// NewTracker returns a Tracker holding the list and the fired occurrences
// stored by an earlier run.
func NewTracker(o Options) (*Tracker, error) {
	if o.Clock == nil || o.Store == nil {
		return nil, errors.New("notify: tracker needs a clock and a store")
	}
	t := &Tracker{
		clock:    o.Clock,
		store:    o.Store,
		location: o.Location,
		country:  o.Country,
		emit:     o.Emit,
		grace:    o.Grace,
		log:      o.Logger,
		items:    map[string]*item{},
		fired:    map[string]struct{}{},
		zones:    map[string]*time.Location{},
	}
	if t.emit == nil {
		t.emit = func(Event) {}
	}
	if t.grace == 0 {
		t.grace = DefaultGrace
	}
	if t.log == nil {
		t.log = slog.New(slog.DiscardHandler)
	}
	raw, err := t.store.Get(Bucket, snapshotKey)
	if err != nil {
		return nil, fmt.Errorf("notify: load snapshot: %w", err)
	}
	if raw != nil {
		var s storedSnapshot
		if err := json.Unmarshal(raw, &s); err != nil {
			// A damaged snapshot costs one round of created events, not
			// the tracker.
			t.log.Error("stored notification list unreadable; starting empty", "err", err)
		}
		t.baseline = true
		for _, si := range s.Items {
			n, err := Parse(si.Raw)
			if err != nil || n.ID == "" {
				continue
			}
			t.items[n.ID] = &item{n: n, fetched: si.Fetched, pos: len(t.order)}
			t.order = append(t.order, n.ID)
		}
	}
	fired, err := t.store.List(Bucket, firedPrefix)
	if err != nil {
		return nil, fmt.Errorf("notify: load fired occurrences: %w", err)
	}
	for k := range fired {
		t.fired[strings.TrimPrefix(k, firedPrefix)] = struct{}{}
	}
	return t, nil
}

func firedKey(id string, at time.Time) string {
	return id + "/" + strconv.FormatInt(at.UnixMilli(), 10)
}

// Update takes a freshly fetched full list (/api/notifications →
// notifications[]) and reports what changed since the previous one:
// created, deleted, snoozed (status became SNOOZED, or the snooze moved),
// dismissed (the version rose by exactly 1 from ON or SNOOZED to ON or
// OFF; edits raise it by 2 or more), changed (any other version change).
// A list of the same version is no change, whatever remainingTime says.
// The very first list the tracker ever sees is a baseline: it reports
// nothing, since the notifications were not created now. While Run runs,
// rings are rescheduled from the new list.
func (t *Tracker) Update(list []json.RawMessage, fetchedAt time.Time) {
	t.emitMu.Lock()
	defer t.emitMu.Unlock()

	t.mu.Lock()
	now := t.clock.Now()
	if fetchedAt.IsZero() {
		fetchedAt = now
	}
	items := make(map[string]*item, len(list))
	order := make([]string, 0, len(list))
	var events []Event
	for _, raw := range list {
		n, err := Parse(raw)
		if err != nil || n.ID == "" {
			t.log.Warn("notification without an id ignored", "err", err)
			continue
		}
		if _, dup := items[n.ID]; dup {
			continue
		}
		old := t.items[n.ID]
		it := &item{n: n, fetched: fetchedAt}
		if old != nil && unchanged(old.n, n) {
			// remainingTime is relative to each fetch: keep the first
			// fetch of this version, so a re-fetch does not move the ring
			// (and cannot ring a timer again a few ms after it rang).
			it = &item{n: old.n, fetched: old.fetched}
		} else {
			t.checkRecurrence(n)
		}
		it.pos = len(order)
		items[n.ID] = it
		order = append(order, n.ID)
		if n.Kind() == "" {
			continue
		}
		from := now
		if old != nil && !old.next.IsZero() && old.next.Before(now) {
			// Due but its clock timer has not run yet (it waits for this
			// Update): keep that occurrence if the new version has it.
			from = old.next
		}
		next, _ := t.upcoming(it, from)
		if t.running {
			it.next = next
		}
		if !t.baseline {
			continue
		}
		if state := diff(old, n); state != "" {
			events = append(events, Event{Kind: n.Kind(), State: state, Notification: n, Time: now, Next: next})
		}
	}
	if t.baseline {
		for _, id := range t.order {
			if old, ok := t.items[id]; ok && items[id] == nil && old.n.Kind() != "" {
				events = append(events, Event{Kind: old.n.Kind(), State: StateDeleted, Notification: old.n, Time: now})
			}
		}
	}
	t.requeueLocked(items, order)
	t.items, t.order, t.baseline = items, order, true
	snap := t.snapshotLocked()
	t.mu.Unlock()

	if err := t.store.Put(Bucket, snapshotKey, snap); err != nil {
		t.log.Error("store notification list", "err", err)
	}
	t.prune(now)
	for _, e := range events {
		t.call(e)
	}
}

// diff names the change from old to n, or "" for none.
func diff(old *item, n Notification) string {
	if old == nil {
		return StateCreated
	}
	o := old.n
	if unchanged(o, n) {
		return ""
	}
	if n.Status == StatusSnoozed && (o.Status != StatusSnoozed || o.SnoozedToTime != n.SnoozedToTime) {
		return StateSnoozed
	}
	if (o.Status == StatusOn || o.Status == StatusSnoozed) && (n.Status == StatusOn || n.Status == StatusOff) {
		ov, err1 := strconv.ParseInt(o.Version, 10, 64)
		nv, err2 := strconv.ParseInt(n.Version, 10, 64)
		if err1 == nil && err2 == nil && nv == ov+1 {
			return StateDismissed
		}
	}
	return StateChanged
}

// unchanged reports whether b is the same version of notification a: the
// same version field or, for objects without one, the same schedule.
func unchanged(a, b Notification) bool {
	if a.Version != "" || b.Version != "" {
		return a.Version == b.Version
	}
	return fingerprint(a) == fingerprint(b)
}

// fingerprint is what a notification's schedule and identity consist of,
// leaving out remainingTime (it changes with every fetch).
func fingerprint(n Notification) string {
	return strings.Join([]string{n.Type, n.Status, n.Label, n.OriginalDate, n.OriginalTime,
		strconv.FormatInt(n.AlarmTime, 10), strconv.FormatInt(n.TriggerTime, 10),
		strconv.FormatInt(n.SnoozedToTime, 10), n.RecurringPattern,
		strings.Join(n.RRuleData.RecurrenceRules, "|")}, "\x00")
}

// checkRecurrence logs a recurrence that cannot be read, so a wrong ring
// time has a visible cause.
func (t *Tracker) checkRecurrence(n Notification) {
	rec := t.calendar(n).recurrence(n, time.UTC, t.clock.Now())
	if len(rec.unknown) > 0 {
		t.log.Warn("notification recurrence not understood", "id", n.ID, "kind", n.Kind(),
			"device", n.DeviceSerial, "unknown", rec.unknown)
	}
}

func (t *Tracker) snapshotLocked() []byte {
	s := storedSnapshot{Items: make([]storedItem, 0, len(t.order))}
	for _, id := range t.order {
		it := t.items[id]
		s.Items = append(s.Items, storedItem{Fetched: it.fetched, Raw: it.n.Raw})
	}
	b, err := json.Marshal(s)
	if err != nil {
		// Raw came out of json.Unmarshal, so it always marshals.
		t.log.Error("encode notification list", "err", err)
	}
	return b
}

// Run rings notifications until ctx ends, then returns nil.
//
// At start, for each notification, an occurrence that fell due while the
// tracker was not running rings once, late, if it is at most Grace old
// (Options.Grace, DefaultGrace: five minutes) and
// not already fired (the latest one, if several did); older ones are
// skipped and logged. So a restart never repeats a ring, and a short
// outage (a crash, an upgrade) still delivers the alarm that went off
// during it; a long one does not turn lamps on hours after the alarm.
func (t *Tracker) Run(ctx context.Context) error {
	t.emitMu.Lock()
	t.mu.Lock()
	if t.running {
		t.mu.Unlock()
		t.emitMu.Unlock()
		return errors.New("notify: tracker already running")
	}
	t.running = true
	now := t.clock.Now()
	var rings []ring
	for _, id := range t.order {
		it := t.items[id]
		if it.n.Kind() == "" {
			continue
		}
		if r, ok := t.catchUpLocked(it, now); ok {
			rings = append(rings, r)
		}
		it.next, _ = t.upcoming(it, now.Add(time.Millisecond))
	}
	t.mu.Unlock()
	t.prune(now)
	t.deliver(rings, now)
	// Queued only now, all at once: once a ring is pending on the clock,
	// the late rings have been delivered (tests wait on that) and the
	// clock timer is set for the earliest ring.
	t.mu.Lock()
	t.queue = engine.NewTimerQueue(t.clock, t.tick)
	t.queue.ScheduleAll(func(yield func(string, time.Time) bool) {
		for _, id := range t.order {
			if it := t.items[id]; !it.next.IsZero() && !yield(id, it.next) {
				return
			}
		}
	})
	t.mu.Unlock()
	t.emitMu.Unlock()

	<-ctx.Done()
	t.mu.Lock()
	t.running = false
	q := t.queue
	t.queue = nil
	for _, it := range t.items {
		it.next = time.Time{}
	}
	t.mu.Unlock()
	q.Stop() // waits for a tick in progress, which takes emitMu and mu
	return nil
}

// ring is one occurrence to emit, with the keys to record first.
type ring struct {
	it   *item
	at   time.Time
	keys []string // the occurrence rung and those skipped on the way
}

// window is how late a ring may be delivered: Grace, and at least a
// second, since a real clock timer always fires a little late.
func (t *Tracker) window() time.Duration { return max(t.grace, time.Second) }

// catchUpLocked finds the occurrences of it in [now-window, now] not yet
// fired and returns the latest to ring. t.mu held.
func (t *Tracker) catchUpLocked(it *item, now time.Time) (ring, bool) {
	var r ring
	from := now.Add(-t.window())
	for range 64 {
		at, ok := t.upcoming(it, from)
		if !ok || at.After(now) {
			break
		}
		r.at = at
		r.keys = append(r.keys, firedKey(it.n.ID, at))
		t.fired[firedKey(it.n.ID, at)] = struct{}{}
		from = at.Add(time.Millisecond)
	}
	if len(r.keys) == 0 {
		return ring{}, false
	}
	r.it = it
	return r, true
}

// upcoming returns it's first occurrence at or after from that has not
// fired. t.mu held.
func (t *Tracker) upcoming(it *item, from time.Time) (time.Time, bool) {
	c := t.calendar(it.n)
	after := from.Add(-time.Millisecond)
	for range 64 {
		at, ok := c.NextRing(it.n, after, it.fetched)
		if !ok {
			return time.Time{}, false
		}
		if _, done := t.fired[firedKey(it.n.ID, at)]; !done {
			return at, true
		}
		after = at
	}
	return time.Time{}, false
}

// calendar is the calendar a notification's times are read in.
func (t *Tracker) calendar(n Notification) Calendar {
	c := Calendar{Country: t.country}
	if id := n.TimeZoneID; id != "" {
		loc, seen := t.zones[id]
		if !seen {
			var err error
			if loc, err = time.LoadLocation(id); err != nil {
				t.log.Warn("notification time zone unknown; using the device's", "id", n.ID, "zone", id, "err", err)
				loc = nil
			}
			t.zones[id] = loc
		}
		c.Location = loc
	}
	if c.Location == nil && t.location != nil {
		c.Location = t.location(n.DeviceSerial)
	}
	return c
}

// requeueLocked brings the queue from the current list to the new one.
// t.mu held.
func (t *Tracker) requeueLocked(items map[string]*item, order []string) {
	if t.queue == nil {
		return
	}
	for id := range t.items {
		if items[id] == nil {
			t.queue.Cancel(id)
		}
	}
	for _, id := range order {
		t.scheduleLocked(items[id])
	}
}

// scheduleLocked queues it's next ring, or takes it off the queue when it
// has none. t.mu held, t.queue set.
func (t *Tracker) scheduleLocked(it *item) {
	if it.next.IsZero() {
		t.queue.Cancel(it.n.ID)
	} else {
		t.queue.Schedule(it.n.ID, it.next)
	}
}

// tick rings the notifications the queue found due, in list order. One
// that an Update moved or removed since is skipped.
func (t *Tracker) tick(ids []string) {
	t.emitMu.Lock()
	defer t.emitMu.Unlock()
	t.mu.Lock()
	if !t.running {
		t.mu.Unlock()
		return
	}
	now := t.clock.Now()
	due := make([]*item, 0, len(ids))
	for _, id := range ids {
		if it := t.items[id]; it != nil && !it.next.IsZero() && !it.next.After(now) {
			due = append(due, it)
		}
	}
	slices.SortFunc(due, func(a, b *item) int { return cmp.Compare(a.pos, b.pos) })
	var rings []ring
	var skipped []string
	for _, it := range due {
		id := it.n.ID
		// A timer that fired late (a suspended machine) rings the latest
		// occurrence it slept through, once.
		var r ring
		for at, ok := it.next, true; ok && !at.After(now); at, ok = t.upcoming(it, at.Add(time.Millisecond)) {
			r.at = at
			r.keys = append(r.keys, firedKey(id, at))
			t.fired[firedKey(id, at)] = struct{}{}
		}
		it.next, _ = t.upcoming(it, now.Add(time.Millisecond))
		t.scheduleLocked(it)
		if now.Sub(r.at) <= t.window() {
			r.it = it
			rings = append(rings, r)
		} else {
			t.log.Warn("notification ring skipped: the clock timer fired too late", "id", id,
				"kind", it.n.Kind(), "at", r.at, "late", now.Sub(r.at))
			skipped = append(skipped, r.keys...)
		}
	}
	t.mu.Unlock()
	t.record(skipped)
	t.deliver(rings, now)
}

// deliver emits each ring with the writes that record its keys (Emit
// makes them durable with the event). emitMu held, mu not.
func (t *Tracker) deliver(rings []ring, now time.Time) {
	slices.SortStableFunc(rings, func(a, b ring) int { return cmp.Compare(a.at.UnixMilli(), b.at.UnixMilli()) })
	for _, r := range rings {
		t.mu.Lock()
		next := r.it.next
		t.mu.Unlock()
		late := now.Sub(r.at) >= time.Second
		t.log.Info("notification ringing", "id", r.it.n.ID, "kind", r.it.n.Kind(),
			"device", r.it.n.DeviceSerial, "at", r.at, "late", late)
		t.call(Event{Kind: r.it.n.Kind(), State: StateRinging, Notification: r.it.n, Time: r.at, Next: next, Late: late,
			Writes: firedWrites(r.keys)})
	}
}

// record makes the fired keys of rings that are not emitted durable.
func (t *Tracker) record(keys []string) {
	for _, w := range firedWrites(keys) {
		if err := t.store.Put(w.Bucket, w.Key, w.Value); err != nil {
			t.log.Error("record notification ring; it may repeat after a restart", "key", w.Key, "err", err)
		}
	}
}

// firedWrites are the records that make a ring's fired keys durable.
func firedWrites(keys []string) []engine.Write {
	ws := make([]engine.Write, len(keys))
	for i, k := range keys {
		ws[i] = engine.Write{Bucket: Bucket, Key: firedPrefix + k, Value: []byte{1}}
	}
	return ws
}

// call runs Emit; a panicking subscriber costs one event, not the tracker.
func (t *Tracker) call(e Event) {
	defer func() {
		if r := recover(); r != nil {
			t.log.Error("notification event subscriber panicked", "kind", e.Kind, "state", e.State, "panic", r)
		}
	}()
	t.emit(e)
}

// prune forgets fired occurrences older than any ring could still be
// delivered for.
func (t *Tracker) prune(now time.Time) {
	cutoff := now.Add(-max(minRetention, 2*t.grace)).UnixMilli()
	t.mu.Lock()
	var old []string
	for k := range t.fired {
		i := strings.LastIndexByte(k, '/')
		ms, err := strconv.ParseInt(k[i+1:], 10, 64)
		if err == nil && ms < cutoff {
			old = append(old, k)
			delete(t.fired, k)
		}
	}
	t.mu.Unlock()
	for _, k := range old {
		if err := t.store.Delete(Bucket, firedPrefix+k); err != nil {
			t.log.Warn("prune fired notification ring", "key", k, "err", err)
		}
	}
}

// Next returns the next ring among the notifications of one kind
// (engine.KindAlarm, ...) on one Echo (deviceSerial; "" for any), as
// alexa.echo(x):next_alarm() reports it. ok is false when none will ring.
func (t *Tracker) Next(deviceSerial, kind string) (Upcoming, bool) {
	var best Upcoming
	for _, u := range t.List(deviceSerial, kind) {
		if !u.Time.IsZero() && (best.Time.IsZero() || u.Time.Before(best.Time)) {
			best = u
		}
	}
	return best, !best.Time.IsZero()
}

// List returns the notifications of one kind on one Echo ("" for any,
// kind "" for every kind), soonest ring first, those that will not ring
// last (by id).
func (t *Tracker) List(deviceSerial, kind string) []Upcoming {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.clock.Now()
	var out []Upcoming
	for _, id := range t.order {
		it := t.items[id]
		n := it.n
		if n.Kind() == "" || kind != "" && n.Kind() != kind ||
			deviceSerial != "" && !strings.EqualFold(n.DeviceSerial, deviceSerial) {
			continue
		}
		at, _ := t.upcoming(it, now)
		out = append(out, Upcoming{Notification: n, Time: at, Recurring: n.Recurring()})
	}
	slices.SortStableFunc(out, func(a, b Upcoming) int {
		switch {
		case a.Time.IsZero() != b.Time.IsZero():
			if a.Time.IsZero() {
				return 1
			}
			return -1
		case !a.Time.Equal(b.Time):
			return a.Time.Compare(b.Time)
		}
		return cmp.Compare(a.Notification.ID, b.Notification.ID)
	})
	return out
}
