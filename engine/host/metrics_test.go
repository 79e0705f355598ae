package host_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/alexarules/alexarules/engine/host"
)

// The host hands the engine's API-call histogram to every Alexa client it
// builds, so a device call a rule makes shows in /metrics by API family.
func TestMetricsTimeTheAlexaCallsTheHostMakes(t *testing.T) {
	cloud, stopSim := startSim(t)
	defer stopSim()
	dir := t.TempDir()
	write(t, dir, "r.lua", `return rule "lamp" { when = event "on", run = function() device("Bedroom Lamp"):on() end }`)
	r := startHost(t, host.Options{Config: host.Config{Rules: dir, Cloud: cloud, Push: "off"}})
	if status, body := r.do("POST", "/api/events", `{"name":"on"}`); status != http.StatusAccepted {
		t.Fatalf("POST /api/events: %d %s", status, body)
	}
	r.waitFor("the lamp's run", func() bool {
		_, body := r.do("GET", "/api/runs?rule=lamp", "")
		return strings.Contains(body, `"outcome": "ok"`)
	})
	_, page := r.do("GET", "/metrics", "")
	for _, want := range []string{
		`alexarules_api_call_duration_seconds_bucket{api="auth",result="2xx"`,
		`alexarules_api_call_duration_seconds_bucket{api="features",result="2xx"`,
		`alexarules_api_call_duration_seconds_bucket{api="web",result="2xx"`,
		"alexarules_breaker_trips_total 0",
		"alexarules_breaker_tripped_rules 0",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", page)
	}
}

// max_backlog reaches the engine: with room for one accepted event, a
// second one while the first still runs is refused with 429 and Retry-After.
func TestMaxBacklogRefusesWith429(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "r.lua", `return rule "slow" { when = event "e", mode = "queued", max = 100, timeout = "2s",
		run = function() while true do end end }`)
	r := startHost(t, host.Options{Config: host.Config{Rules: dir, MaxBacklog: 1}})
	if status, body := r.do("POST", "/api/events", `{"name":"e"}`); status != http.StatusAccepted {
		t.Fatalf("first event: %d %s", status, body)
	}
	req, _ := http.NewRequest("POST", r.base+"/api/events", strings.NewReader(`{"name":"e"}`))
	resp, err := r.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("second event with a backlog of 1: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}
