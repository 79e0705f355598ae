package web_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/alexarules/alexarules/alexa"
	"github.com/alexarules/alexarules/alexa/sim"
	"github.com/alexarules/alexarules/alexa/web"
)

// TestEchoActionsAgainstTheSimulator runs the acceptance actions
// through the simulator, which validates the sequences as Amazon's
// preview does (node types, skills, placeholders, customer id, devices):
// speak, announce to two Echos, a routine by name, DND for an hour, pause.
func TestEchoActionsAgainstTheSimulator(t *testing.T) {
	h := sim.DemoHousehold()
	h.Routines = []sim.Routine{{Name: "Good night", Utterances: []string{"good night"}}}
	h.Players = []sim.Player{{Echo: "Kitchen Echo", State: "PLAYING", Title: "Cheap Thrills", Artist: "Sia"}}
	s := sim.New(h, sim.Options{})
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	hosts, err := alexa.HostsFor("DE", srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	c, err := web.New(web.Options{Hosts: hosts, Cookie: web.SimCookie})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	echos, err := c.Echos(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]web.Echo{}
	for _, e := range echos {
		byName[e.Name] = e
	}
	kitchen, bedroom := byName["Kitchen Echo"], byName["Bedroom Echo"]
	if err := c.Perform(ctx, []web.Echo{kitchen}, web.Action{Kind: web.ActionSpeak, Text: "The washing machine is done"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Perform(ctx, []web.Echo{kitchen, bedroom}, web.Action{Kind: web.ActionAnnounce, Text: "Dinner!", Title: "Home"}); err != nil {
		t.Fatal(err)
	}
	rs, err := c.Routines(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r, ok := web.FindRoutine(rs, "good night")
	if !ok {
		t.Fatalf("routine not found in %+v", rs)
	}
	if err := c.RunRoutine(ctx, r, bedroom); err != nil {
		t.Fatal(err)
	}
	if err := c.Perform(ctx, []web.Echo{bedroom}, web.Action{Kind: web.ActionDND, Enable: true, Duration: time.Hour}); err != nil {
		t.Fatal(err)
	}
	p, err := c.Player(ctx, kitchen)
	if err != nil || p == nil || p.State != "PLAYING" || p.Title != "Cheap Thrills" {
		t.Fatalf("player %+v, %v", p, err)
	}
	if err := c.PlayerCommand(ctx, kitchen, web.CmdPause, false); err != nil {
		t.Fatal(err)
	}
	if p, err = c.Player(ctx, kitchen); err != nil || p == nil || p.State != "PAUSED" {
		t.Fatalf("after pause: player %+v, %v", p, err)
	}

	got := s.Household()
	type said struct{ Serial, Kind, Text, Title, Routine string }
	var spoken []said
	for _, sp := range got.Spoken {
		spoken = append(spoken, said{sp.Serial, sp.Kind, sp.Text, sp.Title, sp.Routine})
	}
	assertEqual(t, spoken, []said{
		{kitchen.Serial, "speak", "The washing machine is done", "", ""},
		{kitchen.Serial, "announce", "Dinner!", "Home", ""},
		{bedroom.Serial, "announce", "Dinner!", "Home", ""},
		{bedroom.Serial, "routine", "", "", "Good night"},
		{bedroom.Serial, "speak", "Running Good night", "", "Good night"},
	})
	if len(got.DND) != 1 || got.DND[0].Serial != bedroom.Serial || !got.DND[0].Enabled || got.DND[0].Duration != "PT1H0M0S" {
		t.Errorf("dnd log %+v, want Bedroom on for PT1H0M0S", got.DND)
	}
	states, err := c.DNDStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range states {
		if st.Serial == bedroom.Serial && !st.Enabled {
			t.Errorf("device-status-list: Bedroom's DND is off after the timed DND")
		}
	}
	if len(got.Players) != 1 || len(got.Players[0].Commands) != 1 || got.Players[0].Commands[0] != "PauseCommand" {
		t.Errorf("players %+v, want the pause received", got.Players)
	}
}
