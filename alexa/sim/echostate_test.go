package sim_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/alexarules/alexarules/alexa/sim"
)

// pushStream reads pushes one by one off a downchannel, however the
// DATA frames of several pushes sent in a row arrive.
type pushStream struct {
	t    *testing.T
	body io.ReadCloser
	buf  string
}

func (ps *pushStream) next() (string, map[string]any) {
	ps.t.Helper()
	end := "\r\n" + delimiter
	for !strings.Contains(ps.buf, end) {
		ps.buf += readChunk(ps.t, ps.body)
	}
	i := strings.Index(ps.buf, end) + len(end)
	part := ps.buf[:i]
	ps.buf = ps.buf[i:]
	return decodePart(ps.t, part)
}

// automations fetches the routines as a client does.
func (e *env) automations(query string) []map[string]any {
	e.t.Helper()
	r := e.web(http.MethodGet, "/api/behaviors/v2/automations"+query, nil)
	if r.status != http.StatusOK || r.header.Get("Content-Type") != "application/octet-stream" {
		e.t.Fatalf("automations: %d %q %s", r.status, r.header.Get("Content-Type"), r.raw)
	}
	var list []map[string]any
	if err := json.Unmarshal(r.raw, &list); err != nil {
		e.t.Fatalf("automations are not a bare array: %v: %s", err, r.raw)
	}
	return list
}

func TestAutomations(t *testing.T) {
	h := echoHousehold()
	h.Routines = append(h.Routines,
		sim.Routine{Utterances: []string{"movie time"}, Enabled: new(false)},
		sim.Routine{Name: "Morning", Sequence: json.RawMessage(`{"@type":"com.amazon.alexa.behaviors.model.Sequence",
			"startNode":{"@type":"com.amazon.alexa.behaviors.model.SerialNode","nodesToExecute":[]}}`)})
	e := newEnv(t, h, sim.Options{})
	list := e.automations("?limit=2000")
	if len(list) != 3 {
		t.Fatalf("%d automations: %v", len(list), list)
	}
	good := list[0]
	id, _ := good["automationId"].(string)
	if good["@type"] != "com.amazon.alexa.behaviors.model.Automation" || !strings.HasPrefix(id, "amzn1.alexa.automation.") ||
		good["name"] != "Good night" || good["status"] != "ENABLED" {
		t.Errorf("automation %v", good)
	}
	trig := good["triggers"].([]any)[0].(map[string]any)
	p := trig["payload"].(map[string]any)
	if trig["type"] != "CustomUtterance" || p["utterance"] != "good night" ||
		!reflect.DeepEqual(p["utterances"], []any{"good night", "sleep well"}) {
		t.Errorf("trigger %v", trig)
	}
	seq := good["sequence"].(map[string]any)
	if seqID, _ := seq["sequenceId"].(string); !strings.HasPrefix(seqID, "amzn1.alexa.sequence.") {
		t.Errorf("sequence %v", seq)
	}
	b, _ := json.Marshal(seq)
	for _, ph := range []string{"ALEXA_CURRENT_DSN", "ALEXA_CURRENT_DEVICE_TYPE", "ALEXA_CUSTOMER_ID", "ALEXA_CURRENT_LOCALE", `"textToSpeak":"Running Good night"`} {
		if !strings.Contains(string(b), ph) {
			t.Errorf("default sequence lacks %s: %s", ph, b)
		}
	}
	// A routine without a name: name null, one utterance, disabled.
	movie := list[1]
	mp := movie["triggers"].([]any)[0].(map[string]any)["payload"].(map[string]any)
	if movie["name"] != nil || movie["status"] != "DISABLED" || mp["utterance"] != "movie time" || mp["utterances"] != nil {
		t.Errorf("unnamed routine %v", movie)
	}
	// A given sequence gets a sequenceId; no utterance, no trigger.
	morning := list[2]
	if morning["sequence"].(map[string]any)["sequenceId"] == nil || len(morning["triggers"].([]any)) != 0 {
		t.Errorf("morning %v", morning)
	}
	if got := e.automations("?limit=1"); len(got) != 1 {
		t.Errorf("limit=1: %d", len(got))
	}
	// The ids are stable across reloads of the same household.
	if got := e.household().Routines[0].ID; got != id {
		t.Errorf("household id %q, automation %q", got, id)
	}
}

// replaced substitutes the placeholders as a client does before running a
// routine on an Echo.
func replaced(seq any, serial, devType string) map[string]any {
	b, _ := json.Marshal(seq)
	s := strings.NewReplacer("ALEXA_CURRENT_DSN", serial, "ALEXA_CURRENT_DEVICE_TYPE", devType,
		"ALEXA_CUSTOMER_ID", customerID, "ALEXA_CURRENT_LOCALE", "en-US").Replace(string(b))
	var m map[string]any
	json.Unmarshal([]byte(s), &m)
	return m
}

func TestRunRoutine(t *testing.T) {
	e := newEnv(t, echoHousehold(), sim.Options{})
	e.noThrottle()
	a := e.automations("")[0]
	id := a["automationId"].(string)

	// As stored, the placeholders are refused.
	r := e.preview(id, a["sequence"])
	if msg, _ := r.json(t)["message"].(string); r.status != http.StatusBadRequest || !strings.Contains(msg, "unreplaced placeholder") {
		t.Fatalf("placeholders: %d %s", r.status, r.raw)
	}
	if r := e.preview(id, replaced(a["sequence"], officeSerial, officeType)); r.status != http.StatusOK {
		t.Fatalf("run: %d %s", r.status, r.raw)
	}
	// PREVIEW with the same nodes (alexapy, aioamazondevices) runs them
	// without naming the routine.
	if r := e.preview("PREVIEW", replaced(a["sequence"], kitchenSerial, kitchenType)); r.status != http.StatusOK {
		t.Fatalf("run as PREVIEW: %d %s", r.status, r.raw)
	}
	checkSpoken(t, e.household(),
		spokenEntry{"Office Echo", officeSerial, "routine", "", "", "Good night"},
		spokenEntry{"Office Echo", officeSerial, "speak", "Running Good night", "", "Good night"},
		spokenEntry{"Kitchen Echo", kitchenSerial, "speak", "Running Good night", "", ""},
	)
	// A sequenceId of another sequence does not run as this automation.
	other := replaced(a["sequence"], officeSerial, officeType)
	other["sequenceId"] = "amzn1.alexa.sequence.other"
	if r := e.preview(id, other); r.status != http.StatusBadRequest {
		t.Errorf("foreign sequenceId: %d %s", r.status, r.raw)
	}
}

func TestHouseholdEchoStateValidation(t *testing.T) {
	base := func(mod func(*sim.Household)) string {
		h := echoHousehold()
		mod(&h)
		b, _ := json.Marshal(h)
		return string(b)
	}
	tests := []struct {
		name string
		body string
		want string
	}{
		{"group without members", base(func(h *sim.Household) { h.Echos[2].Members = nil }), "a speaker group needs members"},
		{"unknown member", base(func(h *sim.Household) { h.Echos[2].Members = []string{"X"} }), `members[0] "X" is no Echo's serial`},
		{"members without WHA", base(func(h *sim.Household) { h.Echos[0].Members = []string{officeSerial} }), "members need family"},
		{"player echo", base(func(h *sim.Household) { h.Players[0].Echo = "Attic" }), `echo "Attic"`},
		{"player state", base(func(h *sim.Household) { h.Players[0].State = "STOPPED" }), `state "STOPPED"`},
		{"two players", base(func(h *sim.Household) { h.Players = append(h.Players, h.Players[0]) }), "a second player"},
		{"player volume", base(func(h *sim.Household) { h.Players[0].Volume = new(101) }), "volume 101"},
		{"echo volume", base(func(h *sim.Household) { h.Echos[0].Volume = new(-1) }), "volume -1"},
		{"routine name", base(func(h *sim.Household) { h.Routines = append(h.Routines, sim.Routine{}) }), "needs a name or an utterance"},
		{"duplicate routine", base(func(h *sim.Household) { h.Routines = append(h.Routines, sim.Routine{Name: "good  NIGHT"}) }), "duplicate id"},
		{"routine sequence", base(func(h *sim.Household) { h.Routines[0].Sequence = json.RawMessage(`{"@type":"x"}`) }), `unknown @type "x"`},
		{"unknown field", `{"echos":[{"serial":"S","type":"T","name":"N","colour":"red"}]}`, "unknown field"},
	}
	e := newEnv(t, sim.Household{}, sim.Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(http.MethodPut, "/_sim/household", "", tt.body)
			if msg, _ := r.json(t)["error"].(string); r.status != http.StatusBadRequest || !strings.Contains(msg, tt.want) {
				t.Errorf("%d %s, want 400 with %q", r.status, r.raw, tt.want)
			}
		})
	}
	// A valid one round-trips through GET and PUT unchanged.
	r := e.do(http.MethodPut, "/_sim/household", "", base(func(*sim.Household) {}))
	if r.status != http.StatusOK {
		t.Fatalf("put: %d %s", r.status, r.raw)
	}
	again := e.do(http.MethodPut, "/_sim/household", "", string(r.raw))
	if again.status != http.StatusOK || !bytes.Equal(again.raw, r.raw) {
		t.Errorf("round trip:\n%s\n%s", r.raw, again.raw)
	}
	var h sim.Household
	r.decode(t, http.StatusOK, &h)
	if p := h.Players[0]; p.Serial != officeSerial || p.Volume == nil || *p.Volume != 40 || p.MediaID == "" || p.Commands == nil {
		t.Errorf("completed player %+v", p)
	}
}

func TestSpeakerGroupDevices(t *testing.T) {
	e := newEnv(t, echoHousehold(), sim.Options{})
	var d struct {
		Devices []struct {
			SerialNumber, DeviceFamily     string
			ClusterMembers, ParentClusters []string
		}
	}
	e.web(http.MethodGet, "/api/devices-v2/device", nil).decode(t, http.StatusOK, &d)
	got := map[string][3]string{}
	for _, dev := range d.Devices {
		got[dev.SerialNumber] = [3]string{dev.DeviceFamily, strings.Join(dev.ClusterMembers, ","), strings.Join(dev.ParentClusters, ",")}
	}
	want := map[string][3]string{
		kitchenSerial: {"ECHO", "", groupSerial},
		officeSerial:  {"ECHO", "", groupSerial},
		groupSerial:   {"WHA", kitchenSerial + "," + officeSerial, ""},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("devices %v, want %v", got, want)
	}
	// An announcement to the group itself is accepted and logged for the
	// group; clients that want each member named list the members.
	e.noThrottle()
	if r := e.preview("PREVIEW", sequenceOf(announceNode("text", "Dinner", "Home", groupSerial, groupType))); r.status != http.StatusOK {
		t.Fatalf("announce to group: %d %s", r.status, r.raw)
	}
	checkSpoken(t, e.household(), spokenEntry{"Everywhere", groupSerial, "announce", "Dinner", "Home", ""})
}

func TestVolumeAndStopNodes(t *testing.T) {
	e := newEnv(t, echoHousehold(), pushOptions())
	e.noThrottle()
	pushes := &pushStream{t: t, body: openDirectives(t, e, testToken).Body}
	vol := node("Alexa.DeviceControls.Volume", "amzn1.ask.1p.alexadevicecontrols", officeSerial, officeType, map[string]any{"value": 25})
	stop := map[string]any{"@type": "com.amazon.alexa.behaviors.model.OpaquePayloadOperationNode", "type": "Alexa.DeviceControls.Stop",
		"skillId": "amzn1.ask.1p.alexadevicecontrols", "operationPayload": map[string]any{"customerId": customerID, "isAssociatedDevice": false,
			"devices": []any{map[string]any{"deviceSerialNumber": officeSerial, "deviceType": officeType}}}}
	if r := e.preview("PREVIEW", sequenceOf(vol, stop)); r.status != http.StatusOK {
		t.Fatalf("preview: %d %s", r.status, r.raw)
	}
	cmd, p := pushes.next()
	dop := map[string]any{"deviceSerialNumber": officeSerial, "deviceType": officeType}
	if cmd != "PUSH_VOLUME_CHANGE" || p["volumeSetting"] != 25.0 || p["isMuted"] != false || !reflect.DeepEqual(p["dopplerId"], dop) || p["destinationUserId"] != ownerID {
		t.Errorf("volume push %s %v", cmd, p)
	}
	h := e.household()
	cmd, p = pushes.next()
	if cmd != "PUSH_AUDIO_PLAYER_STATE" || p["audioPlayerState"] != "INTERRUPTED" || p["mediaReferenceId"] != h.Players[0].MediaID || !reflect.DeepEqual(p["dopplerId"], dop) {
		t.Errorf("stop push %s %v", cmd, p)
	}
	if h.Players[0].State != "PAUSED" || *h.Players[0].Volume != 25 || *h.Echos[1].Volume != 25 {
		t.Errorf("after: player %+v, echo %+v", h.Players[0], h.Echos[1])
	}
	checkSpoken(t, h,
		spokenEntry{"Office Echo", officeSerial, "volume", "25", "", ""},
		spokenEntry{"Office Echo", officeSerial, "stop", "", "", ""})
	if v := h.Spoken[0].Volume; v == nil || *v != 25 {
		t.Errorf("volume entry %+v", h.Spoken[0])
	}
	// Stop on every device (ALEXA_ALL_DSN) stops each Echo, not the group.
	stop["operationPayload"].(map[string]any)["devices"] = []any{map[string]any{"deviceSerialNumber": "ALEXA_ALL_DSN", "deviceType": "ALEXA_ALL_DEVICE_TYPE"}}
	if r := e.preview("PREVIEW", sequenceOf(stop)); r.status != http.StatusOK {
		t.Fatalf("stop all: %d %s", r.status, r.raw)
	}
	h = e.household()
	if n := len(h.Spoken); n != 4 || h.Spoken[2].Serial != kitchenSerial || h.Spoken[3].Serial != officeSerial {
		t.Errorf("stop all: %+v", h.Spoken)
	}
}

func TestDND(t *testing.T) {
	e := newEnv(t, echoHousehold(), pushOptions())
	e.noThrottle()
	pushes := &pushStream{t: t, body: openDirectives(t, e, testToken).Body}
	status := func() map[string]bool {
		var l struct {
			DoNotDisturbDeviceStatusList []struct {
				DeviceSerialNumber, DeviceType string
				Enabled                        bool
			}
		}
		e.web(http.MethodGet, "/api/dnd/device-status-list", nil).decode(t, http.StatusOK, &l)
		out := map[string]bool{}
		for _, s := range l.DoNotDisturbDeviceStatusList {
			out[s.DeviceSerialNumber] = s.Enabled
		}
		return out
	}
	if got := status(); !reflect.DeepEqual(got, map[string]bool{kitchenSerial: false, officeSerial: false}) {
		t.Errorf("initial %v (the group is not listed)", got)
	}
	body := `{"deviceSerialNumber":"` + kitchenSerial + `","deviceType":"` + kitchenType + `","enabled":true}`
	r := e.web(http.MethodPut, "/api/dnd/status", body)
	if r.status != http.StatusOK {
		t.Fatalf("put: %d %s", r.status, r.raw)
	}
	jsonEqual(t, r.raw, body)
	cmd, p := pushes.next()
	if cmd != "PUSH_DND_STATE_CHANGE" || p["enabled"] != true ||
		!reflect.DeepEqual(p["dopplerId"], map[string]any{"deviceSerialNumber": kitchenSerial, "deviceType": kitchenType}) {
		t.Errorf("push %s %v", cmd, p)
	}
	if got := status(); !got[kitchenSerial] || got[officeSerial] {
		t.Errorf("after put %v", got)
	}
	for _, bad := range []string{`{"deviceSerialNumber":"` + kitchenSerial + `","deviceType":"X","enabled":true}`,
		`{"deviceSerialNumber":"` + kitchenSerial + `","deviceType":"` + kitchenType + `"}`, `[`} {
		if r := e.web(http.MethodPut, "/api/dnd/status", bad); r.status != http.StatusBadRequest {
			t.Errorf("%s: %d %s", bad, r.status, r.raw)
		}
	}

	// Timed, through the DoNotDisturb node: on for an hour, then off.
	if r := e.preview("PREVIEW", sequenceOf(dndNode("Enable", "DURATION#PT1H0M0S", officeSerial, officeType))); r.status != http.StatusOK {
		t.Fatalf("node: %d %s", r.status, r.raw)
	}
	if cmd, p := pushes.next(); cmd != "PUSH_DND_STATE_CHANGE" || p["enabled"] != true {
		t.Errorf("node push %s %v", cmd, p)
	}
	start := e.clock.Now()
	e.clock.Advance(59 * time.Minute)
	if !status()[officeSerial] {
		t.Error("off before the hour is up")
	}
	e.clock.Advance(time.Minute)
	if status()[officeSerial] {
		t.Error("still on after the hour")
	}
	h := e.household()
	type change struct {
		serial      string
		enabled     bool
		duration    string
		via         string
		sinceStartS float64
	}
	var got []change
	for _, c := range h.DND {
		got = append(got, change{c.Serial, c.Enabled, c.Duration, c.Via, c.Time.Sub(start).Seconds()})
	}
	want := []change{
		{kitchenSerial, true, "", "status", 0},
		{officeSerial, true, "PT1H0M0S", "sequence", 0},
		{officeSerial, false, "", "expiry", 3600},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("dnd log %+v, want %+v", got, want)
	}
	if !h.Echos[0].DND || h.Echos[1].DND || h.Echos[1].DNDUntil != nil {
		t.Errorf("echos %+v", h.Echos)
	}

	// Until a clock time: the next 22:00 in the node's time zone.
	until := dndNode("Enable", "", officeSerial, officeType)
	up := until["operationPayload"].(map[string]any)
	up["until"], up["timeZoneId"] = "TIME#T22:00", "UTC"
	if r := e.preview("PREVIEW", sequenceOf(until)); r.status != http.StatusOK {
		t.Fatalf("until: %d %s", r.status, r.raw)
	}
	pushes.next()
	now := e.clock.Now()
	want22 := time.Date(now.Year(), now.Month(), now.Day(), 22, 0, 0, 0, time.UTC)
	if !want22.After(now) {
		want22 = want22.AddDate(0, 0, 1)
	}
	h = e.household()
	if u := h.Echos[1].DNDUntil; !h.Echos[1].DND || u == nil || !u.Equal(want22) {
		t.Errorf("until 22:00: %+v, want %v", h.Echos[1], want22)
	}
	if last := h.DND[len(h.DND)-1]; last.Until != "22:00" || last.Duration != "" || !last.Enabled {
		t.Errorf("until log %+v", last)
	}
	up["until"] = "TIME#T25:00"
	if r := e.preview("PREVIEW", sequenceOf(until)); r.status != http.StatusBadRequest {
		t.Errorf("until 25:00: %d %s", r.status, r.raw)
	}
}

func TestPlayer(t *testing.T) {
	e := newEnv(t, echoHousehold(), pushOptions())
	pushes := &pushStream{t: t, body: openDirectives(t, e, testToken).Body}
	player := func(serial, typ string) map[string]any {
		var a struct{ PlayerInfo map[string]any }
		e.web(http.MethodGet, "/api/np/player?deviceSerialNumber="+serial+"&deviceType="+typ+"&screenWidth=1392", nil).decode(t, http.StatusOK, &a)
		return a.PlayerInfo
	}
	office := player(officeSerial, officeType)
	if office["state"] != "PLAYING" || office["infoText"].(map[string]any)["title"] != "Cheap Thrills" ||
		office["infoText"].(map[string]any)["subText1"] != "Sia" || office["provider"].(map[string]any)["providerName"] != "Amazon Music" ||
		office["progress"].(map[string]any)["mediaProgress"] != 22.0 || office["volume"].(map[string]any)["volume"] != 40.0 {
		t.Errorf("office %v", office)
	}
	if k := player(kitchenSerial, kitchenType); k["state"] != nil || k["infoText"] != nil || k["volume"].(map[string]any)["volume"] != 50.0 {
		t.Errorf("idle kitchen %v", k)
	}
	if r := e.web(http.MethodGet, "/api/np/player?deviceSerialNumber=X&deviceType=Y", nil); r.status != http.StatusBadRequest {
		t.Errorf("unknown device: %d", r.status)
	}
	var sessions struct{ MediaSessionList []map[string]any }
	e.web(http.MethodGet, "/api/np/list-media-sessions?deviceSerialNumber="+kitchenSerial+"&deviceType="+kitchenType, nil).decode(t, http.StatusOK, &sessions)
	if len(sessions.MediaSessionList) != 1 || sessions.MediaSessionList[0]["nowPlayingData"].(map[string]any)["progress"].(map[string]any)["mediaLength"] != 211000.0 {
		t.Errorf("sessions %v", sessions)
	}

	command := func(body string) response {
		return e.web(http.MethodPost, "/api/np/command?deviceSerialNumber="+officeSerial+"&deviceType="+officeType, body)
	}
	mediaID := e.household().Players[0].MediaID
	if r := command(`{"type":"PauseCommand","contentFocusClientId":null}`); r.status != http.StatusOK || len(r.raw) != 0 {
		t.Fatalf("pause: %d %s", r.status, r.raw)
	}
	expectPush := func(cmd string, check func(map[string]any) bool) {
		t.Helper()
		got, p := pushes.next()
		if got != cmd || !check(p) {
			t.Errorf("push %s %v, want %s", got, p, cmd)
		}
	}
	expectPush("PUSH_AUDIO_PLAYER_STATE", func(p map[string]any) bool {
		return p["audioPlayerState"] == "INTERRUPTED" && p["mediaReferenceId"] == mediaID
	})
	expectPush("NotifyNowPlayingUpdated", func(p map[string]any) bool {
		u := p["update"].(map[string]any)["update"].(map[string]any)
		return p["dopplerId"] == nil && u["nowPlayingData"].(map[string]any)["playerState"] == "PAUSED"
	})
	if got := player(officeSerial, officeType)["state"]; got != "PAUSED" {
		t.Errorf("after pause %v", got)
	}
	command(`{"type":"PlayCommand"}`)
	expectPush("PUSH_AUDIO_PLAYER_STATE", func(p map[string]any) bool { return p["audioPlayerState"] == "PLAYING" })
	expectPush("NotifyNowPlayingUpdated", func(map[string]any) bool { return true })
	command(`{"type":"NextCommand"}`)
	var newID string
	expectPush("PUSH_MEDIA_CHANGE", func(p map[string]any) bool { newID, _ = p["mediaReferenceId"].(string); return newID != mediaID })
	expectPush("PUSH_MEDIA_PROGRESS_CHANGE", func(p map[string]any) bool {
		return p["progress"].(map[string]any)["mediaProgress"] == 0.0
	})
	expectPush("NotifyNowPlayingUpdated", func(map[string]any) bool { return true })
	command(`{"type":"ShuffleCommand","shuffle":true}`)
	expectPush("PUSH_MEDIA_QUEUE_CHANGE", func(p map[string]any) bool { return p["playBackOrder"] == "SHUFFLE_ALL" })
	command(`{"type":"RepeatCommand","repeat":true}`)
	expectPush("PUSH_MEDIA_QUEUE_CHANGE", func(p map[string]any) bool { return p["loopMode"] == "LOOP_QUEUE" })

	for _, bad := range []string{`{"type":"DanceCommand"}`, `{"type":"ShuffleCommand"}`, `{`} {
		if r := command(bad); r.status != http.StatusBadRequest {
			t.Errorf("%s: %d %s", bad, r.status, r.raw)
		}
	}
	if r := e.web(http.MethodPost, "/api/np/command?deviceSerialNumber="+kitchenSerial+"&deviceType="+kitchenType, `{"type":"PlayCommand"}`); r.status != http.StatusBadRequest {
		t.Errorf("no session: %d %s", r.status, r.raw)
	}
	p := e.household().Players[0]
	want := []string{"PauseCommand", "PlayCommand", "NextCommand", "ShuffleCommand", "RepeatCommand"}
	if !reflect.DeepEqual(p.Commands, want) || p.State != "PLAYING" || !p.Shuffle || !p.Repeat || p.MediaID != newID || p.Position != 0 {
		t.Errorf("player %+v", p)
	}
}

func TestSmallEndpoints(t *testing.T) {
	e := newEnv(t, echoHousehold(), sim.Options{})
	var hh struct {
		Accounts []map[string]any
	}
	e.web(http.MethodGet, "/api/household", nil).decode(t, http.StatusOK, &hh)
	if len(hh.Accounts) != 1 || hh.Accounts[0]["id"] != customerID || hh.Accounts[0]["role"] != "ADULT" {
		t.Errorf("household %v", hh)
	}
	var wifi map[string]any
	e.web(http.MethodGet, "/api/device-wifi-details?deviceSerialNumber="+kitchenSerial+"&deviceType="+kitchenType, nil).decode(t, http.StatusOK, &wifi)
	if wifi["essid"] != "SimHome" || len(wifi["macAddress"].(string)) != 12 || wifi["deviceSerialNumber"] != kitchenSerial {
		t.Errorf("wifi %v", wifi)
	}
	if r := e.web(http.MethodGet, "/api/device-wifi-details?deviceSerialNumber=X&deviceType=Y", nil); r.status != http.StatusBadRequest {
		t.Errorf("wifi of unknown device: %d", r.status)
	}
	var ww struct{ WakeWords []map[string]any }
	e.web(http.MethodGet, "/api/wake-word?cached=true", nil).decode(t, http.StatusOK, &ww)
	if len(ww.WakeWords) != 2 {
		t.Errorf("wake words %v (no group entry)", ww)
	}
	var vols struct {
		Volumes []struct {
			DSN           string
			SpeakerVolume int
			SpeakerMuted  bool
		}
	}
	e.web(http.MethodGet, "/api/devices/deviceType/dsn/audio/v1/allDeviceVolumes", nil).decode(t, http.StatusOK, &vols)
	if len(vols.Volumes) != 3 || vols.Volumes[0].SpeakerVolume != 50 || vols.Volumes[1].DSN != officeSerial || vols.Volumes[1].SpeakerVolume != 40 {
		t.Errorf("volumes %+v", vols)
	}
	// Every new route takes faults like the others, and is recorded.
	for _, route := range []struct{ method, path string }{
		{http.MethodGet, "/api/household"}, {http.MethodGet, "/api/device-wifi-details"},
		{http.MethodGet, "/api/behaviors/v2/automations"}, {http.MethodPost, "/api/behaviors/preview"},
		{http.MethodGet, "/api/dnd/device-status-list"}, {http.MethodPut, "/api/dnd/status"},
		{http.MethodGet, "/api/np/player"}, {http.MethodGet, "/api/np/list-media-sessions"},
		{http.MethodPost, "/api/np/command"}, {http.MethodGet, "/api/devices/deviceType/dsn/audio/v1/allDeviceVolumes"},
		{http.MethodGet, "/alexa-privacy/apd/activity"}, {http.MethodGet, "/alexa-privacy/apd/rvh"},
		{http.MethodGet, "/alexa-privacy/apd/csrf-token"},
		{http.MethodPost, "/alexa-privacy/apd/rvh/customer-history-records-v2"},
		{http.MethodPost, "/alexa-privacy/apd/rah/alexa-history-records-v2"},
		{http.MethodGet, "/alexa-privacy/apd/rvh/customer-history-records"}, {http.MethodGet, "/api/activities"},
	} {
		e.do(http.MethodPost, "/_sim/faults", "", `[{"path_prefix":"`+route.path+`","method":"`+route.method+`","status":500,"times":1}]`)
		if r := e.web(route.method, route.path, nil); r.status != http.StatusInternalServerError {
			t.Errorf("%s %s faulted: %d", route.method, route.path, r.status)
		}
		reqs := e.sim.Requests()
		if got := reqs[len(reqs)-1]; got.Method != route.method || got.Path != route.path || got.Status != http.StatusInternalServerError {
			t.Errorf("%s %s: last recorded %+v", route.method, route.path, got)
		}
	}
}
