package bridge_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexarules/alexarules/alexa"
	"github.com/alexarules/alexarules/alexa/bridge"
	"github.com/alexarules/alexarules/alexa/push"
	"github.com/alexarules/alexarules/alexa/sim"
	"github.com/alexarules/alexarules/alexa/web"
	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/engine/store"
)

// echoRig runs a bridge against a fake web API (the Echo routes of issue
// 12) and a push source the test feeds by hand.
type echoRig struct {
	*rig
	push *handPush
	mu   sync.Mutex
	dnd  string // the device-status-list body
	play map[string]string
	np   int      // np/player calls
	fail bool     // PUT /api/dnd/status answers 400
	reqs []string // "METHOD path body" of the calls that change something
}

const echoDevices = `{"devices":[
 {"serialNumber":"GROUP1","deviceType":"A3C9PE6TNYLTCH","accountName":"Everywhere","deviceFamily":"WHA","online":true,"clusterMembers":["KITCHEN1","OFFICE1"]},
 {"serialNumber":"APP1","deviceType":"A2IVLV5VM2W81","accountName":"Phone","deviceFamily":"VOX","online":true},
 {"serialNumber":"KITCHEN1","deviceType":"A3S5BH2HU6VAYF","accountName":"Kitchen","deviceFamily":"ECHO","online":true},
 {"serialNumber":"OFFICE1","deviceType":"A1RABVCI4QCIKC","accountName":"Office","deviceFamily":"KNIGHT","online":true}]}`

func startEchoRig(t *testing.T) *echoRig {
	t.Helper()
	er := &echoRig{push: &handPush{connected: make(chan func(), 1)}, play: map[string]string{},
		dnd: `{"doNotDisturbDeviceStatusList":[{"deviceSerialNumber":"KITCHEN1","deviceType":"A3S5BH2HU6VAYF","enabled":false}]}`}
	srv := httptest.NewServer(http.HandlerFunc(er.serve))
	t.Cleanup(srv.Close)
	r := &rig{t: t, url: srv.URL, clock: engine.NewVirtual(time.Now())}
	st, err := store.Open(filepath.Join(t.TempDir(), "b.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	hosts, err := alexa.HostsFor("US", srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	wc, err := web.New(web.Options{Hosts: hosts, Cookie: web.SimCookie, MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	r.bridge, err = bridge.New(bridge.Options{Web: wc, Push: er.push, Clock: r.clock, Store: st, EchoRefresh: time.Millisecond,
		Publish: r.publish})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = r.bridge.Run(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		<-done
		st.Close()
	})
	er.rig = r
	r.waitFor("the DND baseline", func() bool {
		r.clock.Advance(time.Second)
		_, known := r.bridge.DND("KITCHEN1")
		return known
	})
	return er
}

func (er *echoRig) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	er.mu.Lock()
	defer er.mu.Unlock()
	if r.Method != "GET" && !strings.HasPrefix(r.URL.Path, "/alexashoppinglists/") {
		er.reqs = append(er.reqs, r.Method+" "+r.URL.Path+" "+string(body))
	}
	switch r.Method + " " + r.URL.Path {
	case "GET /api/devices-v2/device":
		io.WriteString(w, echoDevices)
	case "GET /api/device-preferences":
		io.WriteString(w, `{"devicePreferences":[]}`)
	case "GET /api/users/me":
		io.WriteString(w, `{"id":"A1CUSTOMER"}`)
	case "GET /api/dnd/device-status-list":
		io.WriteString(w, er.dnd)
	case "GET /api/np/player":
		er.np++
		io.WriteString(w, `{"playerInfo":`+cmpOr(er.play[r.URL.Query().Get("deviceSerialNumber")], `{"state":null}`)+`}`)
	case "GET /api/behaviors/v2/automations":
		io.WriteString(w, `[{"@type":"com.amazon.alexa.behaviors.model.Automation","automationId":"amzn1.alexa.automation.gn","name":"Good night",
		 "triggers":[],"status":"ENABLED","sequence":{"@type":"com.amazon.alexa.behaviors.model.Sequence","startNode":{"@type":"com.amazon.alexa.behaviors.model.SerialNode",
		 "nodesToExecute":[{"@type":"com.amazon.alexa.behaviors.model.OpaquePayloadOperationNode","type":"Alexa.Speak","skillId":"amzn1.ask.1p.saysomething",
		 "operationPayload":{"deviceSerialNumber":"ALEXA_CURRENT_DSN","textToSpeak":"Night"}}]}}}]`)
	case "PUT /api/dnd/status":
		if er.fail {
			http.Error(w, `{"message":"Invalid device"}`, http.StatusBadRequest)
		}
	case "POST /api/behaviors/preview", "POST /api/np/command":
	default:
		http.Error(w, `{"message":"no such route"}`, http.StatusNotFound)
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func (er *echoRig) set(f func()) {
	er.mu.Lock()
	defer er.mu.Unlock()
	f()
}

func (er *echoRig) calls() []string {
	er.mu.Lock()
	defer er.mu.Unlock()
	return append([]string(nil), er.reqs...)
}

// handPush is a push source whose pushes the test hands over.
type handPush struct {
	mu        sync.Mutex
	handle    func(push.Push)
	connected chan func()
}

func (h *handPush) Run(ctx context.Context, handle func(push.Push), connected func()) error {
	h.mu.Lock()
	h.handle = handle
	h.mu.Unlock()
	connected()
	h.connected <- connected
	<-ctx.Done()
	return nil
}

func (h *handPush) Stats() push.Stats { return push.Stats{} }
func (h *handPush) LastError() error  { return nil }

func (h *handPush) send(t *testing.T, command, serial, payload string) {
	t.Helper()
	h.mu.Lock()
	handle := h.handle
	h.mu.Unlock()
	if handle == nil {
		t.Fatal("push not running")
	}
	handle(push.Push{Command: command, Payload: json.RawMessage(payload), Device: push.Device{SerialNumber: serial}})
}

func TestDNDBaselinePushesAndOwnWrites(t *testing.T) {
	er := startEchoRig(t)
	if on, known := er.bridge.DND("KITCHEN1"); on || !known {
		t.Fatalf("DND = %t, %t after the baseline", on, known)
	}
	if n := len(er.snapshot()); n != 0 {
		t.Fatalf("the baseline made %d events", n)
	}
	er.push.send(t, "PUSH_DND_STATE_CHANGE", "KITCHEN1", `{"dopplerId":{"deviceSerialNumber":"KITCHEN1"},"enabled":true}`)
	er.push.send(t, "PUSH_DND_STATE_CHANGE", "KITCHEN1", `{"dopplerId":{"deviceSerialNumber":"KITCHEN1"},"enabled":true}`)
	evs := er.snapshot()
	if len(evs) != 1 || evs[0].Kind != engine.KindDND || evs[0].Device.Name != "Kitchen" ||
		evs[0].Data["value"] != true || evs[0].Data["previous"] != false {
		t.Fatalf("events %+v, want one alexa.dnd on Kitchen true (previous false)", evs)
	}
	// A rule's own write is taken into the cache without an event; the
	// push that follows it is no change.
	if err := er.bridge.SetDND(context.Background(), web.Echo{Serial: "KITCHEN1", Type: "A3S5BH2HU6VAYF", Name: "Kitchen"}, false, 0); err != nil {
		t.Fatal(err)
	}
	er.push.send(t, "PUSH_DND_STATE_CHANGE", "KITCHEN1", `{"enabled":false}`)
	if on, _ := er.bridge.DND("KITCHEN1"); on || len(er.snapshot()) != 1 {
		t.Fatalf("after the own write: DND %t, events %+v", on, er.snapshot())
	}
	// An Echo first heard of in a push: news, previous unknown.
	er.push.send(t, "PUSH_DND_STATE_CHANGE", "OFFICE1", `{"enabled":true}`)
	if evs := er.snapshot(); len(evs) != 2 || evs[1].Data["previous"] != nil || evs[1].Device.Name != "Office" {
		t.Fatalf("events %+v", evs)
	}
	// A change missed while disconnected is found by the resync.
	er.set(func() {
		er.dnd = `{"doNotDisturbDeviceStatusList":[{"deviceSerialNumber":"KITCHEN1","deviceType":"A3S5BH2HU6VAYF","enabled":true}]}`
	})
	(<-er.push.connected)()
	er.waitFor("the resync's event", func() bool {
		er.clock.Advance(time.Second)
		return len(er.snapshot()) == 3
	})
	if ev := er.snapshot()[2]; ev.Data["value"] != true || ev.Data["previous"] != false {
		t.Fatalf("resync event %+v", ev)
	}
}

func TestAFailedDNDWriteRestoresTheCache(t *testing.T) {
	er := startEchoRig(t)
	er.set(func() { er.fail = true })
	err := er.bridge.SetDND(context.Background(), web.Echo{Serial: "KITCHEN1", Type: "A3S5BH2HU6VAYF"}, true, 0)
	if err == nil || !strings.Contains(err.Error(), "PUT /api/dnd/status: 400 Bad Request: Invalid device") {
		t.Fatalf("err = %v", err)
	}
	if on, known := er.bridge.DND("KITCHEN1"); on || !known {
		t.Errorf("DND = %t, %t after a failed write; want the old false", on, known)
	}
	if err := er.bridge.SetDND(context.Background(), web.Echo{Serial: "OFFICE1", Type: "A1RABVCI4QCIKC"}, true, 0); err == nil {
		t.Fatal("want an error")
	}
	if _, known := er.bridge.DND("OFFICE1"); known {
		t.Error("a failed write made an unknown Echo's DND known")
	}
}

func TestSetDNDTimedUsesTheNodeAndUntimedThePut(t *testing.T) {
	er := startEchoRig(t)
	group := web.Echo{Serial: "GROUP1", Type: "A3C9PE6TNYLTCH", Name: "Everywhere", Family: "WHA", Members: []string{"KITCHEN1", "OFFICE1"}}
	if err := er.bridge.SetDND(context.Background(), group, true, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := er.bridge.SetDND(context.Background(), web.Echo{Serial: "OFFICE1", Type: "A1RABVCI4QCIKC"}, false, 0); err != nil {
		t.Fatal(err)
	}
	calls := er.calls()
	if len(calls) != 2 || !strings.HasPrefix(calls[0], "POST /api/behaviors/preview ") ||
		!strings.Contains(calls[0], `\"devices\":[{\"deviceSerialNumber\":\"KITCHEN1\",\"deviceTypeId\":\"A3S5BH2HU6VAYF\"},{\"deviceSerialNumber\":\"OFFICE1\",\"deviceTypeId\":\"A1RABVCI4QCIKC\"}]`) ||
		!strings.Contains(calls[0], `DURATION#PT1H0M0S`) ||
		calls[1] != `PUT /api/dnd/status {"deviceSerialNumber":"OFFICE1","deviceType":"A1RABVCI4QCIKC","enabled":false}` {
		t.Fatalf("calls %q", calls)
	}
	if on, _ := er.bridge.DND("KITCHEN1"); !on {
		t.Error("the timed DND is not in the cache")
	}
}

func TestPerformExpandsSpeakerGroups(t *testing.T) {
	er := startEchoRig(t)
	group := web.Echo{Serial: "GROUP1", Type: "A3C9PE6TNYLTCH", Name: "Everywhere", Family: "WHA", Members: []string{"KITCHEN1", "OFFICE1"}}
	kitchen := web.Echo{Serial: "KITCHEN1", Type: "A3S5BH2HU6VAYF", Name: "Kitchen", Family: "ECHO"}
	if err := er.bridge.Perform(context.Background(), []web.Echo{kitchen, group}, web.Action{Kind: web.ActionAnnounce, Text: "Dinner"}); err != nil {
		t.Fatal(err)
	}
	calls := er.calls()
	if len(calls) != 1 || strings.Count(calls[0], `deviceSerialNumber`) != 2 ||
		!strings.Contains(calls[0], `[{\"deviceSerialNumber\":\"KITCHEN1\",\"deviceTypeId\":\"A3S5BH2HU6VAYF\"},{\"deviceSerialNumber\":\"OFFICE1\",\"deviceTypeId\":\"A1RABVCI4QCIKC\"}]`) {
		t.Fatalf("calls %q, want one announcement to Kitchen and Office once each", calls)
	}
	empty := web.Echo{Serial: "G2", Type: "T", Name: "Empty", Family: "WHA"}
	if err := er.bridge.Perform(context.Background(), []web.Echo{empty}, web.Action{Kind: web.ActionStop}); err == nil ||
		!strings.Contains(err.Error(), `speaker group "Empty" has no member Echos`) {
		t.Fatalf("err = %v", err)
	}
}

func TestRunRoutineOnTheDefaultEcho(t *testing.T) {
	er := startEchoRig(t)
	if err := er.bridge.RunRoutine(context.Background(), "good NIGHT", nil); err != nil {
		t.Fatal(err)
	}
	calls := er.calls()
	if len(calls) != 1 || !strings.Contains(calls[0], `"behaviorId":"amzn1.alexa.automation.gn"`) ||
		!strings.Contains(calls[0], `\"deviceSerialNumber\":\"KITCHEN1\"`) {
		t.Fatalf("calls %q, want the routine run on Kitchen (the first online Echo)", calls)
	}
	err := er.bridge.RunRoutine(context.Background(), "Good morning", nil)
	var nf *bridge.NotFoundError
	if !errors.As(err, &nf) || !strings.Contains(err.Error(), `unknown routine "Good morning" (known: Good night)`) {
		t.Fatalf("err = %v", err)
	}
}

func TestMediaPushesBecomeEventsOnChange(t *testing.T) {
	er := startEchoRig(t)
	playing := `{"state":"PLAYING","infoText":{"title":"Cheap Thrills","subText1":"Sia"},"provider":{"providerName":"Amazon Music"}}`
	er.set(func() { er.play["KITCHEN1"] = playing })
	media := func(command, serial string, want int) {
		t.Helper()
		var before int
		er.set(func() { before = er.np })
		er.push.send(t, command, serial, `{}`)
		er.waitFor("the player fetch", func() bool {
			er.clock.Advance(time.Second)
			var n int
			er.set(func() { n = er.np })
			return n > before
		})
		er.waitFor("the media events", func() bool { return len(er.snapshot()) == want })
	}
	media("PUSH_AUDIO_PLAYER_STATE", "KITCHEN1", 1)
	ev := er.snapshot()[0]
	if ev.Kind != engine.KindMedia || ev.Device.Name != "Kitchen" || ev.Data["state"] != "PLAYING" || ev.Data["previous"] != nil ||
		ev.Data["title"] != "Cheap Thrills" || ev.Data["artist"] != "Sia" || ev.Data["provider"] != "Amazon Music" {
		t.Fatalf("event %+v", ev)
	}
	media("PUSH_MEDIA_PROGRESS_CHANGE", "KITCHEN1", 1) // same state and title: nothing
	media("PUSH_AUDIO_PLAYER_STATE", "OFFICE1", 1)     // idle when first seen: the baseline
	er.set(func() { er.play["KITCHEN1"] = strings.Replace(playing, "PLAYING", "PAUSED", 1) })
	media("NotifyNowPlayingUpdated", "", 2) // no device: the players known to play
	if ev := er.snapshot()[1]; ev.Data["state"] != "PAUSED" || ev.Data["previous"] != "PLAYING" {
		t.Fatalf("event %+v", ev)
	}
}

// Against the simulator: its player pushes after a rule's pause and play
// become alexa.media events; its DND push after a rule's own timed DND
// is no news.
func TestSimPlayerPushesAndOwnDND(t *testing.T) {
	r := startRigWith(t, func(url string, _ *store.Store) {
		h := sim.DemoHousehold()
		h.Players = []sim.Player{{Echo: "Kitchen Echo", State: "PLAYING", Title: "Cheap Thrills", Artist: "Sia", Provider: "Amazon Music"}}
		body, _ := json.Marshal(h)
		req, _ := http.NewRequest(http.MethodPut, url+"/_sim/household", bytes.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("PUT household: %v %v", resp, err)
		}
		resp.Body.Close()
	})
	ctx := context.Background()
	kitchen, err := r.bridge.ResolveEcho(ctx, "Kitchen Echo")
	if err != nil {
		t.Fatal(err)
	}
	media := func(cmd, want, previous string) {
		t.Helper()
		if err := r.bridge.PlayerCommand(ctx, kitchen, cmd, false); err != nil {
			t.Fatal(err)
		}
		r.waitFor("the "+want+" event", func() bool {
			r.clock.Advance(time.Second)
			return r.find(engine.KindMedia, func(ev engine.Event) bool { return ev.Data["state"] == want }) != nil
		})
		ev := r.find(engine.KindMedia, func(ev engine.Event) bool { return ev.Data["state"] == want })
		var wantPrev any = previous
		if previous == "" {
			wantPrev = nil
		}
		if ev.Device.Name != "Kitchen Echo" || ev.Data["title"] != "Cheap Thrills" || ev.Data["artist"] != "Sia" ||
			ev.Data["previous"] != wantPrev {
			t.Fatalf("event %+v", ev)
		}
	}
	media(web.CmdPause, "PAUSED", "") // the first sight after the start: previous unknown
	media(web.CmdPlay, "PLAYING", "PAUSED")
	if n := len(r.snapshot()); n != 2 {
		t.Fatalf("%d events, want 2: %+v", n, r.snapshot())
	}

	if err := r.bridge.SetDND(ctx, kitchen, true, time.Hour); err != nil {
		t.Fatal(err)
	}
	if on, known := r.bridge.DND(kitchen.Serial); !on || !known {
		t.Fatalf("DND %t %t after the rule's own write", on, known)
	}
	for _, ev := range r.snapshot() {
		if ev.Kind == engine.KindDND {
			t.Fatalf("the rule's own DND made an event: %+v", ev)
		}
	}
}

// NotifyNowPlayingUpdated names no Echo: with no player known to play,
// every online Echo's player is read (not the group's, not the app's).
func TestNowPlayingWithoutADeviceReadsEveryOnlineEcho(t *testing.T) {
	er := startEchoRig(t)
	er.set(func() { er.play["KITCHEN1"] = `{"state":"PLAYING","infoText":{"title":"Radio"}}` })
	er.push.send(t, "NotifyNowPlayingUpdated", "", `{"update":{"update":{"cause":"PLAYBACK_STARTED"}}}`)
	er.waitFor("the Kitchen event", func() bool {
		er.clock.Advance(time.Second)
		return len(er.snapshot()) == 1
	})
	var fetched int
	er.waitFor("both players read", func() bool {
		er.set(func() { fetched = er.np })
		return fetched >= 2
	})
	if ev := er.snapshot()[0]; ev.Device.Name != "Kitchen" || ev.Data["state"] != "PLAYING" || ev.Data["title"] != "Radio" {
		t.Fatalf("event %+v", ev)
	}
	if fetched != 2 {
		t.Errorf("%d player reads, want 2 (Kitchen and Office)", fetched)
	}
}
