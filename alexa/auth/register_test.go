package auth_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexarules/alexarules/alexa/auth"
	"github.com/alexarules/alexarules/alexa/internal/request"
	"github.com/alexarules/alexarules/engine"
)

var epoch = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)

// logBuffer collects every log line at debug level, for the secret scan.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type rig struct {
	clock *engine.Virtual
	fake  *fakeAmazon
	app   *auth.App
	logs  *logBuffer
	log   *slog.Logger
}

func newRig(t *testing.T, o auth.AppOptions) *rig {
	t.Helper()
	r := &rig{clock: engine.NewVirtual(epoch), logs: &logBuffer{}}
	r.fake = newFakeAmazon(t, r.clock)
	r.log = slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	o.Clock, o.Logger = r.clock, r.log
	app, err := auth.NewApp(r.fake.hosts(), o)
	if err != nil {
		t.Fatal(err)
	}
	r.app = app
	t.Cleanup(func() { r.assertNoSecrets(t, r.logs.String(), "the log") })
	return r
}

// register runs a sign-in and Register.
func (r *rig) register(t *testing.T) *auth.Session {
	t.Helper()
	d, _ := auth.NewDevice()
	p, _ := auth.NewPKCE()
	code := r.fake.signIn(d, p)
	s, err := r.app.Register(context.Background(), d, p, code, []*http.Cookie{{Name: "session-id", Value: "137-secret-login"}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// assertNoSecrets fails when text holds any value the fake issued.
func (r *rig) assertNoSecrets(t *testing.T, text, where string) {
	t.Helper()
	for _, s := range r.fake.allSecrets() {
		if s != "" && strings.Contains(text, s) {
			t.Errorf("%s holds the secret %.12s…", where, s)
		}
	}
	for _, s := range []string{"137-secret-login"} {
		if strings.Contains(text, s) {
			t.Errorf("%s holds the login cookie", where)
		}
	}
}

func TestRegisterMakesACompleteSession(t *testing.T) {
	r := newRig(t, auth.AppOptions{})
	s := r.register(t)
	want := []string{"POST /auth/register", "PUT /v1/devices/@self/capabilities", "GET /api/users/me",
		"POST /ap/exchangetoken/cookies", "GET /api/language"}
	if got := r.fake.requests(); !slices.Equal(got, want) {
		t.Fatalf("requests %q, want %q", got, want)
	}
	switch {
	case !strings.HasPrefix(s.AccessToken, "Atna|") || !strings.HasPrefix(s.RefreshToken, "Atnr|"):
		t.Errorf("tokens not taken from the answer")
	case !s.AccessExpiry.Equal(epoch.Add(time.Hour)):
		t.Errorf("access expiry %v, want the local send time + expires_in (a string) = %v", s.AccessExpiry, epoch.Add(time.Hour))
	case s.ADPToken == "" || s.DevicePrivateKey == "":
		t.Errorf("mac_dms missing")
	case s.Marketplace != "amazon.com" || s.HomeRegion != "NA" || s.CustomerID != "amzn1.account.SIM" || s.DeviceName != "Sim's alexarules":
		t.Errorf("account: %q %q %q %q", s.Marketplace, s.HomeRegion, s.CustomerID, s.DeviceName)
	case s.CSRF == "" || !strings.Contains(s.WebCookie(), "csrf="+s.CSRF) || !strings.Contains(s.WebCookie(), "at-main=Atza|"):
		t.Errorf("web cookies incomplete (%d cookies)", len(s.WebCookies))
	case !s.CookiesRefreshed.Equal(epoch) || !s.Registered.Equal(epoch):
		t.Errorf("times %v %v", s.CookiesRefreshed, s.Registered)
	}
	if err := s.Validate(); err != nil {
		t.Error(err)
	}
	if v := cookieOf(s.LoginCookies, "session-token"); v == "" || strings.Contains(v, `"`) {
		t.Errorf("login session-token %q: want it unquoted", v)
	}
	if cookieOf(s.LoginCookies, "session-id") == "137-secret-login" {
		t.Error("the registration's session-id did not replace the sign-in's")
	}
	if _, err := auth.ParseDeviceKey(s.DevicePrivateKey); err != nil {
		t.Error(err)
	}
	for _, text := range []string{s.String(), s.GoString(), slogText(s)} {
		r.assertNoSecrets(t, text, "the session's text")
	}
}

func cookieOf(cs []auth.Cookie, name string) string {
	for _, c := range cs {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

func slogText(v any) string {
	var b bytes.Buffer
	slog.New(slog.NewJSONHandler(&b, nil)).Info("x", "session", v)
	return b.String()
}

func TestRegisterRefusesWrongVerifierAndUsedCode(t *testing.T) {
	r := newRig(t, auth.AppOptions{})
	d, _ := auth.NewDevice()
	p, _ := auth.NewPKCE()
	other, _ := auth.NewPKCE()
	code := r.fake.signIn(d, p)
	_, err := r.app.Register(context.Background(), d, other, code, nil)
	assertRefused(t, r, err, p, other)
	code = r.fake.signIn(d, p)
	if _, err := r.app.Register(context.Background(), d, p, code, nil); err != nil {
		t.Fatal(err)
	}
	_, err = r.app.Register(context.Background(), d, p, code, nil)
	assertRefused(t, r, err, p, other)
	if n := r.fake.count("POST /auth/register"); n != 3 {
		t.Errorf("%d registrations sent, want 3 (no retry of a single-use code)", n)
	}
}

func assertRefused(t *testing.T, r *rig, err error, ps ...auth.PKCE) {
	t.Helper()
	var e *request.Error
	if !errors.As(err, &e) || e.Status != 400 || e.Type != "InvalidValue" {
		t.Fatalf("err = %v, want the 400 InvalidValue", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "sign in again") || !strings.Contains(msg, "POST /auth/register") {
		t.Errorf("message %q: want the request and what to do", msg)
	}
	r.assertNoSecrets(t, msg, "the error")
	for _, p := range ps {
		if strings.Contains(msg, p.Verifier) {
			t.Error("the error holds the verifier")
		}
	}
}

func TestRegisterKeepsTheMarketplaceWhenUsersMeRefuses(t *testing.T) {
	r := newRig(t, auth.AppOptions{})
	r.fake.set(func(f *fakeAmazon) { f.marketplace = "" })
	if s := r.register(t); s.Marketplace != "amazon.com" || s.CSRF == "" {
		t.Fatalf("marketplace %q csrf set %v", s.Marketplace, s.CSRF != "")
	}
}

func TestRegisterFollowsMarketplaceAndHomeRegion(t *testing.T) {
	r := newRig(t, auth.AppOptions{})
	r.fake.set(func(f *fakeAmazon) {
		f.marketplace, f.homeRegion, f.csrfFrom = "www.amazon.de", "EU", "/templates/oobe/d-device-pick.handlebars"
	})
	s := r.register(t)
	if s.Marketplace != "amazon.de" || s.HomeRegion != "EU" || cookieOf(s.WebCookies, "at-acbde") == "" {
		t.Fatalf("marketplace %q home %q, at-acbde set %v", s.Marketplace, s.HomeRegion, cookieOf(s.WebCookies, "at-acbde") != "")
	}
	// csrf came from the third path: the first two were tried in order.
	got := r.fake.requests()
	want := []string{"GET /api/language", "GET /spa/index.html", "GET /api/devices-v2/device", "GET /templates/oobe/d-device-pick.handlebars"}
	if !slices.Equal(got[len(got)-4:], want) {
		t.Fatalf("csrf requests %q, want %q", got[len(got)-4:], want)
	}
	k := auth.NewKeeper(r.app, &memStore{}, s, auth.KeeperOptions{})
	if h := k.Hosts(); h.Domain != "amazon.de" || h.Region != "EU" || h.Web != r.fake.srv.URL || h.Push != r.fake.srv.URL {
		t.Fatalf("keeper hosts %+v: want amazon.de/EU on the cloud base", h)
	}
}

func TestRegisterFailsWithoutCSRF(t *testing.T) {
	r := newRig(t, auth.AppOptions{})
	r.fake.set(func(f *fakeAmazon) { f.csrfFrom = "/nowhere" })
	d, _ := auth.NewDevice()
	p, _ := auth.NewPKCE()
	_, err := r.app.Register(context.Background(), d, p, r.fake.signIn(d, p), nil)
	if err == nil || !strings.Contains(err.Error(), "no csrf cookie from /api/language or its 4 fallbacks") ||
		!strings.Contains(err.Error(), "GET /api/strings: 404") {
		t.Fatalf("err = %v", err)
	}
}

func TestRegisterBadAnswers(t *testing.T) {
	r := newRig(t, auth.AppOptions{MaxAttempts: 1})
	d, _ := auth.NewDevice()
	p, _ := auth.NewPKCE()
	r.fake.set(func(f *fakeAmazon) { f.fail["POST /auth/register"] = 1 })
	_, err := r.app.Register(context.Background(), d, p, r.fake.signIn(d, p), nil)
	if err == nil || !strings.Contains(err.Error(), "POST /auth/register: 503") || strings.Contains(err.Error(), "<html>") {
		t.Fatalf("err = %v: want the status and no body", err)
	}
	if _, err := r.app.Register(context.Background(), d, p, "", nil); err == nil {
		t.Fatal("an empty code was accepted")
	}
	if _, err := r.app.Register(context.Background(), auth.Device{}, p, "AN", nil); err == nil {
		t.Fatal("an empty device was accepted")
	}
}
