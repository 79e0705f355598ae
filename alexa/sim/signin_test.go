package sim_test

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/alexarules/alexarules/alexa/auth/signin/signintest"
	"github.com/alexarules/alexarules/alexa/sim"
)

// appDevice is what a client of the app sign-in generates: a device id
// and a PKCE pair (research §2).
type appDevice struct {
	serial, clientHex, verifier, challenge string
}

func newAppDevice(t *testing.T) appDevice {
	t.Helper()
	b := make([]byte, 32)
	rand.Read(b)
	serial := strings.ToUpper(hex.EncodeToString(b[:16]))
	verifier := base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(verifier))
	return appDevice{
		serial:    strings.ToLower(serial),
		clientHex: hex.EncodeToString([]byte(serial + "#A2IVLV5VM2W81")),
		verifier:  verifier,
		challenge: base64.RawURLEncoding.EncodeToString(sum[:]),
	}
}

// signInQuery is the start URL's query (research §5), responseType code
// or token.
func (d appDevice) signInQuery(responseType string) url.Values {
	return url.Values{
		"openid.return_to":                 {"https://www.amazon.com/ap/maplanding"},
		"openid.assoc_handle":              {"amzn_dp_project_dee_ios"},
		"openid.identity":                  {"http://specs.openid.net/auth/2.0/identifier_select"},
		"pageId":                           {"amzn_dp_project_dee_ios"},
		"accountStatusPolicy":              {"P1"},
		"openid.claimed_id":                {"http://specs.openid.net/auth/2.0/identifier_select"},
		"openid.mode":                      {"checkid_setup"},
		"openid.ns.oa2":                    {"http://www.amazon.com/ap/ext/oauth/2"},
		"openid.oa2.client_id":             {"device:" + d.clientHex},
		"openid.ns.pape":                   {"http://specs.openid.net/extensions/pape/1.0"},
		"openid.oa2.response_type":         {responseType},
		"openid.ns":                        {"http://specs.openid.net/auth/2.0"},
		"openid.pape.max_auth_age":         {"0"},
		"openid.oa2.scope":                 {"device_auth_access"},
		"openid.oa2.code_challenge_method": {"S256"},
		"openid.oa2.code_challenge":        {d.challenge},
		"language":                         {"en_US"},
	}
}

// htmlPage is an answer of the sign-in chain, redirects not followed.
type htmlPage struct {
	response
	body     string
	chunked  bool
	location string
}

// browse sends req without following redirects, with Host set to host
// when not empty.
func (e *env) browse(req *http.Request, host string) htmlPage {
	e.t.Helper()
	if host != "" {
		req.Host = host
	}
	client := *e.ts.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	chunked := resp.ContentLength == -1 && len(resp.TransferEncoding) == 1 && resp.TransferEncoding[0] == "chunked"
	return htmlPage{
		response: response{status: resp.StatusCode, header: resp.Header, raw: b},
		body:     string(b), chunked: chunked, location: resp.Header.Get("Location"),
	}
}

func (e *env) getPage(path, host string) htmlPage {
	e.t.Helper()
	return e.browse(e.request(http.MethodGet, path, nil), host)
}

func (e *env) postPage(path, host string, form url.Values) htmlPage {
	e.t.Helper()
	req := e.request(http.MethodPost, path, form.Encode())
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return e.browse(req, host)
}

// signIn walks the sign-in as a plain HTTP client (GET the form, POST
// email and password, the OTP when asked) on host and returns the
// maplanding redirect.
func (e *env) signIn(d appDevice, responseType, host string) htmlPage {
	e.t.Helper()
	form := e.getPage("/ap/signin?"+d.signInQuery(responseType).Encode(), host)
	if form.status != http.StatusOK {
		e.t.Fatalf("GET /ap/signin: %d %s", form.status, form.body)
	}
	v := signintest.Fields(form.body)
	v.Set("email", "sim@example.com")
	v.Set("password", "sim-password")
	p := e.postPage("/ap/signin", host, v)
	if strings.HasPrefix(p.location, "/ap/mfa") {
		mfa := e.getPage(p.location, host)
		v = signintest.Fields(mfa.body)
		v.Set("otpCode", "123456")
		p = e.postPage("/ap/signin", host, v)
	}
	if p.status != http.StatusFound {
		e.t.Fatalf("POST /ap/signin: %d %s", p.status, p.body)
	}
	return p
}

// code signs in and returns the authorization code.
func (e *env) code(d appDevice) string {
	e.t.Helper()
	p := e.signIn(d, "code", "")
	u, err := url.Parse(p.location)
	if err != nil {
		e.t.Fatal(err)
	}
	code := u.Query().Get("openid.oa2.authorization_code")
	if code == "" {
		e.t.Fatalf("maplanding without a code: %s", p.location)
	}
	return code
}

func TestSignInPages(t *testing.T) {
	e := newEnv(t, sim.DemoHousehold(), sim.Options{})
	d := newAppDevice(t)
	const host = "www.amazon.com"
	form := e.getPage("/ap/signin?"+d.signInQuery("code").Encode(), host)
	if form.status != http.StatusOK || !form.chunked {
		t.Fatalf("form: %d, chunked %v, Content-Length %q", form.status, form.chunked, form.header.Get("Content-Length"))
	}
	for _, want := range []string{`<form name="signIn" method="post" novalidate action="/ap/signin"`, `name="email"`, `name="password"`, `name="appActionToken"`} {
		if !strings.Contains(form.body, want) {
			t.Errorf("form lacks %s:\n%s", want, form.body)
		}
	}
	if strings.Contains(form.body, "127.0.0.1") || strings.Contains(form.body, `href="http`) {
		t.Errorf("the page names an absolute address:\n%s", form.body)
	}

	v := signintest.Fields(form.body)
	v.Set("email", "sim@example.com")
	v.Set("password", "wrong")
	bad := e.postPage("/ap/signin", host, v)
	if bad.status != http.StatusOK || !strings.Contains(bad.body, `id="auth-error-message-box"`) ||
		!strings.Contains(bad.body, `class="a-alert-heading"`) || !strings.Contains(bad.body, `name="signIn"`) || !bad.chunked {
		t.Fatalf("wrong password: %d chunked %v\n%s", bad.status, bad.chunked, bad.body)
	}
	// The form again, with the email kept: sign in from it.
	v = signintest.Fields(bad.body)
	v.Set("email", " SIM@example.com")
	v.Set("password", "sim-password")
	ok := e.postPage("/ap/signin", host, v)
	if ok.status != http.StatusFound || !strings.HasPrefix(ok.location, "http://"+host+"/ap/maplanding?") {
		t.Fatalf("sign-in: %d Location %q", ok.status, ok.location)
	}
	u, _ := url.Parse(ok.location)
	q := u.Query()
	if c := q.Get("openid.oa2.authorization_code"); len(c) != 24 || !strings.HasPrefix(c, "AN") {
		t.Errorf("code %q", c)
	}
	if q.Get("openid.assoc_handle") != "amzn_dp_project_dee_ios" || !strings.HasPrefix(q.Get("openid.claimed_id"), "http://"+host+"/ap/id/amzn1.account.") {
		t.Errorf("maplanding query %v", q)
	}
	var names []string
	for _, c := range ok.header.Values("Set-Cookie") {
		name, _, _ := strings.Cut(c, "=")
		names = append(names, name)
	}
	if got := strings.Join(names, " "); got != "session-id session-id-time ubid-main session-token at-main sess-at-main x-main" {
		t.Errorf("sign-in cookies %s", got)
	}
	// The session is used up; the maplanding page itself is plain.
	if again := e.postPage("/ap/signin", host, v); again.status != http.StatusBadRequest {
		t.Errorf("second POST of a completed sign-in: %d", again.status)
	}
	if land := e.getPage(strings.TrimPrefix(ok.location, "http://"+host), host); land.status != http.StatusOK || !land.chunked {
		t.Errorf("maplanding: %d chunked %v", land.status, land.chunked)
	}
}

func TestSignInRefusals(t *testing.T) {
	e := newEnv(t, sim.DemoHousehold(), sim.Options{})
	d := newAppDevice(t)
	for name, change := range map[string]func(url.Values){
		"no client id":        func(q url.Values) { q.Del("openid.oa2.client_id") },
		"client id not hex":   func(q url.Values) { q.Set("openid.oa2.client_id", "device:xyz") },
		"plain PKCE":          func(q url.Values) { q.Set("openid.oa2.code_challenge_method", "plain") },
		"short challenge":     func(q url.Values) { q.Set("openid.oa2.code_challenge", "abc") },
		"bad response type":   func(q url.Values) { q.Set("openid.oa2.response_type", "id_token") },
		"return to elsewhere": func(q url.Values) { q.Set("openid.return_to", "https://evil.example/") },
	} {
		q := d.signInQuery("code")
		change(q)
		if p := e.getPage("/ap/signin?"+q.Encode(), ""); p.status != http.StatusBadRequest || !strings.Contains(p.body, "auth-error-message-box") {
			t.Errorf("%s: %d %s", name, p.status, p.body)
		}
	}
	form := e.getPage("/ap/signin?"+d.signInQuery("code").Encode(), "")
	v := signintest.Fields(form.body)
	v.Set("email", "sim@example.com")
	v.Set("password", "sim-password")
	tampered := url.Values{"appActionToken": {v.Get("appActionToken")}, "workflowState": {"other"}, "email": {"sim@example.com"}, "password": {"sim-password"}}
	if p := e.postPage("/ap/signin", "", tampered); p.status != http.StatusBadRequest {
		t.Errorf("wrong workflowState: %d", p.status)
	}
	e.clock.Advance(16 * time.Minute)
	if p := e.postPage("/ap/signin", "", v); p.status != http.StatusBadRequest {
		t.Errorf("sign-in after 16 minutes: %d", p.status)
	}
}

func TestSignInOTP(t *testing.T) {
	e := newEnv(t, sim.DemoHousehold(), sim.Options{})
	if r := e.do(http.MethodPut, "/_sim/auth", "", map[string]any{"otp": true}); r.status != http.StatusOK {
		t.Fatalf("PUT /_sim/auth: %d %s", r.status, r.raw)
	}
	d := newAppDevice(t)
	form := e.getPage("/ap/signin?"+d.signInQuery("code").Encode(), "")
	v := signintest.Fields(form.body)
	v.Set("email", "sim@example.com")
	v.Set("password", "sim-password")
	p := e.postPage("/ap/signin", "", v)
	if p.status != http.StatusFound || !strings.HasPrefix(p.location, "/ap/mfa?") {
		t.Fatalf("password with OTP on: %d, Location %q (want a relative /ap/mfa)", p.status, p.location)
	}
	mfa := e.getPage(p.location, "")
	for _, want := range []string{`<form id="auth-mfa-form"`, `id="auth-mfa-otpcode" name="otpCode"`} {
		if !strings.Contains(mfa.body, want) {
			t.Errorf("OTP page lacks %s:\n%s", want, mfa.body)
		}
	}
	v = signintest.Fields(mfa.body)
	v.Set("otpCode", "654321")
	wrong := e.postPage("/ap/signin", "", v)
	if wrong.status != http.StatusOK || !strings.Contains(wrong.body, "auth-error-message-box") || !strings.Contains(wrong.body, "auth-mfa-otpcode") {
		t.Fatalf("wrong OTP: %d\n%s", wrong.status, wrong.body)
	}
	v.Set("otpCode", "123456")
	if ok := e.postPage("/ap/signin", "", v); ok.status != http.StatusFound || !strings.Contains(ok.location, "openid.oa2.authorization_code=AN") {
		t.Fatalf("right OTP: %d %q", ok.status, ok.location)
	}
	if p := e.getPage("/ap/mfa?arb=unknown", ""); p.status != http.StatusBadRequest {
		t.Errorf("OTP htmlPage of an unknown sign-in: %d", p.status)
	}
}

// TestSignInFollowingRedirects is the documented recipe: a plain client
// that follows redirects ends on the maplanding URL with the code.
func TestSignInFollowingRedirects(t *testing.T) {
	e := newEnv(t, sim.DemoHousehold(), sim.Options{})
	e.do(http.MethodPut, "/_sim/auth", "", map[string]any{"otp": true})
	d := newAppDevice(t)
	client := e.ts.Client()
	resp, err := client.Get(e.ts.URL + "/ap/signin?" + d.signInQuery("code").Encode())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	v := signintest.Fields(string(b))
	v.Set("email", "sim@example.com")
	v.Set("password", "sim-password")
	resp, err = client.PostForm(e.ts.URL+"/ap/signin", v)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	v = signintest.Fields(string(b))
	v.Set("otpCode", "123456")
	resp, err = client.PostForm(e.ts.URL+"/ap/signin", v)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if u := resp.Request.URL; u.Path != "/ap/maplanding" || u.Query().Get("openid.oa2.authorization_code") == "" || resp.StatusCode != http.StatusOK {
		t.Fatalf("ended on %d %s", resp.StatusCode, u)
	}
}
