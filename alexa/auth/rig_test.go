package auth_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexarules/alexarules/alexa"
	"github.com/alexarules/alexarules/alexa/auth"
	"github.com/alexarules/alexarules/alexa/auth/signin/signintest"
	"github.com/alexarules/alexarules/alexa/sim"
	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/engine/enginetest"
)

var epoch = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)

// rig is the simulator (Amazon's side) on a virtual clock, reached by
// --cloud hosts, with an App pointed at it that logs at debug level.
// Every secret the tests come across is tracked; at the end no log line
// may hold one.
type rig struct {
	clock *engine.Virtual
	srv   *sim.Server
	ts    *httptest.Server
	hosts alexa.Hosts
	app   *auth.App
	logs  *enginetest.LogBuffer

	mu      sync.Mutex
	hook    func(*http.Request) // sees every request before the simulator
	secrets []string
	stores  []*memStore
}

func newRig(t *testing.T, o auth.AppOptions) *rig {
	t.Helper()
	r := &rig{clock: engine.NewVirtual(epoch), logs: &enginetest.LogBuffer{}}
	r.srv = sim.New(sim.DemoHousehold(), sim.Options{Now: r.clock.Now})
	r.ts = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		hook := r.hook
		r.mu.Unlock()
		if hook != nil {
			hook(req)
		}
		r.srv.Handler().ServeHTTP(w, req)
	}))
	t.Cleanup(r.ts.Close)
	var err error
	if r.hosts, err = alexa.HostsFor("", r.ts.URL); err != nil {
		t.Fatal(err)
	}
	o.Clock = r.clock
	o.Logger = r.logs.Logger(slog.LevelDebug)
	if r.app, err = auth.NewApp(r.hosts, o); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.assertNoSecrets(t, r.logs.String(), "the log") })
	return r
}

func (r *rig) setHook(h func(*http.Request)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hook = h
}

// track remembers secrets for the log scan.
func (r *rig) track(secrets ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range secrets {
		if len(s) >= 6 {
			r.secrets = append(r.secrets, s)
		}
	}
}

func (r *rig) trackSession(s *auth.Session) {
	r.track(s.AccessToken, s.RefreshToken, s.ADPToken, s.DevicePrivateKey, s.Device.FRC)
	for _, c := range append(append([]auth.Cookie(nil), s.LoginCookies...), s.WebCookies...) {
		r.track(c.Value)
	}
}

// store returns a SessionStore whose saved sessions are scanned too.
func (r *rig) store() *memStore {
	st := &memStore{}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stores = append(r.stores, st)
	return st
}

// assertNoSecrets fails when text holds any tracked or saved secret, or
// a token's prefix.
func (r *rig) assertNoSecrets(t *testing.T, text, where string) {
	t.Helper()
	r.mu.Lock()
	stores := append([]*memStore(nil), r.stores...)
	r.mu.Unlock()
	for _, st := range stores {
		for _, s := range st.all() {
			r.trackSession(s)
		}
	}
	r.mu.Lock()
	secrets := append([]string(nil), r.secrets...)
	r.mu.Unlock()
	for _, s := range secrets {
		if strings.Contains(text, s) {
			t.Errorf("%s holds the secret %.6s…", where, s)
		}
	}
	for _, prefix := range []string{"Atna|", "Atnr|", "Atza|"} {
		if strings.Contains(text, prefix) {
			t.Errorf("%s holds a %s token", where, prefix)
		}
	}
}

// signIn is a scripted browser through the sign-in pages
// (signintest), with the device's cookies in its jar. It returns the code
// and the cookies the pages set.
func (r *rig) signIn(t *testing.T, d auth.Device, p auth.PKCE) (string, []*http.Cookie) {
	t.Helper()
	c := signintest.Client()
	u, err := url.Parse(r.ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	c.Jar.SetCookies(u, d.Cookies())
	code, cookies, err := signintest.Code(c, auth.SignInURL(r.hosts, d, p), "sim@example.com", "sim-password")
	if err != nil {
		t.Fatal(err)
	}
	r.track(code, p.Verifier)
	for _, c := range cookies {
		r.track(c.Value)
	}
	return code, cookies
}

// registerDevice signs d in and registers it.
func (r *rig) registerDevice(t *testing.T, d auth.Device) *auth.Session {
	t.Helper()
	p, _ := auth.NewPKCE()
	code, cookies := r.signIn(t, d, p)
	s, err := r.app.Register(context.Background(), d, p, code, cookies)
	if err != nil {
		t.Fatal(err)
	}
	r.trackSession(s)
	return s
}

// register signs a new device in and registers it.
func (r *rig) register(t *testing.T) *auth.Session {
	t.Helper()
	d, _ := auth.NewDevice()
	return r.registerDevice(t, d)
}

// control calls the simulator's control API.
func (r *rig) control(t *testing.T, method, path, body string) []byte {
	t.Helper()
	req, _ := http.NewRequest(method, r.ts.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	return b
}

// requests are the API requests the simulator received, "METHOD /path".
func (r *rig) requests() []string {
	var out []string
	for _, q := range r.srv.Requests() {
		out = append(out, q.Method+" "+q.Path)
	}
	return out
}

func (r *rig) count(request string) int {
	n := 0
	for _, q := range r.requests() {
		if q == request {
			n++
		}
	}
	return n
}

// registrations are the device serials the simulator has registered.
func (r *rig) registrations(t *testing.T) []string {
	var got struct {
		Registrations []struct {
			Serial string `json:"device_serial"`
		} `json:"registrations"`
	}
	if err := json.Unmarshal(r.control(t, http.MethodGet, "/_sim/auth", ""), &got); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, g := range got.Registrations {
		out = append(out, g.Serial)
	}
	return out
}

// assertRegisteredOnce checks the simulator's request log: refreshes
// never call /auth/register.
func (r *rig) assertRegisteredOnce(t *testing.T) {
	t.Helper()
	if n := r.count("POST /auth/register"); n != 1 {
		t.Errorf("%d registrations, want exactly 1: a refresh must never re-register", n)
	}
}

// running starts k.Run and waits until it has armed its timer; the
// returned stop ends it and checks that it returned nil.
func (r *rig) running(t *testing.T, k *auth.Keeper) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- k.Run(ctx) }()
	r.armed(t)
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
	}
}

// armed waits until one clock timer is pending (Run waits on it).
func (r *rig) armed(t *testing.T) { enginetest.WaitPending(t, r.clock, 1) }

// memStore is a SessionStore in memory that keeps every save, as JSON
// round trips.
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

func (m *memStore) setErr(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.err = err
}

func (m *memStore) last() *auth.Session {
	s, _ := m.LoadSession()
	return s
}

func (m *memStore) all() []*auth.Session {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]*auth.Session(nil), m.saved...)
}

func (m *memStore) saves() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.saved)
}
