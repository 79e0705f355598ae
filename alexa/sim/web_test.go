package sim_test

import (
	"encoding/json"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/alexarules/alexarules/alexa/sim"
)

// The cookie and csrf alexa-remote2's interop harness uses; the simulator
// never issued them.
const (
	webCookie = "session-id=000-0000000-0000000; ubid-acbde=000-0000000-0000000; csrf=135792468"
	webCSRF   = "135792468"
)

// web calls a web API route with the session cookie and csrf header.
func (e *env) web(method, path string, body any) response {
	e.t.Helper()
	req := e.request(method, path, body)
	req.Header.Set("Cookie", webCookie)
	req.Header.Set("csrf", webCSRF)
	return e.send(req)
}

// decode unmarshals the answer into v after checking the status.
func (r response) decode(t *testing.T, want int, v any) {
	t.Helper()
	if r.status != want {
		t.Fatalf("status %d, want %d: %s", r.status, want, r.raw)
	}
	if err := json.Unmarshal(r.raw, v); err != nil {
		t.Fatalf("answer: %v: %s", err, r.raw)
	}
}

// Demo ids the tests name.
const (
	bedroomEcho   = "G090LF1182340B7K"
	bedroomType   = "A32DOYMUN6DTXA"
	shoppingList  = "amzn1.alexa.list.sim-shopping"
	todoList      = "amzn1.alexa.list.sim-todo"
	demoAlarmID   = "A32DOYMUN6DTXA-G090LF1182340B7K-9c1f6a2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b"
	demoAlarmIdx  = "9c1f6a2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b"
	livingRoomTyp = "A3S5BH2HU6VAYF"
)

func TestWebAuth(t *testing.T) {
	e := newEnv(t, sim.DemoHousehold(), sim.Options{})
	tests := []struct {
		name         string
		cookie, csrf string
	}{
		{"no cookie", "", webCSRF},
		{"no csrf header", webCookie, ""},
		{"csrf mismatch", webCookie, "999"},
		{"cookie without csrf", "session-id=000", webCSRF},
	}
	for _, path := range []string{"/api/customer-status", "/api/devices-v2/device", "/api/notifications", "/api/namedLists", "/accounts"} {
		for _, tt := range tests {
			req, _ := http.NewRequest(http.MethodGet, e.ts.URL+path, nil)
			if tt.cookie != "" {
				req.Header.Set("Cookie", tt.cookie)
			}
			if tt.csrf != "" {
				req.Header.Set("csrf", tt.csrf)
			}
			r := e.send(req)
			if r.status != http.StatusUnauthorized {
				t.Errorf("%s, %s: %d %s", path, tt.name, r.status, r.raw)
			}
			if msg, _ := r.json(t)["message"].(string); msg == "" {
				t.Errorf("%s, %s: no message: %s", path, tt.name, r.raw)
			}
		}
	}
	r := e.do(http.MethodPost, "/alexashoppinglists/api/v2/lists/fetch", "", `{}`)
	if r.status != http.StatusUnauthorized {
		t.Errorf("v2 lists without a session: %d", r.status)
	}
}

// TestInitRoutes walks the calls alexa-remote2's init() makes, in order
// (research/alexa-remote2-interop.md §B), and checks what it relies on.
func TestInitRoutes(t *testing.T) {
	e := newEnv(t, sim.DemoHousehold(), sim.Options{})

	var status struct {
		Authentication struct {
			Authenticated bool   `json:"authenticated"`
			CustomerID    string `json:"customerId"`
		} `json:"authentication"`
	}
	e.web(http.MethodGet, "/api/customer-status", nil).decode(t, http.StatusOK, &status)
	if !status.Authentication.Authenticated || status.Authentication.CustomerID == "" {
		t.Errorf("customer-status %+v", status)
	}
	// Gone since 2025-11: clients must not depend on it.
	if r := e.web(http.MethodGet, "/api/bootstrap", nil); r.status != http.StatusNotFound {
		t.Errorf("/api/bootstrap: %d, want 404", r.status)
	}

	var endpoints map[string]string
	e.web(http.MethodGet, "/api/endpoints", nil).decode(t, http.StatusOK, &endpoints)
	if endpoints["websiteApiUrl"] != e.ts.URL || endpoints["alexaApiUrl"] != e.ts.URL {
		t.Errorf("endpoints %v, want the simulator's own URL %s", endpoints, e.ts.URL)
	}

	var accounts []map[string]any
	e.web(http.MethodGet, "/accounts", nil).decode(t, http.StatusOK, &accounts)
	if len(accounts) != 1 || accounts[0]["commsId"] == "" {
		t.Errorf("accounts %v", accounts)
	}

	var devices struct {
		Devices []map[string]any `json:"devices"`
	}
	e.web(http.MethodGet, "/api/devices-v2/device?cached=true&_=1700000000000", nil).decode(t, http.StatusOK, &devices)
	var names []string
	for _, d := range devices.Devices {
		names = append(names, d["accountName"].(string))
		for _, k := range []string{"capabilities", "clusterMembers", "parentClusters", "appDeviceList"} {
			if _, ok := d[k].([]any); !ok {
				t.Errorf("%s: %s is %v, want an array", d["accountName"], k, d[k])
			}
		}
		if d["softwareVersion"] == "" || d["deviceFamily"] != "ECHO" || d["online"] != true || d["serialNumber"] == "" || d["deviceType"] == "" {
			t.Errorf("device %v", d)
		}
	}
	if want := []string{"Bedroom Echo", "Kitchen Echo", "Living Room Echo"}; !slices.Equal(names, want) {
		t.Errorf("devices %v, want %v", names, want)
	}

	var prefs struct {
		DevicePreferences []struct {
			DeviceSerialNumber, DeviceType, TimeZoneID string
		} `json:"devicePreferences"`
	}
	e.web(http.MethodGet, "/api/device-preferences?cached=true", nil).decode(t, http.StatusOK, &prefs)
	if len(prefs.DevicePreferences) != 3 {
		t.Fatalf("preferences %+v", prefs)
	}
	if p := prefs.DevicePreferences[0]; p.DeviceSerialNumber != bedroomEcho || p.DeviceType != bedroomType || p.TimeZoneID != "Europe/Berlin" {
		t.Errorf("preference %+v", p)
	}

	var words struct {
		WakeWords []map[string]any `json:"wakeWords"`
	}
	e.web(http.MethodGet, "/api/wake-word?_=1", nil).decode(t, http.StatusOK, &words)
	if len(words.WakeWords) != 3 || words.WakeWords[0]["wakeWord"] != "ALEXA" {
		t.Errorf("wake words %v", words)
	}

	var notes struct {
		Notifications []map[string]any `json:"notifications"`
	}
	e.web(http.MethodGet, "/api/notifications?cached=true&_=1", nil).decode(t, http.StatusOK, &notes)
	if len(notes.Notifications) != 1 || notes.Notifications[0]["id"] != demoAlarmID {
		t.Errorf("notifications %v", notes)
	}

	// The time zones follow the household.
	h := sim.DemoHousehold()
	h.Echos[0].Timezone = "America/New_York"
	if err := e.sim.SetHousehold(h); err != nil {
		t.Fatal(err)
	}
	e.web(http.MethodGet, "/api/device-preferences", nil).decode(t, http.StatusOK, &prefs)
	if got := prefs.DevicePreferences[0].TimeZoneID; got != "America/New_York" {
		t.Errorf("time zone after the household changed: %s", got)
	}
}

func TestAuthToken(t *testing.T) {
	e := newEnv(t, sim.DemoHousehold(), sim.Options{})
	// The form alexa-remote2 sends.
	form := url.Values{
		"app_name": {"Amazon Alexa"}, "app_version": {"2.2.556530.0"}, "di.sdk.version": {"6.12.4"},
		"source_token": {sim.SimRefreshToken}, "package_name": {"com.amazon.echo"}, "di.hw.version": {"iPhone"},
		"platform": {"iOS"}, "requested_token_type": {"access_token"}, "source_token_type": {"refresh_token"},
		"di.os.name": {"iOS"}, "di.os.version": {"16.6"}, "current_version": {"6.12.4"}, "previous_version": {"6.12.4"},
	}
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int    `json:"expires_in"`
	}
	e.form("/auth/token", form).decode(t, http.StatusOK, &tok)
	if !strings.HasPrefix(tok.AccessToken, "Atna|") || tok.TokenType != "bearer" || tok.ExpiresIn != 3600 {
		t.Errorf("token %+v", tok)
	}
	// The token opens the push downchannel.
	resp := openDirectives(t, e, tok.AccessToken)
	resp.Body.Close()

	tests := []struct {
		name, key, value, wantErr string
	}{
		{"unknown refresh token", "source_token", "Atnr|nope", "invalid_grant"},
		{"missing source token", "source_token", "", "invalid_request"},
		{"cookies without a domain", "requested_token_type", "auth_cookies", "invalid_request"},
		{"unknown requested type", "requested_token_type", "id_token", "invalid_request"},
	}
	for _, tt := range tests {
		f := url.Values{}
		maps.Copy(f, form)
		f.Set(tt.key, tt.value)
		r := e.form("/auth/token", f)
		if r.status != http.StatusBadRequest || r.json(t)["error"] != tt.wantErr {
			t.Errorf("%s: %d %s", tt.name, r.status, r.raw)
		}
	}
}

// notifications reads GET /api/notifications.
func (e *env) notifications() []map[string]any {
	e.t.Helper()
	var notes struct {
		Notifications []map[string]any `json:"notifications"`
	}
	e.web(http.MethodGet, "/api/notifications?cached=true", nil).decode(e.t, http.StatusOK, &notes)
	return notes.Notifications
}

func findNotification(notes []map[string]any, id string) map[string]any {
	for _, n := range notes {
		if n["id"] == id {
			return n
		}
	}
	return nil
}

func TestNotifications(t *testing.T) {
	e := newEnv(t, sim.DemoHousehold(), sim.Options{})

	// alexa-remote2's createNotification(createNotificationObject(...)).
	reminder := `{"alarmTime":1772438400000,"createdDate":1772430000000,"type":"Reminder",
		"deviceSerialNumber":"` + bedroomEcho + `","deviceType":"` + bedroomType + `","reminderLabel":"water the plants",
		"timerLabel":null,"sound":null,"originalDate":"2026-03-02","originalTime":"09:00:00.000","id":null,
		"isRecurring":false,"recurringPattern":null,"timeZoneId":null,"reminderIndex":null,"isSaveInFlight":true,"status":"ON"}`
	var created map[string]any
	e.web(http.MethodPut, "/api/notifications/null", reminder).decode(t, http.StatusOK, &created)
	id, _ := created["id"].(string)
	idx, _ := created["notificationIndex"].(string)
	if id != bedroomType+"-"+bedroomEcho+"-"+idx || idx == "" {
		t.Errorf("created id %q index %q", id, idx)
	}
	if created["version"] != "1" || created["status"] != "ON" || created["alarmTime"] != 1772438400000.0 || created["isSaveInFlight"] != nil {
		t.Errorf("created %v", created)
	}
	if n := findNotification(e.notifications(), id); n == nil || n["reminderLabel"] != "water the plants" {
		t.Errorf("created reminder not listed: %v", n)
	}

	// openHAB's createReminder path, with the documented example body.
	var doc map[string]json.RawMessage
	readJSONFile(t, "testdata/notifications_createReminder_doc_example.json", &doc)
	body := strings.NewReplacer(`"deviceSerialNumber"`, `"deviceSerialNumber"`).Replace(string(doc["PUT /api/notifications/createReminder request"]))
	body = strings.Replace(body, `"deviceSerialNumber": "deviceSerialNumber"`, `"deviceSerialNumber": "`+bedroomEcho+`"`, 1)
	body = strings.Replace(body, `"deviceType": "deviceType"`, `"deviceType": "`+bedroomType+`"`, 1)
	var created2 map[string]any
	e.web(http.MethodPut, "/api/notifications/createReminder", body).decode(t, http.StatusOK, &created2)
	if created2["id"] == "createReminder" || created2["id"] == id || created2["reminderLabel"] != "test" {
		t.Errorf("createReminder %v", created2)
	}
	if len(e.notifications()) != 3 {
		t.Errorf("want 3 notifications, got %v", e.notifications())
	}

	// An edit as alexa-remote2 sends it for a reminder: without the times,
	// which the simulator keeps.
	var edited map[string]any
	e.web(http.MethodPut, "/api/notifications/"+id, `{"id":"`+id+`","type":"Reminder","status":"OFF","reminderLabel":"water the cactus","deviceSerialNumber":"`+bedroomEcho+`"}`).
		decode(t, http.StatusOK, &edited)
	if edited["status"] != "OFF" || edited["reminderLabel"] != "water the cactus" || edited["alarmTime"] != 1772438400000.0 || edited["version"] != "3" {
		t.Errorf("edited %v", edited)
	}
	if n := findNotification(e.notifications(), id); n["status"] != "OFF" || n["version"] != "3" {
		t.Errorf("after the edit %v", n)
	}

	// DELETE with the notification as body, answered with Connection: close.
	r := e.web(http.MethodDelete, "/api/notifications/"+id, edited)
	if r.status != http.StatusOK || !r.close {
		t.Errorf("DELETE: %d, close %v: %s", r.status, r.close, r.raw)
	}
	if findNotification(e.notifications(), id) != nil {
		t.Error("deleted notification still listed")
	}
	// The household shows the state.
	if got := len(e.household().Notifications); got != 2 {
		t.Errorf("household has %d notifications, want 2", got)
	}

	errs := []struct {
		name, method, path, body string
		want                     int
	}{
		{"edit unknown", http.MethodPut, "/api/notifications/nope", `{"status":"OFF"}`, http.StatusNotFound},
		{"delete unknown", http.MethodDelete, "/api/notifications/nope", ``, http.StatusNotFound},
		{"unknown type", http.MethodPut, "/api/notifications/null", `{"type":"Nap","deviceSerialNumber":"` + bedroomEcho + `"}`, http.StatusBadRequest},
		{"reminder without time", http.MethodPut, "/api/notifications/null", `{"type":"Reminder","deviceSerialNumber":"` + bedroomEcho + `"}`, http.StatusBadRequest},
		{"unknown echo", http.MethodPut, "/api/notifications/null", `{"type":"Timer","remainingTime":60000,"deviceSerialNumber":"nope"}`, http.StatusBadRequest},
		{"not JSON", http.MethodPut, "/api/notifications/null", `{`, http.StatusBadRequest},
		{"bad status", http.MethodPut, "/api/notifications/" + demoAlarmID, `{"status":"RINGING"}`, http.StatusBadRequest},
	}
	for _, tt := range errs {
		r := e.web(tt.method, tt.path, tt.body)
		if r.status != tt.want {
			t.Errorf("%s: %d, want %d: %s", tt.name, r.status, tt.want, r.raw)
		}
	}
	if got := len(e.notifications()); got != 2 {
		t.Errorf("rejected calls changed the notifications: %d", got)
	}
}

func TestNotificationVolume(t *testing.T) {
	e := newEnv(t, sim.DemoHousehold(), sim.Options{})
	path := "/api/device-notification-state/" + bedroomType + "/8289072516/" + bedroomEcho
	var st struct {
		DeviceSerialNumber, DeviceType, SoftwareVersion string
		VolumeLevel                                     int
	}
	e.web(http.MethodGet, path, nil).decode(t, http.StatusOK, &st)
	if st.DeviceSerialNumber != bedroomEcho || st.DeviceType != bedroomType || st.SoftwareVersion == "" || st.VolumeLevel != 50 {
		t.Errorf("state %+v", st)
	}
	e.web(http.MethodPut, path, `{"volumeLevel":30}`).decode(t, http.StatusOK, &st)
	e.web(http.MethodGet, path, nil).decode(t, http.StatusOK, &st)
	if st.VolumeLevel != 30 {
		t.Errorf("volume after PUT %d", st.VolumeLevel)
	}
	var all struct {
		States []struct {
			DeviceSerialNumber string
			VolumeLevel        int
		} `json:"deviceNotificationStates"`
	}
	e.web(http.MethodGet, "/api/device-notification-state", nil).decode(t, http.StatusOK, &all)
	if len(all.States) != 3 || all.States[0].VolumeLevel != 30 || all.States[1].VolumeLevel != 50 {
		t.Errorf("all states %+v", all)
	}
	for _, tt := range []struct {
		name, method, path, body string
		want                     int
	}{
		{"too loud", http.MethodPut, path, `{"volumeLevel":101}`, http.StatusBadRequest},
		{"no level", http.MethodPut, path, `{}`, http.StatusBadRequest},
		{"unknown echo", http.MethodGet, "/api/device-notification-state/" + bedroomType + "/1/nope", ``, http.StatusNotFound},
		{"wrong type", http.MethodGet, "/api/device-notification-state/" + livingRoomTyp + "/1/" + bedroomEcho, ``, http.StatusNotFound},
	} {
		if r := e.web(tt.method, tt.path, tt.body); r.status != tt.want {
			t.Errorf("%s: %d, want %d: %s", tt.name, r.status, tt.want, r.raw)
		}
	}
}
