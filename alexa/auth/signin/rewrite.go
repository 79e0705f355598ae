package signin

import (
	"net/url"
	"regexp"
	"strings"
)

// amazonHost matches the hosts the sign-in pages move between: www.,
// alexa. and api. of Amazon's retail domains, and the bare domains.
// Anything else is refused, so the proxy cannot be used to reach other
// sites with the user's browser.
var amazonHost = regexp.MustCompile(`^(?:(?:www|alexa|api)\.)?amazon\.` +
	`(?:com|ca|com\.mx|com\.br|co\.uk|de|fr|it|es|nl|se|pl|ie|com\.be|com\.tr|ae|sa|eg|in|sg|co\.jp|com\.au)$`)

// absURL matches an absolute http(s) URL's scheme and host up to the first
// slash of its path, also as it appears escaped inside JSON or JavaScript
// strings (`\/`) and in HTML attributes (`&#x2F;`). Groups: 1 the slash
// spelling after the colon, 2 the host (with any port), 3 the slash after it.
var absURL = regexp.MustCompile(`(?i)https?:(//|\\/\\/|&#x2F;&#x2F;)([a-z0-9.-]+(?::[0-9]+)?)(/|\\/|&#x2F;)`)

// hosts is the proxy's address book: which hosts it forwards to and where.
type hosts struct {
	base    string // the proxy's own base URL, "http://127.0.0.1:PORT/"
	self    string // the proxy's host:port
	start   string // the sign-in host, the default route
	cloud   *url.URL
	cloudAt string // the cloud base's host:port, allowed as a route too
}

// allowed reports whether the proxy forwards requests for host.
func (h *hosts) allowed(host string) bool {
	host = strings.ToLower(host)
	return amazonHost.MatchString(host) || (h.cloud != nil && host == h.cloudAt)
}

// upstream is the URL requests routed to host go to. With a cloud base
// every host goes there.
func (h *hosts) upstream(host string) *url.URL {
	if h.cloud != nil {
		u := *h.cloud
		return &u
	}
	return &url.URL{Scheme: "https", Host: host}
}

// origin is how host is spelled in the Origin and Referer headers sent
// upstream.
func (h *hosts) origin(host string) string {
	if h.cloud != nil && host == h.cloudAt {
		return h.cloud.Scheme + "://" + h.cloudAt
	}
	return "https://" + host
}

// toProxy rewrites every absolute URL of an allowed host in s to the
// proxy's URL for it: https://www.amazon.com/x -> http://127.0.0.1:P/www.amazon.com/x.
func (h *hosts) toProxy(s string) string {
	idx := absURL.FindAllStringSubmatchIndex(s, -1)
	if idx == nil {
		return s
	}
	var b strings.Builder
	last := 0
	for _, m := range idx {
		host := strings.ToLower(s[m[4]:m[5]]) // the cloud host keeps its port
		if !h.allowed(host) {
			if host = hostOnly(host); !h.allowed(host) {
				continue
			}
		}
		sep, slash := s[m[2]:m[3]], s[m[6]:m[7]]
		b.WriteString(s[last:m[0]])
		b.WriteString("http:" + sep + h.self + slash + host + slash)
		last = m[1]
	}
	b.WriteString(s[last:])
	return b.String()
}

// fromProxy undoes toProxy for one value the browser sends back (a form
// field, a query parameter, the Referer): proxy URLs become the Amazon
// URLs they stand for. The bare proxy address stands for the sign-in host.
func (h *hosts) fromProxy(s string) string {
	if !strings.HasPrefix(s, h.base) {
		return s
	}
	rest := s[len(h.base):]
	host, path, ok := strings.Cut(rest, "/")
	if ok && h.allowed(host) {
		return h.origin(strings.ToLower(host)) + "/" + path
	}
	return h.origin(h.start) + "/" + rest
}

// route splits a request path into the host it is for and the path on
// that host. A first segment that looks like a host ("/www.amazon.de/...")
// names the host; ok is false when it names one that is not allowed.
func (h *hosts) route(path string) (host, rest string, named, ok bool) {
	seg, tail, slash := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	if !slash || !strings.Contains(seg, ".") {
		return "", path, false, true
	}
	if !h.allowed(seg) {
		return seg, "", true, false
	}
	return strings.ToLower(seg), "/" + tail, true, true
}

// refererHost is the host a Referer of a proxied page names, or "".
func (h *hosts) refererHost(referer string) string {
	if !strings.HasPrefix(referer, h.base) {
		return ""
	}
	host, _, ok := strings.Cut(referer[len(h.base):], "/")
	if ok && h.allowed(host) {
		return strings.ToLower(host)
	}
	return ""
}

// location rewrites a redirect target for the browser. Absolute URLs of
// allowed hosts go through the proxy; a path-absolute target stays on the
// host that answered.
func (h *hosts) location(loc, host string) string {
	switch {
	case strings.HasPrefix(loc, "//"):
		return h.toProxy("https:" + loc)
	case strings.HasPrefix(loc, "/"):
		return h.base + host + loc
	}
	return h.toProxy(loc)
}

// fromProxyQuery undoes toProxy in each value of a raw query or form
// body, keeping the order and the encoding of what it does not change.
func (h *hosts) fromProxyQuery(raw string) string {
	if !strings.Contains(raw, hostOnly(h.self)) {
		return raw
	}
	parts := strings.Split(raw, "&")
	for i, p := range parts {
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			continue
		}
		val, err := url.QueryUnescape(v)
		if err != nil {
			continue
		}
		if fixed := h.fromProxy(val); fixed != val {
			parts[i] = k + "=" + url.QueryEscape(fixed)
		}
	}
	return strings.Join(parts, "&")
}

// hostOnly drops a port from host:port.
func hostOnly(hostport string) string {
	if i := strings.LastIndexByte(hostport, ':'); i >= 0 {
		return hostport[:i]
	}
	return hostport
}
