package auth

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// Session is everything a registered app device needs to talk to Amazon
// as the household (research §7 "stored result"): the tokens of the
// registration, the web cookies made from them and what Amazon said about
// the account. The refresh token is its only long-lived secret; the rest
// is renewed from it by a Keeper. It is stored as JSON (bucket auth, key
// app_session) and must never be logged: String, GoString and LogValue
// redact every secret.
type Session struct {
	Device Device `json:"device"`

	// AccessToken (Atna|…) is the bearer token of the push and the
	// capabilities API; AccessExpiry is local time: the moment its
	// request was sent plus expires_in, never a server's Date.
	AccessToken  string    `json:"access_token"`
	AccessExpiry time.Time `json:"access_expiry"`
	// RefreshToken (Atnr|…) makes new access tokens and web cookies.
	RefreshToken string `json:"refresh_token"`
	// ADPToken and DevicePrivateKey (base64 PKCS#8 DER, no PEM armour)
	// are the registration's mac_dms, which sign the legacy websocket.
	ADPToken         string `json:"adp_token"`
	DevicePrivateKey string `json:"device_private_key"`

	// LoginCookies are the .amazon.com (login host) cookies: those of
	// the sign-in and the registration's website_cookies.
	LoginCookies []Cookie `json:"login_cookies"`
	// WebCookies are the marketplace's cookies from the token exchange,
	// csrf included; CSRF is the csrf cookie's value, sent as a header.
	WebCookies []Cookie `json:"web_cookies"`
	CSRF       string   `json:"csrf"`

	Marketplace  string `json:"marketplace"` // e.g. "amazon.de"
	HomeRegion   string `json:"home_region"` // "NA", "EU" or "FE" (customer_info.home_region)
	CustomerID   string `json:"customer_id"` // amzn1.account.…
	CustomerName string `json:"customer_name"`
	DeviceName   string `json:"device_name"` // as "Your devices" lists it

	Registered       time.Time `json:"registered"`
	AccessRefreshed  time.Time `json:"access_refreshed"`
	CookiesRefreshed time.Time `json:"cookies_refreshed"`
}

// Cookie is one Amazon cookie as the identity service hands it out.
// Values are kept unquoted.
type Cookie struct {
	Name   string `json:"name"`
	Value  string `json:"value"`
	Domain string `json:"domain,omitempty"`
	Path   string `json:"path,omitempty"`
}

// String hides the value.
func (c Cookie) String() string { return c.Name + "=[redacted]" }

// SessionStore keeps the session across restarts. SaveSession must be
// atomic (the engine backs it with one bbolt Put), so that a crash never
// leaves a half-written session.
type SessionStore interface {
	// LoadSession returns the stored session, or nil and no error when
	// there is none.
	LoadSession() (*Session, error)
	SaveSession(*Session) error
}

// Validate reports a stored session that cannot be used, naming the
// field: it has no refresh token, a damaged device or no marketplace.
func (s *Session) Validate() error {
	if s == nil {
		return errors.New("auth: no session")
	}
	if err := s.Device.Validate(); err != nil {
		return fmt.Errorf("auth: session: %w", err)
	}
	switch {
	case s.RefreshToken == "":
		return errors.New("auth: session: refresh_token is empty")
	case s.Marketplace == "":
		return errors.New("auth: session: marketplace is empty")
	}
	return nil
}

// Clone returns a deep copy.
func (s *Session) Clone() *Session {
	c := *s
	c.LoginCookies = append([]Cookie(nil), s.LoginCookies...)
	c.WebCookies = append([]Cookie(nil), s.WebCookies...)
	return &c
}

// WebCookie is the Cookie header of the web API (alexa.<mkt>), csrf
// included.
func (s *Session) WebCookie() string { return cookieHeader(s.WebCookies) }

// LogValue shows what identifies the session, never a token, cookie or
// key.
func (s Session) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("device", s.Device.Serial),
		slog.String("marketplace", s.Marketplace),
		slog.String("home_region", s.HomeRegion),
		slog.Time("access_expiry", s.AccessExpiry),
		slog.Time("cookies_refreshed", s.CookiesRefreshed),
		slog.Int("web_cookies", len(s.WebCookies)),
	)
}

// String is LogValue's text: no secret.
func (s Session) String() string {
	return fmt.Sprintf("auth.Session{device %s, marketplace %s, home region %s, access until %s, %d web cookies, secrets redacted}",
		s.Device.Serial, s.Marketplace, s.HomeRegion, s.AccessExpiry.Format(time.RFC3339), len(s.WebCookies))
}

// GoString keeps %#v from printing the secrets.
func (s Session) GoString() string { return s.String() }

// cookieHeader joins cookies into a Cookie header value.
func cookieHeader(cs []Cookie) string {
	parts := make([]string, 0, len(cs))
	for _, c := range cs {
		parts = append(parts, c.Name+"="+c.Value)
	}
	return strings.Join(parts, "; ")
}

// mergeCookies returns old with each cookie of add replacing the one of
// the same name, or appended.
func mergeCookies(old, add []Cookie) []Cookie {
	out := append([]Cookie(nil), old...)
	for _, c := range add {
		replaced := false
		for i := range out {
			if out[i].Name == c.Name {
				out[i], replaced = c, true
			}
		}
		if !replaced {
			out = append(out, c)
		}
	}
	return out
}

// fromHTTP converts cookies (e.g. those the sign-in proxy caught) and
// drops any that cannot travel in a Cookie header.
func fromHTTP(cs []*http.Cookie) []Cookie {
	out := make([]Cookie, 0, len(cs))
	for _, c := range cs {
		if c == nil {
			continue
		}
		if v, ok := cleanCookie(c.Name, c.Value); ok {
			out = append(out, Cookie{Name: c.Name, Value: v, Domain: c.Domain, Path: c.Path})
		}
	}
	return out
}

// cleanCookie strips the quotes Amazon sometimes wraps values in and
// refuses a name or value that would break the Cookie header.
func cleanCookie(name, value string) (string, bool) {
	if len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"' {
		value = value[1 : len(value)-1]
	}
	if name == "" || strings.ContainsAny(name, "=; \t\r\n\"") || strings.ContainsAny(value, "; \r\n\"") {
		return "", false
	}
	return value, true
}
