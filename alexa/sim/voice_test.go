package sim_test

import (
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/alexarules/alexarules/alexa/sim"
)

// POST /_sim/voice sends the burst a real Echo sends (an unchanged
// volume, then the equalizer, resourceId == command) and answers the
// record key.
func TestSimVoicePushesTheWakeWordBurst(t *testing.T) {
	e := newEnv(t, sim.DemoHousehold(), pushOptions())
	resp := openDirectives(t, e, testToken)
	var a sim.VoiceAnswer
	e.do(http.MethodPost, "/_sim/voice", "", `{"device":"kitchen echo","text":"good night"}`).decode(t, http.StatusOK, &a)
	if a.Clients != 1 || !regexp.MustCompile(`^A1SIMCUSTOMER1#\d+#A4ZP7ZC4PI6TO#G6G0XW0412650C3M$`).MatchString(a.Record) ||
		a.Visible.Sub(a.Time) != time.Second {
		t.Errorf("answer %+v", a)
	}
	var stream string
	for !regexp.MustCompile(`EQUALIZER`).MatchString(stream) {
		stream += readChunk(t, resp.Body) // the two parts may come in one read
	}
	ids := regexp.MustCompile(`"resourceId":"(\w+)","resourceMetadata":"\{\\"command\\":\\"(\w+)`).FindAllStringSubmatch(stream, -1)
	if len(ids) != 2 || ids[0][1] != "PUSH_VOLUME_CHANGE" || ids[1][1] != "PUSH_EQUALIZER_STATE_CHANGE" ||
		ids[0][1] != ids[0][2] || ids[1][1] != ids[1][2] || !regexp.MustCompile(`volumeSetting.{0,8}:50`).MatchString(stream) {
		t.Errorf("pushes %q in %s", ids, stream)
	}
	for _, body := range []string{`{"device":"Attic","text":"x"}`, `{"device":"Kitchen Echo","text":""}`,
		`{"device":"Kitchen Echo","text":"x","type":"SHOUT"}`, `{"device":"Kitchen Echo","text":"x","delay_ms":-1}`,
		`{"device":"Kitchen Echo","text":"x","loud":true}`} {
		if r := e.do(http.MethodPost, "/_sim/voice", "", body); r.status != http.StatusBadRequest || r.json(t)["error"] == "" {
			t.Errorf("%s: %d %s", body, r.status, r.raw)
		}
	}
}

// The history wants the anti-csrftoken-a2z of the activity page (403
// without it or with a stale one); RAH also a live Bearer (401 without,
// 403 with a bad one); the retired routes answer 404 unless the era is
// legacy.
func TestSimVoiceHistoryGuards(t *testing.T) {
	e := newEnv(t, sim.DemoHousehold(), pushOptions())
	page := e.web(http.MethodGet, "/alexa-privacy/apd/activity?disableGlobalNav=true&ref=activityHistory", nil)
	m := regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)">`).FindSubmatch(page.raw)
	if page.status != http.StatusOK || m == nil {
		t.Fatalf("activity page %d %s", page.status, page.raw)
	}
	history := func(path, token, bearer string) int {
		req := e.request(http.MethodPost, path+"?startTime=0&endTime=2147483647000", `{"previousRequestToken":null}`)
		req.Header.Set("Cookie", webCookie)
		req.Header.Set("csrf", webCSRF)
		if token != "" {
			req.Header.Set("anti-csrftoken-a2z", token)
		}
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		return e.send(req).status
	}
	const rvh, rah = "/alexa-privacy/apd/rvh/customer-history-records-v2", "/alexa-privacy/apd/rah/alexa-history-records-v2"
	tok := string(m[1])
	for _, c := range []struct {
		path, token, bearer string
		want                int
	}{
		{rvh, "", "", http.StatusForbidden},
		{rvh, "made-up", "", http.StatusForbidden},
		{rvh, tok, "", http.StatusOK},
		{rah, tok, "", http.StatusUnauthorized},
		{rah, tok, "made-up", http.StatusForbidden},
		{rah, tok, testToken, http.StatusOK},
	} {
		if got := history(c.path, c.token, c.bearer); got != c.want {
			t.Errorf("%s token %q bearer %q: %d, want %d", c.path, c.token, c.bearer, got, c.want)
		}
	}
	e.do(http.MethodDelete, "/_sim/voice/tokens", "", nil)
	if got := history(rvh, tok, ""); got != http.StatusForbidden {
		t.Errorf("stale token: %d", got)
	}
	for _, path := range []string{"/api/activities", "/alexa-privacy/apd/rvh/customer-history-records"} {
		if r := e.web(http.MethodGet, path, nil); r.status != http.StatusNotFound {
			t.Errorf("%s: %d", path, r.status)
		}
	}
	e.do(http.MethodPut, "/_sim/voice/settings", "", `{"era":"legacy"}`)
	if r := e.web(http.MethodGet, "/api/activities", nil); r.status != http.StatusOK {
		t.Errorf("legacy era: %d", r.status)
	}
}
