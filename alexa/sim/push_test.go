package sim_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/alexarules/alexarules/alexa/sim"
)

const (
	testToken = "test-access-token"
	delimiter = "--------abcde123\r\n"
	partHead  = "Content-Type: application/json\r\n\r\n"
)

// pushOptions serve testToken and never send keep-alives on their own.
func pushOptions() sim.Options {
	return sim.Options{AccessTokens: []string{testToken}, PushKeepAlive: 1 << 62}
}

// openDirectives opens the HTTP/2 downchannel over h2c and checks its
// first DATA frame is the opening delimiter alone.
func openDirectives(t *testing.T, e *env, token string) *http.Response {
	t.Helper()
	resp := getDirectives(t, e, token)
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("directives: %d %s", resp.StatusCode, b)
	}
	if got := resp.Header.Get("Content-Type"); got != "multipart/related; boundary=------abcde123; type=application/json" {
		t.Errorf("content type %q", got)
	}
	if got, want := readChunk(t, resp.Body), string(readFile(t, "testdata/http2_downchannel_chunk0_SYNTHETIC.txt")); got != want {
		t.Fatalf("first DATA frame %q, want %q", got, want)
	}
	return resp
}

// getDirectives sends GET /v20160207/directives over HTTP/2 without TLS,
// as alexa-remote2 sends it.
func getDirectives(t *testing.T, e *env, token string) *http.Response {
	t.Helper()
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: &p}
	t.Cleanup(tr.CloseIdleConnections)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.ts.URL+"/v20160207/directives", nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("User-Agent", "okhttp/4.3.2-SNAPSHOT")
	// An answer that never comes fails the test: the request is
	// cancelled.
	timer := time.AfterFunc(maxWait, cancel)
	resp, err := tr.RoundTrip(req)
	if !timer.Stop() {
		t.Fatalf("GET directives: no answer within %v (%v)", maxWait, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if resp.ProtoMajor != 2 {
		t.Fatalf("downchannel over %s", resp.Proto)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// readChunk returns what one Read of the body gives. The server flushes
// one part per DATA frame and the test reads after each push has been
// written, so one Read returns exactly one DATA frame.
func readChunk(t *testing.T, body io.ReadCloser) string {
	t.Helper()
	chunk, err := readBody(t, body)
	if chunk == "" {
		t.Fatalf("read downchannel: %v", err)
	}
	return chunk
}

// readBody does one Read of a downchannel body. The stream never ends on
// its own, so a Read waits for as long as the simulator sends nothing: if
// nothing comes within maxWait, the body is closed (which ends the Read)
// and the test fails.
func readBody(t *testing.T, body io.ReadCloser) (string, error) {
	t.Helper()
	buf := make([]byte, 64<<10)
	timer := time.AfterFunc(maxWait, func() { body.Close() })
	n, err := body.Read(buf)
	if !timer.Stop() {
		t.Fatalf("downchannel: nothing within %v (read %q, %v)", maxWait, buf[:n], err)
	}
	return string(buf[:n]), err
}

// directive is the envelope of a downchannel part.
type directive struct {
	Directive struct {
		Header struct {
			Namespace, Name, MessageID string
		} `json:"header"`
		Payload struct {
			RenderingUpdates []struct {
				Route, ResourceID, ResourceMetadata string
			} `json:"renderingUpdates"`
		} `json:"payload"`
	} `json:"directive"`
}

// metadata is a decoded resourceMetadata.
type metadata struct {
	Command   string `json:"command"`
	Payload   string `json:"payload"`
	TimeStamp int64  `json:"timeStamp"`
}

// parsePart checks chunk is exactly one part (header, one line of JSON,
// delimiter) and decodes its three levels.
func parsePart(t *testing.T, chunk string) (directive, metadata) {
	t.Helper()
	body, ok := strings.CutPrefix(chunk, partHead)
	if !ok {
		t.Fatalf("part does not start with the part header: %q", chunk)
	}
	js, ok := strings.CutSuffix(body, "\r\n"+delimiter)
	if !ok || strings.ContainsAny(js, "\r\n") {
		t.Fatalf("part is not one JSON line and the delimiter: %q", chunk)
	}
	var d directive
	if err := json.Unmarshal([]byte(js), &d); err != nil {
		t.Fatalf("directive: %v: %s", err, js)
	}
	if len(d.Directive.Payload.RenderingUpdates) != 1 {
		t.Fatalf("rendering updates: %s", js)
	}
	var m metadata
	if err := json.Unmarshal([]byte(d.Directive.Payload.RenderingUpdates[0].ResourceMetadata), &m); err != nil {
		t.Fatalf("resourceMetadata: %v: %s", err, js)
	}
	return d, m
}

// postPush sends body to POST /_sim/push and returns how many clients got
// it.
func (e *env) postPush(body string) int {
	e.t.Helper()
	var a struct{ Clients int }
	e.do(http.MethodPost, "/_sim/push", "", body).decode(e.t, http.StatusOK, &a)
	return a.Clients
}

func TestDownchannel(t *testing.T) {
	e := newEnv(t, sim.DemoHousehold(), pushOptions())
	resp := openDirectives(t, e, testToken)

	// Logged as soon as it is open.
	var logged bool
	for _, r := range e.sim.Requests() {
		logged = logged || (r.Path == "/v20160207/directives" && r.Status == http.StatusOK)
	}
	if !logged {
		t.Error("open downchannel not in the request log")
	}

	// Each fixture part, pushed through the control API, arrives as one
	// DATA frame equal to the fixture but for messageId and timeStamp.
	for _, name := range []string{"chunk1", "chunk2", "chunk3"} {
		want, wantMeta := parsePart(t, string(readFile(t, "testdata/http2_downchannel_"+name+"_SYNTHETIC.txt")))
		body, _ := json.Marshal(map[string]any{"command": wantMeta.Command, "payload": json.RawMessage(wantMeta.Payload)})
		if n := e.postPush(string(body)); n != 1 {
			t.Fatalf("%s: pushed to %d clients", name, n)
		}
		got, gotMeta := parsePart(t, readChunk(t, resp.Body))
		if got.Directive.Header.MessageID == "" {
			t.Errorf("%s: no messageId", name)
		}
		got.Directive.Header.MessageID = want.Directive.Header.MessageID
		got.Directive.Payload.RenderingUpdates[0].ResourceMetadata = want.Directive.Payload.RenderingUpdates[0].ResourceMetadata
		if !reflect.DeepEqual(got, want) || gotMeta.Command != wantMeta.Command || gotMeta.Payload != wantMeta.Payload {
			t.Errorf("%s:\ngot  %+v %+v\nwant %+v %+v", name, got, gotMeta, want, wantMeta)
		}
		if gotMeta.TimeStamp != e.clock.Now().UnixMilli() {
			t.Errorf("%s: timeStamp %d", name, gotMeta.TimeStamp)
		}
	}

	// A payload string goes out as it is, even if it is not JSON.
	if n := e.postPush(`{"command":"PUSH_SOMETHING_NEW","payload":"not json"}`); n != 1 {
		t.Fatalf("string payload pushed to %d clients", n)
	}
	if _, m := parsePart(t, readChunk(t, resp.Body)); m.Command != "PUSH_SOMETHING_NEW" || m.Payload != "not json" {
		t.Errorf("string payload: %+v", m)
	}

	// raw is one part around the given text, unchanged; raw_hex is for the
	// websocket only.
	raw := `{"directive":{"header":{"namespace":"System","name":"Odd"},"payload":{}}}`
	if n := e.postPush(`{"raw":` + mustJSON(t, raw) + `}`); n != 1 {
		t.Fatalf("raw pushed to %d clients", n)
	}
	if got := readChunk(t, resp.Body); got != partHead+raw+"\r\n"+delimiter {
		t.Errorf("raw part %q", got)
	}
	if n := e.postPush(`{"raw_hex":"4d5347"}`); n != 0 {
		t.Errorf("raw_hex reached %d downchannel clients", n)
	}

	// Two downchannels both get a push.
	resp2 := openDirectives(t, e, testToken)
	if n := e.postPush(`{"command":"PUSH_DND_STATE_CHANGE","payload":{"enabled":true}}`); n != 2 {
		t.Fatalf("pushed to %d clients, want 2", n)
	}
	for _, body := range []io.ReadCloser{resp.Body, resp2.Body} {
		if _, m := parsePart(t, readChunk(t, body)); m.Payload != `{"enabled":true}` {
			t.Errorf("payload %q", m.Payload)
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDownchannelAuth(t *testing.T) {
	e := newEnv(t, sim.DemoHousehold(), pushOptions())
	for _, token := range []string{"", "Atna|unknown"} {
		resp := getDirectives(t, e, token)
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("token %q: %d", token, resp.StatusCode)
		}
	}
	// An expired token is refused too.
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	e.form("/auth/token", map[string][]string{"source_token": {sim.SimRefreshToken}, "source_token_type": {"refresh_token"},
		"requested_token_type": {"access_token"}}).decode(t, http.StatusOK, &tok)
	e.clock.Advance(3601e9)
	if resp := getDirectives(t, e, tok.AccessToken); resp.StatusCode != http.StatusForbidden {
		t.Errorf("expired token: %d", resp.StatusCode)
	}
}

func TestDownchannelKeepAlive(t *testing.T) {
	opts := pushOptions()
	opts.PushKeepAlive = 1 // as often as the ticker goes
	e := newEnv(t, sim.DemoHousehold(), opts)
	resp := getDirectives(t, e, testToken)
	// The opening delimiter, then keep-alives: bare delimiters only.
	var got string
	for strings.Count(got, delimiter) < 3 {
		got += readChunk(t, resp.Body)
	}
	if strings.ReplaceAll(got, delimiter, "") != "" {
		t.Errorf("keep-alives %q, want bare delimiters", got)
	}
}

// pushed reads the next part and returns its command and decoded payload.
func pushed(t *testing.T, body io.ReadCloser) (string, map[string]any) {
	t.Helper()
	return decodePart(t, readChunk(t, body))
}

// decodePart returns a part's command and decoded payload.
func decodePart(t *testing.T, part string) (string, map[string]any) {
	t.Helper()
	_, m := parsePart(t, part)
	var p map[string]any
	if err := json.Unmarshal([]byte(m.Payload), &p); err != nil {
		t.Fatalf("payload: %v: %s", err, m.Payload)
	}
	return m.Command, p
}

func TestSimListItems(t *testing.T) {
	e := newEnv(t, sim.DemoHousehold(), pushOptions())
	resp := openDirectives(t, e, testToken)

	var a struct {
		Item    sim.ListItem
		Clients int
	}
	e.do(http.MethodPost, "/_sim/lists/"+shoppingList+"/items", "", `{"text":"oat milk"}`).decode(t, http.StatusOK, &a)
	if a.Clients != 1 || a.Item.ID == "" || a.Item.Text != "oat milk" || a.Item.Completed {
		t.Errorf("answer %+v", a)
	}
	cmd, p := pushed(t, resp.Body)
	if cmd != "PUSH_LIST_ITEM_CHANGE" || p["listId"] != shoppingList || p["listItemId"] != a.Item.ID ||
		p["version"] != 1.0 || p["eventName"] != "itemCreated" || p["destinationUserId"] == "" || len(p) != 5 {
		t.Errorf("push %s %v", cmd, p)
	}
	// Ids only: the text is fetched.
	items := e.v2Items(shoppingList)
	if last := items[len(items)-1]; last.ItemName != "oat milk" || last.ItemID != a.Item.ID || last.Version != 1 {
		t.Errorf("fetched %+v", last)
	}
	h := e.household()
	if got := h.Lists[0].Items[len(h.Lists[0].Items)-1]; got != a.Item {
		t.Errorf("household item %+v", got)
	}

	for _, tt := range []struct{ path, body string }{
		{"/_sim/lists/nope/items", `{"text":"x"}`},
		{"/_sim/lists/" + shoppingList + "/items", `{"text":""}`},
		{"/_sim/lists/" + shoppingList + "/items", `{"text":"x","qty":2}`},
	} {
		if r := e.do(http.MethodPost, tt.path, "", tt.body); r.status < 400 || r.json(t)["error"] == "" {
			t.Errorf("%s %s: %d %s", tt.path, tt.body, r.status, r.raw)
		}
	}
}

func TestSimNotifications(t *testing.T) {
	e := newEnv(t, sim.DemoHousehold(), pushOptions())
	resp := openDirectives(t, e, testToken)

	type answer struct {
		Notification map[string]any
		Clients      int
	}
	// A new timer, as if set by voice.
	var a answer
	e.do(http.MethodPost, "/_sim/notifications", "", `{"type":"Timer","status":"ON","remainingTime":300000,"timerLabel":"tea","deviceSerialNumber":"`+bedroomEcho+`"}`).
		decode(t, http.StatusOK, &a)
	id, _ := a.Notification["id"].(string)
	idx, _ := a.Notification["notificationIndex"].(string)
	if a.Clients != 1 || id != bedroomType+"-"+bedroomEcho+"-"+idx || a.Notification["version"] != "1" || a.Notification["deviceType"] != bedroomType {
		t.Errorf("answer %+v", a)
	}
	cmd, p := pushed(t, resp.Body)
	want := map[string]any{"destinationUserId": p["destinationUserId"], "eventType": "CREATE", "notificationId": idx, "notificationVersion": 1.0,
		"dopplerId": map[string]any{"deviceSerialNumber": bedroomEcho, "deviceType": bedroomType}}
	if cmd != "PUSH_NOTIFICATION_CHANGE" || mustJSON(t, p) != mustJSON(t, want) {
		t.Errorf("push %s %v", cmd, p)
	}
	if n := findNotification(e.notifications(), id); n == nil || n["timerLabel"] != "tea" {
		t.Errorf("listed %v", n)
	}

	// Replacing the demo alarm without a version bumps it by one (a
	// dismissal to clients); a given version is kept.
	e.do(http.MethodPost, "/_sim/notifications", "", `{"id":"`+demoAlarmID+`","type":"Alarm","status":"ON","originalDate":"2026-01-05","originalTime":"07:30:00.000","recurringPattern":"XXXX-WD","deviceSerialNumber":"`+bedroomEcho+`"}`).
		decode(t, http.StatusOK, &a)
	cmd, p = pushed(t, resp.Body)
	if a.Notification["version"] != "2" || p["eventType"] != "UPDATE" || p["notificationId"] != demoAlarmIdx || p["notificationVersion"] != 2.0 {
		t.Errorf("replace: %v, push %s %v", a.Notification, cmd, p)
	}
	e.do(http.MethodPost, "/_sim/notifications", "", `{"id":"`+demoAlarmID+`","version":"7","type":"Alarm","status":"OFF","originalDate":"2026-01-05","originalTime":"07:30:00.000","deviceSerialNumber":"`+bedroomEcho+`"}`).
		decode(t, http.StatusOK, &a)
	if _, p = pushed(t, resp.Body); p["notificationVersion"] != 7.0 {
		t.Errorf("given version: push %v", p)
	}
	n := findNotification(e.notifications(), demoAlarmID)
	if n["status"] != "OFF" || n["version"] != "7" || n["originalTime"] != "07:30:00.000" {
		t.Errorf("replaced alarm %v", n)
	}
	if got := len(e.notifications()); got != 2 {
		t.Errorf("%d notifications, want 2", got)
	}

	for _, body := range []string{
		`{"type":"Alarm","deviceSerialNumber":"` + bedroomEcho + `"}`,
		`{"type":"Timer","remainingTime":1,"deviceSerialNumber":"nope"}`,
		`[1]`,
	} {
		if r := e.do(http.MethodPost, "/_sim/notifications", "", body); r.status != http.StatusBadRequest {
			t.Errorf("%s: %d %s", body, r.status, r.raw)
		}
	}
}

// TestAPIChangesPush checks that changes made through the web API push
// like changes made on an Echo: Amazon tells every client.
func TestAPIChangesPush(t *testing.T) {
	e := newEnv(t, sim.DemoHousehold(), pushOptions())
	resp := openDirectives(t, e, testToken)
	var added struct {
		ItemInfoList []v2Item `json:"itemInfoList"`
	}
	e.web(http.MethodPost, "/alexashoppinglists/api/v2/lists/"+todoList+"/items", `{"items":[{"itemType":"KEYWORD","itemName":"paint"}]}`).
		decode(t, http.StatusOK, &added)
	if cmd, p := pushed(t, resp.Body); cmd != "PUSH_LIST_ITEM_CHANGE" || p["listItemId"] != added.ItemInfoList[0].ItemID || p["eventName"] != "itemCreated" {
		t.Errorf("add: %s %v", cmd, p)
	}
	e.web(http.MethodDelete, "/api/notifications/"+demoAlarmID, nil)
	if cmd, p := pushed(t, resp.Body); cmd != "PUSH_NOTIFICATION_CHANGE" || p["eventType"] != "DELETE" || p["notificationId"] != demoAlarmIdx {
		t.Errorf("delete: %s %v", cmd, p)
	}
}

func TestPushControlErrors(t *testing.T) {
	e := newEnv(t, sim.DemoHousehold(), pushOptions())
	for _, body := range []string{
		`{}`,
		`{"payload":{}}`,
		`{"command":"PUSH_X","raw":"{}"}`,
		`{"raw_hex":"zz"}`,
		`{"raw":"{}","payload":{}}`,
		`{"command":"PUSH_X","extra":1}`,
		`{"command":"PUSH_X","payload":{`,
	} {
		if r := e.do(http.MethodPost, "/_sim/push", "", body); r.status != http.StatusBadRequest || r.json(t)["error"] == "" {
			t.Errorf("%s: %d %s", body, r.status, r.raw)
		}
	}
	// Nobody listening: delivered to none.
	if n := e.postPush(`{"command":"PUSH_X","payload":{"a":1}}`); n != 0 {
		t.Errorf("pushed to %d clients", n)
	}
}
