package features_test

import (
	"errors"
	"net/http"
	"net/url"
	"testing"

	"github.com/alexarules/alexarules/alexa/features"
	"github.com/alexarules/alexarules/alexa/internal/apitest"
)

func TestEndpointsPagination(t *testing.T) {
	pages := map[string]string{
		"": `{"results":[
		   {"id":"amzn1.alexa.endpoint.1","friendlyName":{"type":"PLAIN","value":{"text":"Porch Light"}},
		    "manufacturer":{"value":{"text":"Acme"}},"model":{"value":{"text":"L1"}},"serialNumber":{"value":{"text":"S1"}},
		    "features":[{"name":"power","properties":[{"name":"powerState","type":"RETRIEVABLE","value":{"value":"OFF"}}]}]},
		   {"id":"amzn1.alexa.endpoint.2","friendlyName":{"value":{"text":"Kitchen Plug"}}}],
		  "paginationContext":{"nextToken":"tok+2/="}}`,
		"tok+2/=": `{"results":[{"id":"amzn1.alexa.endpoint.3","friendlyName":{"value":{"text":"Hall Thermostat"}},"unknown":true}],
		  "paginationContext":{}}`,
	}
	api, srv := newFakeAPI(t, func(n int, w http.ResponseWriter, r *http.Request) {
		body, ok := pages[r.URL.Query().Get("nextToken")]
		if !ok {
			apitest.WriteJSON(w, 400, `{"type":"INVALID_NEXT_TOKEN"}`)
			return
		}
		apitest.WriteJSON(w, 200, body)
	})
	c, _ := newClient(t, srv.URL, features.ClientOptions{})
	eps, err := c.Endpoints(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range eps {
		names = append(names, e.ID+"="+e.FriendlyName)
	}
	want := []string{"amzn1.alexa.endpoint.1=Porch Light", "amzn1.alexa.endpoint.2=Kitchen Plug", "amzn1.alexa.endpoint.3=Hall Thermostat"}
	if len(names) != len(want) {
		t.Fatalf("got %v", names)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Errorf("endpoint %d = %s, want %s", i, names[i], want[i])
		}
	}
	if e := eps[0]; e.Manufacturer != "Acme" || e.Model != "L1" || e.SerialNumber != "S1" {
		t.Errorf("details %+v", e)
	}
	if p, err := eps[0].Feature("power").Power(); err != nil || p != "OFF" {
		t.Errorf("embedded power = %q, %v", p, err)
	}
	if eps[1].Feature("power") != nil {
		t.Error("feature of an endpoint without features")
	}
	reqs := api.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests, want 2", len(reqs))
	}
	for i, r := range reqs {
		q, _ := url.ParseQuery(r.Query)
		if r.Method != "GET" || r.Path != "/v2/endpoints" || q.Get("owner") != "~caller" || q.Get("expand") != "all" {
			t.Errorf("request %d: %s %s?%s", i, r.Method, r.Path, r.Query)
		}
		if wantTok := []string{"", "tok+2/="}[i]; q.Get("nextToken") != wantTok || (wantTok == "" && q.Has("nextToken")) {
			t.Errorf("request %d nextToken %q, want %q", i, q.Get("nextToken"), wantTok)
		}
	}
}

func TestEndpointsErrors(t *testing.T) {
	tests := []struct{ name, body string }{
		{"not JSON", `oops`},
		{"no results", `{"paginationContext":{}}`},
		{"results not a list", `{"results":{}}`},
		{"endpoint without id", `{"results":[{"friendlyName":{"value":{"text":"x"}}}]}`},
		{"repeating token", `{"results":[],"paginationContext":{"nextToken":"same"}}`},
		{"null feature", `{"results":[{"id":"a","features":[null]}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := serveBody(t, tt.body).Endpoints(t.Context())
			var de *features.DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %v (%T), want *DecodeError", err, err)
			}
		})
	}
	t.Run("empty list", func(t *testing.T) {
		eps, err := serveBody(t, `{"results":[]}`).Endpoints(t.Context())
		if err != nil || len(eps) != 0 {
			t.Errorf("got %v, %v", eps, err)
		}
	})
	t.Run("API error", func(t *testing.T) {
		_, srv := newFakeAPI(t, func(n int, w http.ResponseWriter, r *http.Request) {
			apitest.WriteJSON(w, 403, `{"type":"ACCESS_DENIED"}`)
		})
		c, _ := newClient(t, srv.URL, features.ClientOptions{})
		_, err := c.Endpoints(t.Context())
		var ae *features.APIError
		if !errors.As(err, &ae) || ae.Status != 403 || ae.Type != "ACCESS_DENIED" || ae.Path != "/v2/endpoints" {
			t.Errorf("error %v", err)
		}
	})
}
