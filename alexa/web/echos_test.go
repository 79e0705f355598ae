package web_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/alexarules/alexarules/alexa/web"
)

func TestEchosJoinTimezones(t *testing.T) {
	f := newFake(t, map[string]http.HandlerFunc{
		"GET /api/devices-v2/device": reply(200, `{"devices":[
			{"serialNumber":"G090LF09643202VS","deviceType":"A3S5BH2HU6VAYF","accountName":"Kitchen","deviceFamily":"ECHO",
			 "online":true,"softwareVersion":"649649820","capabilities":["REMINDERS","VOLUME_SETTING"],
			 "clusterMembers":[],"parentClusters":[],"deviceOwnerCustomerId":"A1"},
			{"serialNumber":"S2","deviceType":"T2","accountName":"Office","deviceFamily":"KNIGHT","online":false,
			 "softwareVersion":"1","capabilities":[]},
			{"serialNumber":"S2","deviceType":"OTHER","accountName":"Same serial, other type","deviceFamily":"ECHO",
			 "online":true,"softwareVersion":"2","capabilities":null},
			{"serialNumber":null,"deviceType":"T4","accountName":"Broken"},
			{"serialNumber":"S5","deviceType":"T5","accountName":null,"deviceFamily":"WHA","online":true,"capabilities":["MUSIC"],
			 "clusterMembers":["G090LF09643202VS","S2"]}
		]}`),
		"GET /api/device-preferences": reply(200, `{"devicePreferences":[
			{"deviceSerialNumber":"G090LF09643202VS","deviceType":"A3S5BH2HU6VAYF","timeZoneId":"Europe/Berlin","locale":"de-DE"},
			{"deviceSerialNumber":"S2","deviceType":"T2","timeZoneId":"America/New_York"},
			{"deviceSerialNumber":"S5","deviceType":"T5","timeZoneId":null},
			{"deviceSerialNumber":"GONE","deviceType":"T9","timeZoneId":"Asia/Tokyo"}
		]}`),
	})
	c, _ := newClient(t, f, nil)
	echos, err := c.Echos(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	assertEqual(t, echos, []web.Echo{
		berlinEcho,
		{Serial: "S2", Type: "T2", Name: "Office", Family: "KNIGHT", Timezone: "America/New_York", SoftwareVersion: "1", Capabilities: []string{}},
		{Serial: "S2", Type: "OTHER", Name: "Same serial, other type", Family: "ECHO", Online: true, SoftwareVersion: "2"},
		{Serial: "S5", Type: "T5", Family: "WHA", Online: true, Capabilities: []string{"MUSIC"}, Members: []string{"G090LF09643202VS", "S2"}},
	})
	reqs := f.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	for i, want := range []struct{ path, query string }{
		{"/api/devices-v2/device", "_=" + nowMS + "&cached=true"},
		{"/api/device-preferences", "cached=true"},
	} {
		r := reqs[i]
		if r.Method != "GET" || r.Path != want.path || r.Query != want.query || r.Body != "" {
			t.Errorf("request %d: %s %s?%s body %q, want GET %s?%s", i, r.Method, r.Path, r.Query, r.Body, want.path, want.query)
		}
		checkSession(t, r, f.srv.URL)
	}
}

func TestEchosErrors(t *testing.T) {
	devices := reply(200, `{"devices":[{"serialNumber":"S","deviceType":"T"}]}`)
	tests := []struct {
		name    string
		routes  map[string]http.HandlerFunc
		want    error
		wantMsg string
	}{
		{"preferences missing", map[string]http.HandlerFunc{
			"GET /api/devices-v2/device":  devices,
			"GET /api/device-preferences": reply(200, `{"prefs":[]}`),
		}, web.ErrBadResponse, `GET /api/device-preferences: bad response: no "devicePreferences" array`},
		{"preferences not JSON", map[string]http.HandlerFunc{
			"GET /api/devices-v2/device":  devices,
			"GET /api/device-preferences": reply(200, `<html>`),
		}, web.ErrBadResponse, "GET /api/device-preferences: bad response: not a JSON object"},
		{"session expired", map[string]http.HandlerFunc{
			"GET /api/devices-v2/device": reply(401, ``),
		}, web.ErrAuth, "GET /api/devices-v2/device: 401 Unauthorized: the Alexa web session expired: update the cookie"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, tt.routes)
			c, _ := newClient(t, f, nil)
			echos, err := c.Echos(context.Background())
			if !errors.Is(err, tt.want) || err.Error() != "alexa web: "+tt.wantMsg {
				t.Fatalf("Echos = %v, %v; want %q", echos, err, tt.wantMsg)
			}
		})
	}
}
