package signin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/alexarules/alexarules/alexa/auth"
)

// Size limits of what the proxy holds in memory: a form the browser
// posts, and a page it rewrites.
const (
	maxForm = 1 << 20
	maxBody = 32 << 20
)

// route is where one browser request goes: an allowed host and the path
// (escaped) on it.
type route struct{ host, path string }

type routeKey struct{}

// ServeHTTP routes one browser request: the start page, the success
// page, or a proxied Amazon page.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !p.ownHost(r.Host) {
		// A page on another site reaching the proxy by DNS rebinding.
		p.page(w, http.StatusMisdirectedRequest, "Wrong address",
			"Open "+p.h.base+" to sign in.")
		return
	}
	switch {
	case r.URL.Path == successPath:
		p.serveSuccess(w, r)
		return
	case r.URL.Path == "/" && r.URL.RawQuery == "" && r.Method == http.MethodGet:
		http.Redirect(w, r, p.start, http.StatusFound)
		return
	}
	rt, ok := p.routeOf(r)
	if !ok {
		p.log.Warn("sign-in proxy: refused a request for a host outside Amazon", "host", rt.host)
		p.page(w, http.StatusForbidden, "Not an Amazon sign-in host",
			"The sign-in proxy only forwards to Amazon's sign-in hosts; "+rt.host+" is not one of them.")
		return
	}
	p.jar.fromRequest(r)
	if code, err := auth.CodeFromURL(p.h.origin(rt.host) + rt.path + "?" + r.URL.RawQuery); err == nil && r.Method == http.MethodGet {
		p.capture(code)
		http.Redirect(w, r, successPath, http.StatusFound)
		return
	}
	if err := p.fromProxyForm(r); err != nil {
		p.page(w, http.StatusBadRequest, "Bad form", err.Error())
		return
	}
	p.log.Debug("sign-in proxy request", "method", r.Method, "host", rt.host, "path", rt.path)
	p.rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), routeKey{}, rt)))
}

// ownHost reports whether a request's Host names the proxy itself.
func (p *Proxy) ownHost(host string) bool {
	_, port, _ := strings.Cut(p.h.self, ":")
	return host == p.h.self || strings.EqualFold(host, "localhost:"+port)
}

// routeOf picks the host a request is for: the one its path names, else
// the one of the proxied page it came from (Referer), else the sign-in
// host. ok is false for a named host that is not allowed.
func (p *Proxy) routeOf(r *http.Request) (route, bool) {
	host, path, named, ok := p.h.route(r.URL.EscapedPath())
	if !ok {
		return route{host: host}, false
	}
	if !named {
		if host = p.h.refererHost(r.Referer()); host == "" {
			host = p.h.start
		}
	}
	return route{host: host, path: path}, true
}

// fromProxyForm undoes the URL rewriting in an urlencoded form body.
func (p *Proxy) fromProxyForm(r *http.Request) error {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if r.Body == nil || ct != "application/x-www-form-urlencoded" {
		return nil
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, maxForm+1))
	r.Body.Close()
	if err != nil {
		return fmt.Errorf("reading the form: %w", err)
	}
	if len(b) > maxForm {
		return fmt.Errorf("the form is larger than %d bytes", maxForm)
	}
	b = []byte(p.h.fromProxyQuery(string(b)))
	r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
	r.Header.Set("Content-Length", strconv.Itoa(len(b)))
	return nil
}

// rewrite turns a browser request into the upstream one.
func (p *Proxy) rewrite(pr *httputil.ProxyRequest) {
	rt := pr.In.Context().Value(routeKey{}).(route)
	out := pr.Out
	out.URL.Path, _ = url.PathUnescape(rt.path)
	out.URL.RawPath = rt.path
	out.URL.RawQuery = p.h.fromProxyQuery(pr.In.URL.RawQuery)
	pr.SetURL(p.h.upstream(rt.host))
	if c := withDevice(strings.Join(pr.In.Header.Values("Cookie"), "; "), p.device); c != "" {
		out.Header.Set("Cookie", c)
	}
	if ref := out.Header.Get("Referer"); ref != "" {
		out.Header.Set("Referer", p.h.fromProxy(ref))
	}
	if out.Header.Get("Origin") != "" {
		out.Header.Set("Origin", p.h.origin(rt.host))
	}
	// Without it the transport asks for gzip itself and hands over the
	// body decoded, ready to rewrite.
	out.Header.Del("Accept-Encoding")
}

// modifyResponse takes the code from a maplanding redirect, keeps the
// cookies, and rewrites hosts and cookies for the browser.
func (p *Proxy) modifyResponse(resp *http.Response) error {
	rt := resp.Request.Context().Value(routeKey{}).(route)
	p.jar.fromResponse(resp.Header.Values("Set-Cookie"), time.Now())
	if loc := resp.Header.Get("Location"); loc != "" {
		if code, err := auth.CodeFromURL(resolve(resp.Request.URL, loc)); err == nil {
			p.capture(code)
			replace(resp, http.StatusFound, http.Header{"Location": {p.h.base + successPath[1:]}}, nil)
			return nil
		}
		resp.Header.Set("Location", p.h.location(loc, rt.host))
	}
	for i, c := range resp.Header.Values("Set-Cookie") {
		resp.Header["Set-Cookie"][i] = browserCookie(c)
	}
	// A policy naming Amazon's hosts (or upgrading to https) would stop
	// the browser from loading the rewritten pages.
	resp.Header.Del("Content-Security-Policy")
	resp.Header.Del("Strict-Transport-Security")
	if resp.StatusCode >= 500 {
		p.log.Warn("sign-in proxy: Amazon answered an error", "host", rt.host, "path", rt.path, "status", resp.StatusCode)
		p.replacePage(resp, "Amazon answered "+resp.Status,
			fmt.Sprintf("%s answered %s for %s. Reload the page to try again; alexarules keeps waiting for the sign-in.",
				rt.host, resp.Status, rt.path))
		return nil
	}
	return p.rewriteBody(resp)
}

// rewriteBody rewrites the Amazon URLs in a text body.
func (p *Proxy) rewriteBody(resp *http.Response) error {
	switch {
	case resp.Request.Method == http.MethodHead, resp.StatusCode == http.StatusNoContent,
		resp.StatusCode == http.StatusNotModified, !rewritable(resp.Header.Get("Content-Type")):
		return nil // no body, or none to rewrite: passed on as it is
	}
	if enc := resp.Header.Get("Content-Encoding"); enc != "" && !strings.EqualFold(enc, "identity") {
		// The transport decodes the gzip it asked for; anything else
		// Amazon sends unasked cannot be rewritten.
		return nil
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	resp.Body.Close()
	if err != nil {
		return fmt.Errorf("reading %s: %w", resp.Request.URL.Path, err)
	}
	if len(b) > maxBody {
		return fmt.Errorf("%s is larger than %d bytes", resp.Request.URL.Path, maxBody)
	}
	replace(resp, resp.StatusCode, resp.Header, []byte(p.h.toProxy(string(b))))
	return nil
}

// rewritable reports whether a content type is text the proxy rewrites:
// HTML, JavaScript, CSS, JSON.
func rewritable(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return strings.HasPrefix(mt, "text/") || strings.HasSuffix(mt, "+json") || strings.HasSuffix(mt, "+xml") ||
		mt == "application/json" || mt == "application/javascript" || mt == "application/x-javascript" ||
		mt == "application/ecmascript"
}

// replace sets a response's status, header and body.
func replace(resp *http.Response, status int, h http.Header, body []byte) {
	if resp.Body != nil {
		resp.Body.Close()
	}
	resp.StatusCode, resp.Status = status, fmt.Sprintf("%d %s", status, http.StatusText(status))
	resp.Header = h
	resp.Header.Del("Transfer-Encoding")
	resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
	resp.TransferEncoding = nil
	resp.Body, resp.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
}

// upstreamError shows the browser why a request could not be forwarded.
func (p *Proxy) upstreamError(w http.ResponseWriter, r *http.Request, err error) {
	rt, _ := r.Context().Value(routeKey{}).(route)
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // its URL may carry a query
	}
	p.log.Warn("sign-in proxy: upstream request failed", "host", rt.host, "path", rt.path, "err", err)
	p.page(w, http.StatusBadGateway, "Amazon could not be reached",
		fmt.Sprintf("%s %s: %v. Reload the page to try again; alexarules keeps waiting for the sign-in.", rt.host, rt.path, err))
}

// resolve makes a Location absolute against the request it answers.
func resolve(base *url.URL, loc string) string {
	u, err := url.Parse(loc)
	if err != nil {
		return loc
	}
	return base.ResolveReference(u).String()
}
