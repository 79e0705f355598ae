package sim_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/alexarules/alexarules/alexa/sim"
)

func TestDemoHousehold(t *testing.T) {
	h := sim.DemoHousehold()
	if err := h.Validate(); err != nil {
		t.Fatalf("demo household invalid: %v", err)
	}
	b, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sim.LoadHousehold(bytes.NewReader(b)); err != nil {
		t.Fatalf("demo household does not load back: %v", err)
	}

	e := newEnv(t, h, sim.Options{})
	byName := map[string]string{}
	for _, ep := range h.Endpoints {
		if !strings.HasPrefix(ep.ID, "amzn1.alexa.endpoint.") {
			t.Errorf("%s: id %q", ep.Name, ep.ID)
		}
		byName[ep.Name] = ep.ID
	}
	// Each endpoint serves the features the demo promises.
	for name, features := range map[string][]string{
		"Bedroom Lamp":           {"power", "brightness", "color", "colorTemperature", "connectivity"},
		"Living Room Lamp":       {"power", "brightness", "connectivity"},
		"Living Room Fan":        {"power", "connectivity"},
		"Living Room Sensor":     {"temperatureSensor", "connectivity"},
		"Living Room Thermostat": {"temperatureSensor", "thermostat", "connectivity"},
		"Living Room Speaker":    {"speaker", "bluetooth", "connectivity"},
		"Kitchen Light":          {"power", "brightness", "connectivity"},
	} {
		id, ok := byName[name]
		if !ok {
			t.Errorf("no %s", name)
			continue
		}
		for _, f := range features {
			if r := e.api(http.MethodGet, "/v2/endpoints/"+id+"/features/"+f, nil); r.status != http.StatusOK {
				t.Errorf("%s %s: %d %s", name, f, r.status, r.raw)
			}
		}
	}
	var echos []string
	for _, echo := range h.Echos {
		echos = append(echos, echo.Name)
		if echo.Serial == "" || echo.Type == "" || echo.Timezone != "Europe/Berlin" {
			t.Errorf("echo %+v", echo)
		}
	}
	if !slices.Equal(echos, []string{"Bedroom Echo", "Kitchen Echo", "Living Room Echo"}) {
		t.Errorf("echos %v", echos)
	}
	var lists []string
	for _, l := range h.Lists {
		lists = append(lists, l.Name)
	}
	if !slices.Equal(lists, []string{"Shopping", "To-Do"}) {
		t.Errorf("lists %v", lists)
	}
	// Each call builds a fresh household.
	h.Endpoints[0].Name = "changed"
	if sim.DemoHousehold().Endpoints[0].Name == "changed" {
		t.Error("DemoHousehold shares state between calls")
	}
}

func TestLoadHousehold(t *testing.T) {
	if _, err := sim.LoadHousehold(strings.NewReader(interfacesExample)); err != nil {
		t.Fatalf("INTERFACES.md example: %v", err)
	}
	tests := []struct {
		name, json string
		wantErrs   []string
	}{
		{"unknown field", `{"endpoints":[{"id":"a","name":"A","features":{"brigtness":5}}]}`, []string{`unknown field "brigtness"`}},
		{"unknown top-level field", `{"devices":[]}`, []string{`unknown field "devices"`}},
		{"trailing data", `{} {}`, []string{"after the JSON value"}},
		{"wrong type", `{"endpoints":[{"id":"a","name":"A","features":{"power":true}}]}`, []string{"power"}},
		{"many problems at once", `{"endpoints":[
			{"id":"","name":"A","features":{"brightness":101,"power":"DIM","color":{"hue":400,"saturation":2,"brightness":0}}},
			{"id":"b","name":"","features":{"color_temperature":500,"volume":-1,"thermostat_mode":"WARM","connectivity":"GONE","temperature_scale":"RANKINE"}},
			{"id":"b","name":"B2","features":{"target_setpoint":20,"muted":true}},
			{"id":"c","name":"C","features":{"thermostat_mode":"HEAT","lower_setpoint":25,"upper_setpoint":20}}],
		  "echos":[{"serial":"","name":"E","type":"T"},{"serial":"s","name":"","type":"T"},{"serial":"s","name":"E2"}],
		  "lists":[{"id":"","name":"L","items":[{"id":"","text":"x"}]},{"id":"l","items":[{"id":"i"},{"id":"i"}]},{"id":"l"}],
		  "notifications":[5,{"type":"Alarm"},{"id":"n"},{"id":"n"}]}`,
			[]string{
				"endpoints[0] (A): id is empty", "brightness 101", `power "DIM"`, "color.hue 400", "color.saturation 2",
				"endpoints[1]: name is empty", "color_temperature 500", "volume -1", `thermostat_mode "WARM"`, `connectivity "GONE"`, `temperature_scale "RANKINE"`,
				`endpoints[2] (B2): duplicate id "b"`, "setpoints need thermostat_mode", "muted needs volume",
				"lower_setpoint 25 is above upper_setpoint 20",
				"echos[0]: serial is empty", "echos[1]: name is empty", `echos[2]: duplicate serial "s"`, "echos[2]: type is empty",
				"lists[0]: id is empty", "lists[0].items[0]: id is empty", `lists[1].items[1]: duplicate id "i"`, `lists[2]: duplicate id "l"`,
				"notifications[0]: not a JSON object", "notifications[1]: id is missing", `notifications[3]: duplicate id "n"`,
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := sim.LoadHousehold(strings.NewReader(tt.json))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, want := range tt.wantErrs {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q:\n%v", want, err)
				}
			}
		})
	}
}

// TestDemoSmartHome checks the demo's smart-home devices through the
// GraphQL discovery and a grouped state read.
func TestDemoSmartHome(t *testing.T) {
	e := newEnv(t, sim.DemoHousehold(), sim.Options{})
	var got struct {
		Data struct {
			Endpoints struct {
				Items []struct {
					FriendlyName    string `json:"friendlyName"`
					LegacyAppliance struct {
						Aliases []struct {
							FriendlyName string `json:"friendlyName"`
						} `json:"aliases"`
						ApplianceTypes []string `json:"applianceTypes"`
					} `json:"legacyAppliance"`
				} `json:"items"`
			} `json:"endpoints"`
		} `json:"data"`
	}
	e.graphql(map[string]any{"query": endpointsQuery}, &got)
	var names []string
	for _, it := range got.Data.Endpoints.Items {
		name := it.FriendlyName
		if len(it.LegacyAppliance.Aliases) > 0 {
			name = it.LegacyAppliance.Aliases[0].FriendlyName
		}
		names = append(names, name+"/"+strings.Join(it.LegacyAppliance.ApplianceTypes, ","))
	}
	want := []string{"Bedroom Lamp/LIGHT", "Living Room Lamp/LIGHT", "Living Room Fan/SMARTPLUG", "Living Room Sensor/TEMPERATURE_SENSOR", "Kitchen Light/LIGHT"}
	if !slices.Equal(names, want) {
		t.Errorf("discovered %v, want %v", names, want)
	}
	var states phoenixStates
	e.web(http.MethodPost, "/api/phoenix/state", map[string]any{"stateRequests": []any{
		entity(sim.DemoHousehold().Groups[0].ID, "GROUP"),
	}}).decode(t, http.StatusOK, &states)
	if len(states.DeviceStates) != 2 || len(states.Errors) != 0 {
		t.Errorf("Living Room group read %+v", states)
	}
}
