// Package web is a client for the Alexa web API, the cookie-authenticated
// API behind alexa.amazon.{tld}: Echo devices and their time zones,
// notifications (alarms, timers, reminders), reminder creation,
// notification volume, and the Alexa lists (the v2 shopping-list API on
// www.amazon.{tld} or the legacy /api/namedLists).
//
// Requests look like those of the npm client alexa-remote2 (cookie plus
// csrf header, Referer and Origin of the web host, JSON bodies), with a
// desktop browser User-Agent because Amazon throttles /api/notifications
// per User-Agent.
package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/alexarules/alexarules/alexa"
	"github.com/alexarules/alexarules/alexa/internal/request"
	"github.com/alexarules/alexarules/alexa/internal/retry"
)

// SimCookie is the web session the simulator accepts: callers pass it when
// they point the engine at a --cloud URL and no cookie is configured.
const SimCookie = "session-id=000-0000000-0000000; ubid-acbde=000-0000000-0000000; csrf=135792468"

// DefaultUserAgent is a current desktop browser. Amazon throttles
// /api/notifications per User-Agent and lets browsers through where it
// answers the app's User-Agent with 400 ThrottlingException.
const DefaultUserAgent = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/150.0.0.0 Safari/537.36"

// The two list APIs Options.Lists chooses between.
const (
	ListsV2     = "v2"     // www.amazon.{tld}/alexashoppinglists/api/v2/lists (current)
	ListsLegacy = "legacy" // alexa.amazon.{tld}/api/namedLists (stopped working for many accounts in 2025)
)

// Options configure a Client. Hosts and either Auth or Cookie are
// required.
type Options struct {
	// Hosts are the country's hosts (alexa.HostsFor): Web for /api/*,
	// Lists for the v2 list API.
	Hosts alexa.Hosts
	// Auth, when set, puts the session's credentials (Cookie and csrf
	// headers) on every request and renews them when Amazon refuses them
	// (an app session's cookies, exchanged again on a 401); Cookie is then
	// ignored.
	Auth request.Authorizer
	// Cookie is the whole Cookie header of a logged-in web session; the
	// csrf header is read from its csrf= value. It is required without
	// Auth, and sent as is: a refused cookie stays refused (ErrAuth).
	Cookie string
	// HTTPClient defaults to the request path's pooled keep-alive client (30 s timeout).
	HTTPClient *http.Client
	// Logger defaults to discarding. The cookie is never logged.
	Logger *slog.Logger
	// UserAgent defaults to DefaultUserAgent.
	UserAgent string
	// AcceptLanguage defaults to the language of Hosts.Country (de-DE for
	// DE, en-US for US, ...).
	AcceptLanguage string
	// Lists is ListsV2 (default) or ListsLegacy.
	Lists string

	// MaxAttempts bounds the requests for one call when Amazon throttles
	// (429, or 400 ThrottlingException) or answers 503; default 4.
	MaxAttempts int
	// BaseBackoff and MaxBackoff shape the exponential back-off between
	// attempts: BaseBackoff·2ⁿ, at most MaxBackoff (defaults 1 s, 30 s). A
	// Retry-After header replaces the computed delay.
	BaseBackoff, MaxBackoff time.Duration
	// MaxRetryAfter is the longest Retry-After the client waits for within
	// one call; a longer one fails the call at once (default 2 min), which
	// leaves the longer wait to the caller (see Debouncer).
	MaxRetryAfter time.Duration
	// Sleep waits between attempts and must return early with ctx.Err()
	// when ctx ends; default a timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// Now is the clock for createdDate, cache busters, Retry-After dates
	// and reminder validation; default time.Now.
	Now func() time.Time
	// Observe, when set, is told every request's result class and latency
	// under the API family "web" (lists included), e.g.
	// engine.Metrics.ObserveAPICall.
	Observe func(api, result string, d time.Duration)
	// AccessToken returns the account's access token, which the RAH
	// voice history wants as a Bearer besides the session (force: the
	// last one was refused, get a new one). Only RAH needs it.
	AccessToken func(ctx context.Context, force bool) (string, error)
}

// Client calls the Alexa web API through the one request path (family
// "web"). It is safe for concurrent use.
type Client struct {
	// Base URLs without trailing slash: web is alexa.amazon.{tld}, lists
	// www.amazon.{tld} (the v2 lists and the voice history).
	web, lists string
	rc         *request.Client
	zones      Zones // the Echos' time zones, for reminders
	logger     *slog.Logger
	listAPI    listAPI

	// rvh and rah call the voice history services: their credentials
	// include the history token, and a 403 means it went stale.
	rvh, rah    *request.Client
	accessToken func(ctx context.Context, force bool) (string, error)
	history     historyState

	locale string // the account's language (Accept-Language), sent as the sequences' locale

	mu         sync.Mutex
	customerID string // /api/users/me id, once read
}

// New checks o and returns a client.
func New(o Options) (*Client, error) {
	if o.Hosts.Web == "" {
		return nil, errors.New("alexa web: no web API host (Options.Hosts.Web)")
	}
	auth := o.Auth
	if auth == nil {
		static, err := staticSession(o.Cookie)
		if err != nil {
			return nil, err
		}
		auth = static
	}
	c := &Client{
		web:    strings.TrimRight(o.Hosts.Web, "/"),
		lists:  strings.TrimRight(o.Hosts.Lists, "/"),
		logger: o.Logger,

		accessToken: o.AccessToken,
	}
	switch o.Lists {
	case "", ListsV2:
		if c.lists == "" {
			return nil, errors.New("alexa web: no lists host (Options.Hosts.Lists) for the v2 list API")
		}
		c.listAPI = v2Lists{c}
	case ListsLegacy:
		c.listAPI = legacyLists{c}
	default:
		return nil, fmt.Errorf("alexa web: lists API %q: want %q or %q", o.Lists, ListsV2, ListsLegacy)
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	header := c.header(o)
	c.locale = header.Get("Accept-Language")
	c.rc = request.New(family(o), request.Options{
		HTTPClient: o.HTTPClient,
		Logger:     c.logger,
		Auth:       auth,
		Header:     header,
		Observe:    o.Observe,
	})
	c.rvh = c.historyClient(o, auth, false)
	c.rah = c.historyClient(o, auth, true)
	return c, nil
}

// historyClient is the request path of a voice history service: the web
// family, refusing with 401 or 403 (a stale history token), and never
// sending the call twice itself (see VoiceHistory).
func (c *Client) historyClient(o Options, session request.Authorizer, bearer bool) *request.Client {
	f := family(o)
	f.RefusedStatus = []int{http.StatusUnauthorized, http.StatusForbidden}
	f.Sentinel = nil
	return request.New(f, request.Options{
		HTTPClient: o.HTTPClient,
		Logger:     c.logger,
		Auth:       &historyAuth{c: c, inner: session, bearer: bearer},
		Header:     c.header(o),
		Observe:    o.Observe,
	})
}

// family is the web API's request family: throttling (429, or 400 with
// a ThrottlingException anywhere in the body) and 503 are retried, with
// longer back-off than the REST APIs, and a refused session is ErrAuth.
func family(o Options) request.Family {
	return request.Family{
		Name:   "web",
		Prefix: "alexa web",
		Policy: retry.Policy{
			MaxAttempts:   o.MaxAttempts,
			BaseBackoff:   o.BaseBackoff,
			MaxBackoff:    o.MaxBackoff,
			MaxRetryAfter: o.MaxRetryAfter,
			Sleep:         o.Sleep,
			Now:           o.Now,
		}.WithDefaults(retry.Policy{
			MaxAttempts:   4,
			BaseBackoff:   time.Second,
			MaxBackoff:    30 * time.Second,
			MaxRetryAfter: 2 * time.Minute,
		}),
		Retryable: func(e *request.Error) bool { return e.Throttled || e.Status == http.StatusServiceUnavailable },
		Parse:     parseError,
		Sentinel:  ErrAuth,
	}
}

// header is what every request carries besides the credentials: the
// browser's User-Agent, the web app's Referer, Origin and language.
func (c *Client) header(o Options) http.Header {
	ua, lang := o.UserAgent, o.AcceptLanguage
	if ua == "" {
		ua = DefaultUserAgent
	}
	if lang == "" {
		lang = language(o.Hosts.Country)
	}
	return http.Header{
		"User-Agent":      {ua},
		"Referer":         {c.web + "/spa/index.html"},
		"Origin":          {c.web},
		"Accept-Language": {lang},
		"Accept":          {"application/json; charset=utf-8"},
	}
}

// CookieAuth is the authorizer of a Cookie header configured by hand (or
// the simulator's, SimCookie): it sends the cookie and its csrf value as
// is, for the other web-session API families (the household smart-home
// API). The cookie must be one line with a csrf= value.
func CookieAuth(cookie string) (request.Authorizer, error) {
	return staticSession(cookie)
}

// staticCookie is the Authorizer of a Cookie header configured by hand:
// nothing can renew it. It holds the two header values ready to share
// with every request, clipped (an Add on a request appends to a copy):
// Header.Set made two allocations per call.
type staticCookie struct{ cookie, csrf []string }

func staticSession(cookie string) (staticCookie, error) {
	if strings.TrimSpace(cookie) == "" {
		return staticCookie{}, errors.New("alexa web: no cookie: log in to the Alexa web app and configure its Cookie header")
	}
	if strings.ContainsAny(cookie, "\r\n") {
		return staticCookie{}, errors.New("alexa web: the cookie must be one line")
	}
	csrf := cookieValue(cookie, "csrf")
	if csrf == "" {
		return staticCookie{}, errors.New("alexa web: the cookie has no csrf= value")
	}
	return staticCookie{cookie: []string{strings.TrimSpace(cookie)}, csrf: []string{csrf}}, nil
}

func (s staticCookie) Authorize(_ context.Context, req *http.Request) error {
	req.Header["Cookie"] = s.cookie
	req.Header["Csrf"] = s.csrf // http.CanonicalHeaderKey("csrf"), as Header.Set writes it
	return nil
}

func (staticCookie) Refused(context.Context, *http.Request, int) bool { return false }

// cookieValue returns the value of the cookie named name in a Cookie
// header, or "".
func cookieValue(header, name string) string {
	for part := range strings.SplitSeq(header, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if ok && k == name {
			return strings.Trim(strings.TrimSpace(v), `"`)
		}
	}
	return ""
}

// language is the Accept-Language of the Alexa web app in each country.
func language(country string) string {
	switch country {
	case "CA":
		return "en-CA"
	case "MX":
		return "es-MX"
	case "BR":
		return "pt-BR"
	case "UK":
		return "en-GB"
	case "DE":
		return "de-DE"
	case "FR":
		return "fr-FR"
	case "IT":
		return "it-IT"
	case "ES":
		return "es-ES"
	case "IN":
		return "en-IN"
	case "JP":
		return "ja-JP"
	case "AU":
		return "en-AU"
	}
	return "en-US"
}

// now is the client's clock (Options.Now).
func (c *Client) now() time.Time { return c.rc.Now() }

// cacheBuster is the _=<epoch ms> parameter the web app adds to GETs.
func (c *Client) cacheBuster() string { return strconv.FormatInt(c.now().UnixMilli(), 10) }

// send makes one call through the request path with body, if any, as
// JSON. base is c.web or c.lists; path is already escaped. It returns the
// body of a 2xx answer; an error answer is an *Error.
func (c *Client) send(ctx context.Context, method, base, path string, query url.Values, body any) ([]byte, error) {
	r := request.Request{Method: method, URL: base + path, Query: query, JSON: body}
	resp, err := c.rc.Do(ctx, r)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// rawJSON is a body send passes as is: JSON encoded without the HTML
// escapes (\u003c for <) encoding/json adds, so SSML and text reach
// Amazon as the web app sends them.
type rawJSON []byte

// AppendJSON makes it a request.JSONAppender: sent as it is.
func (r rawJSON) AppendJSON(b []byte) []byte { return append(b, r...) }

// marshalRaw encodes v as send's rawJSON.
func marshalRaw(v any) (rawJSON, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("alexa web: encode: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// get makes a GET on the web host and decodes its JSON object into v.
func (c *Client) get(ctx context.Context, path string, query url.Values, v any) error {
	body, err := c.send(ctx, "GET", c.web, path, query, nil)
	if err != nil {
		return err
	}
	return decode("GET", path, body, v)
}

// decode unmarshals a 2xx body into v, which must be a JSON object; any
// failure is an ErrBadResponse naming the request.
func decode(method, path string, body []byte, v any) error {
	trimmed := bytes.TrimSpace(body)
	switch {
	case len(trimmed) == 0:
		return badResponse(method, path, "empty body")
	case trimmed[0] != '{':
		return badResponse(method, path, "not a JSON object")
	}
	if err := json.Unmarshal(trimmed, v); err != nil {
		return fmt.Errorf("alexa web: %s %s: %w: %w", method, path, ErrBadResponse, err)
	}
	return nil
}

func badResponse(method, path, reason string) error {
	return fmt.Errorf("alexa web: %s %s: %w: %s", method, path, ErrBadResponse, reason)
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("alexa web: %w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// segment escapes one path segment.
func segment(s string) string { return url.PathEscape(s) }
