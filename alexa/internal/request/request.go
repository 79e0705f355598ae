// Package request is the one request path of every Amazon API family the
// engine calls: Endpoint Features, the web API, the identity (auth and
// registration) endpoints and the smart-home API. A Client per family
// puts the family's credentials on each request (an Authorizer), repeats
// a call whose answer the family calls retryable with exponential
// back-off honouring Retry-After (retry.Policy), asks the Authorizer for
// fresh credentials once when they are refused, turns error answers into
// *Error, times every request for the metrics and logs each one at debug
// level without headers or bodies, so no secret reaches a log.
package request

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/alexarules/alexarules/alexa/internal/observe"
	"github.com/alexarules/alexarules/alexa/internal/retry"
	"github.com/alexarules/alexarules/engine"
)

// Authorizer puts one family's credentials on requests: a bearer token,
// or a cookie and csrf header.
type Authorizer interface {
	// Authorize adds the credentials to req. An error fails the call
	// without a request (e.g. the session is dead: log in again).
	Authorize(ctx context.Context, req *http.Request) error
	// Refused is told that the server refused the credentials Authorize
	// put on req (one of Family.RefusedStatus). It returns true when it
	// obtained fresh ones, so that the request is worth sending once more.
	Refused(ctx context.Context, req *http.Request, status int) bool
}

// Family is what differs between the API families: their name, which
// answers are worth repeating, how errors are read.
type Family struct {
	// Name labels the metrics ("features", "web", "auth", "smarthome").
	Name string
	// Prefix starts every error message, e.g. "alexa" or "alexa web".
	Prefix string
	// Policy is the family's retry policy; unset fields take the
	// package defaults (4 attempts, 200 ms..5 s back-off, 1 min
	// Retry-After).
	Policy retry.Policy
	// Retryable reports whether an error answer is worth repeating;
	// default: 429, 500, 502, 503 and 504.
	Retryable func(*Error) bool
	// Parse fills e.Type, e.Message and e.Throttled from an error answer;
	// default: ParseBody.
	Parse func(e *Error, h http.Header, body []byte)
	// RefusedStatus lists the statuses that mean "credentials refused";
	// default 401.
	RefusedStatus []int
	// Sentinel, when set, is what a refused-credentials *Error unwraps
	// to (e.g. web.ErrAuth), so callers can errors.Is it.
	Sentinel error
}

// Options are the per-client parts.
type Options struct {
	HTTPClient *http.Client // default: NewHTTPClient's pooled keep-alive transport, CallTimeout per call
	Logger     *slog.Logger // default: discard
	// Auth supplies credentials; nil sends none (Request.Auth may).
	Auth Authorizer
	// Header is sent with every request (User-Agent, Accept-Language...).
	Header http.Header
	// Observe times every request under Family.Name.
	Observe observe.Func
	// Record, when set, is told the outcome of every call (after its
	// retries), e.g. to put Amazon calls into a rule's trace.
	Record func(ctx context.Context, c Call)
}

// Call is one finished call as Options.Record sees it.
type Call struct {
	Family, Method, Path string
	Status               int // the last answer's status; 0 when none came
	Attempts             int
	Duration             time.Duration
	Err                  error
}

// Client sends the requests of one family. It is safe for concurrent use.
type Client struct {
	family Family
	opts   Options
	hc     *http.Client
	// direct, when set, is hc's transport, which an attempt calls itself
	// (exchange): hc has neither a cookie jar nor a timeout, so
	// http.Client.Do would add nothing to an answer that is not a
	// redirect, but it clones every request's header and URL up front
	// in case one comes.
	direct http.RoundTripper
	// header is Options.Header with clipped values, which each request's
	// header starts as a clone of (a map copy, no key hashed again).
	header http.Header
	logger *slog.Logger
	// timeout, when set, bounds each request (the default client's
	// CallTimeout) through its context.
	timeout time.Duration
	// jsonType is the Content-Type of a Request.JSON body, one shared
	// clipped slice instead of one per request.
	jsonType []string
}

// maxBody caps a response body; every API answer is far smaller.
const maxBody = 8 << 20

// New returns a client for family f.
func New(f Family, o Options) *Client {
	f.Policy = f.Policy.WithDefaults(retry.Policy{
		MaxAttempts:   4,
		BaseBackoff:   200 * time.Millisecond,
		MaxBackoff:    5 * time.Second,
		MaxRetryAfter: time.Minute,
	})
	if f.Retryable == nil {
		f.Retryable = RetryableStatus
	}
	if f.Parse == nil {
		f.Parse = ParseBody
	}
	if f.RefusedStatus == nil {
		f.RefusedStatus = []int{http.StatusUnauthorized}
	}
	if f.Prefix == "" {
		f.Prefix = "alexa " + f.Name
	}
	c := &Client{family: f, opts: o, hc: o.HTTPClient, logger: o.Logger,
		jsonType: []string{"application/json; charset=UTF-8"}}
	if c.hc == nil {
		c.hc, c.timeout = &http.Client{Transport: newTransport()}, CallTimeout
	}
	c.hc = observe.Client(c.hc, f.Name, o.Observe)
	if c.hc.Jar == nil && c.hc.Timeout == 0 {
		c.direct = c.hc.Transport
		if c.direct == nil {
			c.direct = http.DefaultTransport
		}
	}
	c.header = make(http.Header, len(o.Header))
	for k, vs := range o.Header {
		c.header[k] = slices.Clip(vs)
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Now is the family's clock (Policy.Now).
func (c *Client) Now() time.Time { return c.family.Policy.Now() }

// Request is one call.
type Request struct {
	Method string
	URL    string // absolute, without the query
	Query  url.Values
	Header http.Header // added to the client's Header
	Body   []byte      // sent as is; set Content-Type in Header
	// JSON, when not nil, is encoded as the body instead, with Content-Type
	// "application/json; charset=UTF-8" unless Header sets one; a
	// JSONAppender encodes itself.
	JSON any
	// Auth replaces the client's Authorizer for this call; NoAuth sends
	// no credentials at all (token endpoints carry theirs in the body).
	Auth   Authorizer
	NoAuth bool
	// NoRetry makes any error answer final (callers that schedule their
	// own retries, like the poller).
	NoRetry bool
	// Accept lists extra statuses that count as success besides 2xx.
	Accept []int
}

// JSONAppender is a Request.JSON value that appends its own encoding,
// byte for byte json.Marshal's, without its reflection: the bodies sent
// on every rule run (a reminder per event).
type JSONAppender interface {
	AppendJSON(b []byte) []byte
}

// Response is a successful answer.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Do sends r, repeating it while the family's policy says so, and returns
// the answer, or an *Error for an error answer, or a wrapped transport
// error. Error messages name the method and path, never a credential.
func (c *Client) Do(ctx context.Context, r Request) (*Response, error) {
	start := c.Now()
	path := pathOf(r.URL)
	resp, attempts, err := c.do(ctx, r, path)
	if c.opts.Record != nil {
		call := Call{Family: c.family.Name, Method: r.Method, Path: path, Attempts: attempts,
			Duration: c.Now().Sub(start), Err: err}
		if resp != nil {
			call.Status = resp.Status
		}
		var e *Error
		if errors.As(err, &e) {
			call.Status = e.Status
		}
		c.opts.Record(ctx, call)
	}
	return resp, err
}

func (c *Client) do(ctx context.Context, r Request, path string) (*Response, int, error) {
	if a, ok := r.JSON.(JSONAppender); ok {
		r.Body = a.AppendJSON(make([]byte, 0, 512))
	} else if r.JSON != nil {
		body, err := json.Marshal(r.JSON)
		if err != nil {
			return nil, 0, c.wrap(r.Method, path, fmt.Errorf("encode body: %w", err))
		}
		r.Body = body
	}
	auth := c.opts.Auth
	if r.Auth != nil {
		auth = r.Auth
	}
	if r.NoAuth {
		auth = nil
	}
	reauthorized := false
	for attempt := 1; ; {
		req, resp, err := c.send(ctx, r, auth)
		if err != nil {
			return nil, attempt, c.wrap(r.Method, path, err)
		}
		if c.logger.Enabled(ctx, slog.LevelDebug) { // the arguments cost allocations per call
			c.logger.DebugContext(ctx, "alexa request", "api", c.family.Name, "method", r.Method, "path", path,
				"status", resp.Status, "attempt", attempt, engine.OriginAttr(ctx))
		}
		if ok(resp.Status, r.Accept) {
			return resp, attempt, nil
		}
		if auth != nil && !reauthorized && c.refused(resp.Status) {
			// Credentials may have expired early or been revoked: let the
			// Authorizer renew them once; a second refusal is final.
			reauthorized = true
			if auth.Refused(ctx, req, resp.Status) {
				continue
			}
		}
		e := c.newError(r.Method, path, resp)
		e.Attempts = attempt
		if r.NoRetry || !e.retryable {
			return nil, attempt, e
		}
		delay, wait := c.family.Policy.Delay(ctx, attempt, e.RetryAfter)
		if !wait {
			return nil, attempt, e
		}
		c.logger.InfoContext(ctx, "alexa request: retrying", "api", c.family.Name, "method", r.Method, "path", path,
			"status", resp.Status, "delay", delay, engine.OriginAttr(ctx))
		if err := c.family.Policy.Sleep(ctx, delay); err != nil {
			return nil, attempt, fmt.Errorf("%w (retry abandoned: %w)", e, err)
		}
		attempt++
	}
}

// wrap names the call in a transport error. A *url.Error is replaced by
// its cause: its text quotes the whole URL, query included, which the
// messages never show.
func (c *Client) wrap(method, path string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Errorf("%s: %s %s: %w", c.family.Prefix, method, path, err)
}

// send makes one attempt of r: the request, its answer and body read
// within the client's timeout, if it has one.
func (c *Client) send(ctx context.Context, r Request, auth Authorizer) (*http.Request, *Response, error) {
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = withTimeout(ctx, c.timeout)
		defer cancel()
	}
	req, err := c.newRequest(ctx, r, auth)
	if err != nil {
		return nil, nil, err
	}
	resp, err := c.roundTrip(req)
	return req, resp, err
}

func (c *Client) newRequest(ctx context.Context, r Request, auth Authorizer) (*http.Request, error) {
	target := r.URL
	if len(r.Query) > 0 {
		target += "?" + r.Query.Encode()
	}
	var body io.Reader
	if r.Body != nil {
		// A bytes.Reader gives the request a Content-Length, so even a
		// DELETE body is framed.
		body = bytes.NewReader(r.Body)
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, target, body)
	if err != nil {
		return nil, err
	}
	// The header values are shared, clipped: an Add on the request
	// appends to a copy, never to the caller's slices.
	req.Header = maps.Clone(c.header)
	for k, vs := range r.Header {
		req.Header[k] = slices.Clip(vs)
	}
	if r.JSON != nil && req.Header.Get("Content-Type") == "" {
		req.Header["Content-Type"] = slices.Clip(c.jsonType)
	}
	if auth != nil {
		if err := auth.Authorize(ctx, req); err != nil {
			return nil, err
		}
	}
	return req, nil
}

func (c *Client) roundTrip(req *http.Request) (*Response, error) {
	resp, err := c.exchange(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := readBody(resp.Body, resp.ContentLength)
	if err != nil {
		return nil, err
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: data}, nil
}

// exchange sends req and returns the answer as hc.Do would. Without a
// direct transport it is hc.Do. With one, the transport answers; a
// redirect is then handed to hc.Do (replaying that answer as the first
// one), which follows it exactly as it always did.
func (c *Client) exchange(req *http.Request) (*http.Response, error) {
	if c.direct == nil || req.URL.User != nil { // hc.Do turns a URL's user into basic auth
		return c.hc.Do(req)
	}
	resp, err := c.direct.RoundTrip(req)
	if err != nil {
		if rh, ok := err.(tls.RecordHeaderError); ok && string(rh.RecordHeader[:]) == "HTTP/" {
			err = http.ErrSchemeMismatch // as hc.Do says it
		}
		return nil, err
	}
	if resp == nil {
		return nil, fmt.Errorf("http: RoundTripper implementation (%T) returned a nil *Response with a nil error", c.direct)
	}
	if resp.Body == nil { // as hc.Do mends it (golang.org/issue/38095)
		if resp.ContentLength > 0 && req.Method != http.MethodHead {
			return nil, fmt.Errorf("http: RoundTripper implementation (%T) returned a nil *Response.Body with a Content-Length of %d", c.direct, resp.ContentLength)
		}
		resp.Body = http.NoBody
	}
	switch resp.StatusCode {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		hc := *c.hc
		hc.Transport = &replay{first: resp, next: c.direct}
		return hc.Do(req)
	}
	return resp, nil
}

// replay answers its first round trip with an answer already received,
// and passes the others on.
type replay struct {
	first *http.Response
	next  http.RoundTripper
}

func (r *replay) RoundTrip(req *http.Request) (*http.Response, error) {
	if resp := r.first; resp != nil {
		r.first = nil
		return resp, nil
	}
	return r.next.RoundTrip(req)
}

// readAhead is the most readBody allocates before the body arrives: a
// server that claims megabytes and sends little holds no more.
const readAhead = 64 << 10

// readBody reads an answer's body, at most maxBody bytes, into one
// buffer sized by its Content-Length when it has one (+1: the end is
// seen without growing it; at most readAhead up front); io.ReadAll
// started at 512 bytes and grew.
func readBody(body io.Reader, length int64) ([]byte, error) {
	size := 512
	if length >= 0 && length <= maxBody {
		size = min(int(length)+1, readAhead)
	}
	b := make([]byte, 0, size)
	for {
		n, err := body.Read(b[len(b):min(cap(b), maxBody+1)])
		b = b[:len(b)+n]
		if len(b) > maxBody {
			return nil, fmt.Errorf("response larger than %d bytes", maxBody)
		}
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read response: %w", err)
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
	}
}

// withTimeout bounds ctx to d from now, unless its deadline is sooner
// already (a rule run's): then ctx itself, without a derived context.
func withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= d {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, d)
}

func (c *Client) refused(status int) bool {
	return slices.Contains(c.family.RefusedStatus, status)
}

func ok(status int, accept []int) bool {
	if status >= 200 && status < 300 {
		return true
	}
	return slices.Contains(accept, status)
}

// pathOf is the path of an absolute URL, for messages and logs: never
// the query, which may carry identifiers. It slices raw without parsing
// it (a parse cost allocations on every call) unless the path is escaped.
func pathOf(raw string) string {
	rest := raw // the query and fragment off first: they may hold "/" or "://"
	if j := strings.IndexAny(rest, "?#"); j >= 0 {
		rest = rest[:j]
	}
	if _, after, ok := strings.Cut(rest, "://"); ok {
		rest = after
	}
	i := strings.IndexByte(rest, '/')
	if i < 0 {
		return "/"
	}
	p := rest[i:]
	if strings.Contains(p, "%") { // the unescaped path, as url.Parse gives it
		u, err := url.Parse(raw)
		if err != nil || u.Path == "" {
			return "/"
		}
		return u.Path
	}
	return p
}
