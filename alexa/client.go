package alexa

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
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/alexarules/alexarules/alexa/internal/observe"
	"github.com/alexarules/alexarules/alexa/internal/retry"
	"github.com/alexarules/alexarules/engine"
)

// Tokens supplies LWA access tokens. Invalidate is called with an access
// token the API answered 401 to, so that the next Token call refreshes.
// *TokenSource implements it.
type Tokens interface {
	Token() (*oauth2.Token, error)
	Invalidate(accessToken string)
}

// ClientOptions tune a Client; the zero value is usable.
type ClientOptions struct {
	HTTPClient *http.Client // default: a client with a 30 s timeout
	Logger     *slog.Logger // default: discard
	Scale      string       // CELSIUS (default) or FAHRENHEIT: Get converts temperatures to it

	// MaxAttempts bounds the requests for one call when the API answers
	// 429, 500 or 503; default 4 (three retries).
	MaxAttempts int
	// BaseBackoff and MaxBackoff shape the exponential back-off between
	// attempts: BaseBackoff·2ⁿ, at most MaxBackoff (defaults 200 ms, 5 s).
	// A Retry-After header replaces the computed delay.
	BaseBackoff, MaxBackoff time.Duration
	// MaxRetryAfter is the longest Retry-After the client waits for; a
	// longer one fails the call at once with the APIError (default 1 min).
	MaxRetryAfter time.Duration
	// Sleep waits between attempts; it must return early with ctx.Err()
	// when ctx ends. Default: a timer. Tests inject one that records.
	Sleep func(ctx context.Context, d time.Duration) error
	// Now is the clock for Retry-After dates and deadlines; default time.Now.
	Now func() time.Time
	// Observe, when set, is told every request's API family ("features";
	// "auth" for NewFromConfig's token requests), result class and
	// latency, e.g. engine.Metrics.ObserveAPICall.
	Observe func(api, result string, d time.Duration)
}

// Client calls the Endpoint Features and Endpoints REST APIs. It is safe
// for concurrent use.
type Client struct {
	base   string
	tokens Tokens
	hc     *http.Client
	logger *slog.Logger
	scale  string
	retry  retry.Policy
}

// maxBody caps a response body; an endpoint list page is far smaller.
const maxBody = 8 << 20

// NewClient returns a client for the API base URL (Hosts.API).
func NewClient(apiBase string, tokens Tokens, opts ClientOptions) (*Client, error) {
	if apiBase == "" {
		return nil, errors.New("alexa: no API base URL")
	}
	if tokens == nil {
		return nil, errors.New("alexa: no token source")
	}
	scale, err := normScale(opts.Scale)
	if err != nil {
		return nil, err
	}
	c := &Client{
		base:   strings.TrimRight(apiBase, "/"),
		tokens: tokens,
		hc:     opts.HTTPClient,
		logger: opts.Logger,
		scale:  scale,
		retry: retry.Policy{
			MaxAttempts:   opts.MaxAttempts,
			BaseBackoff:   opts.BaseBackoff,
			MaxBackoff:    opts.MaxBackoff,
			MaxRetryAfter: opts.MaxRetryAfter,
			Sleep:         opts.Sleep,
			Now:           opts.Now,
		}.WithDefaults(retry.Policy{
			MaxAttempts:   4,
			BaseBackoff:   200 * time.Millisecond,
			MaxBackoff:    5 * time.Second,
			MaxRetryAfter: time.Minute,
		}),
	}
	if c.hc == nil {
		c.hc = &http.Client{Timeout: 30 * time.Second}
	}
	c.hc = observe.Client(c.hc, "features", opts.Observe)
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// Scale is the temperature scale Get reports in.
func (c *Client) Scale() string { return c.scale }

// Update performs the update operation named as in the reference
// ("turnOn", "setBrightness", "setColor", "unpair", ...) with its payload
// fields in the order of Operation.Fields (setColor: hue, saturation,
// brightness). Arguments are validated first; an invalid one is a
// *ValidationError and no request is made.
func (c *Client) Update(ctx context.Context, endpointID, operation string, args ...float64) error {
	op, ok := lookup("", operation)
	if !ok || operation == "" {
		return &ValidationError{Operation: operation, Field: "operation", Value: operation, Reason: "unknown operation"}
	}
	if err := checkEndpointID(op, endpointID); err != nil {
		return err
	}
	body, err := op.Body(args...)
	if err != nil {
		return err
	}
	_, err = c.send(ctx, op.Method, op.Path(endpointID), nil, body)
	return err
}

// Feature performs the GET of a feature ("power", "colorTemperature",
// "temperatureSensor", ...) and decodes the common response shape. It does
// not require any property: see the typed getters and Get for that.
func (c *Client) Feature(ctx context.Context, endpointID, feature string) (*FeatureResponse, error) {
	op, ok := lookup(feature, "")
	if !ok || feature == "" {
		return nil, &ValidationError{Operation: "get", Field: "feature", Value: feature, Reason: "unknown feature"}
	}
	if err := checkEndpointID(op, endpointID); err != nil {
		return nil, err
	}
	path := op.Path(endpointID)
	body, err := c.send(ctx, op.Method, path, nil, nil)
	if err != nil {
		return nil, err
	}
	r := &FeatureResponse{endpoint: endpointID, path: path}
	if err := decodeObject(body, r); err != nil {
		return nil, &DecodeError{Method: op.Method, Path: path, Reason: "feature " + feature, Err: err}
	}
	return r, nil
}

func checkEndpointID(op Operation, id string) error {
	if strings.TrimSpace(id) == "" {
		return &ValidationError{Operation: op.label(), Field: "endpointId", Value: id, Reason: "must not be empty"}
	}
	return nil
}

// errNotObject is returned for a body that is valid JSON but not an object.
var errNotObject = errors.New("not a JSON object")

// decodeObject decodes a JSON object, rejecting an empty body, null and
// non-objects, which json.Unmarshal would accept as a zero value.
func decodeObject(body []byte, v any) error {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return errors.New("empty body")
	}
	if trimmed[0] != '{' {
		if !json.Valid(trimmed) {
			return errors.New("invalid JSON")
		}
		return errNotObject
	}
	return json.Unmarshal(trimmed, v)
}

// send is the one request path of the package: authorization, retries on
// 429/500/503 with back-off honouring Retry-After, one token refresh on
// 401, and Error object parsing. It returns the body of a 2xx answer.
func (c *Client) send(ctx context.Context, method, path string, query url.Values, body []byte) ([]byte, error) {
	target := c.base + path
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	refreshed := false
	for attempt := 1; ; {
		tok, err := c.tokens.Token()
		if err != nil {
			return nil, fmt.Errorf("alexa: %s %s: %w", method, path, err)
		}
		status, header, respBody, err := c.roundTrip(ctx, method, target, tok.AccessToken, body)
		if err != nil {
			return nil, fmt.Errorf("alexa: %s %s: %w", method, path, err)
		}
		c.logger.DebugContext(ctx, "alexa request", "method", method, "path", path, "status", status, "attempt", attempt,
			engine.OriginAttr(ctx))
		if status >= 200 && status < 300 {
			return respBody, nil
		}
		if status == http.StatusUnauthorized && !refreshed {
			// The token may have been revoked or expired early: refresh
			// once; a second 401 is the caller's problem.
			refreshed = true
			c.tokens.Invalidate(tok.AccessToken)
			continue
		}
		apiErr := parseAPIError(method, path, status, header, respBody, c.retry.Now())
		apiErr.Attempts = attempt
		if !apiErr.Retryable() {
			return nil, apiErr
		}
		delay, ok := c.retry.Delay(ctx, attempt, apiErr.RetryAfter)
		if !ok {
			return nil, apiErr
		}
		if err := c.retry.Sleep(ctx, delay); err != nil {
			return nil, fmt.Errorf("%w (retry abandoned: %w)", apiErr, err)
		}
		attempt++
	}
}

func (c *Client) roundTrip(ctx context.Context, method, target, accessToken string, body []byte) (int, http.Header, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	// The reference's request examples carry both headers, even without a body.
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Content-Type", "application/json")
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

// parseAPIError reads the reference's Error object, tolerating bodies that
// are not JSON or lack fields.
func parseAPIError(method, path string, status int, h http.Header, body []byte, now time.Time) *APIError {
	e := &APIError{Method: method, Path: path, Status: status, RetryAfter: retry.RetryAfter(h.Get("Retry-After"), now)}
	var obj struct {
		Type    string `json:"type"`
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(body, &obj); err == nil {
		e.Type, e.Message = obj.Type, obj.Message
		if e.Type == "" {
			e.Type = obj.Code
		}
	} else if text := strings.TrimSpace(string(body)); text != "" {
		e.Message = retry.Truncate(text, 200)
	}
	if e.Type == "" {
		// Amazon's gateways name the error in a header when the body does not.
		e.Type, _, _ = strings.Cut(h.Get("X-Amzn-ErrorType"), ":")
	}
	return e
}

// NewFromConfig wires the usual pair: a TokenSource for cfg (persisting
// through store, which may be nil) and a Client for cfg's API host, with
// cfg.Scale unless opts.Scale is set. opts.HTTPClient and opts.Logger serve
// both. ctx must live as long as the client: token refreshes run under it.
func NewFromConfig(ctx context.Context, cfg Config, store TokenStore, opts ClientOptions) (*Client, *TokenSource, error) {
	cfg = cfg.WithDefaults()
	hosts, err := HostsFor(cfg.Region, cfg.Cloud)
	if err != nil {
		return nil, nil, err
	}
	ts, err := NewTokenSource(ctx, cfg, TokenSourceOptions{HTTPClient: opts.HTTPClient, Logger: opts.Logger, Store: store,
		Observe: opts.Observe})
	if err != nil {
		return nil, nil, err
	}
	if opts.Scale == "" {
		opts.Scale = cfg.Scale
	}
	c, err := NewClient(hosts.API, ts, opts)
	if err != nil {
		return nil, nil, err
	}
	return c, ts, nil
}
