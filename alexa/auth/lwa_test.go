package auth_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/alexarules/alexarules/alexa"
	"github.com/alexarules/alexarules/alexa/auth"
	"github.com/alexarules/alexarules/alexa/internal/apitest"
	"golang.org/x/oauth2"
)

func TestTokenSourcePersistsRotatedTokens(t *testing.T) {
	lwa := apitest.NewLWA("Atzr|secret-0")
	srv := httptest.NewServer(lwa)
	defer srv.Close()
	store := &apitest.TokenStore{}
	ts, err := auth.NewTokenSource(t.Context(), apitest.Config(srv.URL), auth.TokenSourceOptions{Store: store})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := ts.Token()
	if err != nil || tok.AccessToken != "Atza|secret-1" {
		t.Fatalf("Token = %v, %v", tok, err)
	}
	if tok, _ = ts.Token(); tok.AccessToken != "Atza|secret-1" {
		t.Errorf("valid token not reused: %v", tok.AccessToken)
	}
	ts.Invalidate("some older token") // not current: no refresh
	if tok, _ = ts.Token(); tok.AccessToken != "Atza|secret-1" {
		t.Errorf("Invalidate of a stale token refreshed")
	}
	ts.Invalidate("Atza|secret-1")
	if tok, err = ts.Token(); err != nil || tok.AccessToken != "Atza|secret-2" {
		t.Fatalf("after Invalidate: %v, %v", tok, err)
	}
	if got, want := store.SavedRefreshTokens(), []string{"Atzr|secret-1", "Atzr|secret-2"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("saved %v, want %v (one save per refresh)", got, want)
	}
	forms := lwa.Requests()
	if len(forms) != 2 {
		t.Fatalf("%d token requests, want 2", len(forms))
	}
	for i, wantRT := range []string{"Atzr|secret-0", "Atzr|secret-1"} {
		f := forms[i]
		if f.Get("grant_type") != "refresh_token" || f.Get("refresh_token") != wantRT ||
			f.Get("client_id") != "cid" || f.Get("client_secret") != "csecret" {
			t.Errorf("token request %d: %v", i, f)
		}
	}
}

func TestTokenSourceStartsFromStore(t *testing.T) {
	lwa := apitest.NewLWA("Atzr|stored")
	srv := httptest.NewServer(lwa)
	defer srv.Close()
	store := &apitest.TokenStore{Tok: &oauth2.Token{RefreshToken: "Atzr|stored"}}
	ts, err := auth.NewTokenSource(t.Context(), apitest.Config(srv.URL), auth.TokenSourceOptions{Store: store})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Token(); err != nil {
		t.Fatal(err)
	}
	if f := lwa.Requests()[0]; f.Get("refresh_token") != "Atzr|stored" {
		t.Errorf("used %q, want the stored token", f.Get("refresh_token"))
	}
}

func TestTokenSourceFallsBackToConfiguredToken(t *testing.T) {
	lwa := apitest.NewLWA("Atzr|secret-0") // the stored one was revoked
	srv := httptest.NewServer(lwa)
	defer srv.Close()
	store := &apitest.TokenStore{Tok: &oauth2.Token{RefreshToken: "Atzr|revoked"}}
	ts, err := auth.NewTokenSource(t.Context(), apitest.Config(srv.URL), auth.TokenSourceOptions{Store: store})
	if err != nil {
		t.Fatal(err)
	}
	if tok, err := ts.Token(); err != nil || tok.AccessToken != "Atza|secret-1" {
		t.Fatalf("Token = %v, %v", tok, err)
	}
	if got := store.SavedRefreshTokens(); len(got) != 1 || got[0] != "Atzr|secret-1" {
		t.Errorf("saved %v", got)
	}
}

func TestTokenSourceInvalidGrant(t *testing.T) {
	lwa := apitest.NewLWA() // nothing is valid
	srv := httptest.NewServer(lwa)
	defer srv.Close()
	var logs bytes.Buffer
	ts, err := auth.NewTokenSource(t.Context(), apitest.Config(srv.URL), auth.TokenSourceOptions{
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	_, err = ts.Token()
	if !errors.Is(err, auth.ErrLoginRequired) {
		t.Fatalf("error %v, want ErrLoginRequired", err)
	}
	var ae *auth.AuthError
	if !errors.As(err, &ae) || ae.Code != "invalid_grant" || ae.Status != 400 {
		t.Errorf("error %#v", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "run `alexarules login` again") {
		t.Errorf("message %q does not say to log in again", msg)
	}
	if strings.Contains(msg, "secret") || strings.Contains(logs.String(), "secret") {
		t.Errorf("token leaked: %q / %q", msg, logs.String())
	}
}

func TestTokenSourceNeedsARefreshToken(t *testing.T) {
	_, err := auth.NewTokenSource(t.Context(), alexa.Config{ClientID: "cid"}, auth.TokenSourceOptions{Store: &apitest.TokenStore{}})
	if !errors.Is(err, auth.ErrLoginRequired) {
		t.Errorf("error %v", err)
	}
	_, err = auth.NewTokenSource(t.Context(), apitest.Config(""), auth.TokenSourceOptions{Store: &apitest.TokenStore{LoadErr: errors.New("disk on fire")}})
	if err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("load error %v", err)
	}
}

func TestTokenSourceSimCredentials(t *testing.T) {
	lwa := apitest.NewLWA("sim-refresh-token")
	srv := httptest.NewServer(lwa)
	defer srv.Close()
	ts, err := auth.NewTokenSource(t.Context(), alexa.Config{Cloud: srv.URL}, auth.TokenSourceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Token(); err != nil {
		t.Fatal(err)
	}
	f := lwa.Requests()[0]
	if f.Get("client_id") != "sim-client" || f.Get("refresh_token") != "sim-refresh-token" || f.Has("client_secret") {
		t.Errorf("token request %v", f)
	}
}

func TestTokenSourceSaveFailureStillServes(t *testing.T) {
	lwa := apitest.NewLWA("Atzr|secret-0")
	srv := httptest.NewServer(lwa)
	defer srv.Close()
	var logs bytes.Buffer
	ts, err := auth.NewTokenSource(t.Context(), apitest.Config(srv.URL), auth.TokenSourceOptions{
		Store:  &apitest.TokenStore{SaveErr: errors.New("read-only")},
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Token(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "read-only") {
		t.Errorf("save failure not logged: %q", logs.String())
	}
}

func TestLoginDevice(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		polls := 0
		lwa := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r.ParseForm()
			f := r.PostForm
			switch r.URL.Path {
			case "/auth/o2/create/codepair":
				if f.Get("response_type") != "device_code" || f.Get("client_id") != "cid" || f.Get("scope") != "alexa::enterprise:management" {
					apitest.WriteJSON(w, 400, `{"error":"invalid_request"}`)
					return
				}
				apitest.WriteJSON(w, 200, `{"device_code":"dev-1","user_code":"ABC123","verification_uri":"https://amazon.com/us/code","expires_in":600,"interval":5}`)
			case "/auth/o2/token":
				if f.Get("grant_type") != "device_code" {
					apitest.WriteJSON(w, 400, `{"error":"unsupported_grant_type"}`)
					return
				}
				if f.Get("device_code") != "dev-1" || f.Get("user_code") != "ABC123" {
					apitest.WriteJSON(w, 400, `{"error":"invalid_request"}`)
					return
				}
				mu.Lock()
				polls++
				n := polls
				mu.Unlock()
				if n == 1 {
					apitest.WriteJSON(w, 400, `{"error":"authorization_pending"}`)
					return
				}
				apitest.WriteJSON(w, 200, `{"access_token":"Atza|x","refresh_token":"Atzr|device","token_type":"bearer","expires_in":3600}`)
			default:
				http.NotFound(w, r)
			}
		})
		ctx := context.WithValue(t.Context(), oauth2.HTTPClient, apitest.InMemoryClient(lwa))
		var out bytes.Buffer
		tok, err := auth.LoginDevice(ctx, alexa.Config{ClientID: "cid", Cloud: "http://lwa.test"}, &out)
		if err != nil {
			t.Fatal(err)
		}
		if tok.RefreshToken != "Atzr|device" || polls != 2 {
			t.Errorf("token %q after %d polls", tok.RefreshToken, polls)
		}
		if !strings.Contains(out.String(), "https://amazon.com/us/code") || !strings.Contains(out.String(), "ABC123") {
			t.Errorf("instructions %q", out.String())
		}
	})
}

func TestLoginDeviceDenied(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lwa := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/auth/o2/create/codepair" {
				apitest.WriteJSON(w, 200, `{"device_code":"d","user_code":"U","verification_uri":"https://amazon.com/us/code","expires_in":600,"interval":5}`)
				return
			}
			apitest.WriteJSON(w, 400, `{"error":"access_denied","error_description":"user said no"}`)
		})
		ctx := context.WithValue(t.Context(), oauth2.HTTPClient, apitest.InMemoryClient(lwa))
		_, err := auth.LoginDevice(ctx, alexa.Config{ClientID: "cid", Cloud: "http://lwa.test"}, &bytes.Buffer{})
		var ae *auth.AuthError
		if !errors.As(err, &ae) || ae.Code != "access_denied" {
			t.Errorf("error %v", err)
		}
	})
}

// authCodeLWA is a fake LWA token endpoint for the authorization-code
// grant that checks the PKCE verifier against the challenge of the login URL.
type authCodeLWA struct {
	mu        sync.Mutex
	challenge string
	redirect  string
}

func (l *authCodeLWA) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	f := r.PostForm
	l.mu.Lock()
	defer l.mu.Unlock()
	sum := sha256.Sum256([]byte(f.Get("code_verifier")))
	switch {
	case f.Get("grant_type") != "authorization_code" || f.Get("code") != "the-code":
		apitest.WriteJSON(w, 400, `{"error":"invalid_grant"}`)
	case base64.RawURLEncoding.EncodeToString(sum[:]) != l.challenge:
		apitest.WriteJSON(w, 400, `{"error":"invalid_grant","error_description":"code_verifier"}`)
	case f.Get("redirect_uri") != l.redirect || f.Get("client_id") != "cid" || f.Get("client_secret") != "csecret":
		apitest.WriteJSON(w, 400, `{"error":"invalid_request"}`)
	default:
		apitest.WriteJSON(w, 200, `{"access_token":"Atza|a","refresh_token":"Atzr|code","token_type":"bearer","expires_in":3600}`)
	}
}

func TestLoginAuthCode(t *testing.T) {
	tests := []struct {
		name     string
		callback func(q url.Values) url.Values // the redirect's query, from the login URL's
		wantErr  string
	}{
		{"success", func(q url.Values) url.Values {
			return url.Values{"code": {"the-code"}, "state": {q.Get("state")}}
		}, ""},
		{"state mismatch", func(q url.Values) url.Values {
			return url.Values{"code": {"the-code"}, "state": {"forged"}}
		}, "state mismatch"},
		{"denied", func(q url.Values) url.Values {
			return url.Values{"error": {"access_denied"}, "state": {q.Get("state")}}
		}, "access_denied"},
		{"no code", func(q url.Values) url.Values {
			return url.Values{"state": {q.Get("state")}}
		}, "no code"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lwa := &authCodeLWA{}
			srv := httptest.NewServer(lwa)
			defer srv.Close()
			cfg := alexa.Config{ClientID: "cid", ClientSecret: "csecret", Cloud: srv.URL, RedirectAddr: "127.0.0.1:0"}
			browser := make(chan error, 1)
			open := func(u string) {
				pu, err := url.Parse(u)
				if err != nil {
					browser <- err
					return
				}
				q := pu.Query()
				if pu.Path != "/ap/oa" || q.Get("response_type") != "code" || q.Get("client_id") != "cid" ||
					q.Get("code_challenge_method") != "S256" || q.Get("state") == "" || q.Get("scope") != "alexa::enterprise:management" {
					browser <- fmt.Errorf("login URL %s", u)
					return
				}
				lwa.mu.Lock()
				lwa.challenge, lwa.redirect = q.Get("code_challenge"), q.Get("redirect_uri")
				lwa.mu.Unlock()
				go func() {
					resp, err := http.Get(q.Get("redirect_uri") + "?" + tt.callback(q).Encode())
					if err == nil {
						resp.Body.Close()
					}
					browser <- err
				}()
			}
			var out bytes.Buffer
			tok, err := auth.LoginAuthCode(t.Context(), cfg, open, &out)
			if berr := <-browser; berr != nil {
				t.Fatal(berr)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tok.RefreshToken != "Atzr|code" {
				t.Errorf("token %+v", tok)
			}
			if !strings.Contains(out.String(), srv.URL+"/ap/oa?") {
				t.Errorf("login URL not printed: %q", out.String())
			}
		})
	}
}

func TestLoginAuthCodeNeedsLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", "example.com:8479", "nonsense"} {
		cfg := alexa.Config{ClientID: "cid", RedirectAddr: addr}
		if _, err := auth.LoginAuthCode(t.Context(), cfg, nil, &bytes.Buffer{}); err == nil {
			t.Errorf("%s: want an error", addr)
		}
	}
}
