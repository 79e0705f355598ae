// Package apitest holds the test doubles the alexa packages' tests share:
// a Login with Amazon token endpoint, an in-memory token store, and an
// HTTP client that serves a handler without a network.
package apitest

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"

	"golang.org/x/oauth2"

	"github.com/alexarules/alexarules/alexa"
)

// LWA implements LWA's refresh-token grant on /auth/o2/token: every
// refresh issues "Atza|secret-N" and rotates the refresh token to
// "Atzr|secret-N"; a refresh token is valid once.
type LWA struct {
	mu    sync.Mutex
	forms []url.Values
	n     int
	valid map[string]bool
}

// NewLWA returns an LWA that accepts the refresh tokens valid.
func NewLWA(valid ...string) *LWA {
	l := &LWA{valid: map[string]bool{}}
	for _, v := range valid {
		l.valid[v] = true
	}
	return l
}

func (l *LWA) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/auth/o2/token" || r.Method != http.MethodPost {
		http.NotFound(w, r)
		return
	}
	r.ParseForm()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.forms = append(l.forms, r.PostForm)
	rt := r.PostForm.Get("refresh_token")
	if r.PostForm.Get("grant_type") != "refresh_token" {
		WriteJSON(w, 400, `{"error":"unsupported_grant_type"}`)
		return
	}
	if !l.valid[rt] {
		// Echo the token, as some servers do, to prove it is redacted.
		WriteJSON(w, 400, fmt.Sprintf(`{"error":"invalid_grant","error_description":"The request has an invalid grant parameter : refresh_token %s"}`, rt))
		return
	}
	l.n++
	delete(l.valid, rt)
	next := fmt.Sprintf("Atzr|secret-%d", l.n)
	l.valid[next] = true
	WriteJSON(w, 200, fmt.Sprintf(`{"access_token":"Atza|secret-%d","refresh_token":%q,"token_type":"bearer","expires_in":3600}`, l.n, next))
}

// Requests returns the forms of the token requests so far.
func (l *LWA) Requests() []url.Values {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]url.Values(nil), l.forms...)
}

// Config is an LWA configuration whose refresh token LWA accepts when
// made with NewLWA("Atzr|secret-0"), for a cloud base URL.
func Config(cloud string) alexa.Config {
	return alexa.Config{ClientID: "cid", ClientSecret: "csecret", RefreshToken: "Atzr|secret-0", Cloud: cloud}
}

// TokenStore is an in-memory auth.TokenStore that records every save;
// LoadErr and SaveErr, when set, fail those calls.
type TokenStore struct {
	mu      sync.Mutex
	Tok     *oauth2.Token
	saved   []*oauth2.Token
	LoadErr error
	SaveErr error
}

func (m *TokenStore) LoadToken() (*oauth2.Token, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.Tok, m.LoadErr
}

func (m *TokenStore) SaveToken(t *oauth2.Token) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.SaveErr != nil {
		return m.SaveErr
	}
	c := *t
	m.Tok = &c
	m.saved = append(m.saved, &c)
	return nil
}

// SavedRefreshTokens lists the refresh tokens saved, in order.
func (m *TokenStore) SavedRefreshTokens() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, t := range m.saved {
		out = append(out, t.RefreshToken)
	}
	return out
}

// WriteJSON answers with status and a JSON body.
func WriteJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

// InMemoryClient serves requests with h without a network, so that tests
// inside a synctest bubble see only fake time.
func InMemoryClient(h http.Handler) *http.Client {
	return &http.Client{Transport: handlerTransport{h}}
}

type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if err := r.Context().Err(); err != nil {
		return nil, err
	}
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}
