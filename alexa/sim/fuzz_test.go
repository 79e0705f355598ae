package sim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alexarules/alexarules/alexa/push"
	"github.com/alexarules/alexarules/alexa/sim"
)

// fuzzRoutes are the control API calls FuzzControl drives; {id} is
// replaced by the fuzzed id (a demo endpoint's or list's when empty).
var fuzzRoutes = []struct{ method, path, demoID string }{
	{http.MethodPut, "/_sim/household", ""},
	{http.MethodPatch, "/_sim/endpoints/{id}", "amzn1.alexa.endpoint.3f9d2c1e-8a4b-4c7d-9e21-5b6a7c8d0e11"},
	{http.MethodPost, "/_sim/push", ""},
	{http.MethodPost, "/_sim/faults", ""},
	{http.MethodPost, "/_sim/notifications", ""},
	{http.MethodPost, "/_sim/lists/{id}/items", "amzn1.alexa.list.sim-shopping"},
	{http.MethodPost, "/_sim/codepair/approve", ""},
	{http.MethodPatch, "/_sim/smarthome/{id}", "6a1f0c2e-3b4d-4e5f-9a8b-7c6d5e4f3a01"},
}

// FuzzControl sends any body to a control API route of a simulator with
// the demo household. Invariants: no panic, no 5xx; a refusal is a 4xx
// with {"error": "..."} and changes nothing; only a body that is one JSON
// value (or none) is accepted; whatever was accepted, GET
// /_sim/household answers a household that PUT /_sim/household takes back
// unchanged, and the Amazon API still lists the endpoints.
func FuzzControl(f *testing.F) {
	demo, err := json.Marshal(sim.DemoHousehold())
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []struct {
		route    uint8
		id, body string
	}{
		{0, "", string(demo)},
		{0, "", `{"endpoints":[],"echos":[],"lists":[],"notifications":[]}`},
		{0, "", `{"notifications":[5,{"type":"Alarm"},{"id":"n"},{"id":"n"}]}`},
		{1, "", `{"temperature":20}`},
		{1, "", `{"temperature":27.5,"connectivity":"UNREACHABLE","power":null}`},
		{1, "nope", `{"temperature":20}`},
		{2, "", `{"command":"PUSH_VOLUME_CHANGE","payload":{"dopplerId":{"deviceSerialNumber":"S"},"volumeSetting":30}}`},
		{2, "", `{"command":"PUSH_X","payload":"not json"}`},
		{2, "", `{"raw_hex":"4d 53 47","raw":"{}"}`},
		{3, "", `[{"path_prefix":"/v2/endpoints","status":429,"times":2,"retry_after":1}]`},
		{3, "", `{"path_prefix":"/v2/endpoints/","method":"POST","status":503,"type":"ENDPOINT_UNREACHABLE","latency_ms":5,"push":"drop"}`},
		{4, "", `{"type":"Alarm","status":"ON","originalDate":"2026-01-05","originalTime":"07:30:00.000","recurringPattern":"XXXX-WD","deviceSerialNumber":"G090LF1182340B7K"}`},
		{4, "", `{"id":"n1","type":"Reminder","status":"ON","reminderLabel":"bins","alarmTime":1545520380000,"deviceSerialNumber":"G6G0XW0412650C3M"}`},
		{5, "", `{"text":"milk"}`},
		{5, "amzn1.alexa.list.nope", `{"text":" "}`},
		{6, "", `{"user_code":"SIM001"}`},
		{6, "", ``},
		{7, "", `{"brightness":20,"connectivity":"UNREACHABLE","color":null}`},
		{7, "", `{"volume":20}`},
		{0, "", `{"smarthome":[{"id":"a","name":"A","type":"PLUG","state":{"power":"ON"}}],"groups":[{"id":"g","name":"G","members":["a"]}]}`},
	} {
		f.Add(s.route, s.id, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, route uint8, id string, body []byte) {
		h := fuzzServer().Handler()
		before := getHousehold(t, h)
		rt := fuzzRoutes[int(route)%len(fuzzRoutes)]
		if id == "" {
			id = rt.demoID
		}
		if id == "." || id == ".." {
			return // the mux redirects a path with a dot segment; no handler sees it
		}
		path := strings.Replace(rt.path, "{id}", url.PathEscape(id), 1)
		code, answer := call(h, rt.method, path, body)
		switch {
		case code >= 500:
			t.Fatalf("%s %s: %d %s", rt.method, path, code, answer)
		case code >= 400:
			var e struct{ Error string }
			if json.Unmarshal(answer, &e) != nil || e.Error == "" {
				t.Fatalf("%s %s: %d %s; want {\"error\": ...}", rt.method, path, code, answer)
			}
			if after := getHousehold(t, h); !bytes.Equal(after, before) {
				t.Fatalf("%s %s refused (%d %s) but the household changed:\n%s\n%s", rt.method, path, code, e.Error, before, after)
			}
		case !json.Valid(answer):
			t.Fatalf("%s %s: %d with a body that is not JSON: %q", rt.method, path, code, answer)
		case len(bytes.TrimSpace(body)) > 0 && !json.Valid(body):
			t.Fatalf("%s %s: %d for a body that is not one JSON value: %q", rt.method, path, code, body)
		}
		checkServable(t, h)
	})
}

// fuzzServer is a simulator with the demo household, a fixed clock and no
// sleeping, for one fuzz input.
func fuzzServer() *sim.Server {
	return sim.New(sim.DemoHousehold(), sim.Options{AccessTokens: []string{"fuzz"},
		Now:   func() time.Time { return time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC) },
		Sleep: func(context.Context, time.Duration) error { return nil }})
}

// smartHomeRoutes are the smart-home API calls FuzzSmartHomeAPI drives.
var smartHomeRoutes = []struct{ method, path string }{
	{http.MethodPost, "/nexus/v1/graphql"},
	{http.MethodPost, "/api/phoenix/state"},
	{http.MethodPut, "/api/phoenix/state"},
}

// FuzzSmartHomeAPI sends any body to the smart-home API of a simulator
// with the demo household. Invariants: no panic, no 5xx, every answer is
// JSON; a 400 changes nothing; the household still reads back through PUT.
func FuzzSmartHomeAPI(f *testing.F) {
	lamp := "6a1f0c2e-3b4d-4e5f-9a8b-7c6d5e4f3a01"
	for _, s := range []struct {
		route uint8
		body  string
	}{
		{0, `{"query":"query Endpoints { endpoints { items { id friendlyName legacyAppliance { applianceId aliases capabilities } features { name operations { name } } } } }"}`},
		{0, `[{"operationName":"CustomerSmartHome","query":"query CustomerSmartHome { endpoints(endpointsQueryParams: { paginationParams: { disablePagination: true } }) { items { legacyAppliance { entityId } } } }"}]`},
		{0, `{"query":"mutation M($r: [FeatureControlRequest!]!) { setEndpointFeatures(setEndpointFeaturesInput: { featureControlRequests: $r }) { errors { code } } }","variables":{"r":[{"endpointId":"amzn1.alexa.endpoint.` + lamp + `","featureName":"brightness","featureOperationName":"setBrightness","payload":{"brightness":"50"}}]}}`},
		{0, `{"query":"{ endpoint(id: \"x\") { ...F } } fragment F on Endpoint { id ... on Endpoint { friendlyName } }"}`},
		{0, `{"query":"query { endpoints { items { id } "}`},
		{1, `{"stateRequests":[{"entityId":"` + lamp + `","entityType":"ENTITY"},{"entityId":"b41c7f0e-92d3-4a6b-8e15-3c7d9f2a6b01","entityType":"GROUP"}]}`},
		{2, `{"controlRequests":[{"entityId":"` + lamp + `","entityType":"APPLIANCE","parameters":{"action":"setColor","colorName":"red"}}]}`},
		{2, `{"controlRequests":[{"entityId":"` + lamp + `","entityType":"ENTITY","parameters":{"action":"setBrightness","brightness":"0.5"}}]}`},
	} {
		f.Add(s.route, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		h := fuzzServer().Handler()
		before := getHousehold(t, h)
		rt := smartHomeRoutes[int(route)%len(smartHomeRoutes)]
		req := httptest.NewRequest(rt.method, "http://sim"+rt.path, bytes.NewReader(body))
		req.Header.Set("Cookie", "csrf=1")
		req.Header.Set("csrf", "1")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		code, answer := rec.Code, rec.Body.Bytes()
		switch {
		case code >= 500 || !json.Valid(answer):
			t.Fatalf("%s %s: %d %s", rt.method, rt.path, code, answer)
		case code >= 400:
			if after := getHousehold(t, h); !bytes.Equal(after, before) {
				t.Fatalf("%s %s refused (%d %s) but the household changed", rt.method, rt.path, code, answer)
			}
		}
		checkServable(t, h)
	})
}

func call(h http.Handler, method, path string, body []byte) (int, []byte) {
	req := httptest.NewRequest(method, "http://sim"+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer fuzz")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.Bytes()
}

func getHousehold(t *testing.T, h http.Handler) []byte {
	t.Helper()
	code, b := call(h, http.MethodGet, "/_sim/household", nil)
	if code != http.StatusOK {
		t.Fatalf("GET /_sim/household: %d %s", code, b)
	}
	return b
}

// checkServable: the household reads back through PUT unchanged, and the
// API serves it once the faults are cleared.
func checkServable(t *testing.T, h http.Handler) {
	t.Helper()
	got := getHousehold(t, h)
	if _, err := sim.LoadHousehold(bytes.NewReader(got)); err != nil {
		t.Fatalf("GET /_sim/household answers a household LoadHousehold refuses: %v\n%s", err, got)
	}
	if code, b := call(h, http.MethodPut, "/_sim/household", got); code != http.StatusOK || !bytes.Equal(b, got) {
		t.Fatalf("PUT of the household GET answered: %d\n%s\nwant\n%s", code, b, got)
	}
	call(h, http.MethodDelete, "/_sim/faults", nil)
	if code, b := call(h, http.MethodGet, "/v2/endpoints?owner=~caller", nil); code != http.StatusOK || !json.Valid(b) {
		t.Fatalf("GET /v2/endpoints?owner=~caller: %d %s", code, b)
	}
}

// FuzzTcommAgreement checks the simulator's tcomm codec against the
// client's (alexa/push), written separately: a frame either encodes
// byte for byte the same and decodes to the same fields in the other, and
// any bytes both accept decode to the same frame.
func FuzzTcommAgreement(f *testing.F) {
	files, _ := filepath.Glob("testdata/ws_*.bin")
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint32(push.ChannelGateway), uint32(1), []byte("GWM MSG 0x0000b479 "), false)
		f.Add(b, uint32(push.ChannelHeartbeat), uint32(0xffffffff), []byte{}, true)
	}
	f.Fuzz(func(t *testing.T, b []byte, channel, id uint32, content []byte, af bool) {
		proto := push.ProtocolAH
		if af {
			proto = push.ProtocolAF
		}
		sb := sim.EncodeMsg(string(proto), channel, id, content)
		if pb := push.EncodeMessage(proto, channel, id, content); !bytes.Equal(sb, pb) {
			t.Fatalf("%s frame: simulator %q, client %q", proto, sb, pb)
		}
		if tb, pb := sim.EncodeTune(content), push.EncodeTune(content); !bytes.Equal(tb, pb) {
			t.Fatalf("TUNE frame: simulator %q, client %q", tb, pb)
		}
		sameFrame(t, sb)
		sameFrame(t, b)
	})
}

// sameFrame: where both codecs accept b, they read the same frame.
func sameFrame(t *testing.T, b []byte) {
	t.Helper()
	sf, serr := sim.DecodeTcomm(b)
	pf, perr := push.ParseFrame(b)
	if serr != nil || perr != nil {
		return
	}
	if sf.Tune != (pf.Service == push.ServiceTune) || !bytes.Equal(sf.Content, pf.Content) ||
		!sf.Tune && (sf.Protocol != string(pf.Framing) || sf.Channel != pf.Channel || sf.MessageID != pf.MessageID) {
		t.Fatalf("%q: simulator reads %+v, client %+v", b, sf, pf)
	}
}
