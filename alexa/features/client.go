// Package features is the client of the Endpoint Features and Endpoints
// REST APIs (Alexa Smart Properties): the endpoint list, feature reads
// and update operations, their validation and their errors. Backend makes
// it a backend of the alexa.Directory.
package features

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/alexarules/alexarules/alexa"
	"github.com/alexarules/alexarules/alexa/auth"
	"github.com/alexarules/alexarules/alexa/internal/request"
	"github.com/alexarules/alexarules/alexa/internal/retry"
)

// Tokens supplies LWA access tokens. Invalidate is called with an access
// token the API answered 401 to, so that the next Token call refreshes.
// *auth.TokenSource implements it.
type Tokens interface {
	Token() (*oauth2.Token, error)
	Invalidate(accessToken string)
}

var _ Tokens = (*auth.TokenSource)(nil)

// ClientOptions tune a Client; the zero value is usable.
type ClientOptions struct {
	HTTPClient *http.Client // default: the request path's pooled keep-alive client (30 s timeout)
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

// Client calls the Endpoint Features and Endpoints REST APIs through the
// one request path (family "features"). It is safe for concurrent use.
type Client struct {
	base  string
	rc    *request.Client
	scale string
	ops   []Operation // Operations(), made once: a lookup per call made them all
}

// NewClient returns a client for the API base URL (Hosts.API).
func NewClient(apiBase string, tokens Tokens, opts ClientOptions) (*Client, error) {
	if apiBase == "" {
		return nil, errors.New("alexa: no API base URL")
	}
	if tokens == nil {
		return nil, errors.New("alexa: no token source")
	}
	scale, err := alexa.NormScale(opts.Scale)
	if err != nil {
		return nil, err
	}
	// The family: errors start with "alexa", and the reference says to
	// retry 429, 500 and 503; the back-off defaults are the request path's.
	f := request.Family{
		Name:      "features",
		Prefix:    "alexa",
		Retryable: func(e *request.Error) bool { return retryableStatus(e.Status) },
		Policy: retry.Policy{
			MaxAttempts:   opts.MaxAttempts,
			BaseBackoff:   opts.BaseBackoff,
			MaxBackoff:    opts.MaxBackoff,
			MaxRetryAfter: opts.MaxRetryAfter,
			Sleep:         opts.Sleep,
			Now:           opts.Now,
		},
	}
	rc := request.New(f, request.Options{
		HTTPClient: opts.HTTPClient,
		Logger:     opts.Logger,
		Auth:       bearer{tokens},
		// The reference's request examples carry both headers, even without a body.
		Header:  http.Header{"Accept": {"application/json"}, "Content-Type": {"application/json"}},
		Observe: opts.Observe,
	})
	return &Client{base: strings.TrimRight(apiBase, "/"), rc: rc, scale: scale, ops: Operations()}, nil
}

// bearer is the Authorizer of the features family: an LWA access token,
// invalidated when the API refuses it, so that the retry gets a fresh one.
type bearer struct{ tokens Tokens }

func (b bearer) Authorize(_ context.Context, req *http.Request) error {
	tok, err := b.tokens.Token()
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	return nil
}

// Refused invalidates the refused token: the token may have been revoked
// or expired early, and the next Authorize refreshes it.
func (b bearer) Refused(_ context.Context, req *http.Request, _ int) bool {
	b.tokens.Invalidate(strings.TrimPrefix(req.Header.Get("Authorization"), "Bearer "))
	return true
}

// Scale is the temperature scale Get reports in.
func (c *Client) Scale() string { return c.scale }

// Update performs the update operation named as in the reference
// ("turnOn", "setBrightness", "setColor", "unpair", ...) with its payload
// fields in the order of Operation.Fields (setColor: hue, saturation,
// brightness). Arguments are validated first; an invalid one is a
// *ValidationError and no request is made.
func (c *Client) Update(ctx context.Context, endpointID, operation string, args ...float64) error {
	op, ok := lookup(c.ops, "", operation)
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
	op, ok := lookup(c.ops, feature, "")
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

// send makes one call through the request path and returns the body of
// a 2xx answer; an error answer is an *APIError.
func (c *Client) send(ctx context.Context, method, path string, query url.Values, body []byte) ([]byte, error) {
	resp, err := c.rc.Do(ctx, request.Request{Method: method, URL: c.base + path, Query: query, Body: body})
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// NewFromConfig wires the usual pair: an auth.TokenSource for cfg (persisting
// through store, which may be nil) and a Client for cfg's API host, with
// cfg.Scale unless opts.Scale is set. opts.HTTPClient and opts.Logger serve
// both. ctx must live as long as the client: token refreshes run under it.
func NewFromConfig(ctx context.Context, cfg alexa.Config, store auth.TokenStore, opts ClientOptions) (*Client, *auth.TokenSource, error) {
	cfg = cfg.WithDefaults()
	hosts, err := alexa.HostsFor(cfg.Region, cfg.Cloud)
	if err != nil {
		return nil, nil, err
	}
	ts, err := auth.NewTokenSource(ctx, cfg, auth.TokenSourceOptions{HTTPClient: opts.HTTPClient, Logger: opts.Logger, Store: store,
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
