package web_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/alexarules/alexarules/alexa"
	"github.com/alexarules/alexarules/alexa/sim"
	"github.com/alexarules/alexarules/alexa/web"
	"github.com/alexarules/alexarules/engine"
)

// historySim is a simulator with two Echos whose voice history runs on a
// clock the test moves.
type historySim struct {
	t     *testing.T
	srv   *sim.Server
	url   string
	vtime *engine.Virtual
}

func newHistorySim(t *testing.T) *historySim {
	t.Helper()
	hs := &historySim{t: t, vtime: engine.NewVirtual(now)}
	hs.srv = sim.New(sim.Household{Echos: []sim.Echo{
		{Serial: "G0KITCHEN", Type: "A3S5BH2HU6VAYF", Name: "Kitchen"},
		{Serial: "G0OFFICE", Type: "A3S5BH2HU6VAYF", Name: "Office"},
	}}, sim.Options{AccessTokens: []string{"good-token"}, HistoryNow: hs.clock})
	ts := httptest.NewServer(hs.srv.Handler())
	t.Cleanup(ts.Close)
	hs.url = ts.URL
	return hs
}

func (hs *historySim) clock() time.Time { return hs.vtime.Now() }

func (hs *historySim) advance(d time.Duration) { hs.vtime.Advance(d) }

func (hs *historySim) say(req sim.VoiceRequest) string {
	hs.t.Helper()
	ans, err := hs.srv.Voice(req)
	if err != nil {
		hs.t.Fatal(err)
	}
	return ans.Record
}

// control calls the control API.
func (hs *historySim) control(method, path, body string) {
	hs.t.Helper()
	req, _ := http.NewRequest(method, hs.url+path, strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		hs.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		hs.t.Fatalf("%s %s: %d", method, path, resp.StatusCode)
	}
}

// calls counts the requests the simulator got for path.
func (hs *historySim) calls(path string) (n int, statuses []int) {
	for _, r := range hs.srv.Requests() {
		if r.Path == path {
			n++
			statuses = append(statuses, r.Status)
		}
	}
	return n, statuses
}

func (hs *historySim) client(t *testing.T, clock func() time.Time, token func(context.Context, bool) (string, error)) *web.Client {
	t.Helper()
	hosts, err := alexa.HostsFor("DE", hs.url)
	if err != nil {
		t.Fatal(err)
	}
	c, err := web.New(web.Options{Hosts: hosts, Cookie: web.SimCookie, Now: clock, AccessToken: token})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func goodToken(context.Context, bool) (string, error) { return "good-token", nil }

func history(t *testing.T, c *web.Client, api string, at time.Time) []web.VoiceRecord {
	t.Helper()
	page, err := c.VoiceHistory(t.Context(), web.HistoryQuery{API: api, From: at.Add(-time.Hour), To: at.Add(time.Minute)})
	if err != nil {
		t.Fatalf("%s: %v", api, err)
	}
	return page.Records
}

func spoken(recs []web.VoiceRecord) []web.VoiceRecord {
	var out []web.VoiceRecord
	for _, r := range recs {
		if r.Spoken() {
			out = append(out, r)
		}
	}
	return out
}

// Both history services serve the utterance with its reply and person,
// the wake word stripped; wake words alone, arbitration losers, false
// wakes and routine records are read but not Spoken.
func TestVoiceHistoryReadsAndFiltersBothServices(t *testing.T) {
	hs := newHistorySim(t)
	zero := 0
	key := hs.say(sim.VoiceRequest{Device: "Kitchen", Text: "Good  night", Reply: "Good night, sleep well", Person: "Alice", DelayMS: &zero})
	for _, typ := range []string{"WAKE_WORD_ONLY", "DEVICE_ARBITRATION", "FALSE_WAKE_WORD_1P"} {
		hs.say(sim.VoiceRequest{Device: "Office", Text: "good night", Type: typ, DelayMS: &zero})
	}
	hs.say(sim.VoiceRequest{Text: "good night routine", Type: "ROUTINES_3P", DelayMS: &zero})
	c := hs.client(t, hs.clock, goodToken)
	for _, api := range []string{web.HistoryRVH, web.HistoryRAH} {
		recs := history(t, c, api, hs.clock())
		if len(recs) != 5 {
			t.Fatalf("%s: %d records, want 5: %+v", api, len(recs), recs)
		}
		got := spoken(recs)
		want := []web.VoiceRecord{{ID: key, Serial: "G0KITCHEN", DeviceType: "A3S5BH2HU6VAYF", Device: "Kitchen",
			Text: "Good night", Reply: "Good night, sleep well", Person: "Alice", Intent: "Unknown",
			UtteranceType: "GENERAL", Time: time.UnixMilli(now.UnixMilli())}}
		assertEqual(t, got, want)
	}
}

// A record shows only after its delay, and only within the window asked
// for.
func TestVoiceHistoryShowsARecordAfterItsDelay(t *testing.T) {
	hs := newHistorySim(t)
	delay := 5000
	hs.say(sim.VoiceRequest{Device: "Kitchen", Text: "lights on", DelayMS: &delay})
	c := hs.client(t, hs.clock, nil)
	if recs := history(t, c, web.HistoryRVH, hs.clock()); len(recs) != 0 {
		t.Fatalf("before the delay: %+v", recs)
	}
	hs.advance(5 * time.Second)
	if recs := history(t, c, web.HistoryRVH, hs.clock()); len(recs) != 1 || recs[0].Text != "lights on" {
		t.Fatalf("after the delay: %+v", recs)
	}
	page, err := c.VoiceHistory(t.Context(), web.HistoryQuery{From: now.Add(time.Second), To: now.Add(time.Hour)})
	if err != nil || len(page.Records) != 0 {
		t.Fatalf("outside the window: %+v, %v", page, err)
	}
}

// The history token is fetched once and reused; a stale one (403) is
// dropped and fetched again for one more try; after 30 minutes it is
// fetched anew.
func TestVoiceHistoryRefreshesItsToken(t *testing.T) {
	hs := newHistorySim(t)
	clientClock := engine.NewVirtual(now)
	c := hs.client(t, clientClock.Now, nil)
	history(t, c, web.HistoryRVH, hs.clock())
	history(t, c, web.HistoryRVH, hs.clock())
	if n, _ := hs.calls("/alexa-privacy/apd/activity"); n != 1 {
		t.Fatalf("token page fetched %d times for two calls, want 1", n)
	}
	hs.control("DELETE", "/_sim/voice/tokens", "")
	history(t, c, web.HistoryRVH, hs.clock())
	if n, st := hs.calls("/alexa-privacy/apd/rvh/customer-history-records-v2"); n != 4 || st[2] != http.StatusForbidden {
		t.Fatalf("history calls %d %v, want 4 with the third refused", n, st)
	}
	clientClock.Advance(31 * time.Minute)
	history(t, c, web.HistoryRVH, hs.clock())
	if n, _ := hs.calls("/alexa-privacy/apd/activity"); n != 3 {
		t.Fatalf("token page fetched %d times, want 3 (start, stale, expired)", n)
	}
}

// The history call carries the token, the page as Referer, the session,
// and for RAH the Bearer; a refused Bearer is renewed once.
func TestVoiceHistoryRequests(t *testing.T) {
	hs := newHistorySim(t)
	var forced []bool
	token := func(_ context.Context, force bool) (string, error) {
		forced = append(forced, force)
		if force {
			return "good-token", nil
		}
		return "stale-token", nil
	}
	c := hs.client(t, hs.clock, token)
	history(t, c, web.HistoryRAH, hs.clock())
	if n, st := hs.calls("/alexa-privacy/apd/rah/alexa-history-records-v2"); n != 2 || st[0] != http.StatusForbidden || st[1] != http.StatusOK {
		t.Fatalf("RAH calls %d %v, want a 403 then a 200", n, st)
	}
	if len(forced) != 2 || forced[0] || !forced[1] {
		t.Errorf("access token asked %v, want a normal then a forced one", forced)
	}
	var body string
	for _, r := range hs.srv.Requests() {
		if r.Path == "/alexa-privacy/apd/rah/alexa-history-records-v2" {
			body = string(r.Body)
		}
	}
	if body != `{"previousRequestToken":null}` {
		t.Errorf("body %s", body)
	}
	noToken := hs.client(t, hs.clock, nil)
	if _, err := noToken.VoiceHistory(t.Context(), web.HistoryQuery{API: web.HistoryRAH, From: now, To: now}); !errors.Is(err, web.ErrInvalid) {
		t.Errorf("RAH without an access token: %v", err)
	}
}

// A throttled call fails at once with a throttled *Error (the caller
// backs off): no Retry-After, "Rate exceeded", not repeated.
func TestVoiceHistoryThrottledIsTheCallersToBackOff(t *testing.T) {
	hs := newHistorySim(t)
	hs.control("PUT", "/_sim/throttle", `{"/alexa-privacy/apd/rvh/customer-history-records-v2":{"per_second":0.0001,"burst":1}}`)
	c := hs.client(t, hs.clock, nil)
	history(t, c, web.HistoryRVH, hs.clock())
	_, err := c.VoiceHistory(t.Context(), web.HistoryQuery{From: now, To: now})
	var we *web.Error
	if !errors.As(err, &we) || !we.Throttled || we.Status != http.StatusTooManyRequests || we.RetryAfter != 0 ||
		!strings.Contains(err.Error(), "Rate exceeded") {
		t.Fatalf("throttled call: %v", err)
	}
	if n, _ := hs.calls("/alexa-privacy/apd/rvh/customer-history-records-v2"); n != 2 {
		t.Errorf("%d history calls, want 2 (no retry)", n)
	}
	hs.control("PUT", "/_sim/throttle", `{"/alexa-privacy/apd/rvh/customer-history-records-v2":{"per_second":0}}`)
	history(t, c, web.HistoryRVH, hs.clock())
}

// Pages follow the token until the end.
func TestVoiceHistoryPages(t *testing.T) {
	hs := newHistorySim(t)
	hs.control("PUT", "/_sim/voice/settings", `{"page_size":2}`)
	zero := 0
	for _, text := range []string{"one", "two", "three"} {
		hs.say(sim.VoiceRequest{Device: "Kitchen", Text: text, DelayMS: &zero})
	}
	c := hs.client(t, hs.clock, goodToken)
	for _, api := range []string{web.HistoryRVH, web.HistoryRAH} {
		q := web.HistoryQuery{API: api, From: now.Add(-time.Minute), To: now.Add(time.Minute)}
		var texts []string
		for range 3 {
			page, err := c.VoiceHistory(t.Context(), q)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range page.Records {
				texts = append(texts, r.Text)
			}
			if q.Token = page.Next; q.Token == "" {
				break
			}
		}
		assertEqual(t, texts, []string{"three", "two", "one"})
	}
}
