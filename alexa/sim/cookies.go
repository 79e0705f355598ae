package sim

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"maps"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// exchangedCookie is one cookie of the exchange and registration answers;
// the booleans are strings, as Amazon sends them.
type exchangedCookie struct {
	Name     string `json:"Name"`
	Value    string `json:"Value"`
	Path     string `json:"Path"`
	Domain   string `json:"Domain"`
	Expires  string `json:"Expires"`
	Secure   string `json:"Secure"`
	HttpOnly string `json:"HttpOnly"`
}

// cookieExpiresLayout is how Amazon writes a cookie's Expires in JSON
// ("6 Dec 2045 11:42:16 GMT").
const cookieExpiresLayout = "2 Jan 2006 15:04:05 GMT"

// cookieDomain turns a requested domain (".amazon.de", "www.amazon.de",
// "amazon.de") into the key of the answer: ".amazon.de".
func cookieDomain(raw string) (string, error) {
	d := strings.ToLower(strings.TrimSpace(raw))
	d = strings.TrimPrefix(d, ".")
	d = strings.TrimPrefix(d, "www.")
	tld, ok := strings.CutPrefix(d, "amazon.")
	valid := ok && tld != "" && !strings.HasPrefix(tld, ".") && !strings.HasSuffix(tld, ".")
	for _, c := range tld {
		valid = valid && (c >= 'a' && c <= 'z' || c == '.')
	}
	if !valid {
		return "", fmt.Errorf("domain %q is not an Amazon marketplace domain (.amazon.<tld>)", raw)
	}
	return "." + d, nil
}

// cookieSuffix is the marketplace suffix of cookie names: "main" for
// amazon.com, "acb" + the last label otherwise (acbde, acbuk, acbjp).
func cookieSuffix(key string) string {
	if key == ".amazon.com" {
		return "main"
	}
	return "acb" + key[strings.LastIndex(key, ".")+1:]
}

// amazonID is a number like Amazon's session ids: 262-1234567-7654321.
func amazonID() string {
	return fmt.Sprintf("%03d-%07d-%07d", mrand.IntN(1000), mrand.IntN(10_000_000), mrand.IntN(10_000_000))
}

func randomBase64(n int, enc *base64.Encoding) string {
	b := make([]byte, n)
	rand.Read(b) // crypto/rand.Read never fails
	return enc.EncodeToString(b)
}

// issueCookiesLocked starts a web session for the domain key (".amazon.de")
// and returns its cookies; serial names the registration it belongs to.
// Values carry "|", quotes, "/", "+" and "=", as Amazon's do. s.mu is held.
func (s *Server) issueCookiesLocked(key, serial string) []exchangedCookie {
	now := s.opts.Now()
	s.forgetSessionsLocked(now)
	suffix := cookieSuffix(key)
	at := "Atza|" + randomBase64(48, base64.RawURLEncoding)
	s.app.sessions[at] = &webSession{atName: "at-" + suffix, expires: now.Add(s.app.settings.cookieTTL()), serial: serial}
	// The Expires clients see is two decades away, like Amazon's; the
	// session's real lifetime is cookie_ttl_s.
	expires := now.AddDate(20, 0, 0).UTC().Format(cookieExpiresLayout)
	values := [][2]string{
		{"session-id", amazonID()},
		{"session-id-time", fmt.Sprintf("%dl", now.AddDate(20, 0, 0).Unix())},
		{"ubid-" + suffix, amazonID()},
		{"session-token", `"` + randomBase64(96, base64.StdEncoding) + `"`},
		{"at-" + suffix, at},
		{"sess-at-" + suffix, `"` + randomBase64(32, base64.StdEncoding) + `"`},
		{"x-" + suffix, `"` + randomBase64(24, base64.StdEncoding) + `"`},
	}
	cookies := make([]exchangedCookie, 0, len(values))
	for _, v := range values {
		cookies = append(cookies, exchangedCookie{
			Name: v[0], Value: v[1], Path: "/", Domain: key, Expires: expires, Secure: "true", HttpOnly: "false",
		})
	}
	return cookies
}

// forgetSessionsLocked drops the sessions (and their csrf values) expired
// a day ago; an unknown at-* cookie gets the same 401 as an expired one.
// s.mu is held.
func (s *Server) forgetSessionsLocked(now time.Time) {
	s.dropSessionsLocked(func(ws *webSession) bool { return now.After(ws.expires.Add(24 * time.Hour)) })
}

// dropSessionsLocked forgets the sessions drop selects and the csrf values
// issued to them; s.mu is held.
func (s *Server) dropSessionsLocked(drop func(*webSession) bool) {
	maps.DeleteFunc(s.app.sessions, func(_ string, ws *webSession) bool { return drop(ws) })
	maps.DeleteFunc(s.app.csrfs, func(_ string, ws *webSession) bool { return drop(ws) })
}

// requestCookies parses the Cookie headers leniently (Go's parser drops
// values with quotes inside or other bytes Amazon's cookies carry): each
// value unquoted and URL-decoded, in order.
func requestCookies(r *http.Request) [][2]string {
	var out [][2]string
	for _, line := range r.Header.Values("Cookie") {
		for part := range strings.SplitSeq(line, ";") {
			name, value, ok := strings.Cut(strings.TrimSpace(part), "=")
			if !ok || name == "" {
				continue
			}
			value = strings.TrimSpace(value)
			if len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"' {
				value = value[1 : len(value)-1]
			}
			if v, err := url.PathUnescape(value); err == nil {
				value = v
			}
			out = append(out, [2]string{strings.TrimSpace(name), value})
		}
	}
	return out
}

func cookieValue(cookies [][2]string, name string) (string, bool) {
	for _, c := range cookies {
		if c[0] == name {
			return c[1], true
		}
	}
	return "", false
}

// sessionKey is the context key of the web session a request bears.
type sessionKey struct{}

// webAuth guards the web API. A Cookie with at-* cookies is an issued
// session: at least one of them must be live, else 401 with an empty body
// and a loginUrl header (what Amazon answers); state-changing calls also
// need the csrf header to equal the csrf cookie, a value the simulator
// issued. A Cookie without any at-* cookie is the legacy static session:
// any csrf cookie whose value equals the csrf header.
func (s *Server) webAuth(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cookies := requestCookies(r)
		sess, issued := s.liveSession(cookies)
		if !issued {
			legacyWebAuth(w, r, next)
			return
		}
		if sess == nil {
			// Spelt as Amazon sends it (Set would send "Loginurl").
			w.Header()["loginUrl"] = []string{baseURL(r) + "/ap/signin"}
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead && !s.csrfValid(cookies, r.Header.Get("csrf")) {
			writeWebError(w, http.StatusUnauthorized, "the request needs the csrf header equal to the csrf cookie the session got from /api/language")
			return
		}
		next(w, r.WithContext(context.WithValue(r.Context(), sessionKey{}, sess)))
	})
}

// liveSession returns the live issued session among the request's at-*
// cookies; issued reports whether it has any at-* cookie at all.
func (s *Server) liveSession(cookies [][2]string) (sess *webSession, issued bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now()
	for _, c := range cookies {
		if !strings.HasPrefix(c[0], "at-") {
			continue
		}
		issued = true
		if ws, ok := s.app.sessions[c[1]]; ok && ws.atName == c[0] && now.Before(ws.expires) {
			return ws, true
		}
	}
	return nil, issued
}

// csrfValid reports whether header is the request's csrf cookie and a
// value the simulator issued to a session still live.
func (s *Server) csrfValid(cookies [][2]string, header string) bool {
	cookie, ok := cookieValue(cookies, "csrf")
	if !ok || header == "" || cookie != header {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ws, ok := s.app.csrfs[cookie]
	return ok && s.opts.Now().Before(ws.expires)
}

// legacyWebAuth lets through requests with the static session: a Cookie
// whose csrf= value equals the csrf header. The simulator never issued the
// cookie, so any such pair is accepted (web.SimCookie, alexa-remote2's
// interop harness).
func legacyWebAuth(w http.ResponseWriter, r *http.Request, next http.HandlerFunc) {
	header := r.Header.Get("csrf")
	cookie, err := r.Cookie("csrf")
	if err != nil || header == "" || cookie.Value != header {
		writeWebError(w, http.StatusUnauthorized, "the request needs a session cookie whose csrf value equals the csrf header")
		return
	}
	next(w, r)
}

// csrfPaths are the paths clients fetch the csrf cookie from, in the order
// they try them; the device list counts only with cached=false.
var csrfPaths = []string{
	"/api/language",
	"/spa/index.html",
	"/api/devices-v2/device?cached=false",
	"/templates/oobe/d-device-pick.handlebars",
	"/api/strings",
}

// csrfFrom wraps a route that may set the csrf cookie: it does when the
// request bears an issued session and the route is the one csrf_from
// names.
func (s *Server) csrfFrom(path string, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess, _ := r.Context().Value(sessionKey{}).(*webSession)
		s.mu.Lock()
		from := s.app.settings.CSRFFrom
		s.mu.Unlock()
		want, query, _ := strings.Cut(from, "?")
		match := sess != nil && want == path
		if q, err := url.ParseQuery(query); match && err == nil {
			for k := range q {
				match = match && r.URL.Query().Get(k) == q.Get(k)
			}
		}
		if match {
			s.setCSRF(w, sess)
		}
		next(w, r)
	}
}

// setCSRF issues a csrf value (a signed 32-bit integer, like Amazon's) to
// sess and sets it as a cookie.
func (s *Server) setCSRF(w http.ResponseWriter, sess *webSession) {
	var b [4]byte
	rand.Read(b[:]) // crypto/rand.Read never fails
	value := fmt.Sprint(int32(binary.BigEndian.Uint32(b[:])))
	s.mu.Lock()
	s.app.csrfs[value] = sess
	expires := s.opts.Now().AddDate(10, 0, 0).UTC().Format("Mon, 02-Jan-2006 15:04:05 GMT")
	s.mu.Unlock()
	w.Header().Add("Set-Cookie", fmt.Sprintf("csrf=%s; expires=%s; Path=/", value, expires))
}

// Sign-in cookies (Set-Cookie on the sign-in success): written by hand,
// since Go's SetCookie drops values with quotes.
func setCookieHeaders(w http.ResponseWriter, cookies []exchangedCookie) {
	for _, c := range cookies {
		w.Header().Add("Set-Cookie", fmt.Sprintf("%s=%s; Path=%s; Expires=%s", c.Name, c.Value, c.Path, cookieHeaderExpires(c.Expires)))
	}
}

func cookieHeaderExpires(jsonExpires string) string {
	t, err := time.Parse(cookieExpiresLayout, jsonExpires)
	if err != nil {
		return jsonExpires
	}
	return t.Format(http.TimeFormat)
}
