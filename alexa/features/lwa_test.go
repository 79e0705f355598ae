package features_test

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/alexarules/alexarules/alexa"
	"github.com/alexarules/alexarules/alexa/auth"
	"github.com/alexarules/alexarules/alexa/features"
	"github.com/alexarules/alexarules/alexa/internal/apitest"
)

// A token source whose refresh token is refused fails every call with
// ErrLoginRequired, and no API request is made without a token.
func TestClientWithDeadTokenSource(t *testing.T) {
	lwa := apitest.NewLWA() // nothing is valid
	srv := httptest.NewServer(lwa)
	defer srv.Close()
	ts, err := auth.NewTokenSource(t.Context(), apitest.Config(srv.URL), auth.TokenSourceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Through the client, the same error comes back and no API call is made.
	api, apiSrv := newFakeAPI(t, func(n int, w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) })
	c, _ := features.NewClient(apiSrv.URL, ts, features.ClientOptions{})
	if err := c.TurnOn(t.Context(), endpointID); !errors.Is(err, auth.ErrLoginRequired) {
		t.Errorf("client error %v", err)
	}
	if len(api.requests()) != 0 {
		t.Error("API called without a token")
	}
}

// TestClientWithTokenSource runs the 401 path end to end: the API rejects
// the first access token, the client refreshes once and retries; the
// rotated refresh token is persisted and no token reaches the logs.
func TestClientWithTokenSource(t *testing.T) {
	lwa := apitest.NewLWA("Atzr|secret-0")
	mux := http.NewServeMux()
	mux.Handle("/auth/o2/token", lwa)
	var mu sync.Mutex
	var seen []string
	mux.HandleFunc("/v2/", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Authorization"))
		mu.Unlock()
		if r.Header.Get("Authorization") == "Bearer Atza|secret-1" {
			apitest.WriteJSON(w, 401, `{"type":"INVALID_ACCESS_TOKEN"}`)
			return
		}
		apitest.WriteJSON(w, 200, powerBody)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	store := &apitest.TokenStore{}
	cfg := apitest.Config(srv.URL)
	ts, err := auth.NewTokenSource(t.Context(), cfg, auth.TokenSourceOptions{Store: store, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	hosts, _ := alexa.HostsFor(cfg.Region, cfg.Cloud)
	c, err := features.NewClient(hosts.API, ts, features.ClientOptions{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	if p, err := c.Power(t.Context(), endpointID); err != nil || p != "ON" {
		t.Fatalf("Power = %q, %v", p, err)
	}
	if strings.Join(seen, ",") != "Bearer Atza|secret-1,Bearer Atza|secret-2" {
		t.Errorf("API saw %v", seen)
	}
	if n := len(lwa.Requests()); n != 2 {
		t.Errorf("%d token requests, want 2", n)
	}
	if got := store.SavedRefreshTokens(); len(got) != 2 || got[1] != "Atzr|secret-2" {
		t.Errorf("saved %v", got)
	}
	if logs.Len() == 0 {
		t.Fatal("nothing logged at debug: the check below would prove nothing")
	}
	if strings.Contains(logs.String(), "secret") {
		t.Errorf("a token reached the logs:\n%s", logs.String())
	}
}

func TestNewFromConfigAgainstOneCloud(t *testing.T) {
	lwa := apitest.NewLWA("sim-refresh-token")
	mux := http.NewServeMux()
	mux.Handle("/auth/o2/token", lwa)
	mux.HandleFunc("/v2/", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer Atza|secret-1" {
			apitest.WriteJSON(w, 401, `{"type":"INVALID_ACCESS_TOKEN"}`)
			return
		}
		apitest.WriteJSON(w, 200, temperatureBody)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	store := &apitest.TokenStore{}
	c, ts, err := features.NewFromConfig(t.Context(), alexa.Config{Cloud: srv.URL, Scale: "fahrenheit"}, store, features.ClientOptions{})
	if err != nil || ts == nil {
		t.Fatal(err)
	}
	if c.Scale() != alexa.Fahrenheit {
		t.Errorf("scale %q", c.Scale())
	}
	if v, err := c.Get(t.Context(), endpointID, "temperature"); err != nil || v != 68.0 {
		t.Errorf("Get = %v, %v", v, err)
	}
	if len(store.SavedRefreshTokens()) != 1 {
		t.Errorf("saved %v", store.SavedRefreshTokens())
	}
}
