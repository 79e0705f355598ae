package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/alexarules/alexarules/alexa/sim"
)

const (
	sensor   = "amzn1.alexa.endpoint.1e2d3c4b-5a69-4788-a9b0-c1d2e3f4a544"
	fanPlug  = "amzn1.alexa.endpoint.c4d5e6f7-0819-4a2b-b3c4-d5e6f7a8b933"
	holdRule = `
return {
  rule "hot" {
    mode = "queued",
    when = { reading { device = "Living Room Sensor", attr = "temperature", above = 26, hold = "3s" }, event "sync" },
    run = function(ctx, ev)
      if ev.kind == "event" then return end
      device("Living Room Fan"):on(); ctx.log.info("hot %g held %d since %d", ev.value, ev.held, ev.since)
    end,
  },
  rule "hyst" {
    mode = "queued",
    when = { reading { device = "Living Room Sensor", attr = "temperature", above = 30, rearm = 28 }, event "sync" },
    run = function(ctx, ev) if ev.kind ~= "event" then ctx.log.info("above 30: %g", ev.value) end end,
  },
  rule "gone" {
    when = unreachable { device = "Kitchen Light", hold = "2s" },
    run = function(ctx, ev) ctx.log.info("%s unreachable", ev.device.name) end,
  },
  rule "last" {
    when = event "last",
    run = function(ctx, ev)
      local v, t = device("Living Room Sensor"):last("temperature")
      ctx.log.info("last %s %s", tostring(v), tostring(t ~= nil))
    end,
  },
}`
)

func patch(t *testing.T, s *sim.Server, id, field string, v any) {
	t.Helper()
	b, _ := json.Marshal(v)
	if err := s.PatchEndpoint(id, map[string]json.RawMessage{field: b}); err != nil {
		t.Fatal(err)
	}
}

func started(t *testing.T, run map[string]any) time.Time {
	t.Helper()
	ts, err := time.Parse(time.RFC3339Nano, run["started"].(string))
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

func TestPolledReadingsHoldHysteresisUnreachableAndLast(t *testing.T) {
	s, url := startSimH2(t)
	patch(t, s, sensor, "temperature", 21.0)
	dir := t.TempDir()
	write(t, dir, "r.lua", holdRule)
	d := startRun(t, dir, filepath.Join(t.TempDir(), "h.db"), "--cloud", url, "--poll-interval", "1s", "--push", "off")

	// :last() once the first poll has been stored.
	d.waitFor(func() bool {
		n := len(d.runs("last"))
		d.post("/api/events", `{"name":"last"}`)
		d.waitFor(func() bool { return len(d.runs("last")) == n+1 }, "the last rule")
		return fmt.Sprint(d.runs("last")[0]["log"]) == "[info: last 21 true]"
	}, ":last() to see the first reading")

	// Hold: the value goes above 26 and stays there.
	entered := time.Now()
	patch(t, s, sensor, "temperature", 27.5)
	d.waitFor(func() bool { return len(fired(d, "hot")) == 1 }, "the hold to fire")
	run := fired(d, "hot")[0]
	if got := started(t, run); got.Sub(entered) < 3*time.Second {
		t.Fatalf("the hold fired %s after the change, before its 3s", got.Sub(entered))
	}
	if !strings.HasPrefix(fmt.Sprint(run["log"]), "[info: hot 27.5 held 3 since") {
		t.Fatalf("hot: %v", run["log"])
	}
	fanOn := false
	for _, r := range s.Requests() {
		fanOn = fanOn || strings.HasSuffix(r.Path, fanPlug+"/features/power/turnOn")
	}
	if !fanOn {
		t.Fatal("the fan was not turned on")
	}

	// Hysteresis: above 30 fires; 29 does not re-arm; 27 re-arms.
	for _, v := range []float64{31, 29, 31} {
		patch(t, s, sensor, "temperature", v)
		takenIn(d, v, "hyst")
	}
	if n := len(fired(d, "hyst")); n != 1 {
		t.Fatalf("hysteresis: %d runs before re-arming, want 1", n)
	}
	patch(t, s, sensor, "temperature", 27.0)
	takenIn(d, 27, "hyst")
	patch(t, s, sensor, "temperature", 32.0)
	d.waitFor(func() bool { return len(fired(d, "hyst")) == 2 }, "the re-armed trigger")

	// Unreachable with hold.
	gone := time.Now()
	patch(t, s, "amzn1.alexa.endpoint.e0f1a2b3-c4d5-4e6f-a7b8-c9d0e1f2a377", "connectivity", "UNREACHABLE")
	d.waitFor(func() bool { return len(d.runs("gone")) == 1 }, "the unreachable hold")
	if got := started(t, d.runs("gone")[0]); got.Sub(gone) < 2*time.Second {
		t.Fatalf("unreachable fired after %s, before its 2s hold", got.Sub(gone))
	}
	if log := fmt.Sprint(d.runs("gone")[0]["log"]); log != "[info: Kitchen Light unreachable]" {
		t.Fatalf("gone: %s", log)
	}
	if n := len(fired(d, "hot")); n != 1 {
		t.Fatalf("the hold fired %d times, want once", n)
	}
}

// lastReading is the value of the sensor's newest reading event in the
// engine's journal (nil when there is none).
func lastReading(d *daemon) any { return readingOf(d, sensor) }

// readingOf is the value of the newest reading event of the device id.
func readingOf(d *daemon, id string) any {
	for _, ev := range d.events("reading") {
		if dev, _ := ev["device"].(map[string]any); dev != nil && dev["id"] == id {
			data, _ := ev["data"].(map[string]any)
			return data["value"]
		}
	}
	return nil
}

// takenIn waits until the engine has published the sensor's reading v,
// then until a sync event has run through rule (queued): a run the reading
// caused was queued before it, so it has run by then.
func takenIn(d *daemon, v float64, rule string) {
	d.t.Helper()
	d.waitFor(func() bool { return lastReading(d) == v }, fmt.Sprintf("the reading %g", v))
	n := len(d.runs(rule))
	if code := d.post("/api/events", `{"name":"sync"}`); code != http.StatusAccepted {
		d.t.Fatalf("POST /api/events: %d", code)
	}
	d.waitFor(func() bool { return len(d.runs(rule)) > n }, "the sync run of "+rule)
}

// fired is rule's runs that a reading caused (not a sync event).
func fired(d *daemon, rule string) []map[string]any {
	var out []map[string]any
	for _, r := range d.runs(rule) {
		if log, _ := r["log"].([]any); len(log) > 0 {
			out = append(out, r)
		}
	}
	return out
}

func TestARunningHoldCompletesOnTimeAcrossARestart(t *testing.T) {
	s, url := startSimH2(t)
	patch(t, s, sensor, "temperature", 21.0)
	dir, data := t.TempDir(), filepath.Join(t.TempDir(), "r.db")
	write(t, dir, "r.lua", strings.Replace(holdRule, `hold = "3s"`, `hold = "5s"`, 1))
	args := []string{"--cloud", url, "--poll-interval", "1s", "--push", "off"}
	d := startRun(t, dir, data, args...)
	d.waitFor(func() bool { return lastReading(d) == 21.0 }, "the first poll")
	entered := time.Now()
	patch(t, s, sensor, "temperature", 27.0)
	d.waitFor(func() bool { return lastReading(d) == 27.0 }, "the hold to start")
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := d.wait(); code != 0 {
		t.Fatalf("exit %d", code)
	}
	d = startRun(t, dir, data, args...)
	d.waitFor(func() bool { return len(fired(d, "hot")) == 1 }, "the resumed hold")
	got := started(t, fired(d, "hot")[0]).Sub(entered)
	// Not early; and it fired at all: a hold that was not resumed would
	// never fire, since the value did not change after the restart.
	if got < 5*time.Second || got > 30*time.Second {
		t.Fatalf("the resumed hold fired %s after the change, want its 5s", got)
	}
	// Nothing more: not at the next polls, nor from a second copy of the
	// hold (a sync event after two more polls runs after anything they
	// or the hold caused).
	polled := time.Now()
	d.waitFor(func() bool { return len(readsSince(s, polled)) >= 2 }, "two more polls")
	takenIn(d, 27, "hot")
	if n := len(fired(d, "hot")); n != 1 {
		t.Fatalf("the hold fired %d times, want once", n)
	}
}

// readsSince is the sensor's temperature reads the simulator answered
// that arrived after since.
func readsSince(s *sim.Server, since time.Time) []sim.Request {
	var out []sim.Request
	for _, r := range s.Requests() {
		if r.Time.After(since) && r.Status == http.StatusOK && strings.HasSuffix(r.Path, sensor+"/features/temperatureSensor") {
			out = append(out, r)
		}
	}
	return out
}
