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
// second one while the first still runs is refused with 429 and
// Retry-After, once accept_wait has passed.
func TestMaxBacklogRefusesWith429(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "r.lua", `return rule "slow" { when = event "e", mode = "queued", max = 100, timeout = "2s",
		run = function() while true do end end }`)
	r := startHost(t, host.Options{Config: host.Config{Rules: dir, MaxBacklog: 1, AcceptWait: "20ms"}})
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

// accept_wait reaches the admin API: an event posted while the backlog is
// full is held until the run before it ends (here by its timeout), then
// accepted, instead of being refused at once.
func TestAcceptWaitHoldsAnEventUntilThereIsRoom(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "r.lua", `return rule "slow" { when = event "e", mode = "queued", max = 100, timeout = "200ms",
		run = function() while true do end end }`)
	r := startHost(t, host.Options{Config: host.Config{Rules: dir, MaxBacklog: 1, AcceptWait: "1m"}})
	if status, body := r.do("POST", "/api/events", `{"name":"e"}`); status != http.StatusAccepted {
		t.Fatalf("first event: %d %s", status, body)
	}
	if status, body := r.do("POST", "/api/events", `{"name":"e"}`); status != http.StatusAccepted {
		t.Fatalf("second event with a backlog of 1 and accept_wait 1m: %d %s, want 202 once the first run timed out", status, body)
	}
	if _, page := r.do("GET", "/metrics", ""); !strings.Contains(page, "alexarules_events_refused_total 0\n") ||
		!strings.Contains(page, "alexarules_accepts_waiting 0\n") {
		t.Fatalf("/metrics after a held event:\n%s", page)
	}
}

// states.max bounds the engine's kept Lua states, and /metrics says so.
func TestStatesMaxOnMetrics(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "r.lua", `return rule "r" { when = event "e", run = function() end }`)
	r := startHost(t, host.Options{Config: host.Config{Rules: dir, States: host.StatesConfig{Max: 7}}})
	if status, body := r.do("GET", "/metrics", ""); status != http.StatusOK ||
		!strings.Contains(body, "alexarules_rule_states_max 7\n") || !strings.Contains(body, "alexarules_rule_states_built_total ") {
		t.Fatalf("/metrics: %d\n%s", status, body)
	}
}

// Each device backend's poller takes the poll keys and its own defaults,
// and /metrics shows the effective budget (and, for the smart-home API, the batch
// limit and the throttle's cool-down).
func TestPollBudgetPerBackendOnMetrics(t *testing.T) {
	cloud, stopSim := startSim(t)
	defer stopSim()
	for _, tc := range []struct {
		cfg  host.Config
		want []string
	}{
		{host.Config{Devices: host.DevicesFeatures, Poll: host.PollConfig{RequestsPerMinute: 30}},
			[]string{"alexarules_poll_budget_requests_per_second 0.5\n", "alexarules_poll_interval_seconds 60\n", "alexarules_poll_batch_max_reads 1\n"}},
		{host.Config{Devices: host.DevicesSmartHome},
			[]string{"alexarules_poll_budget_requests_per_second 0.006666666666666667\n", "alexarules_poll_interval_seconds 300\n",
				"alexarules_poll_batch_max_reads 50\n", "alexarules_smarthome_cooldown_seconds 0\n"}},
		// An interval set shorter than the default, with no budget: one
		// batched request per interval is the effective budget.
		{host.Config{Devices: host.DevicesSmartHome, PollInterval: "2s"},
			[]string{"alexarules_poll_budget_requests_per_second 0.5\n", "alexarules_poll_interval_seconds 2\n"}},
	} {
		dir := t.TempDir()
		write(t, dir, "r.lua", `return rule "warm" { when = reading { device = "Living Room Sensor", attr = "temperature", above = 25 }, run = function() end }`)
		tc.cfg.Rules, tc.cfg.Cloud, tc.cfg.Push = dir, cloud, "off"
		r := startHost(t, host.Options{Config: tc.cfg})
		_, page := r.do("GET", "/metrics", "")
		for _, want := range tc.want {
			if !strings.Contains(page, want) {
				t.Errorf("--devices %s: /metrics lacks %q", tc.cfg.Devices, want)
			}
		}
		if err := r.shutdown(); err != nil {
			t.Fatal(err)
		}
	}
}
