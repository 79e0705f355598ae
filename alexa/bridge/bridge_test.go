package bridge_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/alexarules/alexarules/alexa"
	"github.com/alexarules/alexarules/alexa/auth"
	"github.com/alexarules/alexarules/alexa/bridge"
	"github.com/alexarules/alexarules/alexa/notify"
	"github.com/alexarules/alexarules/alexa/push"
	"github.com/alexarules/alexarules/alexa/sim"
	"github.com/alexarules/alexarules/alexa/web"
	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/engine/store"
)

type rig struct {
	t      *testing.T
	sim    *sim.Server
	url    string
	clock  *engine.Virtual
	store  *store.Store
	bridge *bridge.Bridge
	mu     sync.Mutex
	events []engine.Event
}

func startRig(t *testing.T) *rig {
	t.Helper()
	return startRigWith(t, nil)
}

// startRigWith calls prepare with the simulator's URL and the store before
// the bridge starts.
func startRigWith(t *testing.T, prepare func(url string, st *store.Store)) *rig {
	t.Helper()
	return startRigOpts(t, rigOptions{prepare: prepare})
}

// rigOptions vary a rig: prepare as startRigWith's, the bridge's voice
// watcher, the web client's HTTP client, the clock.
type rigOptions struct {
	prepare func(url string, st *store.Store)
	voice   bridge.VoiceOptions
	http    *http.Client
	clock   *engine.Virtual
	// simOnClock puts the whole simulator on the clock (push time
	// stamps too: pushes made at one real millisecond still differ).
	simOnClock bool
	// wrap, when set, is the store the bridge gets in place of the rig's.
	wrap func(st *store.Store) engine.Store
}

func startRigOpts(t *testing.T, o rigOptions) *rig {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	clock := o.clock
	if clock == nil {
		clock = engine.NewVirtual(time.Now())
	}
	so := sim.Options{HistoryNow: clock.Now}
	if o.simOnClock {
		so.Now = clock.Now
	}
	s := sim.New(sim.DemoHousehold(), so)
	ready := make(chan string, 1)
	simDone := make(chan error, 1)
	go func() { simDone <- s.ListenAndServe(ctx, "127.0.0.1:0", func(a string) { ready <- a }) }()
	var addr string
	select {
	case addr = <-ready:
	case err := <-simDone:
		cancel()
		t.Fatalf("sim: %v", err)
	}
	r := &rig{t: t, sim: s, url: "http://" + addr, clock: clock}
	st, err := store.Open(filepath.Join(t.TempDir(), "b.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r.store = st
	if o.prepare != nil {
		o.prepare(r.url, st)
	}
	hosts, err := alexa.HostsFor("DE", r.url)
	if err != nil {
		t.Fatal(err)
	}
	wc, err := web.New(web.Options{Hosts: hosts, Cookie: web.SimCookie, HTTPClient: o.http})
	if err != nil {
		t.Fatal(err)
	}
	ts, err := auth.NewTokenSource(ctx, alexa.Config{Cloud: r.url}.WithDefaults(), auth.TokenSourceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	src := push.NewHTTP2(push.HTTP2Options{BaseURL: hosts.Push, Token: func(ctx context.Context, force bool) (string, error) {
		tok, err := ts.Token()
		if err == nil && force {
			ts.Invalidate(tok.AccessToken)
			tok, err = ts.Token()
		}
		if err != nil {
			return "", err
		}
		return tok.AccessToken, nil
	}})
	var bst engine.Store = st
	if o.wrap != nil {
		bst = o.wrap(st)
	}
	r.bridge, err = bridge.New(bridge.Options{Web: wc, Push: src, Clock: r.clock, Store: bst, Country: "DE", EchoRefresh: time.Millisecond,
		Voice: o.voice, Publish: r.publish})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = r.bridge.Run(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		for _, c := range []<-chan struct{}{done, errDone(simDone)} {
			select {
			case <-c:
			case <-time.After(30 * time.Second):
				t.Error("the bridge or the simulator did not stop")
			}
		}
		st.Close()
	})
	// Wait until the push stream is up and the lists have their baseline.
	r.waitFor("a push client and list snapshots", func() bool {
		lists, _ := st.List("lists", "")
		return r.post("/_sim/push", `{"command":"PUSH_EQUALIZER_STATE_CHANGE","payload":{}}`)["clients"] == float64(1) && len(lists) == 2
	})
	// The first notifications fetch is the tracker's baseline.
	r.waitFor("the first notifications fetch", func() bool {
		r.clock.Advance(time.Second)
		for _, req := range s.Requests() {
			if req.Path == "/api/notifications" {
				return true
			}
		}
		return false
	})
	return r
}

func (r *rig) post(path, body string) map[string]any {
	r.t.Helper()
	resp, err := http.Post(r.url+path, "application/json", bytes.NewReader([]byte(body)))
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode >= 300 {
		r.t.Fatalf("POST %s: %d %v", path, resp.StatusCode, out)
	}
	return out
}

func (r *rig) waitFor(what string, cond func() bool) {
	r.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			r.t.Fatalf("timed out waiting for %s; events: %+v", what, r.snapshot())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// publish is the bridge's Publish: it records the event.
func (r *rig) publish(ev engine.Event) {
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
}

func (r *rig) snapshot() []engine.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]engine.Event(nil), r.events...)
}

func (r *rig) find(kind string, pred func(engine.Event) bool) *engine.Event {
	for _, ev := range r.snapshot() {
		if ev.Kind == kind && pred(ev) {
			return &ev
		}
	}
	return nil
}

func TestAListPushBecomesAnEventWithTheItemText(t *testing.T) {
	r := startRig(t)
	r.post("/_sim/lists/amzn1.alexa.list.sim-shopping/items", `{"text":"oat milk"}`)
	var ev *engine.Event
	r.waitFor("the alexa.list event", func() bool {
		ev = r.find(engine.KindList, func(engine.Event) bool { return true })
		return ev != nil
	})
	item := ev.Data["item"].(map[string]any)
	list := ev.Data["list"].(map[string]any)
	if ev.Data["op"] != "added" || item["text"] != "oat milk" || list["name"] != "Shopping" {
		t.Fatalf("event: %+v", ev.Data)
	}
	if n := len(r.snapshot()); n != 1 {
		t.Fatalf("one push, %d events: %+v", n, r.snapshot())
	}
}

func TestAnAlarmSetAheadRingsOnceOnItsEcho(t *testing.T) {
	r := startRig(t)
	ring := r.clock.Now().Add(30 * time.Second).In(mustZone(t, "Europe/Berlin"))
	alarm := fmt.Sprintf(`{"id":"alarm-1","type":"Alarm","status":"ON","version":"1","deviceSerialNumber":"G090LF1182340B7K",
		"deviceType":"A32DOYMUN6DTXA","originalDate":%q,"originalTime":%q,"alarmLabel":"wake up"}`,
		ring.Format("2006-01-02"), ring.Format("15:04:05.000"))
	r.post("/_sim/notifications", alarm)
	r.waitFor("the created event", func() bool {
		r.clock.Advance(time.Second) // the debounced fetch runs on the engine clock
		return r.find(engine.KindAlarm, func(ev engine.Event) bool { return ev.Data["state"] == "created" }) != nil
	})
	r.clock.Set(ring.Add(time.Second))
	var ev *engine.Event
	r.waitFor("the ringing event", func() bool {
		ev = r.find(engine.KindAlarm, func(ev engine.Event) bool { return ev.Data["state"] == "ringing" })
		return ev != nil
	})
	if ev.Device == nil || ev.Device.Name != "Bedroom Echo" || ev.Device.ID != "G090LF1182340B7K" {
		t.Fatalf("ringing event device: %+v", ev.Device)
	}
	up := r.bridge.Alarms("G090LF1182340B7K")
	found := false
	for _, u := range up {
		found = found || u.Notification.ID == "alarm-1"
	}
	if !found {
		t.Fatalf("Alarms: %+v", up)
	}
}

// An alarm that rang while the engine was down rings late at start, in its
// Echo's time zone: the tracker must not catch up before the Echo devices
// (and their zones) are loaded, here delayed by a 503. Before, it caught
// up in UTC, found the Berlin alarm an hour ahead, and the ring was lost.
func TestAnAlarmThatRangWhileDownRingsLateInItsEchosZone(t *testing.T) {
	ring := time.Now().Add(-30 * time.Second).In(mustZone(t, "Europe/Berlin"))
	alarm := fmt.Sprintf(`{"id":"alarm-down","type":"Alarm","status":"ON","version":"1","deviceSerialNumber":"G090LF1182340B7K",
		"deviceType":"A32DOYMUN6DTXA","originalDate":%q,"originalTime":%q}`, ring.Format("2006-01-02"), ring.Format("15:04:05.000"))
	r := startRigWith(t, func(url string, st *store.Store) {
		// What the engine saw before it went down.
		tr, err := notify.NewTracker(notify.Options{Clock: engine.NewVirtual(ring.Add(-time.Minute)), Store: st})
		if err != nil {
			t.Fatal(err)
		}
		tr.Update([]json.RawMessage{json.RawMessage(alarm)}, time.Time{})
		r := &rig{t: t, url: url}
		r.post("/_sim/notifications", alarm)
		r.post("/_sim/faults", `{"path_prefix":"/api/devices-v2/device","status":503,"times":1,"retry_after":1}`)
	})
	var ev *engine.Event
	r.waitFor("the late ring", func() bool {
		ev = r.find(engine.KindAlarm, func(ev engine.Event) bool { return ev.Data["state"] == "ringing" })
		return ev != nil
	})
	if ev.Data["late"] != true || !ev.Time.Equal(ring.Truncate(time.Millisecond)) {
		t.Fatalf("ring: %+v at %s, want late at %s", ev.Data, ev.Time, ring)
	}
}

// While the push connection stays down (its back-off grows to minutes),
// the bridge re-syncs on its own: a list item added meanwhile is still
// reported, once.
func TestAListItemAddedWhileThePushIsDownIsFoundByTheResync(t *testing.T) {
	r := startRig(t)
	r.post("/_sim/faults", `{"push":"drop"}`) // dropped, and new connections refused
	r.post("/_sim/lists/amzn1.alexa.list.sim-shopping/items", `{"text":"rye flour"}`)
	r.waitFor("the re-sync while the push is down", func() bool {
		r.clock.Advance(time.Second)
		return r.find(engine.KindList, func(engine.Event) bool { return true }) != nil
	})
	// Two more re-syncs find nothing new.
	n := r.listFetches()
	r.waitFor("two more re-syncs", func() bool {
		r.clock.Advance(time.Second)
		return r.listFetches() >= n+2
	})
	evs := r.snapshot()
	if len(evs) != 1 || evs[0].Data["item"].(map[string]any)["text"] != "rye flour" {
		t.Fatalf("events: %+v", evs)
	}
}

// listFetches counts the lists fetches the simulator answered.
func (r *rig) listFetches() int {
	r.t.Helper()
	resp, err := http.Get(r.url + "/_sim/requests")
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	var reqs []sim.Request
	if err := json.NewDecoder(resp.Body).Decode(&reqs); err != nil {
		r.t.Fatal(err)
	}
	n := 0
	for _, req := range reqs {
		if req.Path == "/alexashoppinglists/api/v2/lists/fetch" && req.Status == http.StatusOK {
			n++
		}
	}
	return n
}

func TestVolumeAndConnectionPushes(t *testing.T) {
	r := startRig(t)
	r.post("/_sim/push", `{"command":"PUSH_VOLUME_CHANGE","payload":{"dopplerId":{"deviceSerialNumber":"G6G0XW0412650C3M","deviceType":"A4ZP7ZC4PI6TO"},"isMuted":false,"volumeSetting":35}}`)
	r.post("/_sim/push", `{"command":"PUSH_DOPPLER_CONNECTION_CHANGE","payload":{"dsn":"G6G0XW0412650C3M","dopplerConnectionState":"OFFLINE"}}`)
	r.waitFor("volume and reachability events", func() bool {
		v := r.find(engine.KindVolume, func(ev engine.Event) bool { return ev.Data["value"] == float64(35) })
		c := r.find(engine.KindReachability, func(ev engine.Event) bool { return ev.Data["reachable"] == false })
		return v != nil && c != nil && v.Device.Name == "Kitchen Echo"
	})
}

// slowPuts is a store whose waited-for writes of the push keys never
// finish.
type slowPuts struct{ *store.Store }

func (s slowPuts) Put(bucket, key string, value []byte) error {
	if bucket == "push-dedup" {
		select {} // a transaction the push connection would wait for forever
	}
	return s.Store.Put(bucket, key, value)
}

// A push's key, which keeps it from being handled again after a restart,
// is queued with the store, not waited for: the push connection does not
// wait for a transaction of its own per push. The key lands.
func TestAPushKeyIsStoredWithoutWaiting(t *testing.T) {
	r := startRigOpts(t, rigOptions{wrap: func(st *store.Store) engine.Store { return slowPuts{st} }})
	r.post("/_sim/push", `{"command":"PUSH_VOLUME_CHANGE","payload":{"dopplerId":{"deviceSerialNumber":"G6G0XW0412650C3M","deviceType":"A4ZP7ZC4PI6TO"},"isMuted":false,"volumeSetting":41}}`)
	r.waitFor("the volume event", func() bool {
		return r.find(engine.KindVolume, func(ev engine.Event) bool { return ev.Data["value"] == float64(41) }) != nil
	})
	r.waitFor("the push key stored", func() bool {
		keys, err := r.store.List("push-dedup", "")
		return err == nil && len(keys) > 0
	})
}

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func (r *rig) put(path, body string) {
	r.t.Helper()
	req, _ := http.NewRequest(http.MethodPut, r.url+path, bytes.NewReader([]byte(body)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		r.t.Fatalf("PUT %s: %d", path, resp.StatusCode)
	}
}

func TestAHouseholdReplacedWhileRunning(t *testing.T) {
	r := startRig(t)
	r.put("/_sim/household", `{"endpoints":[],"echos":[{"serial":"NEW1","type":"A1","name":"Attic Echo","timezone":"America/New_York"}],
		"lists":[{"id":"attic-list","name":"Shopping","items":[{"id":"a1","text":"nails","completed":false}]}]}`)
	e, err := r.bridge.ResolveEcho(context.Background(), "attic echo")
	if err != nil || e.Serial != "NEW1" {
		t.Fatalf("a new Echo: %+v %v", e, err)
	}
	r.post("/_sim/lists/attic-list/items", `{"text":"glue"}`)
	var ev *engine.Event
	r.waitFor("the item on a list first seen through its push", func() bool {
		ev = r.find(engine.KindList, func(engine.Event) bool { return true })
		return ev != nil
	})
	if item := ev.Data["item"].(map[string]any); item["text"] != "glue" || ev.Data["op"] != "added" {
		t.Fatalf("event: %+v", ev.Data)
	}
	// List syncs run one at a time, in order: once the sync of a later
	// push has published its item, the first sync has published all it
	// ever will.
	r.post("/_sim/lists/attic-list/items", `{"text":"tape"}`)
	r.waitFor("the sentinel item", func() bool {
		return r.find(engine.KindList, func(ev engine.Event) bool {
			return ev.Data["item"].(map[string]any)["text"] == "tape"
		}) != nil
	})
	if n := len(r.snapshot()); n != 2 {
		t.Fatalf("the rest of the new list is its baseline: want glue and tape, got %d events %+v", n, r.snapshot())
	}
}

// errDone turns a channel that reports an error into one that is closed
// when it did.
func errDone(c <-chan error) <-chan struct{} {
	done := make(chan struct{})
	go func() { <-c; close(done) }()
	return done
}

// A rule adding items while pushes make the bridge re-sync the same list:
// the rule's change goes into the snapshot the re-sync is comparing (run
// with -race).
func TestRulesAddItemsWhileTheListIsResynced(t *testing.T) {
	r := startRig(t)
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 20 {
			r.post("/_sim/lists/amzn1.alexa.list.sim-shopping/items", fmt.Sprintf(`{"text":"spoken %d"}`, i))
		}
	})
	for i := range 20 {
		if _, err := r.bridge.AddListItem(t.Context(), "Shopping", fmt.Sprintf("rule %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	r.waitFor("every spoken item as an event", func() bool {
		n := 0
		for _, ev := range r.snapshot() {
			if ev.Kind == engine.KindList && ev.Data["op"] == "added" {
				n++
			}
		}
		return n >= 20
	})
}

// A list sync whose fetches fail every attempt is tried again later, not
// dropped: the item its push announced is the last one added before a
// quiet spell, and no later push would make the bridge look at the list.
func TestAFailedListSyncIsRetried(t *testing.T) {
	r := startRig(t)
	r.waitFor("the start-up sync", func() bool { return r.listFetches() > 0 })
	r.post("/_sim/faults", `[{"path_prefix":"/alexashoppinglists/","status":503,"times":4}]`)
	r.post("/_sim/lists/amzn1.alexa.list.sim-todo/items", `{"text":"call the plumber"}`)
	r.waitFor("the item after the failed sync is retried", func() bool {
		r.clock.Advance(time.Second)
		return r.find(engine.KindList, func(ev engine.Event) bool {
			return ev.Data["item"].(map[string]any)["text"] == "call the plumber"
		}) != nil
	})
}
