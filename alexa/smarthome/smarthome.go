// Package smarthome is the client of the Alexa app's household smart-home
// API, the unofficial cookie-authenticated API that alexa-remote2, alexapy
// and homebridge-alexa use (research household-smarthome-api.md): device
// discovery through GraphQL (POST /nexus/v1/graphql, query
// CustomerSmartHome) and the groups list (GET /api/phoenix/group), state
// reads through POST /api/phoenix/state (many entities per request),
// control through PUT /api/phoenix/state controlRequests and, for an
// exact colour temperature, the GraphQL setEndpointFeatures mutation.
//
// Client implements alexa.Backend, so an alexa.Directory names its devices
// for rules. Ids are the entityId UUIDs the API keys devices by (groups:
// "group:<short group id>"); a device's name is its first alias, else its
// friendlyName.
//
// Amazon throttles this API per account. A throttle answer (phoenix "Too
// many requests", 429, ThrottlingException, "Rate exceeded", or GraphQL's
// UNOFFICIAL_CLIENT_TOO_MANY_REQUESTS in a 200 answer) puts the whole
// client into a cool-down: the Retry-After Amazon named, else
// FirstCooldown doubling per throttle answer in a row up to
// Options.Cooldown. Until it ends States and Devices fail at once with an
// error wrapping ErrThrottled that says until when; Update and Get wait
// for its end when it comes before their context's deadline, and fail
// the same way otherwise. Nothing is retried in a tight loop.
//
// Choices where the research leaves several (each a documented option or
// stated here):
//   - Discovery uses query CustomerSmartHome with pagination disabled
//     (alexapy, aioamazondevices), not alexa-remote2's query Endpoints,
//     which may cut large households short (§9.5).
//   - Reads send the entityId with ENTITY (UUID+APPLIANCE is refused,
//     §3), all ids in one POST up to MaxBatch. A group's state is read
//     from its members in the same request: power ON when any member is
//     on, connectivity OK when any member answers, other values the first
//     member's that has one.
//   - Control sends the entityId with ENTITY (alexapy; §9.4 calls it the
//     safer form), groups their short id with GROUP.
//   - setBrightness sends "50" by default (Options.BrightnessForm, §9.1).
//   - setColor sends the nearest colour name (alexa/smarthome/colors);
//     the HSB brightness is not part of phoenix setColor and is not sent.
//   - setColorTemperature: see KelvinAuto; warmer/cooler step to the next
//     white name from the state read first; adjustBrightness reads, then
//     sets.
//   - Success needs every controlResponses code SUCCESS and no errors.
//     ENDPOINT_UNREACHABLE is an unreachable error,
//     TargetApplianceNotFoundException a not-found one that also refreshes
//     the device list (at most once per Options.MinRediscover).
//   - Operations this API lacks (volume, bluetooth) and those the device's
//     capabilities lack fail with UNSUPPORTED before any request; a device
//     that lists no capabilities at all is left to Amazon to refuse.
package smarthome

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/alexarules/alexarules/alexa"
	"github.com/alexarules/alexarules/alexa/internal/observe"
	"github.com/alexarules/alexarules/alexa/internal/request"
	"github.com/alexarules/alexarules/alexa/internal/retry"
	"github.com/alexarules/alexarules/engine"
)

// MaxBatch is the most entities one POST /api/phoenix/state asks for;
// States splits longer lists. alexa-remote2 sizes its state timeout for
// lists of this order (n·200 ms), and households rarely have more lights.
const MaxBatch = 50

// Brightness forms of the phoenix setBrightness parameter (research §9:
// clients disagree, the server seems to accept each).
const (
	BrightnessInt      = "int"      // "50": a string with a whole percentage (alexapy; default)
	BrightnessNumber   = "number"   // 50: a JSON number (node-red)
	BrightnessFraction = "fraction" // "0.5": a string with the fraction (ioBroker)
)

// Ways of setting a colour temperature (Options.Kelvin).
const (
	// KelvinAuto sends a kelvin that is one of the white names' (2200,
	// 2700, 4000, 5500, 7000) as that name through phoenix, and any other
	// as a number through the GraphQL setEndpointFeatures mutation, so
	// that the value is exact. Groups, which have no endpoint id, always
	// get the nearest name. The default.
	KelvinAuto = "auto"
	// KelvinName always sends the nearest white name through phoenix.
	KelvinName = "name"
	// KelvinExact always sends the number through GraphQL (groups: name).
	KelvinExact = "exact"
)

// Defaults of Options.
const (
	// DefaultCooldown caps the account's pause after throttle answers
	// without Retry-After (Options.Cooldown).
	DefaultCooldown      = 5 * time.Minute
	DefaultMinRediscover = 5 * time.Minute
)

// FirstCooldown is the pause after a first throttle answer without
// Retry-After, within the 30-63 s alexa-remote2 and alexapy wait after
// "Too many requests" (10-13 s, plus 20-50 s; research §7.2). Each
// further throttle answer in a row doubles it, up to Options.Cooldown.
const FirstCooldown = 30 * time.Second

// Options configure a Client. Hosts.Web and Auth are required.
type Options struct {
	// Hosts are the account's hosts: Web (alexa.amazon.{tld}, or the
	// simulator) serves every call.
	Hosts alexa.Hosts
	// Auth puts the web session's cookie and csrf header on each request
	// (auth.Keeper.WebAuth(), or a static cookie's authorizer).
	Auth request.Authorizer
	// HTTPClient defaults to the request path's pooled keep-alive client (30 s timeout).
	HTTPClient *http.Client
	// Logger defaults to discarding; it never sees cookies or bodies.
	Logger *slog.Logger
	// Observe times every request under the family "smarthome".
	Observe observe.Func
	// Clock gives the time for cool-downs and Retry-After; default the
	// wall clock.
	Clock engine.Clock
	// UserAgent defaults to the Alexa iPhone app's: homebridge-alexa
	// found it throttled less than others (research §7.2).
	UserAgent string
	// Scale is CELSIUS (default) or FAHRENHEIT: temperatures are
	// converted to it, as the features backend does.
	Scale string
	// BrightnessForm is how setBrightness sends its value:
	// BrightnessInt (default), BrightnessNumber or BrightnessFraction.
	BrightnessForm string
	// Kelvin is how setColorTemperature sends its value: KelvinAuto
	// (default), KelvinName or KelvinExact.
	Kelvin string
	// Cooldown caps the whole account's pause after throttle answers
	// (default DefaultCooldown): a throttle answer with Retry-After pauses
	// exactly that long; one without pauses FirstCooldown, doubled for each
	// further throttle answer in a row, at most Cooldown. The first
	// successful call after a pause starts again from FirstCooldown.
	Cooldown time.Duration
	// MinRediscover is the least time between two discoveries the client
	// runs on its own (an id it does not know, a device Amazon no longer
	// finds); default DefaultMinRediscover. Devices always discovers.
	MinRediscover time.Duration
	// Sent, when set, is told each control request the client sends, with
	// the names numeric values were mapped to, for the rule's trace.
	Sent func(Sent)
}

// Sent describes one control request as sent.
type Sent struct {
	ID        string         // the device id the caller named
	Operation string         // the caller's operation, e.g. "setColor"
	Request   string         // "PUT /api/phoenix/state" or "POST /nexus/v1/graphql setEndpointFeatures"
	Params    map[string]any // the parameters sent (phoenix parameters or the GraphQL payload)
	Note      string         // how the value was mapped, e.g. "hue 5 saturation 0.9 → red"; "" when sent as given
}

// Client calls the smart-home API through the one request path (family
// "smarthome"). It is safe for concurrent use.
type Client struct {
	web           string
	rc            *request.Client
	logger        *slog.Logger
	clock         engine.Clock
	scale         string
	brightness    string
	kelvin        string
	cooldown      time.Duration
	minRediscover time.Duration
	sent          func(Sent)

	mu          sync.Mutex
	until       time.Time // end of the account's cool-down
	strikes     int       // throttle answers in a row, without a success between
	epoch       uint64    // throttle answers so far (strikes counted)
	inventory   *inventory
	discovered  time.Time     // when the last discovery attempt started
	discoveries int           // discoveries finished
	lastErr     error         // the last discovery's error
	discovering chan struct{} // holds a token while one goroutine discovers
}

// DefaultUserAgent is the Alexa iPhone app's User-Agent as alexa-remote2
// sends it.
const DefaultUserAgent = "AppleWebKit PitanguiBridge/2.2.595606.0-[HARDWARE=iPhone14_7][SOFTWARE=17.4.1][DEVICE=iPhone]"

// New checks o and returns a client. It makes no request.
func New(o Options) (*Client, error) {
	if o.Hosts.Web == "" {
		return nil, errors.New("alexa smarthome: no web host (Options.Hosts.Web)")
	}
	if o.Auth == nil {
		return nil, errors.New("alexa smarthome: no web session (Options.Auth)")
	}
	scale, err := alexa.NormScale(o.Scale)
	if err != nil {
		return nil, fmt.Errorf("alexa smarthome: %w", err)
	}
	c := &Client{
		web:           strings.TrimRight(o.Hosts.Web, "/"),
		logger:        o.Logger,
		clock:         o.Clock,
		scale:         scale,
		brightness:    o.BrightnessForm,
		kelvin:        o.Kelvin,
		cooldown:      o.Cooldown,
		minRediscover: o.MinRediscover,
		sent:          o.Sent,
		discovering:   make(chan struct{}, 1),
	}
	switch c.brightness {
	case "":
		c.brightness = BrightnessInt
	case BrightnessInt, BrightnessNumber, BrightnessFraction:
	default:
		return nil, fmt.Errorf("alexa smarthome: brightness form %q: want %s, %s or %s",
			o.BrightnessForm, BrightnessInt, BrightnessNumber, BrightnessFraction)
	}
	switch c.kelvin {
	case "":
		c.kelvin = KelvinAuto
	case KelvinAuto, KelvinName, KelvinExact:
	default:
		return nil, fmt.Errorf("alexa smarthome: kelvin mode %q: want %s, %s or %s", o.Kelvin, KelvinAuto, KelvinName, KelvinExact)
	}
	if c.cooldown <= 0 {
		c.cooldown = DefaultCooldown
	}
	if c.minRediscover <= 0 {
		c.minRediscover = DefaultMinRediscover
	}
	if c.clock == nil {
		c.clock = engine.RealClock{}
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	ua := o.UserAgent
	if ua == "" {
		ua = DefaultUserAgent
	}
	c.rc = request.New(family(c.clock), request.Options{
		HTTPClient: o.HTTPClient,
		Logger:     c.logger,
		Auth:       o.Auth,
		Header: http.Header{
			"User-Agent": {ua},
			"Accept":     {"application/json; charset=utf-8"},
			"Referer":    {c.web + "/spa/index.html"},
			"Origin":     {c.web},
		},
		Observe: o.Observe,
	})
	return c, nil
}

// family is the smart-home request family. Throttle answers are never
// repeated (the client cools down instead); a 5xx is repeated once after
// a second, as alexa-remote2 does for 503.
func family(clock engine.Clock) request.Family {
	return request.Family{
		Name:   "smarthome",
		Prefix: "alexa smarthome",
		Policy: retry.Policy{MaxAttempts: 2, BaseBackoff: time.Second, MaxBackoff: 2 * time.Second,
			MaxRetryAfter: 5 * time.Second, Now: clock.Now, Sleep: retry.ClockSleep(clock)},
		Retryable: func(e *request.Error) bool { return !e.Throttled && e.Status >= 500 && e.Status <= 504 },
		Parse:     parseError,
	}
}

// call sends one request with body, if any, as JSON and returns the body
// of a 2xx answer. During a cool-down it sends nothing; a throttle answer
// (an error answer with a throttle marker, or a 2xx one: see
// throttleAnswer) starts one. Both fail with a *ThrottleError.
func (c *Client) call(ctx context.Context, method, path string, query url.Values, body any) ([]byte, error) {
	if te := c.paused(); te != nil {
		return nil, te
	}
	epoch := c.throttleEpoch()
	r := request.Request{Method: method, URL: c.web + path, Query: query, JSON: body}
	if body != nil {
		r.Header = http.Header{"Content-Type": {"application/json; charset=utf-8"}}
	}
	resp, err := c.rc.Do(ctx, r)
	if re, ok := errors.AsType[*request.Error](err); ok && re.Throttled {
		return nil, c.throttled(epoch, re, re.RetryAfter)
	}
	if err != nil {
		return nil, err
	}
	if msg, ok := throttleAnswer(resp.Body); ok {
		cause := fmt.Errorf("alexa smarthome: %s %s: %d with a throttle answer: %s", method, path, resp.Status, msg)
		return nil, c.throttled(epoch, cause, retry.RetryAfter(resp.Header.Get("Retry-After"), c.clock.Now()))
	}
	c.succeeded(epoch)
	return resp.Body, nil
}

// badResponse is the error of a 2xx answer the client cannot use.
func badResponse(method, path, reason string, err error) error {
	if err != nil {
		return fmt.Errorf("alexa smarthome: %s %s: %w: %s: %w", method, path, ErrBadResponse, reason, err)
	}
	return fmt.Errorf("alexa smarthome: %s %s: %w: %s", method, path, ErrBadResponse, reason)
}

var _ alexa.Backend = (*Client)(nil)
