package sim

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"
)

// refreshGrantLocked looks up a refresh token: a registration's, or one
// of the static ones (SimRefreshToken, Options.RefreshTokens, LWA's); s.mu
// is held.
func (s *Server) refreshGrantLocked(token string) (appGrant, bool) {
	if reg, ok := s.app.byRefresh[token]; ok {
		return reg.appGrant, true
	}
	if s.refreshTokens[token] {
		return appGrant{}, true
	}
	return appGrant{}, false
}

// tokenForm reads the form of the identity service's token routes
// (/auth/token, /ap/exchangetoken[/cookies]): a refresh token as
// source_token, one of the requested types. It answers the refusal itself
// and returns ok=false then.
func (s *Server) tokenForm(w http.ResponseWriter, r *http.Request, types ...string) (url.Values, appGrant, bool) {
	if err := r.ParseForm(); err != nil {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "The request body is not a valid form: "+err.Error())
		return nil, appGrant{}, false
	}
	form := r.PostForm
	for _, name := range []string{"source_token", "source_token_type", "requested_token_type"} {
		if form.Get(name) == "" {
			writeOAuthError(w, http.StatusBadRequest, "invalid_request", "The request is missing a required parameter : "+name)
			return nil, appGrant{}, false
		}
	}
	if t := form.Get("source_token_type"); t != "refresh_token" {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", fmt.Sprintf("source_token_type %q is not supported (refresh_token)", t))
		return nil, appGrant{}, false
	}
	if t := form.Get("requested_token_type"); !slices.Contains(types, t) {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", fmt.Sprintf("requested_token_type %q is not supported (%v)", t, types))
		return nil, appGrant{}, false
	}
	s.mu.Lock()
	g, ok := s.refreshGrantLocked(form.Get("source_token"))
	s.mu.Unlock()
	if !ok {
		writeOAuthError(w, http.StatusBadRequest, "invalid_grant", "The request has an invalid parameter : source_token")
		return nil, appGrant{}, false
	}
	return form, g, true
}

// handleAuthToken is the Amazon identity token exchange the Alexa app
// (and alexa-remote2) uses: POST /auth/token, form encoded, a refresh
// token as source_token for an access token (requested_token_type
// access_token) or web cookies (auth_cookies, with domain). It is not
// LWA's /auth/o2/token; its access tokens open the push downchannel.
func (s *Server) handleAuthToken(w http.ResponseWriter, r *http.Request) {
	form, g, ok := s.tokenForm(w, r, "access_token", "auth_cookies")
	if !ok {
		return
	}
	if form.Get("requested_token_type") == "auth_cookies" {
		s.answerCookies(w, form.Get("domain"), g)
		return
	}
	s.mu.Lock()
	access, ttl := s.mintAppTokenLocked(g)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": access,
		"token_type":   "bearer",
		"expires_in":   int(ttl / time.Second),
	})
}

// mintAppTokenLocked issues an identity-service access token (Atna|) for
// g; it inherits g's sign-in time. s.mu is held.
func (s *Server) mintAppTokenLocked(g appGrant) (string, time.Duration) {
	access, ttl := s.mintAccessLocked("Atna|sim-")
	s.app.tokens[access] = g
	return access, ttl
}

// handleExchangeCookies is POST /ap/exchangetoken/cookies (and
// /ap/exchangetoken): web cookies for a refresh token.
func (s *Server) handleExchangeCookies(w http.ResponseWriter, r *http.Request) {
	form, g, ok := s.tokenForm(w, r, "auth_cookies")
	if !ok {
		return
	}
	s.answerCookies(w, form.Get("domain"), g)
}

// answerCookies issues a web session for domain and answers with the
// exchange shape {"response":{"tokens":{"cookies":{".amazon.de":[...]}}}}.
func (s *Server) answerCookies(w http.ResponseWriter, domain string, g appGrant) {
	if domain == "" {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "The request is missing a required parameter : domain")
		return
	}
	key, err := cookieDomain(domain)
	if err != nil {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	s.mu.Lock()
	cookies := s.issueCookiesLocked(key, g.serial)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"response": map[string]any{
		"tokens": map[string]any{"cookies": map[string][]exchangedCookie{key: cookies}},
	}})
}
