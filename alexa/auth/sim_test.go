package auth_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/alexarules/alexarules/alexa"
	"github.com/alexarules/alexarules/alexa/auth"
	"github.com/alexarules/alexarules/alexa/internal/request"
	"github.com/alexarules/alexarules/alexa/sim"
	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/engine/enginetest"
)

// simRig is the simulator on a virtual clock with an App pointed at it
// by --cloud hosts.
type simRig struct {
	t     *testing.T
	clock *engine.Virtual
	srv   *sim.Server
	ts    *httptest.Server
	hosts alexa.Hosts
	app   *auth.App
	logs  *logBuffer
}

func newSimRig(t *testing.T) *simRig {
	t.Helper()
	r := &simRig{t: t, clock: engine.NewVirtual(epoch), logs: &logBuffer{}}
	r.srv = sim.New(sim.DemoHousehold(), sim.Options{Now: r.clock.Now})
	r.ts = httptest.NewServer(r.srv.Handler())
	t.Cleanup(r.ts.Close)
	h, err := alexa.HostsFor("", r.ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	r.hosts = h
	logger := slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if r.app, err = auth.NewApp(h, auth.AppOptions{Clock: r.clock, Logger: logger}); err != nil {
		t.Fatal(err)
	}
	return r
}

var hiddenInput = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// signIn is a plain HTTP client through the sim's sign-in pages: GET the
// form with the device's cookies, POST it back with the account's
// password, catch the maplanding redirect. It returns the code and the
// cookies the pages set.
func (r *simRig) signIn(d auth.Device, p auth.PKCE) (string, []*http.Cookie) {
	r.t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	send := func(req *http.Request) (*http.Response, string) {
		for _, c := range d.Cookies() {
			req.AddCookie(c)
		}
		resp, err := client.Do(req)
		if err != nil {
			r.t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	req, _ := http.NewRequest(http.MethodGet, auth.SignInURL(r.hosts, d, p), nil)
	resp, body := send(req)
	if resp.StatusCode != http.StatusOK {
		r.t.Fatalf("GET /ap/signin: %d", resp.StatusCode)
	}
	form := url.Values{"email": {"sim@example.com"}, "password": {"sim-password"}}
	for _, m := range hiddenInput.FindAllStringSubmatch(body, -1) {
		form.Set(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	req, _ = http.NewRequest(http.MethodPost, r.ts.URL+"/ap/signin", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, _ = send(req)
	if resp.StatusCode != http.StatusFound {
		r.t.Fatalf("POST /ap/signin: %d", resp.StatusCode)
	}
	code, err := auth.CodeFromURL(resp.Header.Get("Location"))
	if err != nil {
		r.t.Fatal(err)
	}
	return code, resp.Cookies()
}

func (r *simRig) register(d auth.Device) *auth.Session {
	r.t.Helper()
	p, _ := auth.NewPKCE()
	code, cookies := r.signIn(d, p)
	s, err := r.app.Register(context.Background(), d, p, code, cookies)
	if err != nil {
		r.t.Fatal(err)
	}
	return s
}

// control calls the simulator's control API.
func (r *simRig) control(method, path, body string) []byte {
	r.t.Helper()
	req, _ := http.NewRequest(method, r.ts.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		r.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	return b
}

func (r *simRig) registrations() []string {
	var got struct {
		Registrations []struct {
			Serial string `json:"device_serial"`
		} `json:"registrations"`
	}
	if err := json.Unmarshal(r.control(http.MethodGet, "/_sim/auth", ""), &got); err != nil {
		r.t.Fatal(err)
	}
	var out []string
	for _, g := range got.Registrations {
		out = append(out, g.Serial)
	}
	return out
}

func (r *simRig) count(method, path string) int {
	n := 0
	for _, q := range r.srv.Requests() {
		if q.Method == method && q.Path == path {
			n++
		}
	}
	return n
}

// secretsOf lists every secret of a session, for the log scan.
func secretsOf(s *auth.Session) []string {
	out := []string{s.AccessToken, s.RefreshToken, s.ADPToken, s.DevicePrivateKey, s.CSRF, s.Device.FRC}
	for _, c := range append(append([]auth.Cookie(nil), s.LoginCookies...), s.WebCookies...) {
		if len(c.Value) >= 8 {
			out = append(out, c.Value)
		}
	}
	return out
}

func TestAgainstTheSimulator(t *testing.T) {
	r := newSimRig(t)
	d, _ := auth.NewDevice()
	s := r.register(d)
	if got := r.registrations(); len(got) != 1 || got[0] != d.Serial {
		t.Fatalf("registrations %q, want the device's serial once", got)
	}
	if s.Marketplace != "amazon.com" || s.HomeRegion != "NA" || s.CSRF == "" || s.ADPToken == "" {
		t.Fatalf("session %v incomplete", s)
	}
	if _, err := auth.ParseDeviceKey(s.DevicePrivateKey); err != nil {
		t.Fatal(err)
	}
	// A second login with the stored device is the same device.
	s2 := r.register(d)
	if got := r.registrations(); len(got) != 1 {
		t.Fatalf("registrations %q after a second login, want 1", got)
	}
	st := &memStore{}
	k := auth.NewKeeper(r.app, st, s2, auth.KeeperOptions{})
	if h := k.Hosts(); h.Push != r.ts.URL || h.Web != r.ts.URL {
		t.Fatalf("hosts %+v: --cloud must keep every host on the simulator", h)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- k.Run(ctx) }()
	defer func() { cancel(); <-done }()
	enginetest.WaitPending(t, r.clock, 1)
	registered := r.count(http.MethodPost, "/auth/register")

	// The access token is renewed 5 minutes before it expires.
	r.clock.Advance(55 * time.Minute)
	enginetest.WaitUntil(t, "the access renewal", func() bool { return st.saves() == 1 })
	web := webClient(k)
	status := func() error {
		_, err := web.Do(ctx, request.Request{Method: http.MethodGet, URL: r.ts.URL + "/api/customer-status"})
		return err
	}
	if err := status(); err != nil {
		t.Fatal(err)
	}
	// Expired cookies: the 401 makes new ones, the call succeeds.
	r.control(http.MethodPost, "/_sim/auth/expire", `{"cookies":true}`)
	if err := status(); err != nil {
		t.Fatalf("after the cookies expired: %v", err)
	}
	// An expired access token: the capabilities API's 403 renews it.
	r.control(http.MethodPost, "/_sim/auth/expire", `{"access_token":true}`)
	bc := request.New(request.Family{Name: "auth", RefusedStatus: []int{401, 403}}, request.Options{Auth: k.BearerAuth()})
	_, err := bc.Do(ctx, request.Request{Method: http.MethodPut, URL: r.ts.URL + "/v1/devices/@self/capabilities",
		Header: http.Header{"Content-Type": {"application/json"}}, Body: []byte(`{"envelopeVersion":"20160207","capabilities":[]}`)})
	if err != nil {
		t.Fatalf("capabilities after the token expired: %v", err)
	}
	if n := r.count(http.MethodPost, "/auth/register"); n != registered {
		t.Fatalf("%d registrations after refreshes, want %d: never re-register", n, registered)
	}

	// Deregistered: the refresh token dies, the keeper says so once.
	r.control(http.MethodDelete, "/_sim/auth/registrations/"+d.Serial, "")
	_, err = k.AccessToken(ctx, true)
	if !errors.Is(err, auth.ErrSessionDead) || !k.State().LoginRequired {
		t.Fatalf("after deregistration: %v, state %+v", err, k.State())
	}
	logs := r.logs.String()
	if strings.Count(logs, "Amazon refused the stored session") != 1 {
		t.Error("want exactly one dead-session log line")
	}
	for _, sess := range []*auth.Session{s, s2, st.last(), k.Session()} {
		for _, secret := range secretsOf(sess) {
			if secret != "" && (strings.Contains(logs, secret) || strings.Contains(err.Error(), secret)) {
				t.Errorf("a secret (%.8s…) is in the log or an error", secret)
			}
		}
	}
	if bytes.Contains([]byte(logs), []byte("Atnr|")) || strings.Contains(logs, "Atna|") || strings.Contains(logs, "Atza|") {
		t.Error("a token prefix is in the log")
	}
}
