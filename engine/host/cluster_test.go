package host_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/alexarules/alexarules/engine/cluster/natstest"
	"github.com/alexarules/alexarules/engine/host"
	"github.com/nats-io/nats-server/v2/server"
)

// TestClusterModePublishesAndRunsEventsOfEachProperty runs two hosts in
// cluster mode on an embedded NATS server: a custom event posted to one
// runs the rule of its property once, on whichever node owns it, and each
// node's GET /api/cluster shows what it owns.
func TestClusterModePublishesAndRunsEventsOfEachProperty(t *testing.T) {
	ns := natstest.Start(t, t.TempDir(), server.RANDOM_PORT)
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "hotel-a"), 0o755); err != nil {
		t.Fatal(err)
	}
	count := func(id string) string {
		return `return rule "` + id + `" { when = event "ring", mode = "queued", state = { n = 0 },
		  run = function(ctx) ctx.state.n = ctx.state.n + 1 end }`
	}
	write(t, filepath.Join(dir, "hotel-a"), "a.lua", count("a-ring"))
	write(t, dir, "home.lua", count("home-ring"))
	cfg := func(node string) host.Config {
		return host.Config{Rules: dir, Cluster: ns.ClientURL(), Node: node,
			Properties: []host.PropertyConfig{{Name: "hotel-a", Rules: []string{"hotel-a/*.lua"}}}}
	}
	h1 := startHost(t, host.Options{Config: cfg("n1")})
	h2 := startHost(t, host.Options{Config: cfg("n2")})
	owned := func(r *running) []string {
		_, body := r.do("GET", "/api/cluster", "")
		var st struct {
			Node       string   `json:"node"`
			Partitions []string `json:"partitions"`
		}
		if err := json.Unmarshal([]byte(body), &st); err != nil {
			t.Fatalf("GET /api/cluster: %q: %v", body, err)
		}
		return st.Partitions
	}
	h1.waitFor("the partitions to be owned", func() bool {
		all := append(owned(h1), owned(h2)...)
		slices.Sort(all)
		return slices.Equal(all, []string{"default", "hotel-a"})
	})
	for range 3 {
		if s, body := h1.do("POST", "/api/events", `{"name":"ring","partition":"hotel-a"}`); s != http.StatusAccepted {
			t.Fatalf("POST /api/events: %d %s", s, body)
		}
	}
	if s, body := h2.do("POST", "/api/events", `{"name":"ring","partition":"default"}`); s != http.StatusAccepted {
		t.Fatalf("POST /api/events: %d %s", s, body)
	}
	for rule, want := range map[string]string{"a-ring": `"n":3`, "home-ring": `"n":1`} {
		h2.waitFor(rule+" state "+want, func() bool {
			_, body := h2.do("GET", "/api/rules/"+rule+"/state", "")
			return strings.Contains(strings.Join(strings.Fields(body), ""), want)
		})
	}
	// Traces and the journal of every partition are readable on any node.
	h1.waitFor("a-ring's three traces on n1", func() bool {
		_, body := h1.do("GET", "/api/runs?rule=a-ring&limit=10", "")
		var traces []struct{ Rule, Outcome string }
		return json.Unmarshal([]byte(body), &traces) == nil && len(traces) == 3 && traces[0].Rule == "a-ring" && traces[0].Outcome == "ok"
	})
	h2.waitFor("the four events in the journal on n2", func() bool {
		_, body := h2.do("GET", "/api/events?limit=10", "")
		var evs []struct{ Name string }
		if json.Unmarshal([]byte(body), &evs) != nil {
			return false
		}
		rings := 0
		for _, ev := range evs {
			if ev.Name == "ring" {
				rings++
			}
		}
		return rings == 4
	})
	// A shadow toggle would not reach the partitions' engines: refused,
	// saying so.
	if s, body := h1.do("POST", "/api/rules/a-ring/shadow", `{"shadow":true}`); s == http.StatusOK || !strings.Contains(body, "cluster mode") {
		t.Fatalf("shadow toggle in cluster mode: %d %s", s, body)
	}
	if s, body := h1.do("POST", "/api/events", `{"name":"ring","partition":"nowhere"}`); s != http.StatusBadRequest || !strings.Contains(body, "nowhere") {
		t.Fatalf("an event for an unknown partition: %d %s, want 400 naming it", s, body)
	}
}
