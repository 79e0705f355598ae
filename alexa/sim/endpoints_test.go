package sim_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"testing"

	"github.com/alexarules/alexarules/alexa/sim"
)

type page struct {
	Results []struct {
		ID           string `json:"id"`
		FriendlyName struct {
			Type  string `json:"type"`
			Value struct {
				Text string `json:"text"`
			} `json:"value"`
		} `json:"friendlyName"`
		Features []struct {
			Name       string            `json:"name"`
			Properties []json.RawMessage `json:"properties"`
			Operations []json.RawMessage `json:"operations"`
		} `json:"features"`
	} `json:"results"`
	PaginationContext *struct {
		NextToken *string `json:"nextToken"`
	} `json:"paginationContext"`
}

// listAll follows nextToken through every page, returning the names seen
// and the number of pages.
func listAll(t *testing.T, e *env, query url.Values) (names []string, pages []page) {
	t.Helper()
	for range 20 {
		r := e.api(http.MethodGet, "/v2/endpoints?"+query.Encode(), nil)
		if r.status != http.StatusOK {
			t.Fatalf("list: %d %s", r.status, r.raw)
		}
		var p page
		if err := json.Unmarshal(r.raw, &p); err != nil {
			t.Fatal(err)
		}
		pages = append(pages, p)
		for _, ep := range p.Results {
			names = append(names, ep.FriendlyName.Value.Text)
		}
		if p.PaginationContext == nil {
			t.Fatalf("page without paginationContext: %s", r.raw)
		}
		if p.PaginationContext.NextToken == nil {
			return names, pages
		}
		query.Set("nextToken", *p.PaginationContext.NextToken)
	}
	t.Fatal("pagination does not end")
	return nil, nil
}

func demoNames() []string {
	var names []string
	for _, ep := range sim.DemoHousehold().Endpoints {
		names = append(names, ep.Name)
	}
	return names
}

func TestListEndpointsPagination(t *testing.T) {
	t.Run("default page size 10 holds the demo household", func(t *testing.T) {
		e := newEnv(t, sim.DemoHousehold(), sim.Options{})
		names, pages := listAll(t, e, url.Values{"owner": {"~caller"}, "expand": {"all"}})
		if len(pages) != 1 || !slices.Equal(names, demoNames()) {
			t.Errorf("%d pages, names %v", len(pages), names)
		}
	})
	t.Run("page size 3", func(t *testing.T) {
		e := newEnv(t, sim.DemoHousehold(), sim.Options{PageSize: 3})
		names, pages := listAll(t, e, url.Values{"owner": {"~caller"}, "expand": {"all"}})
		if len(pages) != 3 || len(pages[0].Results) != 3 || len(pages[2].Results) != 1 {
			t.Errorf("got %d pages", len(pages))
		}
		if !slices.Equal(names, demoNames()) {
			t.Errorf("names %v, want %v", names, demoNames())
		}
	})
	t.Run("maxResults smaller than the page size", func(t *testing.T) {
		e := newEnv(t, sim.DemoHousehold(), sim.Options{})
		names, pages := listAll(t, e, url.Values{"owner": {"~caller"}, "maxResults": {"2"}})
		if len(pages) != 4 || !slices.Equal(names, demoNames()) {
			t.Errorf("%d pages, names %v", len(pages), names)
		}
	})
	t.Run("empty household", func(t *testing.T) {
		e := newEnv(t, sim.Household{}, sim.Options{})
		r := e.api(http.MethodGet, "/v2/endpoints?owner=~caller", nil)
		jsonEqual(t, r.raw, `{"results":[],"paginationContext":{}}`)
	})
}

func TestListEndpointsShape(t *testing.T) {
	e := newEnv(t, testHousehold(), sim.Options{})
	r := e.api(http.MethodGet, "/v2/endpoints?owner=~caller&expand=all", nil)
	var p page
	if err := json.Unmarshal(r.raw, &p); err != nil {
		t.Fatal(err)
	}
	if len(p.Results) != 3 {
		t.Fatalf("results: %s", r.raw)
	}
	ep := p.Results[0]
	if ep.ID != lamp || ep.FriendlyName.Type != "PLAIN" || ep.FriendlyName.Value.Text != "Lamp" {
		t.Errorf("endpoint %+v", ep)
	}
	var names []string
	for _, f := range ep.Features {
		names = append(names, f.Name)
	}
	if want := []string{"power", "brightness", "color", "colorTemperature", "connectivity"}; !slices.Equal(names, want) {
		t.Errorf("features %v, want %v", names, want)
	}
	// A feature in the listing is what its GET answers, plus its name.
	get := e.api(http.MethodGet, "/v2/endpoints/"+lamp+"/features/power", nil).json(t)
	var listed map[string]any
	b, _ := json.Marshal(ep.Features[0])
	json.Unmarshal(b, &listed)
	for _, k := range []string{"properties", "operations"} {
		lb, _ := json.Marshal(listed[k])
		gb, _ := json.Marshal(get[k])
		if string(lb) != string(gb) {
			t.Errorf("%s in listing %s, in GET %s", k, lb, gb)
		}
	}

	// Without expand there are no features; expand=feature:X picks one.
	r = e.api(http.MethodGet, "/v2/endpoints?owner=~caller", nil)
	p = page{}
	json.Unmarshal(r.raw, &p)
	if len(p.Results[0].Features) != 0 {
		t.Errorf("features without expand: %s", r.raw)
	}
	r = e.api(http.MethodGet, "/v2/endpoints?owner=~caller&expand=feature:connectivity", nil)
	p = page{}
	json.Unmarshal(r.raw, &p)
	if len(p.Results[0].Features) != 1 || p.Results[0].Features[0].Name != "connectivity" || len(p.Results[1].Features) != 0 {
		t.Errorf("expand=feature:connectivity: %s", r.raw)
	}

	// One endpoint by id.
	r = e.api(http.MethodGet, "/v2/endpoints/"+speaker+"?expand=all", nil)
	m := r.json(t)
	if m["id"] != speaker || len(m["features"].([]any)) != 2 {
		t.Errorf("by id: %s", r.raw)
	}
}

func TestListEndpointsErrors(t *testing.T) {
	e := newEnv(t, sim.DemoHousehold(), sim.Options{})
	tests := []struct{ name, query, wantType string }{
		{"no owner", "expand=all", "INVALID_REQUEST"},
		{"other owner", "owner=someone", "INVALID_REQUEST"},
		{"maxResults 11", "owner=~caller&maxResults=11", "VALUE_OUT_OF_RANGE"},
		{"maxResults 0", "owner=~caller&maxResults=0", "VALUE_OUT_OF_RANGE"},
		{"maxResults word", "owner=~caller&maxResults=ten", "INVALID_REQUEST"},
		{"bad nextToken", "owner=~caller&nextToken=garbage", "INVALID_REQUEST"},
		{"bad expand", "owner=~caller&expand=everything", "INVALID_REQUEST"},
		{"bad expand feature", "owner=~caller&expand=feature:toaster", "INVALID_REQUEST"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.api(http.MethodGet, "/v2/endpoints?"+tt.query, nil)
			if r.status != http.StatusBadRequest || r.errorType(t) != tt.wantType {
				t.Errorf("got %d %s, want 400 %s", r.status, r.raw, tt.wantType)
			}
		})
	}
}
