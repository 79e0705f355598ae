// Package signin lets a user sign in to Amazon in their own browser
// through a proxy on the loopback interface, as the Alexa app's sign-in
// does in alexa-cookie2 (lib/proxy.js): password, OTP and captcha stay on
// Amazon's pages, the proxy rewrites their hosts and cookies so that
// every request comes back to it, and it takes the authorization code
// from the final /ap/maplanding redirect. For machines without a browser,
// ReadCode takes the final URL pasted by the user instead.
package signin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// successPath is where the browser lands once the code is taken.
const successPath = "/cookie-success"

// Options configure a sign-in proxy.
type Options struct {
	// StartURL is the sign-in page to open (auth.SignInURL). Its host is
	// where requests that name no host go.
	StartURL string
	// Cloud, when set, is the base URL every Amazon host is replaced by
	// (the simulator); its own host is then accepted as a route as well.
	Cloud string
	// Port to listen on at 127.0.0.1; 0 picks a free one.
	Port int
	// DeviceCookies (frc, map-md) go upstream with every request the
	// browser sends without them. They are not part of the Result.
	DeviceCookies []*http.Cookie
	// Transport sends the upstream requests; nil means a new transport.
	Transport http.RoundTripper
	// Logger receives request lines (method, host, path; never a query,
	// cookie or code). Nil discards.
	Logger *slog.Logger
}

// Result is what a completed sign-in hands over for registration.
type Result struct {
	Code    string         // the authorization code
	Cookies []*http.Cookie // the cookies Amazon set during the sign-in
}

// Proxy is a running sign-in proxy. Start it, show URL to the user, Wait
// for the code, then Finish with the registration's outcome.
type Proxy struct {
	h      hosts
	start  string // the start page as a proxy path, "/www.amazon.com/ap/signin?..."
	device []*http.Cookie
	jar    *jar
	log    *slog.Logger
	rp     *httputil.ReverseProxy
	srv    *http.Server
	served chan error // Serve's result

	captureOnce sync.Once
	captured    chan struct{} // closed once res holds the code
	res         Result

	finishOnce sync.Once
	finished   chan struct{} // closed once outcome is set
	outcome    error
	pageOnce   sync.Once
	pageShown  chan struct{} // closed once the browser got the success page
}

// Start listens on 127.0.0.1 and serves the proxy until Finish or Close.
func Start(o Options) (*Proxy, error) {
	p, err := newProxy(o)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(o.Port)))
	if err != nil {
		return nil, fmt.Errorf("signin: listen: %w", err)
	}
	p.h.self = ln.Addr().String()
	p.h.base = "http://" + p.h.self + "/"
	go func() { p.served <- p.srv.Serve(ln) }()
	return p, nil
}

func newProxy(o Options) (*Proxy, error) {
	p := &Proxy{device: o.DeviceCookies, jar: newJar(o.DeviceCookies), log: o.Logger,
		served: make(chan error, 1), captured: make(chan struct{}), finished: make(chan struct{}),
		pageShown: make(chan struct{})}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if o.Cloud != "" {
		u, err := url.Parse(strings.TrimRight(o.Cloud, "/"))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("signin: cloud URL %q: want http(s)://host[:port]", o.Cloud)
		}
		p.h.cloud, p.h.cloudAt = u, strings.ToLower(u.Host)
	}
	start, err := url.Parse(o.StartURL)
	if err != nil || start.Host == "" {
		return nil, fmt.Errorf("signin: start URL %q is not an absolute URL", o.StartURL)
	}
	if p.h.start = strings.ToLower(start.Host); !p.h.allowed(p.h.start) {
		return nil, fmt.Errorf("signin: start URL host %q is not an Amazon sign-in host", start.Host)
	}
	p.start = "/" + p.h.start + start.EscapedPath()
	if start.RawQuery != "" {
		p.start += "?" + start.RawQuery
	}
	tr := o.Transport
	if tr == nil {
		tr = newTransport()
	}
	p.rp = &httputil.ReverseProxy{Rewrite: p.rewrite, ModifyResponse: p.modifyResponse,
		ErrorHandler: p.upstreamError, Transport: tr}
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 30 * time.Second}
	return p, nil
}

// newTransport is the upstream transport: no proxy from the environment,
// bounded waits.
func newTransport() *http.Transport {
	return &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   15 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
		IdleConnTimeout:       90 * time.Second,
	}
}

// URL is the address to open in the browser, "http://127.0.0.1:PORT/".
func (p *Proxy) URL() string { return p.h.base }

// Wait returns the sign-in's result once the browser reached the
// maplanding redirect with a code, or an error when ctx ends or the
// server stops first.
func (p *Proxy) Wait(ctx context.Context) (Result, error) {
	select {
	case <-p.captured:
		return p.res, nil
	case err := <-p.served:
		p.served <- err
		return Result{}, fmt.Errorf("signin: proxy stopped: %w", err)
	case <-ctx.Done():
		return Result{}, fmt.Errorf("signin: waiting for the browser sign-in: %w", ctx.Err())
	}
}

// Finish shows the browser, on its success page, how the login ended
// (outcome nil: registered), waits until the page is served or ctx ends,
// and stops the proxy.
func (p *Proxy) Finish(ctx context.Context, outcome error) error {
	p.finish(outcome)
	select {
	case <-p.captured:
		select {
		case <-p.pageShown:
		case <-ctx.Done():
		}
	default:
	}
	if err := p.srv.Shutdown(ctx); err != nil {
		return p.srv.Close()
	}
	return nil
}

// Close stops the proxy at once.
func (p *Proxy) Close() error {
	p.finish(errors.New("alexarules stopped before the registration finished"))
	return p.srv.Close()
}

func (p *Proxy) finish(outcome error) {
	p.finishOnce.Do(func() {
		p.outcome = outcome
		close(p.finished)
	})
}

// capture hands the code over, once.
func (p *Proxy) capture(code string) {
	p.captureOnce.Do(func() {
		p.res = Result{Code: code, Cookies: p.jar.all()}
		p.log.Info("sign-in: authorization code received")
		close(p.captured)
	})
}
