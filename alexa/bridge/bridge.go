// Package bridge turns what the Alexa web API and push say into engine
// events, and serves the rules' alexa.* calls: Echo devices, alarms (from the
// notification tracker), reminders and lists. Pushes are invalidation
// hints: the bridge fetches what changed, diffs it against what it last
// saw (kept in the store, so changes made while the engine was down are
// seen too) and publishes enriched events.
package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/alexarules/alexarules/alexa/internal/retry"
	"github.com/alexarules/alexarules/alexa/notify"
	"github.com/alexarules/alexarules/alexa/push"
	"github.com/alexarules/alexarules/alexa/web"
	"github.com/alexarules/alexarules/engine"
)

// Options wire a Bridge.
type Options struct {
	Web     *web.Client
	Push    push.Source // nil: no push connection (--push off)
	Clock   engine.Clock
	Store   engine.Store
	Publish func(engine.Event)
	Country string // for the weekend of XXXX-WE alarms
	Logger  *slog.Logger
	// Retry is how long to wait before fetching Echo devices again after a
	// failure (default 1 min).
	Retry time.Duration
	// EchoRefresh is how often an Echo name or serial nobody knows may make
	// the bridge fetch the devices again (an Echo added or renamed; default
	// 2 s).
	EchoRefresh time.Duration
	// DownResync is how often notifications and lists are fetched again
	// while the push connection is down (default 15 s): its reconnect
	// back-off grows to minutes when it keeps failing, and without a push
	// nothing else tells the bridge that a list changed or an alarm was
	// set before it rings.
	DownResync time.Duration
	// Voice configures the voice watcher (voice.go): alexa.voice events
	// and LastCalled.
	Voice VoiceOptions
}

// Bridge connects one Alexa account to the engine.
type Bridge struct {
	o       Options
	log     *slog.Logger
	tracker *notify.Tracker

	mu      sync.Mutex
	echos   []web.Echo
	zones   web.Zones // the Echos' time zones
	volumes map[string]float64
	muted   map[string]bool
	lists   map[string]*listSnapshot // by list id
	// saveMu orders the stored snapshot of a list: a rule's change
	// (remember) is stored only after the events of a sync in progress
	// were handed over, so it never stores changes whose events a crash
	// could still lose.
	saveMu sync.Mutex

	syncs    *syncQueue
	debounce *web.Debouncer

	echosMu     sync.Mutex // one Echo fetch at a time
	echosLoaded time.Time

	voice *voiceWatcher // nil when Voice.History is VoiceOff
	echo  *echoState    // DND and players (echo.go)
}

// listSync asks for a list to be fetched again: one list (ID), or all when
// ID is "". News are the items pushes said were created, for a list seen
// for the first time: they are news, the rest is the baseline.
type listSync struct {
	ID   string
	News []string
}

// listSnapshot is what the bridge last saw of a list.
type listSnapshot struct {
	Name  string              `json:"name"`
	Items map[string]web.Item `json:"items"`
}

const listBucket = "lists"

// New returns a bridge; Run starts it.
func New(o Options) (*Bridge, error) {
	if o.Web == nil || o.Clock == nil || o.Store == nil || o.Publish == nil {
		return nil, errors.New("bridge: Web, Clock, Store and Publish are required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Retry <= 0 {
		o.Retry = time.Minute
	}
	if o.EchoRefresh <= 0 {
		o.EchoRefresh = 2 * time.Second
	}
	if o.DownResync <= 0 {
		o.DownResync = 15 * time.Second
	}
	b := &Bridge{o: o, log: o.Logger, volumes: map[string]float64{}, muted: map[string]bool{},
		lists: map[string]*listSnapshot{}, syncs: newSyncQueue(), echo: newEchoState()}
	stored, err := o.Store.List(listBucket, "")
	if err != nil {
		return nil, fmt.Errorf("bridge: load list snapshots: %w", err)
	}
	for id, raw := range stored {
		var s listSnapshot
		if json.Unmarshal(raw, &s) == nil {
			b.lists[id] = &s
		}
	}
	if o.Voice.History != VoiceOff {
		if b.voice, err = newVoiceWatcher(b, o.Voice); err != nil {
			return nil, err
		}
	}
	b.tracker, err = notify.NewTracker(notify.Options{Clock: o.Clock, Store: o.Store, Location: b.location,
		Country: o.Country, Emit: b.notification, Logger: o.Logger})
	if err != nil {
		return nil, err
	}
	return b, nil
}

// Run syncs Echo devices, notifications and lists, then follows the push
// connection until ctx ends, re-syncing after every reconnect.
func (b *Bridge) Run(ctx context.Context) error {
	b.debounce = web.NewDebouncer(ctx, b.fetchNotifications, web.DebouncerOptions{Clock: b.o.Clock, Logger: b.log})
	defer b.debounce.Close()
	defer b.startEcho(ctx)()
	var wg sync.WaitGroup
	defer wg.Wait()
	// The Echo devices first: the tracker's start-up catch-up (rings that
	// fell due while the engine was down) needs their time zones, or it
	// reads a Berlin alarm as UTC and misses it.
	b.refreshEchos(ctx, &wg)
	wg.Go(func() {
		if err := b.tracker.Run(ctx); err != nil {
			b.log.Error("notification tracker", "err", err)
		}
	})
	wg.Go(func() { b.syncLoop(ctx) })
	if b.voice != nil {
		wg.Go(func() { b.voice.run(ctx) })
	}
	b.pruneDedup()
	b.resync()
	if b.o.Push == nil {
		<-ctx.Done()
		return nil
	}
	wg.Go(func() { b.resyncWhileDown(ctx) })
	return b.o.Push.Run(ctx, b.handle, func() {
		b.log.Info("push connected: re-syncing notifications and lists")
		b.resync()
	})
}

// resync fetches notifications, every list and the DND states again.
func (b *Bridge) resync() {
	b.debounce.Trigger()
	b.requestSync(listSync{})
	b.resyncDND()
}

// resyncWhileDown re-syncs every DownResync, on the engine clock, while
// the push connection is down, until ctx ends.
func (b *Bridge) resyncWhileDown(ctx context.Context) {
	sleep := retry.ClockSleep(b.o.Clock)
	for sleep(ctx, b.o.DownResync) == nil {
		if err := b.o.Push.LastError(); err != nil {
			b.log.Info("push down: re-syncing notifications and lists", "err", err)
			b.resync()
		}
	}
}

func (b *Bridge) requestSync(req listSync) { b.syncs.add(req) }

// refreshEchos loads the Echo devices, retrying in the background (in wg,
// which Run waits for) until it succeeds once.
func (b *Bridge) refreshEchos(ctx context.Context, wg *sync.WaitGroup) {
	if err := b.loadEchos(ctx); err != nil {
		b.log.Error("fetch Echo devices", "err", err)
		sleep := retry.ClockSleep(b.o.Clock)
		wg.Go(func() {
			for sleep(ctx, b.o.Retry) == nil {
				if b.loadEchos(ctx) == nil {
					return
				}
			}
		})
	}
}

func (b *Bridge) loadEchos(ctx context.Context) error {
	b.echosMu.Lock()
	defer b.echosMu.Unlock()
	echos, err := b.o.Web.Echos(ctx)
	if err != nil {
		return err
	}
	b.mu.Lock()
	b.echos = echos
	b.echosLoaded = time.Now()
	b.mu.Unlock()
	return nil
}

// refreshForMiss fetches the Echo devices again unless that was done a
// moment ago; it reports whether it did.
func (b *Bridge) refreshForMiss(ctx context.Context) bool {
	b.mu.Lock()
	recent := time.Since(b.echosLoaded) < b.o.EchoRefresh
	b.mu.Unlock()
	return !recent && b.loadEchos(ctx) == nil
}

func (b *Bridge) knownEcho(serial string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, e := range b.echos {
		if e.Serial == serial {
			return true
		}
	}
	return false
}

func (b *Bridge) fetchNotifications(ctx context.Context) error {
	fetched := b.o.Clock.Now()
	list, err := b.o.Web.Notifications(ctx)
	if err != nil {
		return err
	}
	// A notification on an Echo not known yet needs its time zone first.
	for _, raw := range list {
		var n struct {
			Serial string `json:"deviceSerialNumber"`
		}
		if json.Unmarshal(raw, &n) == nil && n.Serial != "" && !b.knownEcho(n.Serial) {
			b.refreshForMiss(ctx)
			break
		}
	}
	b.tracker.Update(list, fetched)
	return nil
}

// location is an Echo's time zone, from its device preferences.
func (b *Bridge) location(serial string) *time.Location {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, e := range b.echos {
		if e.Serial == serial && e.Timezone != "" {
			if loc, err := b.zones.Load(e.Timezone); err == nil {
				return loc
			}
		}
	}
	return nil
}

func (b *Bridge) echoDevice(serial string) *engine.Device {
	if serial == "" {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, e := range b.echos {
		if e.Serial == serial {
			return &engine.Device{Name: e.Name, ID: serial}
		}
	}
	return &engine.Device{ID: serial}
}

// notification publishes a tracker event.
func (b *Bridge) notification(ev notify.Event) {
	out := engine.Event{Kind: ev.Kind, Device: b.echoDevice(ev.Notification.DeviceSerial), Data: ev.Data(), Writes: ev.Writes}
	if ev.State == notify.StateRinging && !ev.Time.IsZero() {
		out.Time = ev.Time
	}
	b.o.Publish(out)
}

const dedupBucket = "push-dedup"

// seen reports whether a push with the same key (id and version) was
// handled before, also before a restart, and remembers this one.
func (b *Bridge) seen(key string) bool {
	if key == "" {
		return false
	}
	if v, err := b.o.Store.Get(dedupBucket, key); err == nil && v != nil {
		return true
	}
	stamp, _ := b.o.Clock.Now().MarshalText()
	// The push source drops repeats of its recent keys in memory, so the
	// key need not be durable before the push's events are published: a
	// store that queues writes takes it with their accept's transaction
	// instead of one of its own that the push connection would wait for.
	engine.QueuePut(b.o.Store, dedupBucket, key, stamp, b.pushKeyStored)
	return false
}

func (b *Bridge) pushKeyStored(err error) {
	if err != nil {
		b.log.Warn("store push key", "err", err)
	}
}

// pruneDedup forgets push keys older than two days.
func (b *Bridge) pruneDedup() {
	all, err := b.o.Store.List(dedupBucket, "")
	if err != nil {
		return
	}
	cutoff := b.o.Clock.Now().Add(-48 * time.Hour)
	for k, v := range all {
		var t time.Time
		if t.UnmarshalText(v) != nil || t.Before(cutoff) {
			_ = b.o.Store.Delete(dedupBucket, k)
		}
	}
}

// handle turns one push into work: fetches and events.
func (b *Bridge) handle(p push.Push) {
	if b.seen(p.Key) {
		return
	}
	var payload map[string]any
	_ = json.Unmarshal(p.Payload, &payload)
	switch p.Command {
	case "PUSH_NOTIFICATION_CHANGE":
		b.debounce.Trigger()
	case "PUSH_LIST_ITEM_CHANGE", "PUSH_LIST_CHANGE":
		id, _ := payload["listId"].(string)
		item, _ := payload["listItemId"].(string)
		event, _ := payload["eventName"].(string)
		req := listSync{ID: id}
		if event == "itemCreated" && item != "" {
			req.News = []string{item}
		}
		b.requestSync(req)
	case "PUSH_VOLUME_CHANGE":
		b.volumeChange(p.Device.SerialNumber, payload)
	case "PUSH_EQUALIZER_STATE_CHANGE":
		b.voice.hint(p.Device.SerialNumber)
	case "PUSH_DOPPLER_CONNECTION_CHANGE":
		state, _ := payload["dopplerConnectionState"].(string)
		if state == "" {
			return
		}
		b.o.Publish(engine.Event{Kind: engine.KindReachability, Device: b.echoDevice(p.Device.SerialNumber),
			Data: map[string]any{"reachable": state == "ONLINE", "connectivity": state}})
	case "PUSH_DND_STATE_CHANGE":
		b.dndPushed(p.Device.SerialNumber, payload)
	case "PUSH_AUDIO_PLAYER_STATE", "PUSH_MEDIA_CHANGE", "PUSH_MEDIA_PROGRESS_CHANGE", "NotifyNowPlayingUpdated":
		b.mediaPushed(p.Device.SerialNumber) // NotifyNowPlayingUpdated names no device: ""
	}
}

// syncLists fetches one list (or all when the request names none, or one
// not known yet) and publishes what changed since the last snapshot.
func (b *Bridge) syncLists(ctx context.Context, req listSync) error {
	lists, err := b.o.Web.Lists(ctx)
	if err != nil {
		return err
	}
	known := req.ID != "" && b.knownList(req.ID)
	for _, l := range lists {
		if known && l.ID != req.ID {
			continue
		}
		items, err := b.o.Web.Items(ctx, l.ID)
		if err != nil {
			return err
		}
		var news []string
		if l.ID == req.ID {
			news = req.News
		}
		b.diffList(l, items, news)
	}
	return nil
}

func (b *Bridge) knownList(id string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, ok := b.lists[id]
	return ok
}

// diffList publishes alexa.list events for the differences between the
// snapshot and items, then stores the new snapshot. A list seen for the
// first time is a baseline: no events, but for news, the items pushes
// said were just created.
//
// The stored snapshot travels with the events (engine.Event.Writes): each
// event carries the snapshot with its own change and the earlier ones
// applied, the last one the whole new snapshot, so a crash between two
// acceptances leaves a snapshot that makes the next sync publish exactly
// the events not yet accepted.
func (b *Bridge) diffList(l web.List, items []web.Item, news []string) {
	now := map[string]web.Item{}
	for _, it := range items {
		now[it.ID] = it
	}
	b.saveMu.Lock()
	defer b.saveMu.Unlock()
	b.mu.Lock()
	old, seen := b.lists[l.ID]
	// The snapshot gets its own map: a rule's change (remember) goes into
	// it while the diff below still reads now.
	b.lists[l.ID] = &listSnapshot{Name: l.Name, Items: maps.Clone(now)}
	b.mu.Unlock()
	if !seen {
		old = &listSnapshot{Items: map[string]web.Item{}}
		for _, it := range items {
			if !slices.Contains(news, it.ID) {
				old.Items[it.ID] = it
			}
		}
	}
	evs, snaps := listEvents(l, old.Items, items, now)
	if len(evs) == 0 {
		b.saveList(l.ID)
		return
	}
	snaps[len(snaps)-1] = now // with the changes of version alone
	for i, ev := range evs {
		if raw, err := json.Marshal(listSnapshot{Name: l.Name, Items: snaps[i]}); err == nil {
			ev.Writes = []engine.Write{{Bucket: listBucket, Key: l.ID, Value: raw}}
		}
		b.o.Publish(ev)
	}
}

// listEvents returns the events that take old to items (now by id), in
// order, and beside each the snapshot with it and the earlier ones
// applied.
func listEvents(l web.List, old map[string]web.Item, items []web.Item, now map[string]web.Item) ([]engine.Event, []map[string]web.Item) {
	var evs []engine.Event
	var snaps []map[string]web.Item
	cur := maps.Clone(old)
	event := func(op string, it web.Item) {
		evs = append(evs, engine.Event{Kind: engine.KindList, Data: map[string]any{
			"op":   op,
			"list": map[string]any{"id": l.ID, "name": l.Name},
			"item": map[string]any{"id": it.ID, "text": it.Text, "completed": it.Completed},
		}})
		if op == "removed" {
			delete(cur, it.ID)
		} else {
			cur[it.ID] = it
		}
		snaps = append(snaps, maps.Clone(cur))
	}
	for _, it := range items {
		prev, ok := old[it.ID]
		switch {
		case !ok:
			event("added", it)
		case it.Completed && !prev.Completed:
			event("checked", it)
		case it.Text != prev.Text || it.Completed != prev.Completed:
			event("updated", it) // a version alone changing is no news to a rule
		}
	}
	var removed []web.Item
	for id, it := range old {
		if _, ok := now[id]; !ok {
			removed = append(removed, it)
		}
	}
	sort.Slice(removed, func(i, j int) bool { return removed[i].ID < removed[j].ID })
	for _, it := range removed {
		event("removed", it)
	}
	return evs, snaps
}

func (b *Bridge) saveList(id string) {
	b.mu.Lock()
	raw, err := json.Marshal(b.lists[id])
	b.mu.Unlock()
	if err == nil {
		err = b.o.Store.Put(listBucket, id, raw)
	}
	if err != nil {
		b.log.Error("store list snapshot", "list", id, "err", err)
	}
}

// NotFoundError is an unknown Echo, list or item: the rule's mistake.
type NotFoundError struct {
	What, Name string
	Known      []string
}

func (e *NotFoundError) Error() string {
	msg := fmt.Sprintf("unknown %s %q", e.What, e.Name)
	if len(e.Known) > 0 {
		msg += " (known: " + strings.Join(e.Known, ", ") + ")"
	}
	return msg
}

// NotFound marks the error as the rule's mistake.
func (e *NotFoundError) NotFound() bool { return true }

// Echos returns the Echo devices (fetching them if not known yet).
func (b *Bridge) Echos(ctx context.Context) ([]web.Echo, error) {
	if err := b.haveEchos(ctx); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]web.Echo(nil), b.echos...), nil
}

// haveEchos fetches the Echos unless they are known.
func (b *Bridge) haveEchos(ctx context.Context) error {
	b.mu.Lock()
	n := len(b.echos)
	b.mu.Unlock()
	if n == 0 {
		return b.loadEchos(ctx)
	}
	return nil
}

// ResolveEcho finds an Echo by name (any case) or serial number; an
// unknown one makes it fetch the devices again (at most every
// Options.EchoRefresh). It searches the list in place: every reminder and
// Echo action resolves one.
func (b *Bridge) ResolveEcho(ctx context.Context, q string) (web.Echo, error) {
	for range 2 {
		if err := b.haveEchos(ctx); err != nil {
			return web.Echo{}, err
		}
		e, names, ok := b.findEcho(q)
		if ok {
			return e, nil
		}
		if !b.refreshForMiss(ctx) {
			return web.Echo{}, &NotFoundError{What: "Echo", Name: q, Known: names}
		}
	}
	return web.Echo{}, &NotFoundError{What: "Echo", Name: q}
}

// findEcho is the known Echo named q (any case) or of serial number q, or
// the names of the known ones when there is none.
func (b *Bridge) findEcho(q string) (e web.Echo, names []string, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, e := range b.echos {
		if strings.EqualFold(e.Name, q) || e.Serial == q {
			return e, nil, true
		}
	}
	for _, e := range b.echos {
		names = append(names, e.Name)
	}
	return web.Echo{}, names, false
}

// SetNotificationVolume sets an Echo's alarm and reminder volume.
func (b *Bridge) SetNotificationVolume(ctx context.Context, e web.Echo, v int) error {
	return b.o.Web.SetNotificationVolume(ctx, e, v)
}

// Alarms lists an Echo's alarms with their next ring, without a request.
func (b *Bridge) Alarms(serial string) []notify.Upcoming {
	return b.tracker.List(serial, engine.KindAlarm)
}

// Location is an Echo's time zone (UTC when unknown).
func (b *Bridge) Location(serial string) *time.Location {
	if loc := b.location(serial); loc != nil {
		return loc
	}
	return time.UTC
}

// Remind creates a reminder; notifications are fetched again so the
// tracker knows it.
func (b *Bridge) Remind(ctx context.Context, r web.ReminderRequest) (string, error) {
	id, err := b.o.Web.CreateReminder(ctx, r)
	if err == nil && b.debounce != nil {
		b.debounce.Trigger()
	}
	return id, err
}

// list finds a list by name (any case; "todo" and "to do" for "To-do").
func (b *Bridge) list(ctx context.Context, name string) (web.List, error) {
	lists, err := b.o.Web.Lists(ctx)
	if err != nil {
		return web.List{}, err
	}
	norm := func(s string) string {
		return strings.NewReplacer("-", "", " ", "", "_", "").Replace(strings.ToLower(s))
	}
	var names []string
	for _, l := range lists {
		if norm(l.Name) == norm(name) || l.ID == name {
			return l, nil
		}
		names = append(names, l.Name)
	}
	return web.List{}, &NotFoundError{What: "list", Name: name, Known: names}
}

// ListItems returns a list's items.
func (b *Bridge) ListItems(ctx context.Context, name string) ([]web.Item, error) {
	l, err := b.list(ctx, name)
	if err != nil {
		return nil, err
	}
	return b.o.Web.Items(ctx, l.ID)
}

// AddListItem adds an item. Changes a rule makes are taken into the
// snapshot at once, so they do not come back as alexa.list events that
// would trigger the rule itself.
func (b *Bridge) AddListItem(ctx context.Context, name, text string) (web.Item, error) {
	l, err := b.list(ctx, name)
	if err != nil {
		return web.Item{}, err
	}
	it, err := b.o.Web.AddItem(ctx, l.ID, text)
	if err != nil {
		return web.Item{}, err
	}
	b.remember(l, it, false)
	return it, nil
}

// CheckListItem marks an item (by text, any case, or id) completed.
func (b *Bridge) CheckListItem(ctx context.Context, name, textOrID string) error {
	l, it, err := b.item(ctx, name, textOrID)
	if err != nil {
		return err
	}
	if err := b.o.Web.CheckItem(ctx, l.ID, it, true); err != nil {
		return err
	}
	it.Completed = true
	it.Version++
	b.remember(l, it, false)
	return nil
}

// RemoveListItem deletes an item (by text, any case, or id).
func (b *Bridge) RemoveListItem(ctx context.Context, name, textOrID string) error {
	l, it, err := b.item(ctx, name, textOrID)
	if err != nil {
		return err
	}
	if err := b.o.Web.RemoveItem(ctx, l.ID, it); err != nil {
		return err
	}
	b.remember(l, it, true)
	return nil
}

func (b *Bridge) item(ctx context.Context, name, textOrID string) (web.List, web.Item, error) {
	l, err := b.list(ctx, name)
	if err != nil {
		return l, web.Item{}, err
	}
	items, err := b.o.Web.Items(ctx, l.ID)
	if err != nil {
		return l, web.Item{}, err
	}
	var texts []string
	for _, it := range items {
		if it.ID == textOrID || strings.EqualFold(strings.TrimSpace(it.Text), strings.TrimSpace(textOrID)) {
			return l, it, nil
		}
		texts = append(texts, it.Text)
	}
	return l, web.Item{}, &NotFoundError{What: "item on the " + l.Name + " list", Name: textOrID, Known: texts}
}

// remember takes a rule's own change into the snapshot of a known list.
func (b *Bridge) remember(l web.List, it web.Item, removed bool) {
	b.saveMu.Lock()
	defer b.saveMu.Unlock()
	b.mu.Lock()
	s, ok := b.lists[l.ID]
	if ok {
		if removed {
			delete(s.Items, it.ID)
		} else {
			s.Items[it.ID] = it
		}
	}
	b.mu.Unlock()
	if ok {
		b.saveList(l.ID)
	}
}
