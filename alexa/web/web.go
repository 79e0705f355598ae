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
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/alexarules/alexarules/alexa"
	"github.com/alexarules/alexarules/alexa/internal/observe"
	"github.com/alexarules/alexarules/alexa/internal/retry"
	"github.com/alexarules/alexarules/engine"
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

// Options configure a Client. Hosts and Cookie are required.
type Options struct {
	// Hosts are the country's hosts (alexa.HostsFor): Web for /api/*,
	// Lists for the v2 list API.
	Hosts alexa.Hosts
	// Cookie is the whole Cookie header of a logged-in web session; the
	// csrf header is read from its csrf= value.
	Cookie string
	// HTTPClient defaults to a client with a 30 s timeout.
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
}

// Client calls the Alexa web API. It is safe for concurrent use.
type Client struct {
	web, lists   string // base URLs without trailing slash
	cookie, csrf string
	userAgent    string
	language     string
	hc           *http.Client
	logger       *slog.Logger
	listAPI      listAPI
	retry        retry.Policy
}

// maxBody caps a response body; a household's notifications are far smaller.
const maxBody = 8 << 20

// New checks o and returns a client.
func New(o Options) (*Client, error) {
	if o.Hosts.Web == "" {
		return nil, errors.New("alexa web: no web API host (Options.Hosts.Web)")
	}
	if strings.TrimSpace(o.Cookie) == "" {
		return nil, errors.New("alexa web: no cookie: log in to the Alexa web app and configure its Cookie header")
	}
	if strings.ContainsAny(o.Cookie, "\r\n") {
		return nil, errors.New("alexa web: the cookie must be one line")
	}
	csrf := cookieValue(o.Cookie, "csrf")
	if csrf == "" {
		return nil, errors.New("alexa web: the cookie has no csrf= value")
	}
	c := &Client{
		web:       strings.TrimRight(o.Hosts.Web, "/"),
		lists:     strings.TrimRight(o.Hosts.Lists, "/"),
		cookie:    strings.TrimSpace(o.Cookie),
		csrf:      csrf,
		userAgent: o.UserAgent,
		language:  o.AcceptLanguage,
		hc:        o.HTTPClient,
		logger:    o.Logger,
		retry: retry.Policy{
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
	if c.userAgent == "" {
		c.userAgent = DefaultUserAgent
	}
	if c.language == "" {
		c.language = language(o.Hosts.Country)
	}
	if c.hc == nil {
		c.hc = &http.Client{Timeout: 30 * time.Second}
	}
	c.hc = observe.Client(c.hc, "web", o.Observe)
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

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
func (c *Client) now() time.Time { return c.retry.Now() }

// cacheBuster is the _=<epoch ms> parameter the web app adds to GETs.
func (c *Client) cacheBuster() string { return strconv.FormatInt(c.now().UnixMilli(), 10) }

// send is the one request path of the package: session headers, JSON
// body, retries on throttling and 503 with back-off honouring Retry-After,
// and error answers turned into *Error. base is c.web or c.lists; path is
// already escaped. It returns the body of a 2xx answer.
func (c *Client) send(ctx context.Context, method, base, path string, query url.Values, body any) ([]byte, error) {
	target := base + path
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return nil, fmt.Errorf("alexa web: %s %s: encode body: %w", method, path, err)
		}
	}
	for attempt := 1; ; attempt++ {
		status, header, respBody, err := c.roundTrip(ctx, method, target, payload)
		if err != nil {
			return nil, fmt.Errorf("alexa web: %s %s: %w", method, path, err)
		}
		c.logger.DebugContext(ctx, "alexa web request", "method", method, "path", path, "status", status, "attempt", attempt,
			engine.OriginAttr(ctx))
		if status >= 200 && status < 300 {
			return respBody, nil
		}
		e := parseError(method, path, status, header, respBody, c.now())
		e.Attempts = attempt
		if !e.retryable() {
			return nil, e
		}
		delay, ok := c.retry.Delay(ctx, attempt, e.RetryAfter)
		if !ok {
			return nil, e
		}
		c.logger.InfoContext(ctx, "alexa web: retrying", "method", method, "path", path, "status", status, "throttled", e.Throttled,
			"delay", delay, engine.OriginAttr(ctx))
		if err := c.retry.Sleep(ctx, delay); err != nil {
			return nil, fmt.Errorf("%w (retry abandoned: %w)", e, err)
		}
	}
}

func (c *Client) roundTrip(ctx context.Context, method, target string, payload []byte) (int, http.Header, []byte, error) {
	var rd io.Reader
	if payload != nil {
		// A bytes.Reader gives the request a Content-Length, so even a
		// DELETE body is framed (Node's client sends DELETE bodies unframed,
		// which breaks kept-alive connections).
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return 0, nil, nil, err
	}
	h := req.Header
	h.Set("Cookie", c.cookie)
	h.Set("csrf", c.csrf)
	h.Set("User-Agent", c.userAgent)
	h.Set("Referer", c.web+"/spa/index.html")
	h.Set("Origin", c.web)
	h.Set("Accept-Language", c.language)
	h.Set("Accept", "application/json; charset=utf-8")
	if payload != nil {
		h.Set("Content-Type", "application/json; charset=UTF-8")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return 0, nil, nil, fmt.Errorf("read response: %w", err)
	}
	if len(data) > maxBody {
		return 0, nil, nil, fmt.Errorf("response larger than %d bytes", maxBody)
	}
	return resp.StatusCode, resp.Header, data, nil
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
