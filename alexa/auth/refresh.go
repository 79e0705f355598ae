package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/alexarules/alexarules/alexa"
	"github.com/alexarules/alexarules/alexa/internal/request"
)

// csrfPaths are where the web app sets its csrf cookie, in the order the
// clients try them (research §1.6, §7).
var csrfPaths = []string{
	"/api/language",
	"/spa/index.html",
	"/api/devices-v2/device?cached=false",
	"/templates/oobe/d-device-pick.handlebars",
	"/api/strings",
}

// tokenForm is the form the app sends to the identity service with its
// refresh token (research §7, §8).
func tokenForm(refreshToken string) url.Values {
	return url.Values{
		"app_name": {appName}, "app_version": {appVersion}, "di.sdk.version": {sdkVersion},
		"source_token": {refreshToken}, "source_token_type": {"refresh_token"},
		"package_name": {"com.amazon.echo"}, "di.hw.version": {"iPhone"}, "platform": {"iOS"},
		"di.os.name": {"iOS"}, "di.os.version": {osVersion}, "current_version": {sdkVersion},
	}
}

// postForm sends a refresh-token form to the identity service. An answer
// that refuses the refresh token comes back as a *refusedError.
func (a *App) postForm(ctx context.Context, target string, form url.Values, authDomain string) (*request.Response, error) {
	resp, err := a.auth.Do(ctx, request.Request{
		Method: http.MethodPost, URL: target, Body: []byte(form.Encode()), NoAuth: true,
		Header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Accept": {"application/json"},
			"X-Amzn-Identity-Auth-Domain": {authDomain}},
	})
	if refreshTokenRefused(err) {
		return nil, &refusedError{err}
	}
	return resp, err
}

// refusedError is the identity service refusing a refresh token: the
// session is dead and only a new login helps.
type refusedError struct{ err error }

func (e *refusedError) Error() string { return e.err.Error() }
func (e *refusedError) Unwrap() error { return e.err }

// refreshTokenRefused reports an answer to a refresh-token request that
// means the token is dead: 400/401 invalid_grant (OAuth's word, which the
// simulator uses), InvalidToken (the identity service's), or any 401 (the
// refresh token is the request's only credential).
func refreshTokenRefused(err error) bool {
	var e *request.Error
	if !errors.As(err, &e) {
		return false
	}
	if e.Status == http.StatusUnauthorized {
		return true
	}
	if e.Status != http.StatusBadRequest {
		return false
	}
	for _, code := range []string{"invalid_grant", "InvalidToken", "invalid_token"} {
		if strings.EqualFold(e.Type, code) {
			return true
		}
	}
	return false
}

// accessToken makes a new access token from the refresh token (POST
// {Identity}/auth/token). The expiry is local: the time the request was
// sent plus expires_in, so a server clock that is off changes nothing and
// the computed expiry is never later than Amazon's.
func (a *App) accessToken(ctx context.Context, refreshToken string) (token string, expiry time.Time, err error) {
	const path = "/auth/token"
	form := tokenForm(refreshToken)
	form.Set("requested_token_type", "access_token")
	sent := a.clock.Now()
	resp, err := a.postForm(ctx, a.hosts.Identity+path, form, hostOf(a.hosts.Identity))
	if err != nil {
		return "", time.Time{}, err
	}
	var ans struct {
		AccessToken string  `json:"access_token"`
		TokenType   string  `json:"token_type"`
		ExpiresIn   seconds `json:"expires_in"`
	}
	if err := decode(http.MethodPost, path, resp, &ans); err != nil {
		return "", time.Time{}, err
	}
	if ans.AccessToken == "" || !strings.EqualFold(ans.TokenType, "bearer") {
		return "", time.Time{}, fmt.Errorf("alexa auth: POST %s: the answer has no bearer access token (token_type %q)", path, ans.TokenType)
	}
	return ans.AccessToken, sent.Add(ans.ExpiresIn.duration()), nil
}

// exchange makes the marketplace's web cookies from the refresh token
// (POST www.<mkt>/ap/exchangetoken/cookies, research §7).
func (a *App) exchange(ctx context.Context, h alexa.Hosts, refreshToken string) ([]Cookie, error) {
	const path = "/ap/exchangetoken/cookies"
	domain := "." + h.Domain
	form := tokenForm(refreshToken)
	form.Set("requested_token_type", "auth_cookies")
	form.Set("domain", domain)
	resp, err := a.postForm(ctx, h.Lists+path, form, "api."+h.Domain)
	if err != nil {
		return nil, err
	}
	var ans struct {
		Response struct {
			Tokens struct {
				Cookies map[string][]wireCookie `json:"cookies"`
			} `json:"tokens"`
		} `json:"response"`
	}
	if err := decode(http.MethodPost, path, resp, &ans); err != nil {
		return nil, err
	}
	cookies := fromWire(ans.Response.Tokens.Cookies[domain])
	if len(cookies) == 0 {
		return nil, fmt.Errorf("alexa auth: POST %s: the answer has no cookies for %s", path, domain)
	}
	return cookies, nil
}

// csrf visits the csrf paths on the web host, with the web cookies, until
// one sets a csrf cookie. A path that fails or sets none is skipped.
func (a *App) csrf(ctx context.Context, h alexa.Hosts, cookies []Cookie) (string, error) {
	header := http.Header{"Cookie": {cookieHeader(cookies)}, "Dnt": {"1"},
		"Referer": {h.Web + "/spa/index.html"}, "Origin": {h.Web}}
	var last error
	for _, p := range csrfPaths {
		path, query, _ := strings.Cut(p, "?")
		q, _ := url.ParseQuery(query)
		resp, err := a.web.Do(ctx, request.Request{Method: http.MethodGet, URL: h.Web + path, Query: q,
			Header: header, NoAuth: true})
		if err != nil {
			last = err
			continue
		}
		for _, c := range (&http.Response{Header: resp.Header}).Cookies() {
			if v, ok := cleanCookie(c.Name, c.Value); ok && c.Name == "csrf" && v != "" {
				return v, nil
			}
		}
	}
	err := fmt.Errorf("alexa web: no csrf cookie from %s or its %d fallbacks", csrfPaths[0], len(csrfPaths)-1)
	if last != nil {
		err = fmt.Errorf("%w (last: %w)", err, last)
	}
	return "", err
}

// webSession renews s's web cookies and csrf for the hosts h: exchange,
// then csrf. It changes s only when both succeed.
func (a *App) webSession(ctx context.Context, h alexa.Hosts, s *Session) error {
	cookies, err := a.exchange(ctx, h, s.RefreshToken)
	if err != nil {
		return fmt.Errorf("auth: web cookies: %w", err)
	}
	csrf, err := a.csrf(ctx, h, cookies)
	if err != nil {
		return fmt.Errorf("auth: web cookies: %w", err)
	}
	s.WebCookies = mergeCookies(cookies, []Cookie{{Name: "csrf", Value: csrf, Domain: "." + h.Domain, Path: "/"}})
	s.CSRF = csrf
	s.CookiesRefreshed = a.clock.Now()
	return nil
}
