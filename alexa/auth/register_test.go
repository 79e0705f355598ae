package auth_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexarules/alexarules/alexa"
	"github.com/alexarules/alexarules/alexa/auth"
	"github.com/alexarules/alexarules/alexa/internal/request"
)

func TestRegisterMakesACompleteSession(t *testing.T) {
	r := newRig(t, auth.AppOptions{})
	s := r.register(t)
	want := []string{"GET /ap/signin", "POST /ap/signin", "POST /auth/register", "PUT /v1/devices/@self/capabilities",
		"GET /api/users/me", "POST /ap/exchangetoken/cookies", "GET /api/language"}
	if got := r.requests(); !slices.Equal(got, want) {
		t.Fatalf("requests %q, want %q", got, want)
	}
	switch {
	case !strings.HasPrefix(s.AccessToken, "Atna|") || !strings.HasPrefix(s.RefreshToken, "Atnr|"):
		t.Errorf("tokens not taken from the answer")
	case !s.AccessExpiry.Equal(epoch.Add(time.Hour)):
		t.Errorf("access expiry %v, want the local send time + expires_in (a string) = %v", s.AccessExpiry, epoch.Add(time.Hour))
	case s.ADPToken == "" || s.DevicePrivateKey == "":
		t.Errorf("mac_dms missing")
	case s.Marketplace != "amazon.com" || s.HomeRegion != "NA" || !strings.HasPrefix(s.CustomerID, "amzn1.account.") ||
		s.DeviceName != "Sim's alexarules" || s.CustomerName == "":
		t.Errorf("account: %q %q %q %q %q", s.Marketplace, s.HomeRegion, s.CustomerID, s.DeviceName, s.CustomerName)
	case s.CSRF == "" || !strings.Contains(s.WebCookie(), "csrf="+s.CSRF) || !strings.Contains(s.WebCookie(), "at-main=Atza|"):
		t.Errorf("web cookies incomplete (%d cookies)", len(s.WebCookies))
	case !s.CookiesRefreshed.Equal(epoch) || !s.Registered.Equal(epoch):
		t.Errorf("times %v %v", s.CookiesRefreshed, s.Registered)
	case len(s.LoginCookies) == 0:
		t.Errorf("no login cookies")
	}
	if err := s.Validate(); err != nil {
		t.Error(err)
	}
	if _, err := auth.ParseDeviceKey(s.DevicePrivateKey); err != nil {
		t.Error(err)
	}
	var round auth.Session
	if b, err := json.Marshal(s); err != nil || json.Unmarshal(b, &round) != nil || round.RefreshToken != s.RefreshToken ||
		!round.AccessExpiry.Equal(s.AccessExpiry) || round.WebCookie() != s.WebCookie() || round.Device != s.Device {
		t.Errorf("the session does not survive JSON (err %v)", err)
	}
	for _, text := range []string{s.String(), s.GoString(), slogText(s), slogText(*s)} {
		r.assertNoSecrets(t, text, "the session's text")
	}
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
	r.track(other.Verifier)
	code, _ := r.signIn(t, d, p)
	_, err := r.app.Register(context.Background(), d, other, code, nil)
	assertRefused(t, r, err)
	code, _ = r.signIn(t, d, p)
	if _, err := r.app.Register(context.Background(), d, p, code, nil); err != nil {
		t.Fatal(err)
	}
	_, err = r.app.Register(context.Background(), d, p, code, nil)
	assertRefused(t, r, err)
	if n := r.count("POST /auth/register"); n != 3 {
		t.Errorf("%d registrations sent, want 3 (no retry of a single-use code)", n)
	}
}

func assertRefused(t *testing.T, r *rig, err error) {
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
}

func TestRegisterKeepsTheMarketplaceWhenUsersMeRefuses(t *testing.T) {
	r := newRig(t, auth.AppOptions{})
	r.control(t, http.MethodPut, "/_sim/auth", `{"marketplace":"amazon.de","home_region":"EU"}`)
	r.control(t, http.MethodPost, "/_sim/faults", `{"path_prefix":"/api/users/me","status":401,"times":1}`)
	s := r.register(t)
	if s.Marketplace != "amazon.com" || s.HomeRegion != "EU" || s.CSRF == "" || !strings.Contains(s.WebCookie(), "at-main=") {
		t.Fatalf("marketplace %q home %q csrf set %v: want the configured amazon.com kept", s.Marketplace, s.HomeRegion, s.CSRF != "")
	}
}

func TestRegisterFollowsMarketplaceAndHomeRegion(t *testing.T) {
	r := newRig(t, auth.AppOptions{})
	r.control(t, http.MethodPut, "/_sim/auth",
		`{"marketplace":"amazon.de","home_region":"EU","csrf_from":"/templates/oobe/d-device-pick.handlebars"}`)
	s := r.register(t)
	if s.Marketplace != "amazon.de" || s.HomeRegion != "EU" || !strings.Contains(s.WebCookie(), "at-acbde=") {
		t.Fatalf("marketplace %q home %q, %d web cookies", s.Marketplace, s.HomeRegion, len(s.WebCookies))
	}
	// csrf came from the fourth path: the others were tried in order.
	got := r.requests()
	want := []string{"GET /api/language", "GET /spa/index.html", "GET /api/devices-v2/device", "GET /templates/oobe/d-device-pick.handlebars"}
	if !slices.Equal(got[len(got)-4:], want) {
		t.Fatalf("csrf requests %q, want %q", got[len(got)-4:], want)
	}
	k := auth.NewKeeper(r.app, r.store(), s, auth.KeeperOptions{})
	if h := k.Hosts(); h.Domain != "amazon.de" || h.Region != "EU" || h.Web != r.ts.URL || h.Push != r.ts.URL {
		t.Fatalf("keeper hosts %+v: want amazon.de/EU on the cloud base", h)
	}
}

func TestRegisterFailsWithoutCSRF(t *testing.T) {
	r := newRig(t, auth.AppOptions{})
	r.control(t, http.MethodPut, "/_sim/auth", `{"csrf_from":"/api/strings"}`)
	r.control(t, http.MethodPost, "/_sim/faults", `{"path_prefix":"/api/strings","status":404}`)
	d, _ := auth.NewDevice()
	p, _ := auth.NewPKCE()
	code, _ := r.signIn(t, d, p)
	_, err := r.app.Register(context.Background(), d, p, code, nil)
	if err == nil || !strings.Contains(err.Error(), "no csrf cookie from /api/language or its 4 fallbacks") ||
		!strings.Contains(err.Error(), "GET /api/strings: 404") {
		t.Fatalf("err = %v", err)
	}
}

func TestRegisterNeverQuotesABody(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write(append([]byte("<html>echo: "), b...)) // an answer that echoes the request
	}))
	defer srv.Close()
	h, _ := alexa.HostsFor("", srv.URL)
	app, err := auth.NewApp(h, auth.AppOptions{MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	d, _ := auth.NewDevice()
	p, _ := auth.NewPKCE()
	_, err = app.Register(context.Background(), d, p, "ANsecretcode", nil)
	if err == nil || !strings.Contains(err.Error(), "POST /auth/register: 503") || !strings.Contains(err.Error(), "text/html answer") ||
		strings.Contains(err.Error(), "ANsecretcode") || strings.Contains(err.Error(), p.Verifier) {
		t.Fatalf("err = %v: want the status and the answer's type, no body", err)
	}
	if _, err := app.Register(context.Background(), d, p, "", nil); err == nil {
		t.Fatal("an empty code was accepted")
	}
	if _, err := app.Register(context.Background(), auth.Device{}, p, "AN", nil); err == nil {
		t.Fatal("an empty device was accepted")
	}
	if _, err := auth.NewApp(alexa.Hosts{Web: "x", Login: "x", Capabilities: "x"}, auth.AppOptions{}); err == nil ||
		!strings.Contains(err.Error(), "Identity") {
		t.Fatalf("NewApp without an identity host: %v", err)
	}
}

// rerouter sends every request to the simulator, whatever its host, and
// records "METHOD host/path" of each, so tests see which Amazon host a
// call was meant for.
type rerouter struct {
	target string // the simulator's host:port
	mu     sync.Mutex
	seen   []string
}

func (rr *rerouter) RoundTrip(req *http.Request) (*http.Response, error) {
	rr.mu.Lock()
	rr.seen = append(rr.seen, req.Method+" "+req.URL.Host+req.URL.Path)
	rr.mu.Unlock()
	out := req.Clone(req.Context())
	out.URL.Scheme, out.URL.Host = "http", rr.target
	return http.DefaultTransport.RoundTrip(out)
}

func TestRegisterOnAmazonHosts(t *testing.T) {
	tests := []struct {
		region, marketplace, home string
		want                      []string
		push, cookieDomain        string
	}{
		{"DE", "amazon.de", "EU", []string{
			"POST api.amazon.de/auth/register", "PUT api.amazonalexa.com/v1/devices/@self/capabilities",
			"GET alexa.amazon.com/api/users/me", "POST www.amazon.de/ap/exchangetoken/cookies", "GET alexa.amazon.de/api/language",
			"POST api.amazon.de/auth/token"}, "https://bob-dispatch-prod-eu.amazon.com", ".amazon.com"},
		{"JP", "amazon.co.jp", "FE", []string{
			"POST api.amazon.co.jp/auth/register", "PUT api.amazonalexa.com/v1/devices/@self/capabilities",
			"GET alexa.amazon.co.jp/api/users/me", "POST www.amazon.co.jp/ap/exchangetoken/cookies", "GET alexa.amazon.co.jp/api/language",
			"POST api.amazon.co.jp/auth/token"}, "https://bob-dispatch-prod-fe.amazon.com", ".amazon.co.jp"},
	}
	for _, tt := range tests {
		t.Run(tt.region, func(t *testing.T) {
			r := newRig(t, auth.AppOptions{})
			r.control(t, http.MethodPut, "/_sim/auth", `{"marketplace":"`+tt.marketplace+`","home_region":"`+tt.home+`"}`)
			var domain string
			r.setHook(func(req *http.Request) {
				if req.URL.Path == "/auth/register" {
					var body struct {
						Cookies struct{ Domain string } `json:"cookies"`
					}
					b, _ := io.ReadAll(req.Body)
					req.Body = io.NopCloser(bytes.NewReader(b))
					json.Unmarshal(b, &body)
					domain = body.Cookies.Domain
				}
			})
			rr := &rerouter{target: strings.TrimPrefix(r.ts.URL, "http://")}
			h, _ := alexa.HostsFor(tt.region, "")
			app, err := auth.NewApp(h, auth.AppOptions{Clock: r.clock, HTTPClient: &http.Client{Transport: rr}})
			if err != nil {
				t.Fatal(err)
			}
			d, _ := auth.NewDevice()
			p, _ := auth.NewPKCE()
			code, _ := r.signIn(t, d, p)
			s, err := app.Register(context.Background(), d, p, code, nil)
			if err != nil {
				t.Fatal(err)
			}
			r.trackSession(s)
			k := auth.NewKeeper(app, r.store(), s, auth.KeeperOptions{})
			if _, err := k.AccessToken(context.Background(), true); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(rr.seen, tt.want) {
				t.Errorf("requests\n%q\nwant\n%q", rr.seen, tt.want)
			}
			if kh := k.Hosts(); kh.Push != tt.push || domain != tt.cookieDomain {
				t.Errorf("push host %q, register cookies.domain %q; want %q, %q", kh.Push, domain, tt.push, tt.cookieDomain)
			}
		})
	}
}
