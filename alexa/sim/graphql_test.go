package sim_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/alexarules/alexarules/alexa/sim"
)

// The discovery queries of research §4.1 (alexa-remote2) and §4.2
// (alexapy), verbatim.
const (
	endpointsQuery = `query Endpoints { endpoints { items {
  endpointId id friendlyName displayCategories { primary { value } }
  legacyIdentifiers { dmsIdentifier { deviceType { type value { text } } deviceSerialNumber { type value { text } } } }
  legacyAppliance { applianceId applianceTypes endpointTypeId friendlyName friendlyDescription
    manufacturerName connectedVia modelName entityId actions mergedApplianceIds capabilities
    applianceNetworkState version isEnabled customerDefinedDeviceType customerPreference
    alexaDeviceIdentifierList aliases driverIdentity additionalApplianceDetails isConsentRequired
    applianceKey appliancePairs deduplicatedPairs entityPairs deduplicatedAliasesByEntityId relations }
  serialNumber { value { text } } enablement model { value { text } } manufacturer { value { text } }
  features { name operations { name } } } } }`
	customerSmartHomeQuery = `query CustomerSmartHome { endpoints(endpointsQueryParams: { paginationParams: { disablePagination: true } }) { items { legacyAppliance { applianceId applianceTypes friendlyName friendlyDescription manufacturerName connectedVia modelName entityId aliases capabilities customerDefinedDeviceType alexaDeviceIdentifierList driverIdentity } } } }`
	setFeaturesMutation    = `mutation updatePowerFeatureForEndpoints($featureControlRequests: [FeatureControlRequest!]!) { setEndpointFeatures(setEndpointFeaturesInput: { featureControlRequests: $featureControlRequests }) { featureControlResponses { endpointId featureOperationName __typename } errors { endpointId code __typename } __typename } }`
)

// graphql posts body and decodes the answer, checking the status.
func (e *env) graphql(body any, v any) {
	e.t.Helper()
	e.web(http.MethodPost, "/nexus/v1/graphql", body).decode(e.t, http.StatusOK, v)
}

func TestGraphQLEndpoints(t *testing.T) {
	e := newEnv(t, smartHomeHousehold(), sim.Options{})
	e.do(http.MethodPatch, "/_sim/smarthome/"+bulbID, "", map[string]any{"connectivity": "UNREACHABLE"})
	r := e.web(http.MethodPost, "/nexus/v1/graphql", map[string]any{"query": endpointsQuery})
	var got struct {
		Data struct {
			Endpoints struct {
				Items []map[string]any `json:"items"`
			} `json:"endpoints"`
		} `json:"data"`
		Errors     []any          `json:"errors"`
		Extensions map[string]any `json:"extensions"`
	}
	r.decode(t, http.StatusOK, &got)
	items := got.Data.Endpoints.Items
	if len(items) != 4 || got.Errors != nil || got.Extensions["requestID"] == "" {
		t.Fatalf("answer: %s", r.raw)
	}
	lamp := items[0]
	// Keys come in the query's order, every selected one present.
	if !strings.HasPrefix(string(r.raw), `{"data":{"endpoints":{"items":[{"endpointId":"amzn1.alexa.endpoint.`+lampID+`","id":`) {
		t.Errorf("answer does not follow the selection: %.200s", r.raw)
	}
	if lamp["id"] != sim.EndpointIDPrefix+lampID || lamp["friendlyName"] != "Desk Lamp" || lamp["enablement"] != "ENABLED" {
		t.Errorf("lamp %v", lamp)
	}
	checkJSON(t, lamp["displayCategories"], `{"primary":{"value":"LIGHT"}}`)
	checkJSON(t, lamp["legacyIdentifiers"], `{"dmsIdentifier":null}`)
	checkJSON(t, lamp["features"], `[{"name":"power","operations":[{"name":"turnOn"},{"name":"turnOff"}]},`+
		`{"name":"brightness","operations":[{"name":"setBrightness"}]},{"name":"color","operations":[{"name":"setColor"}]},`+
		`{"name":"colorTemperature","operations":[{"name":"setColorTemperature"}]}]`)
	la := lamp["legacyAppliance"].(map[string]any)
	if la["applianceId"] != sim.ApplianceIDPrefix+lampID || la["entityId"] != lampID || len(la) != 28 {
		t.Errorf("legacyAppliance (%d fields) %v", len(la), la)
	}
	checkJSON(t, la["aliases"], `[{"friendlyName":"Reading Light"}]`)
	checkJSON(t, la["applianceTypes"], `["LIGHT"]`)
	checkJSON(t, la["mergedApplianceIds"], `[]`)
	caps := mustJSON(t, la["capabilities"])
	for _, want := range []string{
		`"interfaceName":"Alexa.PowerController","properties":{"proactivelyReported":true,"readOnly":false,"retrievable":true,"supported":[{"name":"powerState"}]}`,
		`"interfaceName":"Alexa.BrightnessController"`, `"interfaceName":"Alexa.ColorController"`,
		`"interfaceName":"Alexa.ColorTemperatureController"`, `"interfaceName":"Alexa.EndpointHealth"`,
	} {
		if !strings.Contains(caps, want) {
			t.Errorf("capabilities lack %s: %s", want, caps)
		}
	}
	if items[1]["legacyAppliance"].(map[string]any)["applianceTypes"].([]any)[0] != "SMARTPLUG" {
		t.Errorf("plug %v", items[1])
	}
	if ns := items[3]["legacyAppliance"].(map[string]any)["applianceNetworkState"].(map[string]any); ns["reachability"] != "NOT_REACHABLE" {
		t.Errorf("unreachable bulb network state %v", ns)
	}
}

func checkJSON(t *testing.T, v any, want string) {
	t.Helper()
	var w any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	if got := mustJSON(t, v); got != mustJSON(t, w) {
		t.Errorf("got  %s\nwant %s", got, mustJSON(t, w))
	}
}

// TestGraphQLBatch sends aioamazondevices' array form with the
// CustomerSmartHome query and an operation with an alias and variables.
func TestGraphQLBatch(t *testing.T) {
	e := newEnv(t, smartHomeHousehold(), sim.Options{})
	var got []struct {
		Data   map[string]any `json:"data"`
		Errors []any          `json:"errors"`
	}
	e.graphql([]any{
		map[string]any{"operationName": "CustomerSmartHome", "query": customerSmartHomeQuery},
		map[string]any{"operationName": "getEndpointState", "variables": map[string]any{"endpointIds": []string{sim.EndpointIDPrefix + plugID}},
			"query": `query getEndpointState($endpointIds: [String]!) { listEndpoints(listEndpointsInput: {latencyTolerance: LOW, endpointIds: $endpointIds, includeHouseholdDevices: true}) { endpoints { endpointId: id features { name properties { name ... on Power { powerStateValue } timeOfSample } } } } }`},
	}, &got)
	if len(got) != 2 || got[0].Errors != nil || got[1].Errors != nil {
		t.Fatalf("answer %+v", got)
	}
	items := got[0].Data["endpoints"].(map[string]any)["items"].([]any)
	la := items[0].(map[string]any)["legacyAppliance"].(map[string]any)
	if len(items) != 4 || len(la) != 13 || la["friendlyName"] != "Desk Lamp" {
		t.Errorf("CustomerSmartHome legacyAppliance %v", la)
	}
	var echos map[string]any
	e.graphql(map[string]any{"query": `{ listEndpoints(listEndpointsInput: {displayCategory: "ALEXA_VOICE_ENABLED", includeHouseholdDevices: true}) { endpoints { id } } }`}, &echos)
	checkJSON(t, echos["data"], `{"listEndpoints":{"endpoints":[]}}`)
	e.graphql(map[string]any{"query": `{ listEndpoints(listEndpointsInput: {displayCategory: "SMARTPLUG"}) { endpoints { friendlyName } } }`}, &echos)
	checkJSON(t, echos["data"], `{"listEndpoints":{"endpoints":[{"friendlyName":"Fan Plug"}]}}`)
	checkJSON(t, got[1].Data["listEndpoints"], `{"endpoints":[{"endpointId":"amzn1.alexa.endpoint.`+plugID+`","features":[`+
		`{"name":"power","properties":[{"name":"powerState","powerStateValue":"ON","timeOfSample":"2026-03-02T06:59:00.120Z"}]}]}]}`)
}

func TestGraphQLEndpointState(t *testing.T) {
	e := newEnv(t, smartHomeHousehold(), sim.Options{})
	var got map[string]any
	// homebridge's state query (research §5.3) with a named fragment.
	e.graphql(map[string]any{
		"query": `query getPowerBrightnessColorColorTempStates($endpointId: String!) { endpoint(id: $endpointId) { features { name properties { ...P } } } }
fragment P on Property { name ... on Brightness { brightnessStateValue } ... on Color { colorStateValue { hue saturation } } }`,
		"variables": map[string]any{"endpointId": sim.EndpointIDPrefix + lampID},
	}, &got)
	checkJSON(t, got["data"], `{"endpoint":{"features":[{"name":"power","properties":[{"name":"powerState","brightnessStateValue":null,"colorStateValue":null}]},`+
		`{"name":"brightness","properties":[{"name":"brightness","brightnessStateValue":40,"colorStateValue":null}]},`+
		`{"name":"color","properties":[{"name":"color","brightnessStateValue":null,"colorStateValue":{"hue":30,"saturation":0.6}}]},`+
		`{"name":"colorTemperature","properties":[{"name":"colorTemperatureInKelvin","brightnessStateValue":null,"colorStateValue":null}]}]}}`)
	e.graphql(map[string]any{"query": `{ endpoint(id: "amzn1.alexa.endpoint.nope") { id } }`}, &got)
	if errs, _ := got["errors"].([]any); len(errs) != 1 || !strings.Contains(mustJSON(t, errs[0]), `"path":["endpoint"]`) {
		t.Errorf("unknown endpoint: %v", got)
	}
	checkJSON(t, got["data"], `{"endpoint":null}`)
}

func TestGraphQLSetEndpointFeatures(t *testing.T) {
	e := newEnv(t, smartHomeHousehold(), sim.Options{})
	e.do(http.MethodPatch, "/_sim/smarthome/"+bulbID, "", map[string]any{"connectivity": "UNREACHABLE"})
	req := func(id, feature, op string, payload any) map[string]any {
		m := map[string]any{"endpointId": sim.EndpointIDPrefix + id, "featureName": feature, "featureOperationName": op}
		if payload != nil {
			m["payload"] = payload
		}
		return m
	}
	var got map[string]any
	e.graphql(map[string]any{"query": setFeaturesMutation, "variables": map[string]any{"featureControlRequests": []any{
		req(lampID, "power", "turnOn", nil),
		req(lampID, "brightness", "setBrightness", map[string]any{"brightness": "65"}),
		req(lampID, "colorTemperature", "setColorTemperature", map[string]any{"colorTemperatureInKelvin": 3100}),
		req(plugID, "brightness", "setBrightness", map[string]any{"brightness": "65"}),
		req(bulbID, "power", "turnOn", nil),
		req("nope", "power", "turnOn", nil),
		req(lampID, "power", "setBrightness", nil),
	}}}, &got)
	id := func(s string) string { return sim.EndpointIDPrefix + s }
	checkJSON(t, got["data"], `{"setEndpointFeatures":{"featureControlResponses":[`+
		`{"endpointId":"`+id(lampID)+`","featureOperationName":"turnOn","__typename":"FeatureControlResponse"},`+
		`{"endpointId":"`+id(lampID)+`","featureOperationName":"setBrightness","__typename":"FeatureControlResponse"},`+
		`{"endpointId":"`+id(lampID)+`","featureOperationName":"setColorTemperature","__typename":"FeatureControlResponse"}],`+
		`"errors":[{"endpointId":"`+id(plugID)+`","code":"UNSUPPORTED_OPERATION","__typename":"FeatureControlError"},`+
		`{"endpointId":"`+id(bulbID)+`","code":"ENDPOINT_UNREACHABLE","__typename":"FeatureControlError"},`+
		`{"endpointId":"`+id("nope")+`","code":"NO_SUCH_ENDPOINT","__typename":"FeatureControlError"},`+
		`{"endpointId":"`+id(lampID)+`","code":"UNSUPPORTED_OPERATION","__typename":"FeatureControlError"}],`+
		`"__typename":"SetEndpointFeaturesResponse"}}`)
	lamp := e.smartHome(lampID)
	if *lamp.Power != "ON" || *lamp.Brightness != 65 || *lamp.ColorTemperature != 3100 {
		t.Errorf("lamp %+v", lamp)
	}
	if *e.smartHome(bulbID).Power != "OFF" {
		t.Error("unreachable bulb changed")
	}
}

// fragmentBomb is a query whose fragments spread each other twice, 30
// levels deep: 2^30 fields if expanded.
func fragmentBomb() string {
	var b strings.Builder
	b.WriteString("{ endpoints { items { ...F0 } } }")
	for i := range 30 {
		fmt.Fprintf(&b, " fragment F%d on Endpoint { ...F%d ...F%d }", i, i+1, i+1)
	}
	b.WriteString(" fragment F30 on Endpoint { }")
	return b.String()
}

func TestGraphQLErrors(t *testing.T) {
	e := newEnv(t, smartHomeHousehold(), sim.Options{})
	tests := []struct {
		name string
		body any
		want string // in the errors
	}{
		{"unknown root field", map[string]any{"query": `query Devices { devices { items { id } } }`},
			`Validation error (FieldUndefined@[devices]) : Field 'devices' in type 'Query' is undefined`},
		{"unknown mutation", map[string]any{"query": `mutation { deleteEndpoint(id: "x") { id } }`},
			`Field 'deleteEndpoint' in type 'Mutation' is undefined`},
		{"syntax", map[string]any{"query": `query Endpoints { endpoints { items { id } }`}, `Invalid Syntax`},
		{"unknown operation name", map[string]any{"query": endpointsQuery, "operationName": "Other"}, `Unknown operation named 'Other'.`},
		{"two operations, no name", map[string]any{"query": endpointsQuery + " " + customerSmartHomeQuery}, `Must provide operation name`},
		{"undefined fragment", map[string]any{"query": `{ endpoints { ...X } }`}, `undefined fragment X`},
		{"fragment bomb", map[string]any{"query": fragmentBomb()}, `selects more than`},
		{"deep nesting", map[string]any{"query": strings.Repeat("{a", 1000) + strings.Repeat("}", 1000)}, `nested more than 100 levels`},
		{"deep value", map[string]any{"query": "{ endpoint(id: " + strings.Repeat("[", 1000) + ") { id } }"}, `nested more than 100 levels`},
		{"mutation without requests", map[string]any{"query": `mutation { setEndpointFeatures(setEndpointFeaturesInput: {}) { errors { code } } }`},
			`featureControlRequests must be a list`},
	}
	for _, tc := range tests {
		var got struct {
			Errors []struct {
				Message string `json:"message"`
			} `json:"errors"`
		}
		e.graphql(tc.body, &got)
		if len(got.Errors) != 1 || !strings.Contains(got.Errors[0].Message, tc.want) {
			t.Errorf("%s: errors %+v, want %q", tc.name, got.Errors, tc.want)
		}
	}
	// Unknown fields inside a known one are accepted and answered null.
	var got map[string]any
	e.graphql(map[string]any{"query": `{ endpoints { items { id colour } } }`}, &got)
	if items := got["data"].(map[string]any)["endpoints"].(map[string]any)["items"].([]any); items[0].(map[string]any)["colour"] != nil ||
		len(items[0].(map[string]any)) != 2 {
		t.Errorf("unknown field: %v", items[0])
	}
	for _, body := range []string{`not json`, `{}`, `[]`, `{"query":""}`} {
		if r := e.web(http.MethodPost, "/nexus/v1/graphql", body); r.status != http.StatusBadRequest || !strings.Contains(string(r.raw), `"errors"`) {
			t.Errorf("%s: %d %s", body, r.status, r.raw)
		}
	}
	if r := e.do(http.MethodPost, "/nexus/v1/graphql", "", map[string]any{"query": endpointsQuery}); r.status != http.StatusUnauthorized {
		t.Errorf("without session: %d", r.status)
	}
}

// TestGraphQLSyntax covers the language the parser takes: a byte order
// mark, comments, aliases, directives, block strings, escapes, commas.
func TestGraphQLSyntax(t *testing.T) {
	e := newEnv(t, smartHomeHousehold(), sim.Options{})
	query := "\ufeff# two endpoints\nquery Q {\n  first: endpoint(id: \"amzn1.alexa.endpoint.\\u0030d3f1a2b-4c5d-4e6f-8a9b-0c1d2e3f4a01\") @include(if: true) { name: friendlyName }\n" +
		"  second: endpoint(id: \"\"\"amzn1.alexa.endpoint." + plugID + "\"\"\") { friendlyName, __typename }\n  __typename\n}"
	r := e.web(http.MethodPost, "/nexus/v1/graphql", map[string]any{"query": query})
	want := `{"data":{"first":{"name":"Desk Lamp"},"second":{"friendlyName":"Fan Plug","__typename":"Endpoint"},"__typename":"Query"},`
	if r.status != http.StatusOK || !strings.HasPrefix(string(r.raw), want) {
		t.Errorf("answer %d %s\nwant prefix %s", r.status, r.raw, want)
	}
	var got struct {
		Errors []struct {
			Message   string `json:"message"`
			Locations []struct{ Line, Column int }
		} `json:"errors"`
	}
	e.graphql(map[string]any{"query": "query {\n  endpoints { items { id } }\n  nope\n}"}, &got)
	if len(got.Errors) != 1 || got.Errors[0].Locations[0].Line != 3 || got.Errors[0].Locations[0].Column != 3 {
		t.Errorf("location of an unknown field: %+v", got.Errors)
	}
}

func TestGraphQLSetEndpointFeaturesRefusals(t *testing.T) {
	e := newEnv(t, smartHomeHousehold(), sim.Options{})
	for _, tc := range []struct {
		feature, op string
		payload     any
		code        string
	}{
		{"colorTemperature", "setColorTemperature", map[string]any{"colorTemperatureInKelvin": "warm"}, "INVALID_VALUE"},
		{"colorTemperature", "setColorTemperature", map[string]any{"colorTemperatureInKelvin": 500}, "VALUE_OUT_OF_RANGE"},
		{"colorTemperature", "setColorTemperature", nil, "INVALID_VALUE"},
		{"brightness", "setBrightness", map[string]any{"brightness": "101"}, "VALUE_OUT_OF_RANGE"},
		{"color", "setColor", map[string]any{"colorName": "octarine"}, "INVALID_VALUE"},
		{"toggle", "turnOnToggle", nil, "UNSUPPORTED_OPERATION"},
	} {
		req := map[string]any{"endpointId": sim.EndpointIDPrefix + lampID, "featureName": tc.feature, "featureOperationName": tc.op}
		if tc.payload != nil {
			req["payload"] = tc.payload
		}
		var got map[string]any
		e.graphql(map[string]any{"query": setFeaturesMutation, "variables": map[string]any{"featureControlRequests": []any{req}}}, &got)
		set := got["data"].(map[string]any)["setEndpointFeatures"].(map[string]any)
		if errs := set["errors"].([]any); len(errs) != 1 || errs[0].(map[string]any)["code"] != tc.code {
			t.Errorf("%s %v: %v, want %s", tc.op, tc.payload, set, tc.code)
		}
	}
	// setColor by name works here too.
	var got map[string]any
	e.graphql(map[string]any{"query": setFeaturesMutation, "variables": map[string]any{"featureControlRequests": []any{
		map[string]any{"endpointId": sim.EndpointIDPrefix + lampID, "featureName": "color", "featureOperationName": "setColor",
			"payload": map[string]any{"colorName": "blue"}}}}}, &got)
	if c := e.smartHome(lampID).Color; c == nil || c.Hue != 240 || c.Saturation != 1 {
		t.Errorf("colour after setColor blue: %+v (%v)", c, got)
	}
	if *e.smartHome(lampID).ColorTemperature != 2700 || *e.smartHome(lampID).Brightness != 40 {
		t.Error("a refused feature control changed the lamp")
	}
}
