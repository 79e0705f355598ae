package signin

import (
	"net/http"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
)

// amazonCookie matches the names of the cookies Amazon's pages keep in
// the browser (alexa-cookie2's list). Only these are taken from the
// browser's Cookie header: it may also carry other local apps' cookies.
var amazonCookie = regexp.MustCompile(`^(?:session-id|session-id-time|session-token|ubid-.+|lc-.+|x-.+|at-.+|sess-at-.+|csrf|sid|csm-hit|i18n-prefs|sp-cdn|skin)$`)

// jar keeps the cookies of one sign-in: what Amazon set and what the
// browser sent back, by name, latest first. The device cookies (frc,
// map-md) are not kept: the caller has them.
type jar struct {
	mu      sync.Mutex
	cookies map[string]*http.Cookie
	skip    map[string]bool
}

func newJar(device []*http.Cookie) *jar {
	j := &jar{cookies: map[string]*http.Cookie{}, skip: map[string]bool{}}
	for _, c := range device {
		j.skip[c.Name] = true
	}
	return j
}

// fromResponse keeps the cookies of Set-Cookie lines; a cookie set to
// expire is removed.
func (j *jar) fromResponse(lines []string, now time.Time) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, line := range lines {
		c, err := http.ParseSetCookie(line)
		if err != nil || j.skip[c.Name] {
			continue
		}
		if c.MaxAge < 0 || (!c.Expires.IsZero() && c.Expires.Before(now)) || c.Value == "" || c.Value == `""` {
			delete(j.cookies, c.Name)
			continue
		}
		j.cookies[c.Name] = &http.Cookie{Name: c.Name, Value: c.Value, Quoted: c.Quoted}
	}
}

// fromRequest keeps the Amazon cookies of the browser's Cookie header.
func (j *jar) fromRequest(r *http.Request) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, c := range r.Cookies() {
		if amazonCookie.MatchString(c.Name) && !j.skip[c.Name] {
			j.cookies[c.Name] = &http.Cookie{Name: c.Name, Value: c.Value, Quoted: c.Quoted}
		}
	}
}

// all returns a copy of the kept cookies, sorted by name.
func (j *jar) all() []*http.Cookie {
	j.mu.Lock()
	defer j.mu.Unlock()
	out := make([]*http.Cookie, 0, len(j.cookies))
	for _, c := range j.cookies {
		cp := *c
		out = append(out, &cp)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Name < out[b].Name })
	return out
}

// withDevice returns the Cookie header value for an upstream request: the
// browser's cookies plus each device cookie the browser did not send.
func withDevice(header string, device []*http.Cookie) string {
	parts := []string{}
	if header = strings.TrimSpace(header); header != "" {
		parts = append(parts, header)
	}
	for _, c := range device {
		if !hasCookie(header, c.Name) {
			parts = append(parts, c.Name+"="+c.Value)
		}
	}
	return strings.Join(parts, "; ")
}

func hasCookie(header, name string) bool {
	for p := range strings.SplitSeq(header, ";") {
		if n, _, _ := strings.Cut(strings.TrimSpace(p), "="); n == name {
			return true
		}
	}
	return false
}

// browserCookie rewrites one Set-Cookie line so that the browser keeps
// it for the proxy: no Domain (the proxy is 127.0.0.1), Path /, and no
// Secure (the proxy speaks plain HTTP); SameSite=None and Partitioned
// need Secure, so they go too. The name and value stay byte for byte.
func browserCookie(line string) string {
	attrs := strings.Split(line, ";")
	out := []string{strings.TrimSpace(attrs[0])}
	for _, a := range attrs[1:] {
		a = strings.TrimSpace(a)
		name, val, _ := strings.Cut(a, "=")
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "domain", "secure", "partitioned", "path", "":
			continue
		case "samesite":
			if strings.EqualFold(strings.TrimSpace(val), "none") {
				continue
			}
		}
		out = append(out, a)
	}
	return strings.Join(append(out, "Path=/"), "; ")
}
