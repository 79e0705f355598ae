package auth_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexarules/alexarules/alexa"
	"github.com/alexarules/alexarules/alexa/auth"
	"github.com/alexarules/alexarules/engine"
)

// fakeAmazon is Amazon's side of the app registration as CONTRACT.md
// describes it (the simulator's wire contract), on one base URL, with
// switches for the faults the tests need. Every value it issues is
// recorded in secrets, so tests can look for them in logs and errors.
type fakeAmazon struct {
	t     *testing.T
	srv   *httptest.Server
	clock *engine.Virtual

	mu          sync.Mutex
	log         []string // "METHOD /path"
	codes       map[string]*fakeCode
	refresh     map[string]string    // refresh token → device serial ("" once deregistered)
	access      map[string]time.Time // access token → expiry
	cookies     map[string]time.Time // at-* value → expiry
	secrets     []string
	seq         int
	accessTTL   time.Duration
	cookieTTL   time.Duration
	marketplace string // users/me answer; "" answers 401 with an empty body
	homeRegion  string
	csrfFrom    string
	fail        map[string]int        // "METHOD /path" → answer the next N with 503
	hook        func(r *http.Request) // sees every request first
	key         string
}

type fakeCode struct {
	clientID, challenge string
	used                bool
	expires             time.Time
}

func newFakeAmazon(t *testing.T, clock *engine.Virtual) *fakeAmazon {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeAmazon{t: t, clock: clock, codes: map[string]*fakeCode{}, refresh: map[string]string{},
		access: map[string]time.Time{}, cookies: map[string]time.Time{}, fail: map[string]int{},
		accessTTL: time.Hour, cookieTTL: 14 * 24 * time.Hour, marketplace: "www.amazon.com", homeRegion: "NA",
		csrfFrom: "/api/language", key: base64.StdEncoding.EncodeToString(der)}
	f.secrets = append(f.secrets, f.key)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /auth/register", f.handleRegister)
	mux.HandleFunc("POST /auth/token", f.handleToken)
	mux.HandleFunc("POST /ap/exchangetoken/cookies", f.handleExchange)
	mux.HandleFunc("PUT /v1/devices/@self/capabilities", f.handleCapabilities)
	mux.HandleFunc("GET /api/users/me", f.handleUsersMe)
	mux.HandleFunc("GET /api/customer-status", f.handleCustomerStatus)
	mux.HandleFunc("GET /", f.handleCSRF)
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Method + " " + r.URL.Path
		f.mu.Lock()
		f.log = append(f.log, key)
		failing := f.fail[key] > 0
		if failing {
			f.fail[key]--
		}
		hook := f.hook
		f.mu.Unlock()
		if hook != nil {
			hook(r)
		}
		if failing {
			http.Error(w, "<html>Service Unavailable</html>", http.StatusServiceUnavailable)
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// hosts are alexa.HostsFor("US", f's URL): every host the fake.
func (f *fakeAmazon) hosts() alexa.Hosts {
	h, err := alexa.HostsFor("US", f.srv.URL)
	if err != nil {
		f.t.Fatal(err)
	}
	return h
}

// signIn is what the sign-in pages do: issue a code bound to the
// device's client id and the PKCE challenge.
func (f *fakeAmazon) signIn(d auth.Device, p auth.PKCE) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	code := f.mintLocked("AN")
	f.codes[code] = &fakeCode{clientID: d.ID(), challenge: p.Challenge, expires: f.clock.Now().Add(5 * time.Minute)}
	return code
}

func (f *fakeAmazon) mintLocked(prefix string) string {
	f.seq++
	v := fmt.Sprintf("%ssecret%04d%s", prefix, f.seq, strings.Repeat("x", 8))
	f.secrets = append(f.secrets, v)
	return v
}

func (f *fakeAmazon) requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.log...)
}

func (f *fakeAmazon) count(key string) int {
	n := 0
	for _, r := range f.requests() {
		if r == key {
			n++
		}
	}
	return n
}

func (f *fakeAmazon) allSecrets() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.secrets...)
}

func identityError(w http.ResponseWriter, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	json.NewEncoder(w).Encode(map[string]any{"response": map[string]any{"error": map[string]string{"code": code, "message": msg}}})
}

func oauthError(w http.ResponseWriter, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": msg})
}

func (f *fakeAmazon) handleRegister(w http.ResponseWriter, r *http.Request) {
	var body struct {
		AuthData         map[string]string `json:"auth_data"`
		RegistrationData map[string]string `json:"registration_data"`
		Cookies          struct {
			Domain string `json:"domain"`
		} `json:"cookies"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		identityError(w, "InvalidValue", "body is not JSON")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	a := body.AuthData
	c := f.codes[a["authorization_code"]]
	sum := sha256.Sum256([]byte(a["code_verifier"]))
	switch {
	case c == nil || c.used || !f.clock.Now().Before(c.expires):
		identityError(w, "InvalidValue", "The authorization code is invalid, used or expired.")
		return
	case strings.TrimPrefix(a["client_id"], "device:") != c.clientID:
		identityError(w, "InvalidValue", "client_id does not match the sign-in.")
		return
	case base64.RawURLEncoding.EncodeToString(sum[:]) != c.challenge || a["code_algorithm"] != "SHA-256":
		identityError(w, "InvalidValue", "The code verifier does not match the challenge.")
		return
	}
	c.used = true
	serial := body.RegistrationData["device_serial"]
	refresh, access := f.mintLocked("Atnr|"), f.mintLocked("Atna|")
	f.refresh[refresh] = serial
	f.access[access] = f.clock.Now().Add(f.accessTTL)
	writeJSON(w, map[string]any{"response": map[string]any{"success": map[string]any{
		"extensions": map[string]any{
			"device_info":   map[string]string{"device_name": "Sim's alexarules", "device_serial_number": serial, "device_type": auth.DeviceType},
			"customer_info": map[string]string{"user_id": "amzn1.account.SIM", "home_region": f.homeRegion, "name": "Sim User", "given_name": "Sim"},
		},
		"tokens": map[string]any{
			"bearer":          map[string]string{"access_token": access, "refresh_token": refresh, "expires_in": fmt.Sprint(int(f.accessTTL.Seconds()))},
			"mac_dms":         map[string]string{"adp_token": f.mintLocked("{enc:"), "device_private_key": f.key},
			"website_cookies": f.cookieSetLocked(body.Cookies.Domain, "main"),
		},
	}}})
}

// cookieSetLocked mints the cookies of a session for domain.
func (f *fakeAmazon) cookieSetLocked(domain, suffix string) []map[string]string {
	at := f.mintLocked("Atza|")
	f.cookies[at] = f.clock.Now().Add(f.cookieTTL)
	var out []map[string]string
	for _, kv := range [][2]string{{"session-id", f.mintLocked("")}, {"ubid-" + suffix, f.mintLocked("")},
		{"session-token", `"` + f.mintLocked("") + `"`}, {"at-" + suffix, at}, {"x-" + suffix, f.mintLocked("")}} {
		out = append(out, map[string]string{"Name": kv[0], "Value": kv[1], "Path": "/", "Domain": domain,
			"Expires": "6 Dec 2045 11:42:16 GMT", "Secure": "true", "HttpOnly": "false"})
	}
	return out
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	json.NewEncoder(w).Encode(v)
}

func (f *fakeAmazon) refreshOK(w http.ResponseWriter, r *http.Request) bool {
	if r.PostFormValue("source_token_type") == "" || r.PostFormValue("requested_token_type") == "" {
		oauthError(w, "invalid_request", "source_token_type and requested_token_type are required")
		return false
	}
	f.mu.Lock()
	serial := f.refresh[r.PostFormValue("source_token")]
	f.mu.Unlock()
	if serial == "" {
		oauthError(w, "invalid_grant", "The request has an invalid parameter : source_token")
		return false
	}
	return true
}

func (f *fakeAmazon) handleToken(w http.ResponseWriter, r *http.Request) {
	if !f.refreshOK(w, r) {
		return
	}
	if r.PostFormValue("requested_token_type") != "access_token" {
		oauthError(w, "invalid_request", "requested_token_type")
		return
	}
	f.mu.Lock()
	access := f.mintLocked("Atna|")
	f.access[access] = f.clock.Now().Add(f.accessTTL)
	ttl := int(f.accessTTL.Seconds())
	f.mu.Unlock()
	writeJSON(w, map[string]any{"access_token": access, "token_type": "bearer", "expires_in": ttl})
}

func (f *fakeAmazon) handleExchange(w http.ResponseWriter, r *http.Request) {
	if !f.refreshOK(w, r) {
		return
	}
	domain := "." + strings.TrimPrefix(strings.TrimPrefix(r.PostFormValue("domain"), "."), "www.")
	suffix := "main"
	if domain != ".amazon.com" {
		suffix = "acb" + domain[strings.LastIndex(domain, ".")+1:]
	}
	f.mu.Lock()
	set := f.cookieSetLocked(domain, suffix)
	f.mu.Unlock()
	writeJSON(w, map[string]any{"response": map[string]any{"tokens": map[string]any{"cookies": map[string]any{domain: set}}}})
}

func (f *fakeAmazon) handleCapabilities(w http.ResponseWriter, r *http.Request) {
	token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	var body struct {
		EnvelopeVersion string `json:"envelopeVersion"`
	}
	f.mu.Lock()
	exp, ok := f.access[token]
	f.mu.Unlock()
	if !ok || !f.clock.Now().Before(exp) {
		w.WriteHeader(http.StatusForbidden)
		return
	}
	if json.NewDecoder(r.Body).Decode(&body) != nil || body.EnvelopeVersion != "20160207" {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// webSession reports whether r carries an at-* cookie the fake issued
// and that has not expired.
func (f *fakeAmazon) webSession(r *http.Request) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range r.Cookies() {
		if strings.HasPrefix(c.Name, "at-") {
			exp, ok := f.cookies[c.Value]
			return ok && f.clock.Now().Before(exp)
		}
	}
	return false
}

func refuseWeb(w http.ResponseWriter) {
	w.Header().Set("loginUrl", "https://www.amazon.com/ap/signin")
	w.WriteHeader(http.StatusUnauthorized)
}

func (f *fakeAmazon) handleUsersMe(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	mkt := f.marketplace
	f.mu.Unlock()
	if !f.webSession(r) || mkt == "" {
		refuseWeb(w)
		return
	}
	writeJSON(w, map[string]string{"marketPlaceDomainName": mkt, "fullName": "Sim User"})
}

func (f *fakeAmazon) handleCustomerStatus(w http.ResponseWriter, r *http.Request) {
	csrf, err := r.Cookie("csrf")
	if !f.webSession(r) || err != nil || r.Header.Get("csrf") != csrf.Value {
		refuseWeb(w)
		return
	}
	writeJSON(w, map[string]bool{"ok": true})
}

func (f *fakeAmazon) handleCSRF(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	from := f.csrfFrom
	f.mu.Unlock()
	if !f.webSession(r) {
		refuseWeb(w)
		return
	}
	if r.URL.Path == from {
		f.mu.Lock()
		f.seq++
		v := fmt.Sprint(-740916675 + f.seq)
		f.mu.Unlock()
		http.SetCookie(w, &http.Cookie{Name: "csrf", Value: v, Path: "/"})
	}
	if r.URL.Path == "/api/strings" {
		http.NotFound(w, r)
		return
	}
	w.Write([]byte("{}"))
}

// expireAccess and expireCookies end every token or cookie issued so far.
func (f *fakeAmazon) expireAccess() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for k := range f.access {
		f.access[k] = f.clock.Now()
	}
}

func (f *fakeAmazon) expireCookies() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for k := range f.cookies {
		f.cookies[k] = f.clock.Now()
	}
}

// deregister kills every refresh token.
func (f *fakeAmazon) deregister() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for k := range f.refresh {
		f.refresh[k] = ""
	}
}

func (f *fakeAmazon) set(change func(f *fakeAmazon)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	change(f)
}

// memStore is a SessionStore in memory that records every save.
type memStore struct {
	mu    sync.Mutex
	saved []*auth.Session
	err   error
}

func (m *memStore) LoadSession() (*auth.Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.saved) == 0 {
		return nil, nil
	}
	return m.saved[len(m.saved)-1].Clone(), nil
}

func (m *memStore) SaveSession(s *auth.Session) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return m.err
	}
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	var c auth.Session
	if err := json.Unmarshal(b, &c); err != nil {
		return err
	}
	m.saved = append(m.saved, &c)
	return nil
}

func (m *memStore) last() *auth.Session {
	s, _ := m.LoadSession()
	return s
}

func (m *memStore) saves() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.saved)
}
