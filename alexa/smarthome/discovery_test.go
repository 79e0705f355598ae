package smarthome_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alexarules/alexarules/alexa"
	"github.com/alexarules/alexarules/alexa/smarthome"
)

func TestDiscoveryRequests(t *testing.T) {
	var observed []string
	r := newRig(t, smarthome.Options{Observe: func(api, result string, _ time.Duration) { observed = append(observed, api+" "+result) }})
	if _, err := r.c.Devices(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(observed, []string{"smarthome 2xx", "smarthome 2xx"}) {
		t.Errorf("observed %v", observed)
	}
	reqs := r.f.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want the GraphQL query and the groups: %+v", len(reqs), reqs)
	}
	want := `{"operationName":"CustomerSmartHome","query":"query CustomerSmartHome { endpoints(endpointsQueryParams: { paginationParams: { disablePagination: true } }) ` +
		`{ items { id friendlyName displayCategories { primary { value } } features { name operations { name } } ` +
		`legacyAppliance { applianceId applianceTypes friendlyName friendlyDescription manufacturerName connectedVia ` +
		`modelName entityId aliases capabilities customerDefinedDeviceType alexaDeviceIdentifierList driverIdentity ` +
		`mergedApplianceIds } } } }"}`
	if reqs[0].route() != "POST /nexus/v1/graphql" || reqs[0].Body != want {
		t.Errorf("discovery request %s %s, want POST /nexus/v1/graphql %s", reqs[0].route(), reqs[0].Body, want)
	}
	q, _ := url.ParseQuery(reqs[1].Query)
	if reqs[1].route() != "GET /api/phoenix/group" || q.Get("_") != strconv.FormatInt(t0.UnixMilli(), 10) || reqs[1].Body != "" {
		t.Errorf("groups request %s ?%s", reqs[1].route(), reqs[1].Query)
	}
	for _, rq := range reqs {
		h := rq.Header
		if h.Get("Origin") == "" || h.Get("Referer") != h.Get("Origin")+"/spa/index.html" ||
			!strings.Contains(h.Get("User-Agent"), "PitanguiBridge") || h.Get("Accept") != "application/json; charset=utf-8" {
			t.Errorf("%s headers %v", rq.route(), h)
		}
	}
	if ct := reqs[0].Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
}

func TestDevicesNamesIDsAndGroups(t *testing.T) {
	r := newRig(t, smarthome.Options{})
	got, err := r.c.Devices(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []alexa.Device{
		{ID: deskLamp, FriendlyName: "Desk Lamp"},
		{ID: hueLamp, FriendlyName: "Reading Lamp"}, // the first alias wins over "Hue color lamp 1"
		{ID: kitchenPlug, FriendlyName: "Kitchen Plug"},
		{ID: sensor, FriendlyName: "Living Room Sensor"},
		{ID: hallLight, FriendlyName: "Hall Light"},
		{ID: hallLamp, FriendlyName: "hall  light"},
		{ID: livingRoom, FriendlyName: "Living Room"},
		{ID: kitchenGroup, FriendlyName: "Kitchen"},
	} // the Echo item without a legacyAppliance is not a smart-home device
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Devices =\n%+v\nwant\n%+v", got, want)
	}
}

func TestEntitiesParseDefensively(t *testing.T) {
	r := newRig(t, smarthome.Options{})
	list, err := r.c.Entities(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]smarthome.Entity{}
	for _, e := range list {
		byID[e.ID] = e
	}
	hue := byID[hueLamp]
	// applianceTypes and capabilities came as JSON strings; an unknown field was ignored.
	wantHue := smarthome.Entity{
		ID: hueLamp, Name: "Reading Lamp", FriendlyName: "Hue color lamp 1",
		Aliases:            []string{"Reading Lamp", "Sofa Light"},
		ApplianceID:        "AAA_SonarCloudService_00:17:88:01:04:1D:4C:A0",
		MergedApplianceIDs: []string{"SKILL_eyJza2lsbElkIjoiYW16bjEuYXNrLnNraWxsLjEyMyIsInN0YWdlIjoibGl2ZSJ9_bGFtcDE="},
		EndpointID:         "amzn1.alexa.endpoint." + hueLamp,
		Types:              []string{"LIGHT"},
		Capabilities:       []string{"Alexa.PowerController", "Alexa.BrightnessController", "Alexa.ColorController"},
	}
	if !reflect.DeepEqual(hue, wantHue) {
		t.Errorf("hue lamp =\n%+v\nwant\n%+v", hue, wantHue)
	}
	g := byID[livingRoom]
	// Members by applianceId and by merged applianceId; the unknown one is left out.
	if !g.IsGroup() || g.GroupID != "amzn1.HomeAutomation.ApplianceGroup.A3NSX4MMJVG96V.1b2ab5c4-34e7-4b45-bdd3-fb6d3a0e4e8d" ||
		!reflect.DeepEqual(g.Members, []string{deskLamp, hueLamp}) || !reflect.DeepEqual(g.Types, []string{"GROUP"}) ||
		len(g.Capabilities) != 5 {
		t.Errorf("group = %+v", g)
	}
	if byID[deskLamp].IsGroup() || len(r.f.requests()) != 2 {
		t.Errorf("desk lamp %+v; %d requests", byID[deskLamp], len(r.f.requests()))
	}
	// Entities reuses the discovery.
	if _, err := r.c.Entities(context.Background()); err != nil || len(r.f.requests()) != 2 {
		t.Errorf("second Entities: %v, %d requests", err, len(r.f.requests()))
	}
}

// Through an alexa.Directory, as rules name devices: aliases, groups,
// near names and names two devices share.
func TestDirectoryNames(t *testing.T) {
	r := newRig(t, smarthome.Options{})
	d := alexa.NewDirectory(r.c, alexa.DirectoryOptions{Now: r.clock.Now})
	ctx := context.Background()
	for name, want := range map[string]string{
		"reading lamp": hueLamp, "Living Room": livingRoom, "desk lamp": deskLamp, kitchenPlug: kitchenPlug, "kitchen": kitchenGroup,
	} {
		if id, _, err := d.Resolve(ctx, name); err != nil || id != want {
			t.Errorf("Resolve(%q) = %q, %v; want %q", name, id, err, want)
		}
	}
	_, _, err := d.Resolve(ctx, "Hall Light")
	var ue *alexa.UnknownDeviceError
	if !errors.As(err, &ue) || !reflect.DeepEqual(ue.Ambiguous, []string{hallLight, hallLamp}) {
		t.Errorf("shared name: %v", err)
	}
	_, _, err = d.Resolve(ctx, "Desk Lamb")
	if !errors.As(err, &ue) || !reflect.DeepEqual(ue.Suggestions, []string{"Desk Lamp"}) ||
		!strings.Contains(err.Error(), `did you mean "Desk Lamp"`) {
		t.Errorf("near name: %v", err)
	}
}

func TestDiscoveryFailures(t *testing.T) {
	for _, tt := range []struct {
		name, body, want string
	}{
		{"not logged in", `{"errors":[{"message":"Unauthenticated call","path":["endpoints"],"extensions":{"errorCode":"FORBIDDEN","isRetryable":false,"classification":"DataFetchingException"}}],"data":{"endpoints":null},"extensions":{}}`,
			"FORBIDDEN Unauthenticated call"},
		{"no items", `{"data":{"endpoints":{}}}`, "no data.endpoints.items"},
		{"not JSON", `<html>`, "discovery"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, smarthome.Options{})
			r.f.setAnswer(func(rq rec) (int, http.Header, string, bool) {
				return 200, nil, tt.body, rq.Path == "/nexus/v1/graphql"
			})
			_, err := r.c.Devices(context.Background())
			ce := callError(t, err, "INVALID_RESPONSE")
			if !strings.Contains(ce.Message, tt.want) || !errors.Is(err, smarthome.ErrBadResponse) {
				t.Errorf("error %q, want it to contain %q", ce.Message, tt.want)
			}
		})
	}
}

// A 2026 failure mode: GraphQL answers an empty list. The previous list
// stays; a first discovery accepts it (an account may have no devices).
func TestDiscoveryEmptyListKeepsThePreviousOne(t *testing.T) {
	r := newRig(t, smarthome.Options{})
	ctx := context.Background()
	if _, err := r.c.Devices(ctx); err != nil {
		t.Fatal(err)
	}
	r.f.setAnswer(func(rq rec) (int, http.Header, string, bool) {
		return 200, nil, `{"data":{"endpoints":{"items":[]}},"extensions":{}}`, rq.Path == "/nexus/v1/graphql"
	})
	_, err := r.c.Devices(ctx)
	callError(t, err, "INVALID_RESPONSE")
	if v, err := r.c.Get(ctx, deskLamp, "power"); err != nil || v != "ON" {
		t.Errorf("after a failed discovery: %v %v", v, err)
	}

	fresh := newRig(t, smarthome.Options{})
	fresh.f.setAnswer(func(rq rec) (int, http.Header, string, bool) {
		if rq.Path == "/api/phoenix/group" {
			return 200, nil, `{"applianceGroups":[]}`, true
		}
		return 200, nil, `{"data":{"endpoints":{"items":[]}}}`, rq.Path == "/nexus/v1/graphql"
	})
	if got, err := fresh.c.Devices(ctx); err != nil || len(got) != 0 {
		t.Errorf("empty account: %v %v", got, err)
	}
}
