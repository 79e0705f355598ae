package signin_test

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexarules/alexarules/alexa/auth/signin"
	"github.com/alexarules/alexarules/alexa/auth/signin/signintest"
	"github.com/alexarules/alexarules/alexa/sim"
)

// fakeAmazon is the upstream of the tests: a sign-in form, a relative
// redirect, then the maplanding redirect with a code. It records what
// reached it.
type fakeAmazon struct {
	t   *testing.T
	srv *httptest.Server

	mu       sync.Mutex
	requests []*http.Request // clones, bodies drained into forms
	forms    []url.Values
}

const startURL = "https://www.amazon.com/ap/signin?openid.return_to=https%3A%2F%2Fwww.amazon.com%2Fap%2Fmaplanding&openid.oa2.client_id=device%3Aabc"

func newFakeAmazon(t *testing.T) *fakeAmazon {
	f := &fakeAmazon{t: t}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ap/signin", f.signinPage)
	mux.HandleFunc("POST /ap/signin", f.signinPost)
	mux.HandleFunc("GET /ap/mfa", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "at-main", Value: "Atza|secret", Domain: ".amazon.com", Path: "/", Secure: true})
		w.Header().Set("Location", "https://www.amazon.com/ap/maplanding?openid.assoc_handle=amzn_dp_project_dee_ios&openid.oa2.authorization_code=ANcode123")
		w.WriteHeader(http.StatusFound)
	})
	mux.HandleFunc("GET /ap/nocode", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://www.amazon.com/ap/maplanding?openid.assoc_handle=x", http.StatusFound)
	})
	mux.HandleFunc("GET /ap/gzip", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Accept-Encoding") != "gzip" {
			t.Errorf("GET /ap/gzip: Accept-Encoding %q", r.Header.Get("Accept-Encoding"))
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Encoding", "gzip")
		zw := gzip.NewWriter(w)
		io.WriteString(zw, `{"next":"https://www.amazon.com/ap/cvf"}`)
		zw.Close()
	})
	mux.HandleFunc("GET /ap/boom", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	f.srv = httptest.NewServer(f.record(mux))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAmazon) record(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		form := url.Values{}
		if r.Method == http.MethodPost {
			if err := r.ParseForm(); err != nil {
				f.t.Errorf("upstream: form: %v", err)
			}
			form = r.PostForm
		}
		f.mu.Lock()
		f.requests = append(f.requests, r.Clone(context.Background()))
		f.forms = append(f.forms, form)
		f.mu.Unlock()
		next.ServeHTTP(w, r)
	})
}

func (f *fakeAmazon) seen() ([]*http.Request, []url.Values) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*http.Request(nil), f.requests...), append([]url.Values(nil), f.forms...)
}

// signinPage is sent chunked (flushed in parts, no Content-Length), with
// absolute Amazon URLs in several spellings.
func (f *fakeAmazon) signinPage(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: "session-id", Value: "137-1", Domain: ".amazon.com", Path: "/ap", Secure: true, HttpOnly: true, SameSite: http.SameSiteNoneMode})
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	io.WriteString(w, `<html><a id="help" href="https://www.amazon.com/gp/help">help</a>`)
	w.(http.Flusher).Flush()
	io.WriteString(w, `<script>var u = "https:\/\/alexa.amazon.de\/spa\/";</script>
<a id="other" href="https://evil.example.com/x">x</a><a id="lookalike" href="https://www.amazon.com.evil.example/x">y</a>
<form name="signIn" method="post" action="/ap/signin">
<input type="hidden" name="appActionToken" value="tok1">
<input type="hidden" name="openid.return_to" value="https://www.amazon.com/ap/maplanding">
<input type="email" name="email"><input type="password" name="password">
</form></html>`)
}

func (f *fakeAmazon) signinPost(w http.ResponseWriter, r *http.Request) {
	if r.PostForm.Get("appActionToken") != "tok1" || r.PostForm.Get("password") != "pw" {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, `<div id="auth-error-message-box">wrong</div>`)
		return
	}
	w.Header().Set("Location", "/ap/mfa")
	w.WriteHeader(http.StatusFound)
}

var deviceCookies = []*http.Cookie{{Name: "frc", Value: "FRCvalue"}, {Name: "map-md", Value: "MAPMDvalue"}}

func startProxy(t *testing.T, cloud string) *signin.Proxy {
	t.Helper()
	p, err := signin.Start(signin.Options{StartURL: startURL, Cloud: cloud, DeviceCookies: deviceCookies})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// get loads u with c, failing the test on a transport error.
func get(t *testing.T, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, page, err := signintest.Get(c, u)
	if err != nil {
		t.Fatal(err)
	}
	return resp, page
}

func TestSignInThroughTheProxy(t *testing.T) {
	up := newFakeAmazon(t)
	p := startProxy(t, up.srv.URL)
	c := signintest.Client()

	resp, page := get(t, c, p.URL())
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `name="signIn"`) {
		t.Fatalf("start page: %s\n%s", resp.Status, page)
	}
	wantPath := "/www.amazon.com/ap/signin"
	if resp.Request.URL.Path != wantPath {
		t.Errorf("start page served at %s, want %s", resp.Request.URL.Path, wantPath)
	}
	done := make(chan string, 1)
	go func() {
		resp, page, err := signintest.Submit(c, resp.Request.URL, page, url.Values{"email": {"sim@example.com"}, "password": {"pw"}})
		if err != nil {
			done <- "submit: " + err.Error()
			return
		}
		done <- resp.Request.URL.Path + " " + page
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := p.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Code != "ANcode123" {
		t.Errorf("code = %q, want ANcode123", res.Code)
	}
	if got := cookieNames(res.Cookies); got != "at-main=Atza|secret session-id=137-1" {
		t.Errorf("result cookies = %s, want at-main and session-id only (no device cookies)", got)
	}
	if err := p.Finish(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if last := <-done; !strings.HasPrefix(last, "/cookie-success ") || !strings.Contains(last, "You can close this window") {
		t.Errorf("browser ended on %q", last)
	}
	if left := c.Jar.Cookies(&url.URL{Scheme: "http", Host: strings.TrimSuffix(strings.TrimPrefix(p.URL(), "http://"), "/")}); len(left) != 0 {
		t.Errorf("the browser keeps %d Amazon cookies for 127.0.0.1 after the sign-in", len(left))
	}
	checkUpstream(t, up)
}

func cookieNames(cs []*http.Cookie) string {
	var s []string
	for _, c := range cs {
		s = append(s, c.Name+"="+c.Value)
	}
	return strings.Join(s, " ")
}

// checkUpstream checks what the sign-in sent to Amazon: device cookies on
// every request, the browser's cookies passed on, proxy URLs turned back
// into Amazon's in the form and the headers.
func checkUpstream(t *testing.T, up *fakeAmazon) {
	t.Helper()
	reqs, forms := up.seen()
	if len(reqs) != 3 {
		t.Fatalf("upstream saw %d requests, want 3 (signin GET, POST, mfa)", len(reqs))
	}
	for _, r := range reqs {
		for _, name := range []string{"frc", "map-md"} {
			if _, err := r.Cookie(name); err != nil {
				t.Errorf("%s %s: no %s cookie", r.Method, r.URL.Path, name)
			}
		}
		if r.Header.Get("Accept-Encoding") != "gzip" {
			t.Errorf("%s %s: Accept-Encoding %q, want the transport's own gzip", r.Method, r.URL.Path, r.Header.Get("Accept-Encoding"))
		}
	}
	if reqs[0].URL.Query().Get("openid.return_to") != "https://www.amazon.com/ap/maplanding" {
		t.Errorf("start query reached Amazon as %q", reqs[0].URL.RawQuery)
	}
	post := reqs[1]
	if c, err := post.Cookie("session-id"); err != nil || c.Value != "137-1" {
		t.Errorf("POST: session-id cookie not passed on (%v)", err)
	}
	if got := forms[1].Get("openid.return_to"); got != "https://www.amazon.com/ap/maplanding" {
		t.Errorf("POST: form openid.return_to = %q, want the Amazon URL", got)
	}
	if got := post.Header.Get("Referer"); !strings.HasPrefix(got, "https://www.amazon.com/ap/signin?") {
		t.Errorf("POST: Referer = %q, want the Amazon URL", got)
	}
	if got := post.Header.Get("Origin"); got != "https://www.amazon.com" {
		t.Errorf("POST: Origin = %q", got)
	}
}

func TestRewritesPagesForTheBrowser(t *testing.T) {
	up := newFakeAmazon(t)
	p := startProxy(t, up.srv.URL)
	resp, page := get(t, signintest.Client(), p.URL())
	base := p.URL()
	for _, want := range []string{
		`href="` + base + `www.amazon.com/gp/help"`,
		`"http:\/\/` + strings.TrimSuffix(strings.TrimPrefix(base, "http://"), "/") + `\/alexa.amazon.de\/spa\/"`,
		`href="https://evil.example.com/x"`,
		`href="https://www.amazon.com.evil.example/x"`,
		`value="` + base + `www.amazon.com/ap/maplanding"`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s\n%s", want, page)
		}
	}
	if resp.ContentLength != int64(len(page)) {
		t.Errorf("Content-Length %d for a %d-byte rewritten page", resp.ContentLength, len(page))
	}
}

func TestRewritesCompressedBodies(t *testing.T) {
	up := newFakeAmazon(t)
	p := startProxy(t, up.srv.URL)
	resp, body := get(t, signintest.Client(), p.URL()+"www.amazon.com/ap/gzip")
	if want := `{"next":"` + p.URL() + `www.amazon.com/ap/cvf"}`; body != want || resp.Header.Get("Content-Encoding") != "" {
		t.Errorf("gzip JSON reached the browser as %q (Content-Encoding %q), want %s", body, resp.Header.Get("Content-Encoding"), want)
	}
}

func TestBrowserCookiesLoseDomainPathAndSecure(t *testing.T) {
	up := newFakeAmazon(t)
	p := startProxy(t, up.srv.URL)
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, _ := get(t, c, p.URL()+"www.amazon.com/ap/signin")
	got := resp.Header.Get("Set-Cookie")
	if want := "session-id=137-1; HttpOnly; Path=/"; got != want {
		t.Errorf("Set-Cookie = %q, want %q", got, want)
	}
}

func TestRelativeLocationStaysOnTheHost(t *testing.T) {
	up := newFakeAmazon(t)
	p := startProxy(t, up.srv.URL)
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	form := url.Values{"appActionToken": {"tok1"}, "password": {"pw"}}.Encode()
	for _, tc := range []struct{ path, referer, host string }{
		{"alexa.amazon.de/ap/signin", "", "alexa.amazon.de"},                          // named in the path
		{"ap/signin", p.URL() + "www.amazon.co.uk/ap/signin?x=1", "www.amazon.co.uk"}, // from the page it came from
		{"ap/signin", "", "www.amazon.com"},                                           // the sign-in host
	} {
		req, _ := http.NewRequest(http.MethodPost, p.URL()+tc.path, strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if tc.referer != "" {
			req.Header.Set("Referer", tc.referer)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got, want := resp.Header.Get("Location"), p.URL()+tc.host+"/ap/mfa"; got != want {
			t.Errorf("POST /%s (Referer %q): Location = %q, want %q", tc.path, tc.referer, got, want)
		}
	}
}

// roundTripFunc records where the proxy sends requests without a network.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestGoesToAmazonOverHTTPS(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	tr := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.String()+" Host="+r.Host)
		mu.Unlock()
		return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"text/plain"}},
			Body: io.NopCloser(strings.NewReader("ok")), Request: r}, nil
	})
	p, err := signin.Start(signin.Options{StartURL: startURL, Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c := signintest.Client()
	get(t, c, p.URL())
	get(t, c, p.URL()+"www.amazon.de/ap/cvf?a=b")
	mu.Lock()
	defer mu.Unlock()
	want := []string{
		"GET " + startURL + " Host=",
		"GET https://www.amazon.de/ap/cvf?a=b Host=",
	}
	if strings.Join(seen, "\n") != strings.Join(want, "\n") {
		t.Errorf("upstream requests:\n%s\nwant\n%s", strings.Join(seen, "\n"), strings.Join(want, "\n"))
	}
}

func TestMaplandingWithoutCodeIsNotASignIn(t *testing.T) {
	up := newFakeAmazon(t)
	p := startProxy(t, up.srv.URL)
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, _ := get(t, c, p.URL()+"www.amazon.com/ap/nocode")
	if got, want := resp.Header.Get("Location"), p.URL()+"www.amazon.com/ap/maplanding?openid.assoc_handle=x"; got != want {
		t.Errorf("Location = %q, want %q", got, want)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait after a maplanding without code = %v, want no result", err)
	}
}

func TestCodeInTheRequestPath(t *testing.T) {
	up := newFakeAmazon(t)
	p := startProxy(t, up.srv.URL)
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, _ := get(t, c, p.URL()+"www.amazon.com/ap/maplanding?openid.oa2.authorization_code=ANpath")
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/cookie-success" {
		t.Errorf("maplanding request answered %s, Location %q", resp.Status, resp.Header.Get("Location"))
	}
	res, err := p.Wait(context.Background())
	if err != nil || res.Code != "ANpath" {
		t.Errorf("Wait = %+v, %v", res, err)
	}
	if reqs, _ := up.seen(); len(reqs) != 0 {
		t.Errorf("the maplanding request went upstream")
	}
}

func TestRefusesHostsOutsideAmazon(t *testing.T) {
	up := newFakeAmazon(t)
	p := startProxy(t, up.srv.URL)
	for _, path := range []string{"evil.example.com/x", "www.amazon.com.evil.example/ap/signin", "127.0.0.2:80/x", "amazon.co.evil/x"} {
		resp, page := get(t, signintest.Client(), p.URL()+path)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(page, "not one of them") {
			t.Errorf("%s: %s\n%s", path, resp.Status, page)
		}
	}
	if reqs, _ := up.seen(); len(reqs) != 0 {
		t.Errorf("refused requests reached upstream: %d", len(reqs))
	}
	resp, _ := get(t, signintest.Client(), p.URL()+"www.amazon.co.uk/ap/signin")
	if resp.StatusCode != http.StatusOK {
		t.Errorf("www.amazon.co.uk refused: %s", resp.Status)
	}
}

func TestUpstreamErrorsAreShownAndServingGoesOn(t *testing.T) {
	up := newFakeAmazon(t)
	p := startProxy(t, up.srv.URL)
	resp, page := get(t, signintest.Client(), p.URL()+"www.amazon.com/ap/boom")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(page, "Reload the page to try again") {
		t.Errorf("5xx: %s\n%s", resp.Status, page)
	}
	if resp, _ := get(t, signintest.Client(), p.URL()); resp.StatusCode != http.StatusOK {
		t.Errorf("after a 5xx: %s", resp.Status)
	}

	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	p2 := startProxy(t, dead.URL)
	resp, page = get(t, signintest.Client(), p2.URL()+"www.amazon.com/ap/signin?openid.oa2.code_challenge=c")
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(page, "could not be reached") || strings.Contains(page, "code_challenge") {
		t.Errorf("unreachable: %s\n%s", resp.Status, page)
	}
}

func TestRefusesOtherHostHeaders(t *testing.T) {
	up := newFakeAmazon(t)
	p := startProxy(t, up.srv.URL)
	req, _ := http.NewRequest(http.MethodGet, p.URL(), nil)
	req.Host = "attacker.example:" + strings.Split(strings.TrimSuffix(p.URL(), "/"), ":")[2]
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("foreign Host: %s", resp.Status)
	}
}

func TestStartRefusesNonAmazonStart(t *testing.T) {
	_, err := signin.Start(signin.Options{StartURL: "https://example.com/ap/signin"})
	if err == nil || !strings.Contains(err.Error(), "example.com") {
		t.Errorf("Start = %v", err)
	}
}

func TestReadCode(t *testing.T) {
	for _, tc := range []struct{ in, code, err string }{
		{"\n  https://www.amazon.com/ap/maplanding?openid.assoc_handle=x&openid.oa2.authorization_code=ANabc\n", "ANabc", ""},
		{"https://www.amazon.com/ap/maplanding?openid.assoc_handle=x\n", "", "openid.oa2.authorization_code"},
		{"https://www.amazon.com/ap/signin?openid.oa2.authorization_code=ANabc\n", "", "/ap/maplanding"},
		{"\n\n", "", "no address"},
	} {
		var out strings.Builder
		code, err := signin.ReadCode(context.Background(), &out, strings.NewReader(tc.in), "https://www.amazon.com/ap/signin?x=1")
		if code != tc.code || (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("ReadCode(%q) = %q, %v; want %q, error with %q", tc.in, code, err, tc.code, tc.err)
		}
		if !strings.Contains(out.String(), "https://www.amazon.com/ap/signin?x=1") {
			t.Errorf("the sign-in URL was not shown: %s", out.String())
		}
		if err != nil && strings.Contains(err.Error(), "ANabc") {
			t.Errorf("error shows the code: %v", err)
		}
	}
}

func TestReadCodeEndsWithTheContext(t *testing.T) {
	r, w := io.Pipe()
	defer w.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := signin.ReadCode(ctx, io.Discard, r, "https://www.amazon.com/ap/signin"); !errors.Is(err, context.Canceled) {
		t.Errorf("ReadCode with nothing pasted and the context ended = %v", err)
	}
}

func ExampleProxy() {
	p, err := signin.Start(signin.Options{StartURL: "https://www.amazon.com/ap/signin?openid.mode=checkid_setup"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close()
	fmt.Println(strings.HasPrefix(p.URL(), "http://127.0.0.1:"))
	// Output: true
}

// The simulator's sign-in, through the proxy, as `login --cloud` runs it:
// the form, the OTP step (a relative redirect), the maplanding redirect.
func TestSignInAtTheSimulator(t *testing.T) {
	s := sim.New(sim.DemoHousehold(), sim.Options{})
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodPut, srv.URL+"/_sim/auth", strings.NewReader(`{"otp":true}`))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT /_sim/auth: %v %v", resp, err)
	}
	q := url.Values{
		"openid.return_to":                 {srv.URL + "/ap/maplanding"},
		"openid.oa2.client_id":             {"device:" + fmt.Sprintf("%x", "0123456789ABCDEF0123456789ABCDEF#A2IVLV5VM2W81")},
		"openid.oa2.response_type":         {"code"},
		"openid.oa2.code_challenge_method": {"S256"},
		"openid.oa2.code_challenge":        {strings.Repeat("a", 43)},
	}
	p, err := signin.Start(signin.Options{StartURL: srv.URL + "/ap/signin?" + q.Encode(), Cloud: srv.URL, DeviceCookies: deviceCookies})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c := signintest.Client()
	resp, page, err := signintest.SignIn(c, p.URL(), "sim@example.com", "sim-password")
	if err != nil || !strings.Contains(page, `id="auth-mfa-otpcode"`) {
		t.Fatalf("after the password: %v at %v\n%s", err, resp.Request.URL, page)
	}
	go signintest.Submit(c, resp.Request.URL, page, url.Values{"otpCode": {"123456"}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := p.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(res.Code, "AN") {
		t.Errorf("code %q does not look like Amazon's", res.Code)
	}
	names := cookieNames(res.Cookies)
	for _, want := range []string{"session-id=", "ubid-main=", "at-main=Atza|"} {
		if !strings.Contains(names, want) {
			t.Errorf("sign-in cookies lack %s: %d cookies", want, len(res.Cookies))
		}
	}
	p.Finish(ctx, nil)
}
