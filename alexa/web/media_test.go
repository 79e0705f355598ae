package web_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/alexarules/alexarules/alexa/web"
)

func TestDNDStatusAndSet(t *testing.T) {
	f := newFake(t, map[string]http.HandlerFunc{
		"GET /api/dnd/device-status-list": reply(200, `{"doNotDisturbDeviceStatusList":[
			{"deviceSerialNumber":"G090LF09643202VS","deviceType":"A3S5BH2HU6VAYF","enabled":true},
			{"deviceSerialNumber":"G0911W0793360TLG","deviceType":"A1RABVCI4QCIKC","enabled":false}]}`),
		"PUT /api/dnd/status": reply(200, `{"deviceSerialNumber":"G090LF09643202VS","deviceType":"A3S5BH2HU6VAYF","enabled":false}`),
	})
	c, _ := newClient(t, f, nil)
	got, err := c.DNDStatus(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	assertEqual(t, got, []web.DNDState{
		{Serial: "G090LF09643202VS", Type: "A3S5BH2HU6VAYF", Enabled: true},
		{Serial: "G0911W0793360TLG", Type: "A1RABVCI4QCIKC"},
	})
	if err := c.SetDND(context.Background(), berlinEcho, false); err != nil {
		t.Fatal(err)
	}
	r := f.requests()[1]
	assertEqual(t, r.Body, `{"deviceSerialNumber":"G090LF09643202VS","deviceType":"A3S5BH2HU6VAYF","enabled":false}`)
	checkSession(t, r, f.srv.URL)
}

func TestPlayer(t *testing.T) {
	f := newFake(t, map[string]http.HandlerFunc{
		"GET /api/np/player": func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Get("deviceSerialNumber") == officeEcho.Serial {
				w.Write([]byte(`{"playerInfo":{"state":null,"infoText":null}}`))
				return
			}
			w.Write([]byte(`{"playerInfo":{"state":"PLAYING","mediaId":"m1","isPlayingInLemur":false,
			 "infoText":{"multiLineMode":false,"title":"Cheap Thrills","subText1":"Sia","subText2":"This Is Acting"},
			 "progress":{"mediaProgress":22,"mediaLength":211},"volume":{"volume":40,"muted":false},
			 "provider":{"providerName":"Amazon Music"}}}`))
		},
	})
	c, _ := newClient(t, f, nil)
	p, err := c.Player(context.Background(), berlinEcho)
	if err != nil {
		t.Fatal(err)
	}
	assertEqual(t, p, &web.Player{State: "PLAYING", Title: "Cheap Thrills", Artist: "Sia", Album: "This Is Acting",
		Provider: "Amazon Music", Position: 22, Length: 211, Volume: 40})
	assertEqual(t, f.requests()[0].Query, "deviceSerialNumber=G090LF09643202VS&deviceType=A3S5BH2HU6VAYF&screenWidth=1392")
	idle, err := c.Player(context.Background(), officeEcho)
	if err != nil || idle != nil {
		t.Fatalf("idle player = %+v, %v; want nil, nil", idle, err)
	}
}

func TestPlayerCommandBodies(t *testing.T) {
	f := newFake(t, map[string]http.HandlerFunc{"POST /api/np/command": reply(200, ``)})
	c, _ := newClient(t, f, nil)
	for _, cmd := range []struct {
		typ string
		on  bool
	}{{web.CmdPause, true}, {web.CmdPlay, false}, {web.CmdNext, false}, {web.CmdPrevious, false}, {web.CmdShuffle, true}, {web.CmdRepeat, false}} {
		if err := c.PlayerCommand(context.Background(), berlinEcho, cmd.typ, cmd.on); err != nil {
			t.Fatal(err)
		}
	}
	var bodies []string
	for _, r := range f.requests() {
		if r.Query != "deviceSerialNumber=G090LF09643202VS&deviceType=A3S5BH2HU6VAYF" {
			t.Errorf("query %q", r.Query)
		}
		bodies = append(bodies, r.Body)
	}
	assertEqual(t, bodies, []string{`{"type":"PauseCommand"}`, `{"type":"PlayCommand"}`, `{"type":"NextCommand"}`,
		`{"type":"PreviousCommand"}`, `{"type":"ShuffleCommand","shuffle":true}`, `{"type":"RepeatCommand","repeat":false}`})
	if err := c.PlayerCommand(context.Background(), berlinEcho, "pause", false); !errors.Is(err, web.ErrInvalid) {
		t.Errorf("unknown command: err = %v, want ErrInvalid", err)
	}
}

func TestSmallReaders(t *testing.T) {
	f := newFake(t, map[string]http.HandlerFunc{
		"GET /api/wake-word": reply(200, `{"wakeWords":[{"active":true,"deviceSerialNumber":"G090LF09643202VS","deviceType":"A3S5BH2HU6VAYF","midFieldState":null,"wakeWord":"COMPUTER"},
			{"active":true,"deviceSerialNumber":"S2","deviceType":"T2","wakeWord":null}]}`),
		"GET /api/household": reply(200, `{"__type":"HouseholdModel:http://internal.amazon.com/coral/com.amazon.alexa.household.model/",
			"accounts":[{"email":"a@example.com","eulaAcceptance":true,"firstName":"Alice","fullName":"Alice Doe","id":"A1CUSTOMER","pendingUserPin":null,"role":"ADULT"}],"id":null}`),
		"GET /api/device-wifi-details": reply(200, `{"deviceSerialNumber":"G090LF09643202VS","deviceType":"A3S5BH2HU6VAYF","essid":"HomeNet","macAddress":"F0:27:2D:00:00:01"}`),
		"GET /api/customer-status":     sequence(reply(200, `{}`), reply(403, ``), reply(500, `oops`)),
	})
	c, _ := newClient(t, f, func(o *web.Options) { o.MaxAttempts = 1 })
	ctx := context.Background()
	words, err := c.WakeWords(ctx)
	if err != nil {
		t.Fatal(err)
	}
	assertEqual(t, words, []web.WakeWord{{Serial: "G090LF09643202VS", Type: "A3S5BH2HU6VAYF", Word: "COMPUTER", Active: true},
		{Serial: "S2", Type: "T2", Word: "ALEXA", Active: true}})
	members, err := c.HouseholdMembers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	assertEqual(t, members, []web.Member{{ID: "A1CUSTOMER", FullName: "Alice Doe", FirstName: "Alice", Email: "a@example.com", Role: "ADULT"}})
	wifi, err := c.WifiDetails(ctx, berlinEcho)
	if err != nil {
		t.Fatal(err)
	}
	assertEqual(t, wifi, web.Wifi{ESSID: "HomeNet", MAC: "F0:27:2D:00:00:01"})
	for i, want := range []bool{true, false} {
		ok, err := c.SessionValid(ctx)
		if err != nil || ok != want {
			t.Errorf("check %d: %t, %v; want %t", i, ok, err, want)
		}
	}
	if _, err := c.SessionValid(ctx); err == nil {
		t.Error("a 500 is no answer to the session check, want an error")
	}
}
