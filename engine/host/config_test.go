package host_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alexarules/alexarules/engine/host"
)

func TestParseConfigNamesTheFileAndTheKey(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{`{"rules": "x", "pol_interval": "5s"}`, `unknown field "pol_interval"`},
		{`{"rules": "x"} {"rules": "y"}`, "more than one JSON value"},
		{`{"push": "pigeon"}`, `push (--push) "pigeon"`},
		{`{"poll_interval": "0s"}`, "poll_interval"},
		{`{"poll_interval": "soon"}`, "poll_interval"},
		{`{"log_level": "loud"}`, "log_level"},
		{`{"timezone": "Mars/Olympus"}`, "Mars/Olympus"},
		{`{"latitude": 52.5}`, `"latitude" and "longitude"`},
		{`{"latitude": 95, "longitude": 13.4}`, "latitude"},
		{`{"alexa": {"lists": "v3"}}`, "alexa.lists"},
		{`{"poll": {"devices": [{"device": "Lamp", "attrs": ["power"], "interval": "-1s"}]}}`, `poll.devices "Lamp"`},
		{`{"poll": {"rules": {"fan": "x"}}}`, `poll.rules "fan"`},
		{`{"breaker": {"window": "soon"}}`, `breaker.window "soon"`},
		{`{"breaker": {"cooldown": "-1m"}}`, `breaker.cooldown "-1m"`},
		{`{"max_backlog": -5}`, `max_backlog -5`},
		{`{"accept_wait": "-1s"}`, `accept_wait "-1s"`},
		{`{"accept_wait": "soon"}`, `accept_wait "soon"`},
		{`{"voice": {"history": "rvh2"}}`, `voice.history "rvh2"`},
		{`{"voice": {"poll": "0s"}}`, `voice.poll "0s"`},
		{`{"voice": {"lookback": "soon"}}`, `voice.lookback "soon"`},
		{`{"voice": {"requests_per_minute": -1}}`, `voice.requests_per_minute -1`},
		{`{"states": {"max": -1}}`, `states.max -1`},
		{`{"states": {"spare": -2}}`, `states.spare -2`},
		{`{"gc": {"heap_mib": 2000000}}`, `gc.heap_mib 2000000`},
		{`{"gc": {"max_mib": 2000000}}`, `gc.max_mib 2000000`},
		{`{"procs": {"low": -2}}`, `procs.low -2`},
		{`{"procs": {"parallel_per_cpu": -2}}`, `procs.parallel_per_cpu -2`},
		{`{"store": {"sync": "sometimes"}}`, `store.sync "sometimes"`},
		{`{"store": {"sync_interval": "0s"}}`, `store.sync_interval "0s"`},
		{`[1]`, "cannot unmarshal array"},
	} {
		_, err := host.ParseConfig("my.json", []byte(tc.src))
		if err == nil || !host.IsConfigError(err) || !strings.HasPrefix(err.Error(), "config my.json: ") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want a config error naming my.json and %q", tc.src, err, tc.want)
		}
	}
}

func TestLoadConfigReadsEveryKey(t *testing.T) {
	b, err := os.ReadFile("testdata/full.json")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "c.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := host.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	loc, _ := c.Location()
	place, _ := c.Place()
	level, _ := c.Level()
	if c.Rules != "rules" || c.Data != "x.db" || c.Admin != "off" || loc.String() != "Europe/Berlin" || place == nil ||
		level.String() != "DEBUG" || c.Push != "websocket" || c.PollInterval != "30s" || !c.DryRun ||
		c.Alexa.Region != "DE" || c.Alexa.Lists != "legacy" || c.Poll.Rate != 5 || len(c.Poll.Devices) != 1 ||
		c.Poll.Rules["fan"] != "15s" || c.MaxBacklog != 500 || c.States.Max != 64 {
		t.Fatalf("config: %+v", c)
	}
	if d, err := c.AcceptWaitDuration(); err != nil || d != 2*time.Second {
		t.Fatalf("config: %+v", c)
	}
	if v, err := c.Voice.Options(); err != nil || v.History != "rah" || v.Poll != 5*time.Minute ||
		v.RequestsPerMinute != 3 || v.Lookback != 30*time.Minute {
		t.Fatalf("voice: %+v %v", v, err)
	}
	if b, err := c.Breaker.Engine(); err != nil || b.Runs != 10 || b.Window != 2*time.Minute || b.Cooldown != time.Hour {
		t.Fatalf("breaker: %+v %v", b, err)
	}
	acfg := c.AlexaConfig(func(k string) string {
		if k == "ALEXARULES_REGION" {
			return "UK"
		}
		return ""
	})
	if acfg.Region != "UK" || acfg.ClientID != "id" {
		t.Fatalf("the environment overrides the alexa block: %+v", acfg)
	}
	if d := (host.Config{}).WithDefaults(); d.Data != host.DefaultData || d.Admin != host.DefaultAdmin {
		t.Fatalf("defaults: %+v", d)
	}
	if _, err := host.LoadConfig(filepath.Join(t.TempDir(), "none.json")); !host.IsConfigError(err) {
		t.Fatalf("a missing file: %v", err)
	}
}

// The example in docs/CONFIG.md is a valid configuration file.
func TestTheDocumentedExampleParses(t *testing.T) {
	doc, err := os.ReadFile("../../docs/CONFIG.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "```json\n")
	example, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("docs/CONFIG.md has no JSON example")
	}
	if _, err := host.ParseConfig("docs/CONFIG.md", []byte(example)); err != nil {
		t.Fatal(err)
	}
}
