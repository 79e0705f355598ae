package auth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/alexarules/alexarules/alexa"
	"github.com/alexarules/alexarules/alexa/internal/request"
	"github.com/alexarules/alexarules/alexa/internal/retry"
	"github.com/alexarules/alexarules/engine"
)

// AppOptions tune NewApp; the zero value is usable.
type AppOptions struct {
	HTTPClient *http.Client // default: the request path's pooled keep-alive client (30 s timeout)
	// Logger defaults to discarding. No token, cookie, key, code or
	// verifier is ever logged, not even at debug level.
	Logger *slog.Logger
	// Clock is the time of token expiries, refresh schedules and retry
	// back-off (default engine.RealClock); tests pass engine.NewVirtual.
	Clock engine.Clock
	// Observe, when set, is told every request's result class and
	// latency: identity calls under "auth", web-host calls under "web".
	Observe func(api, result string, d time.Duration)
	// MaxAttempts bounds the requests of one call Amazon answers with
	// 429 or 5xx (default 4); back-off 1 s doubling to 30 s.
	MaxAttempts int
}

// App is the client of Amazon's app-registration and identity endpoints:
// it registers the household's virtual app device once per interactive
// login (Register) and makes new access tokens and web cookies from the
// refresh token (for a Keeper). Every call goes through the one request
// path. It is safe for concurrent use.
type App struct {
	hosts  alexa.Hosts
	cloud  string // the --cloud base when every host is it, else ""
	clock  engine.Clock
	logger *slog.Logger
	auth   *request.Client // identity, exchange and capabilities
	web    *request.Client // users/me and the csrf pages
}

// NewApp returns the client for the hosts of the login (alexa.HostsFor of
// the configured region, or of --cloud). It needs h.Identity, h.Login,
// h.Capabilities and h.Web. Hosts from HostsFor with a cloud URL (every
// host the same base, so Web == Login, which never holds for Amazon's own
// hosts) make the account's hosts stay on that base too.
func NewApp(h alexa.Hosts, o AppOptions) (*App, error) {
	for _, f := range []struct{ name, v string }{
		{"Identity", h.Identity}, {"Login", h.Login}, {"Capabilities", h.Capabilities}, {"Web", h.Web},
	} {
		if f.v == "" {
			return nil, fmt.Errorf("auth: no %s host (alexa.Hosts.%s)", strings.ToLower(f.name), f.name)
		}
	}
	a := &App{hosts: h, clock: o.Clock, logger: o.Logger}
	if a.clock == nil {
		a.clock = engine.RealClock{}
	}
	if a.logger == nil {
		a.logger = slog.New(slog.DiscardHandler)
	}
	if h.Web == h.Login && h.Identity == h.Login {
		a.cloud = h.Login
	}
	policy := retry.Policy{MaxAttempts: o.MaxAttempts, BaseBackoff: time.Second, MaxBackoff: 30 * time.Second,
		MaxRetryAfter: 2 * time.Minute, Now: a.clock.Now, Sleep: retry.ClockSleep(a.clock)}
	header := http.Header{"User-Agent": {userAgent}, "Accept-Language": {"en-US"}}
	ro := request.Options{HTTPClient: o.HTTPClient, Logger: a.logger, Header: header, Observe: o.Observe}
	a.auth = request.New(request.Family{Name: "auth", Prefix: "alexa auth", Policy: policy, Parse: parseError}, ro)
	a.web = request.New(request.Family{Name: "web", Prefix: "alexa web", Policy: policy, Parse: parseError}, ro)
	return a, nil
}

// parseError reads Amazon's error shapes (request.ParseBody) but never
// quotes a body that is not JSON: an HTML or text answer of the identity
// service could echo the form we sent, tokens included.
func parseError(e *request.Error, h http.Header, body []byte) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) > 0 && trimmed[0] == '{' && json.Valid(trimmed) {
		request.ParseBody(e, h, body)
		return
	}
	request.ParseBody(e, h, nil)
	if len(trimmed) > 0 {
		e.Message = fmt.Sprintf("a %d-byte %s answer", len(body), contentType(h))
	}
}

func contentType(h http.Header) string {
	ct, _, _ := strings.Cut(h.Get("Content-Type"), ";")
	if ct = strings.TrimSpace(ct); ct == "" {
		return "untyped"
	}
	return ct
}

// seconds is a lifetime Amazon sends as a number or as a string of one
// (expires_in is "3600" in /auth/register, 3600 in /auth/token).
type seconds int64

func (s *seconds) UnmarshalJSON(b []byte) error {
	text := strings.Trim(string(bytes.TrimSpace(b)), `"`)
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil || n <= 0 {
		return errors.New("expires_in is not a positive number of seconds")
	}
	*s = seconds(n)
	return nil
}

func (s seconds) duration() time.Duration { return time.Duration(s) * time.Second }

// hostOf is the host of a base URL, for x-amzn-identity-auth-domain.
func hostOf(base string) string {
	if u, err := url.Parse(base); err == nil && u.Host != "" {
		return u.Host
	}
	return base
}

// decode unmarshals a 2xx answer; the error names the request and the
// answer's type and size, never its text.
func decode(method, path string, resp *request.Response, v any) error {
	if err := json.Unmarshal(resp.Body, v); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			err = errors.New("not JSON")
		}
		return fmt.Errorf("alexa auth: %s %s: %d answer (%d bytes, %s) unreadable: %w",
			method, path, resp.Status, len(resp.Body), contentType(resp.Header), err)
	}
	return nil
}
