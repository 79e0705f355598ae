// Package signintest helps tests of the Amazon sign-in (the proxy of
// package signin, `alexarules login`, the simulator's pages): a scripted
// browser that loads a page, fills in its form and follows the redirects
// as a user's would, the simulator's registrations, and the secrets of a
// stored session that must never show in output.
package signintest

import (
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"maps"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alexarules/alexarules/alexa/auth"
)

var (
	formTag  = regexp.MustCompile(`(?is)<form\b[^>]*>.*?</form>`)
	inputTag = regexp.MustCompile(`(?is)<input\b[^>]*>`)
	attr     = regexp.MustCompile(`(?is)([a-z][a-z0-9_-]*)\s*=\s*"([^"]*)"`)
)

// Client is a browser: a cookie jar, redirects followed.
func Client() *http.Client {
	jar, _ := cookiejar.New(nil) // cookiejar.New never fails without options
	return &http.Client{Jar: jar, Timeout: 30 * time.Second}
}

// Get loads a page and returns the final response (body read and closed)
// and its body.
func Get(c *http.Client, u string) (*http.Response, string, error) {
	resp, err := c.Get(u)
	return read(resp, err)
}

func read(resp *http.Response, err error) (*http.Response, string, error) {
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), err
}

// Submit posts the first form of page, which was loaded from pageURL:
// its inputs with values set over them, to its action resolved against
// pageURL, with the Referer and Origin a browser sends. It returns the
// final response and its body.
func Submit(c *http.Client, pageURL *url.URL, page string, values url.Values) (*http.Response, string, error) {
	form := formTag.FindString(page)
	if form == "" {
		return nil, "", fmt.Errorf("no form in the page at %s:\n%s", pageURL, page)
	}
	fields := Fields(form)
	maps.Copy(fields, values)
	target, err := pageURL.Parse(attrs(form[:strings.IndexByte(form, '>')+1])["action"])
	if err != nil {
		return nil, "", fmt.Errorf("form action: %w", err)
	}
	req, err := http.NewRequest(http.MethodPost, target.String(), strings.NewReader(fields.Encode()))
	if err != nil {
		return nil, "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Referer", pageURL.String())
	req.Header.Set("Origin", pageURL.Scheme+"://"+pageURL.Host)
	return read(c.Do(req))
}

// Fields are the inputs of the first form in page with their values, as
// a browser sends them back unchanged (submit buttons and checkboxes
// left out).
func Fields(page string) url.Values {
	fields := url.Values{}
	for _, in := range inputTag.FindAllString(formTag.FindString(page), -1) {
		if a := attrs(in); a["name"] != "" && a["type"] != "submit" && a["type"] != "checkbox" {
			fields.Set(a["name"], a["value"])
		}
	}
	return fields
}

// SignIn opens start, submits the sign-in form with email and password
// and follows the redirects. It returns the final response and its body.
func SignIn(c *http.Client, start, email, password string) (*http.Response, string, error) {
	resp, page, err := Get(c, start)
	if err != nil {
		return nil, "", err
	}
	if !strings.Contains(page, `name="signIn"`) {
		return resp, page, errors.New("GET " + start + ": " + resp.Status + ", no sign-in form:\n" + page)
	}
	return Submit(c, resp.Request.URL, page, url.Values{"email": {email}, "password": {password}})
}

// Code signs in at start as SignIn does but stops at the maplanding
// redirect, as the sign-in proxy does, and returns the authorization code
// it carries and the cookies that answer set.
func Code(c *http.Client, start, email, password string) (string, []*http.Cookie, error) {
	resp, page, err := SignIn(StopAt(c, "/ap/maplanding"), start, email, password)
	if err != nil {
		return "", nil, err
	}
	if resp.StatusCode != http.StatusFound {
		return "", nil, fmt.Errorf("POST %s: %s, want the /ap/maplanding redirect:\n%s", resp.Request.URL.Path, resp.Status, page)
	}
	code, err := auth.CodeFromURL(resp.Header.Get("Location"))
	if err != nil {
		return "", nil, err
	}
	return code, resp.Cookies(), nil
}

// StopAt makes c stop at a redirect to a path ending in suffix (e.g.
// "/ap/maplanding", which a browser on another machine cannot load) and
// return that redirect.
func StopAt(c *http.Client, suffix string) *http.Client {
	cp := *c
	cp.CheckRedirect = func(r *http.Request, _ []*http.Request) error {
		if strings.HasSuffix(r.URL.Path, suffix) {
			return http.ErrUseLastResponse
		}
		return nil
	}
	return &cp
}

func attrs(tag string) map[string]string {
	m := map[string]string{}
	for _, a := range attr.FindAllStringSubmatch(tag, -1) {
		m[strings.ToLower(a[1])] = html.UnescapeString(a[2])
	}
	return m
}

// Registrations is the simulator's list of registered app devices (GET
// /_sim/auth): each with device_serial, client_id and time. A failure
// fails t.
func Registrations(t testing.TB, simURL string) []map[string]any {
	t.Helper()
	resp, err := http.Get(simURL + "/_sim/auth")
	if err != nil {
		t.Fatalf("GET /_sim/auth: %v", err)
	}
	defer resp.Body.Close()
	var v struct {
		Registrations []map[string]any `json:"registrations"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatalf("GET /_sim/auth: %v", err)
	}
	return v.Registrations
}

// NoSecret fails t when text shows a secret of a stored session
// (auth.Session JSON) or one of more (a password): its tokens, its key,
// its cookie values of 8 or more characters (shorter ones could turn up
// in any text by chance). A session without any of the tokens or the key
// fails too: the check would prove nothing.
func NoSecret(t testing.TB, session []byte, text string, more ...string) {
	t.Helper()
	var s auth.Session
	if err := json.Unmarshal(session, &s); err != nil {
		t.Fatalf("stored session: %v", err)
	}
	secrets := []string{s.AccessToken, s.RefreshToken, s.ADPToken, s.DevicePrivateKey}
	if slices.Contains(secrets, "") {
		t.Fatalf("the stored session lacks a token or the device key")
	}
	for _, c := range append(s.LoginCookies, s.WebCookies...) {
		if len(c.Value) >= 8 {
			secrets = append(secrets, c.Value)
		}
	}
	for _, sec := range append(secrets, more...) {
		if strings.Contains(text, sec) {
			t.Errorf("a secret (%.6s…) shows in the output or logs", sec)
		}
	}
}
