package sim_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/alexarules/alexarules/alexa/sim"
)

// exchange posts the cookie exchange form to path and returns the cookie
// lists by domain key.
func (e *env) exchange(path, refresh, domain string) (map[string][]cookieJSON, response) {
	e.t.Helper()
	v := tokenForm(refresh, "auth_cookies")
	v.Del("package_name")
	v.Set("domain", domain)
	r := e.form(path, v)
	var got struct {
		Response struct {
			Tokens struct {
				Cookies map[string][]cookieJSON `json:"cookies"`
			} `json:"tokens"`
		} `json:"response"`
	}
	if r.status == http.StatusOK {
		r.decode(e.t, http.StatusOK, &got)
	}
	return got.Response.Tokens.Cookies, r
}

func TestAuthTokenRegistration(t *testing.T) {
	e := newEnv(t, sim.DemoHousehold(), sim.Options{})
	refresh := e.registerDevice(newAppDevice(t)).Response.Success.Tokens.Bearer.RefreshToken
	r := e.form("/auth/token", tokenForm(refresh, "access_token"))
	m := r.json(t)
	if r.status != http.StatusOK || m["token_type"] != "bearer" || m["expires_in"] != float64(3600) || !strings.HasPrefix(m["access_token"].(string), "Atna|") {
		t.Fatalf("/auth/token: %d %s", r.status, r.raw)
	}
	access := m["access_token"].(string)
	if r := e.do(http.MethodGet, "/ping", access, nil); r.status != http.StatusNoContent {
		t.Errorf("/ping: %d", r.status)
	}
	if r := e.do(http.MethodPost, "/_sim/auth/expire", "", map[string]any{"access_token": true}); r.status != http.StatusOK {
		t.Fatalf("expire: %d %s", r.status, r.raw)
	}
	if r := e.do(http.MethodPost, "/ping", access, nil); r.status != http.StatusForbidden {
		t.Errorf("/ping with an expired token: %d", r.status)
	}
	// The lifetime is a setting; expires_in follows it.
	e.do(http.MethodPut, "/_sim/auth", "", map[string]any{"access_token_ttl_s": 60})
	access = e.form("/auth/token", tokenForm(refresh, "access_token")).json(t)["access_token"].(string)
	e.clock.Advance(time.Minute)
	if r := e.do(http.MethodGet, "/ping", access, nil); r.status != http.StatusForbidden {
		t.Errorf("/ping after the token's 60 s: %d", r.status)
	}

	for name, v := range map[string]url.Values{
		"no source_token_type":    delKey(tokenForm(refresh, "access_token"), "source_token_type"),
		"no requested_token_type": delKey(tokenForm(refresh, "access_token"), "requested_token_type"),
		"no source_token":         delKey(tokenForm(refresh, "access_token"), "source_token"),
		"other requested type":    tokenForm(refresh, "id_token"),
		"cookies without domain":  tokenForm(refresh, "auth_cookies"),
	} {
		if r := e.form("/auth/token", v); r.status != http.StatusBadRequest || r.json(t)["error"] != "invalid_request" {
			t.Errorf("%s: %d %s", name, r.status, r.raw)
		}
	}
	if r := e.form("/auth/token", tokenForm("Atnr|unknown", "access_token")); r.status != http.StatusBadRequest || r.json(t)["error"] != "invalid_grant" {
		t.Errorf("unknown refresh token: %d %s", r.status, r.raw)
	}
}

func delKey(v url.Values, key string) url.Values {
	v.Del(key)
	return v
}

func TestCookieExchange(t *testing.T) {
	e := newEnv(t, sim.DemoHousehold(), sim.Options{})
	refresh := e.registerDevice(newAppDevice(t)).Response.Success.Tokens.Bearer.RefreshToken
	for _, tt := range []struct{ path, domain, key, suffix string }{
		{"/ap/exchangetoken/cookies", ".amazon.de", ".amazon.de", "acbde"},
		{"/ap/exchangetoken/cookies", "www.amazon.de", ".amazon.de", "acbde"},
		{"/ap/exchangetoken", ".amazon.co.uk", ".amazon.co.uk", "acbuk"},
		{"/ap/exchangetoken", "www.amazon.com", ".amazon.com", "main"},
		{"/auth/token", "www.amazon.co.jp", ".amazon.co.jp", "acbjp"},
	} {
		got, r := e.exchange(tt.path, refresh, tt.domain)
		if r.status != http.StatusOK || len(got) != 1 {
			t.Errorf("%s %s: %d %s", tt.path, tt.domain, r.status, r.raw)
			continue
		}
		checkCookies(t, got[tt.key], tt.key, tt.suffix)
	}
	for _, domain := range []string{"", "127.0.0.1", "www.example.com", "amazon.", ".amazon.de/x"} {
		if _, r := e.exchange("/ap/exchangetoken/cookies", refresh, domain); r.status != http.StatusBadRequest || r.json(t)["error"] != "invalid_request" {
			t.Errorf("domain %q: %d %s", domain, r.status, r.raw)
		}
	}
	for _, path := range []string{"/ap/exchangetoken/cookies", "/ap/exchangetoken", "/auth/token"} {
		if _, r := e.exchange(path, "Atnr|unknown", ".amazon.de"); r.status != http.StatusBadRequest || r.json(t)["error"] != "invalid_grant" {
			t.Errorf("%s, unknown refresh token: %d %s", path, r.status, r.raw)
		}
		v := tokenForm(refresh, "access_token")
		v.Set("domain", ".amazon.de")
		if r := e.form(path, delKey(v, "source_token_type")); r.status != http.StatusBadRequest || r.json(t)["error"] != "invalid_request" {
			t.Errorf("%s without source_token_type: %d %s", path, r.status, r.raw)
		}
	}
}

// cookieHeader renders cookies as a Cookie header, values as received.
func cookieHeader(cookies []cookieJSON, extra ...string) string {
	var parts []string
	for _, c := range cookies {
		parts = append(parts, c.Name+"="+c.Value)
	}
	return strings.Join(append(parts, extra...), "; ")
}

// webWith calls a web API route with a Cookie header and a csrf header
// (none when empty).
func (e *env) webWith(method, path, cookie, csrf string) response {
	e.t.Helper()
	req := e.request(method, path, nil)
	req.Header.Set("Cookie", cookie)
	if csrf != "" {
		req.Header.Set("csrf", csrf)
	}
	return e.send(req)
}

// csrfCookie returns the csrf value a response sets, if any.
func csrfCookie(r response) string {
	for _, c := range r.header.Values("Set-Cookie") {
		if v, ok := strings.CutPrefix(c, "csrf="); ok {
			v, _, _ = strings.Cut(v, ";")
			return v
		}
	}
	return ""
}

func TestWebSession(t *testing.T) {
	e := newEnv(t, sim.DemoHousehold(), sim.Options{})
	refresh := e.registerDevice(newAppDevice(t)).Response.Success.Tokens.Bearer.RefreshToken
	got, _ := e.exchange("/ap/exchangetoken/cookies", refresh, ".amazon.de")
	cookie := cookieHeader(got[".amazon.de"])
	if !strings.Contains(cookie, `"`) || !strings.Contains(cookie, "|") {
		t.Fatalf("cookies without quotes or |: %s", cookie)
	}
	if r := e.webWith(http.MethodGet, "/api/customer-status", cookie, ""); r.status != http.StatusOK {
		t.Fatalf("customer-status: %d %s", r.status, r.raw)
	}
	// The csrf cookie comes from /api/language.
	r := e.webWith(http.MethodGet, "/api/language", cookie, "")
	csrf := csrfCookie(r)
	if r.status != http.StatusOK || csrf == "" || strings.Trim(csrf, "-0123456789") != "" {
		t.Fatalf("language: %d csrf %q", r.status, csrf)
	}
	// State-changing calls need it.
	cookie += "; csrf=" + csrf
	path := "/api/namedLists/amzn1.alexa.list.sim-todo/item"
	if r := e.webWith(http.MethodPost, path, cookie, ""); r.status != http.StatusUnauthorized {
		t.Errorf("POST without csrf header: %d", r.status)
	}
	if r := e.webWith(http.MethodPost, path, cookie, "12345"); r.status != http.StatusUnauthorized {
		t.Errorf("POST with another csrf: %d", r.status)
	}
	req := e.request(http.MethodPost, path, map[string]any{"value": "eggs"})
	req.Header.Set("Cookie", cookie)
	req.Header.Set("csrf", csrf)
	if r := e.send(req); r.status != http.StatusOK {
		t.Errorf("POST with csrf: %d %s", r.status, r.raw)
	}
	// Values compared unquoted and URL-decoded.
	var encoded []string
	for _, c := range got[".amazon.de"] {
		encoded = append(encoded, c.Name+"="+url.PathEscape(strings.Trim(c.Value, `"`)))
	}
	if r := e.webWith(http.MethodGet, "/api/users/me", strings.Join(encoded, "; "), ""); r.status != http.StatusOK || r.json(t)["marketPlaceDomainName"] != "www.amazon.com" {
		t.Errorf("URL-encoded cookies: %d %s", r.status, r.raw)
	}
	checkLoginRequired(t, e.webWith(http.MethodGet, "/api/customer-status", "at-acbde=Atza|unknown; session-id=1", ""), "unknown at cookie")

	e.do(http.MethodPost, "/_sim/auth/expire", "", map[string]any{"cookies": true})
	checkLoginRequired(t, e.webWith(http.MethodGet, "/api/customer-status", cookie, ""), "expired cookies")
	// A fresh exchange is a live session again; the legacy static session
	// never expires.
	got, _ = e.exchange("/ap/exchangetoken/cookies", refresh, ".amazon.de")
	if r := e.webWith(http.MethodGet, "/api/customer-status", cookieHeader(got[".amazon.de"]), ""); r.status != http.StatusOK {
		t.Errorf("re-exchanged cookies: %d", r.status)
	}
	if r := e.web(http.MethodGet, "/api/customer-status", nil); r.status != http.StatusOK {
		t.Errorf("legacy session after the expiry: %d", r.status)
	}
}

// checkLoginRequired checks Amazon's answer to a dead web session: 401,
// empty body, loginUrl header.
func checkLoginRequired(t *testing.T, r response, name string) {
	t.Helper()
	if r.status != http.StatusUnauthorized || len(r.raw) != 0 || r.header.Get("loginUrl") == "" {
		t.Errorf("%s: %d %q loginUrl %q, want 401, empty body, loginUrl", name, r.status, r.raw, r.header.Get("loginUrl"))
	}
}

func TestCookieTTL(t *testing.T) {
	e := newEnv(t, sim.DemoHousehold(), sim.Options{})
	e.do(http.MethodPut, "/_sim/auth", "", map[string]any{"cookie_ttl_s": 60})
	refresh := e.registerDevice(newAppDevice(t)).Response.Success.Tokens.Bearer.RefreshToken
	got, _ := e.exchange("/ap/exchangetoken/cookies", refresh, ".amazon.com")
	cookie := cookieHeader(got[".amazon.com"])
	e.clock.Advance(59 * time.Second)
	if r := e.webWith(http.MethodGet, "/api/endpoints", cookie, ""); r.status != http.StatusOK {
		t.Fatalf("cookies at 59 s: %d", r.status)
	}
	e.clock.Advance(time.Second)
	checkLoginRequired(t, e.webWith(http.MethodGet, "/api/endpoints", cookie, ""), "cookies at 60 s")
}

func TestCSRFFallbacks(t *testing.T) {
	e := newEnv(t, sim.DemoHousehold(), sim.Options{})
	refresh := e.registerDevice(newAppDevice(t)).Response.Success.Tokens.Bearer.RefreshToken
	got, _ := e.exchange("/ap/exchangetoken/cookies", refresh, ".amazon.com")
	cookie := cookieHeader(got[".amazon.com"])
	paths := []string{"/api/language", "/spa/index.html", "/api/devices-v2/device?cached=false", "/templates/oobe/d-device-pick.handlebars", "/api/strings"}
	for _, from := range paths {
		if r := e.do(http.MethodPut, "/_sim/auth", "", map[string]any{"csrf_from": from}); r.status != http.StatusOK {
			t.Fatalf("csrf_from %s: %d %s", from, r.status, r.raw)
		}
		for _, path := range append(paths, "/api/devices-v2/device?cached=true") {
			r := e.webWith(http.MethodGet, path, cookie, "")
			if r.status != http.StatusOK {
				t.Errorf("csrf_from %s, GET %s: %d", from, path, r.status)
			}
			if set := csrfCookie(r) != ""; set != (path == from) {
				t.Errorf("csrf_from %s, GET %s: csrf set %v", from, path, set)
			}
		}
	}
	// The legacy static session gets none: it brings its own.
	if r := e.web(http.MethodGet, "/api/strings", nil); r.status != http.StatusOK || csrfCookie(r) != "" {
		t.Errorf("legacy session on the csrf path: %d %q", r.status, csrfCookie(r))
	}
}

func TestAccountRoutes(t *testing.T) {
	e := newEnv(t, sim.DemoHousehold(), sim.Options{})
	d := newAppDevice(t)
	e.registerDevice(d)
	if r := e.do(http.MethodPut, "/_sim/auth", "", map[string]any{"marketplace": "amazon.de", "home_region": "EU"}); r.status != http.StatusOK {
		t.Fatalf("PUT /_sim/auth: %d %s", r.status, r.raw)
	}
	var me map[string]any
	e.web(http.MethodGet, "/api/users/me", nil).decode(t, http.StatusOK, &me)
	if me["marketPlaceDomainName"] != "www.amazon.de" || me["marketPlaceId"] != "A1PA6795UKMFR9" || me["email"] != "sim@example.com" {
		t.Errorf("users/me %v", me)
	}
	var ep map[string]string
	e.web(http.MethodGet, "/api/endpoints", nil).decode(t, http.StatusOK, &ep)
	if ep["retailDomain"] != "amazon.de" || ep["awsRegion"] != "eu-west-1" || ep["websiteApiUrl"] != e.ts.URL {
		t.Errorf("endpoints %v", ep)
	}
	var welcome map[string]any
	e.web(http.MethodGet, "/api/welcome", nil).decode(t, http.StatusOK, &welcome)
	if welcome["alexaHostName"] != "alexa.amazon.de" {
		t.Errorf("welcome %v", welcome)
	}
	reg, _ := e.register(registerBody(d, e.code(d), nil))
	if reg.Response.Success.Extensions.CustomerInfo.HomeRegion != "EU" {
		t.Errorf("home_region after the change: %+v", reg.Response.Success.Extensions.CustomerInfo)
	}
	var devices struct {
		Devices []struct {
			SerialNumber, DeviceType, DeviceFamily string
			AppDeviceList                          []struct{ SerialNumber string }
		}
	}
	e.web(http.MethodGet, "/api/devices-v2/device", nil).decode(t, http.StatusOK, &devices)
	found := 0
	for _, dev := range devices.Devices {
		if dev.DeviceType == "A2IVLV5VM2W81" {
			found++
			if len(dev.AppDeviceList) != 1 || dev.AppDeviceList[0].SerialNumber != d.serial || dev.DeviceFamily != "VOX" {
				t.Errorf("app device %+v", dev)
			}
		}
	}
	if found != 1 || len(devices.Devices) != 4 {
		t.Errorf("devices %+v, want the 3 Echos and one app device", devices.Devices)
	}
}
