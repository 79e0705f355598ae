package push

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/alexarules/alexarules/alexa/internal/observe"
	"github.com/alexarules/alexarules/alexa/internal/retry"
)

// DirectivesPath is the downchannel's path on the push host.
const DirectivesPath = "/v20160207/directives"

// HTTP2Options configure the HTTP/2 downchannel source.
type HTTP2Options struct {
	// BaseURL is the push host, e.g. https://bob-dispatch-prod-eu.amazon.com,
	// or the --cloud base. http:// speaks HTTP/2 without TLS (h2c, prior
	// knowledge), as the simulator serves it.
	BaseURL string
	// Token returns the bearer access token; forceRefresh asks for a new one
	// because the current one was rejected.
	Token func(ctx context.Context, forceRefresh bool) (string, error)
	// HTTPClient, if set, is used as is (its transport must speak HTTP/2 to
	// BaseURL, and must not time out a body that never ends). Default: a
	// client built for BaseURL with HTTP/2 keep-alive pings.
	HTTPClient *http.Client
	// TLSConfig is used by the default client for https:// (e.g. to trust
	// the simulator's self-signed certificate).
	TLSConfig *tls.Config
	UserAgent string       // default: Go's
	Logger    *slog.Logger // default: discard
	// PingInterval: the default client sends an HTTP/2 PING when the
	// connection has been idle this long (default 280 s, under AVS's 5
	// minutes); PingTimeout closes it when the PING is not answered (default
	// 30 s). Either failing ends the stream, and Run reconnects.
	PingInterval time.Duration
	PingTimeout  time.Duration
	// MaxPartSize caps one multipart part (default DefaultMaxPartSize).
	MaxPartSize int
	// HealthyAfter is how long a stream must have stayed open for its end to
	// reset the backoff (default 1 minute).
	HealthyAfter time.Duration
	// Backoff is the delay before reconnect attempt n (n = 0 after a healthy
	// connection). Default DefaultBackoff: 5·2^n s, capped at 10 minutes.
	Backoff func(n int) time.Duration
	// ReauthRetry is the delay between attempts once credentials were
	// rejected after a refresh (default 10 minutes).
	ReauthRetry time.Duration
	Now         func() time.Time                                 // default time.Now
	Sleep       func(ctx context.Context, d time.Duration) error // default: a timer that stops with ctx
	// Observe, when set, is told each stream request's result class and
	// time to the response headers under the API family "push".
	Observe func(api, result string, d time.Duration)
}

// HTTP2 is the downchannel push source: GET /v20160207/directives, an
// endless multipart/related body with one directive per part.
type HTTP2 struct {
	core
	o HTTP2Options
}

var _ Source = (*HTTP2)(nil)

// NewHTTP2 returns a downchannel source; Run validates the options.
func NewHTTP2(o HTTP2Options) *HTTP2 {
	if o.PingInterval <= 0 {
		o.PingInterval = 280 * time.Second
	}
	if o.PingTimeout <= 0 {
		o.PingTimeout = 30 * time.Second
	}
	if o.HealthyAfter <= 0 {
		o.HealthyAfter = time.Minute
	}
	if o.Backoff == nil {
		o.Backoff = DefaultBackoff
	}
	if o.ReauthRetry <= 0 {
		o.ReauthRetry = 10 * time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sleep == nil {
		o.Sleep = retry.Sleep
	}
	return &HTTP2{core: newCore(o.Logger), o: o}
}

// StatusError is a non-200 answer to the directives request.
type StatusError struct{ Code int }

func (e *StatusError) Error() string {
	return fmt.Sprintf("push: directives: HTTP %d %s", e.Code, http.StatusText(e.Code))
}

func authRejected(err error) bool {
	var se *StatusError
	return errors.As(err, &se) && (se.Code == http.StatusUnauthorized || se.Code == http.StatusForbidden)
}

// errStreamEnded is a stream the server closed cleanly (e.g. after GOAWAY).
var errStreamEnded = errors.New("push: directives: stream ended")

// Run implements Source. A 401/403 makes it refresh the token once and
// reconnect at once; if the refreshed token is rejected too, LastError wraps
// ErrReauthRequired and it keeps trying every ReauthRetry with whatever
// token Token returns, so a new login is picked up without a restart.
func (h *HTTP2) Run(ctx context.Context, handle func(Push), connected func()) error {
	if h.o.Token == nil || handle == nil {
		return errors.New("push: http2: Token and handle are required")
	}
	endpoint, client, err := h.setup()
	if err != nil {
		return err
	}
	if client != h.o.HTTPClient {
		defer client.CloseIdleConnections()
	}
	failures := 0
	refresh := false // next attempt asks for a fresh token
	reauth := false  // credentials were rejected after a refresh
	for ctx.Err() == nil {
		started := h.o.Now()
		opened, err := h.stream(ctx, client, endpoint, refresh, handle, connected)
		if ctx.Err() != nil {
			break
		}
		if opened {
			reauth = false
			if h.o.Now().Sub(started) >= h.o.HealthyAfter {
				failures = 0
			}
		}
		wasRefresh := refresh
		refresh = false
		var delay time.Duration
		switch {
		case authRejected(err) && !wasRefresh && !reauth:
			h.logger.InfoContext(ctx, "push: token rejected, refreshing", "err", err)
			h.setErr(err)
			refresh = true
			continue // reconnect at once with a new token
		case authRejected(err):
			err = fmt.Errorf("push: http2: %w: %w", ErrReauthRequired, err)
			if !reauth {
				h.logger.ErrorContext(ctx, "push: credentials rejected after a refresh; log in again", "err", err)
			}
			reauth = true
			delay = h.o.ReauthRetry
		default:
			delay = h.o.Backoff(failures)
			failures++
			h.logger.WarnContext(ctx, "push: downchannel down, reconnecting", "err", err, "delay", delay)
		}
		h.setErr(err)
		if h.o.Sleep(ctx, delay) != nil {
			break
		}
	}
	return nil
}

// setup validates BaseURL and builds the default client.
func (h *HTTP2) setup() (string, *http.Client, error) {
	u, err := url.Parse(h.o.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", nil, fmt.Errorf("push: http2: base URL %q: want http(s)://host", h.o.BaseURL)
	}
	endpoint := strings.TrimSuffix(u.String(), "/") + DirectivesPath
	if h.o.HTTPClient != nil {
		return endpoint, observe.Client(h.o.HTTPClient, "push", h.o.Observe), nil
	}
	protocols := new(http.Protocols)
	if u.Scheme == "http" {
		protocols.SetUnencryptedHTTP2(true) // h2c with prior knowledge; never HTTP/1.1
	} else {
		protocols.SetHTTP1(true)
		protocols.SetHTTP2(true)
	}
	tr := &http.Transport{
		Protocols:       protocols,
		TLSClientConfig: h.o.TLSConfig,
		HTTP2: &http.HTTP2Config{
			SendPingTimeout: h.o.PingInterval,
			PingTimeout:     h.o.PingTimeout,
		},
		TLSHandshakeTimeout:   30 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
	}
	return endpoint, observe.Client(&http.Client{Transport: tr}, "push", h.o.Observe), nil
}

// stream makes one directives request and reads its body until it ends.
// opened reports whether the server answered 200.
func (h *HTTP2) stream(ctx context.Context, client *http.Client, endpoint string, refresh bool,
	handle func(Push), connected func()) (opened bool, err error) {
	token, err := h.o.Token(ctx, refresh)
	if err != nil {
		return false, fmt.Errorf("push: http2: token: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return false, fmt.Errorf("push: http2: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "multipart/related")
	if h.o.UserAgent != "" {
		req.Header.Set("User-Agent", h.o.UserAgent)
	}
	resp, err := client.Do(req)
	if err != nil {
		return false, fmt.Errorf("push: http2: connect: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return false, &StatusError{Code: resp.StatusCode}
	}
	boundary, ok := multipartBoundary(resp.Header.Get("Content-Type"))
	if !ok {
		h.logger.WarnContext(ctx, "push: directives response is not multipart; learning the boundary from the body",
			"content_type", resp.Header.Get("Content-Type"))
	}
	h.onOpen(ctx, "http2", connected)
	mr := NewMultipartReader(boundary, h.o.MaxPartSize)
	buf := make([]byte, 32<<10)
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			keepAlives, dropped := mr.KeepAlives(), mr.Dropped()
			parts, ferr := mr.Feed(buf[:n])
			h.keepAlives.Add(mr.KeepAlives() - keepAlives)
			if ferr != nil {
				h.malformed.Add(mr.Dropped() - dropped)
				h.logger.DebugContext(ctx, "push: oversize part skipped", "err", ferr)
			}
			for _, p := range parts {
				h.part(ctx, p, handle)
			}
		}
		if rerr == io.EOF {
			return true, errStreamEnded
		}
		if rerr != nil {
			return true, fmt.Errorf("push: http2: read: %w", rerr)
		}
	}
}

// part decodes one multipart part and delivers its pushes.
func (h *HTTP2) part(ctx context.Context, p Part, handle func(Push)) {
	pushes, err := DecodeDirective(p.Body)
	if err != nil {
		h.malformedInput(ctx, "directive", err)
	}
	if err == nil && len(pushes) == 0 {
		h.notPush(ctx, "directive")
	}
	for _, ps := range pushes {
		h.deliver(ctx, ps, handle)
	}
}

// multipartBoundary reads the boundary of a multipart Content-Type.
// Amazon's downchannel sends "multipart/related; boundary=...;
// type=application/json", whose unquoted "/" mime.ParseMediaType
// refuses, so the parameters are read leniently when it fails.
func multipartBoundary(contentType string) (string, bool) {
	if mt, params, err := mime.ParseMediaType(contentType); err == nil {
		return params["boundary"], strings.HasPrefix(mt, "multipart/") && params["boundary"] != ""
	}
	mt, rest, _ := strings.Cut(contentType, ";")
	if !strings.HasPrefix(strings.ToLower(strings.TrimSpace(mt)), "multipart/") {
		return "", false
	}
	for param := range strings.SplitSeq(rest, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(param), "=")
		if strings.EqualFold(k, "boundary") && v != "" {
			return strings.Trim(v, `"`), true
		}
	}
	return "", false
}
