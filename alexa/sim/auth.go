package sim

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Lifetimes Login with Amazon gives its tokens and device codes.
const (
	accessTokenLifetime = time.Hour
	codePairLifetime    = 10 * time.Minute
)

// verificationURI is where Amazon sends the user to enter a user code.
const verificationURI = "https://amazon.com/us/code"

// oauthError is an RFC 6749 §5.2 error, as LWA answers.
type oauthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
}

type codePairResponse struct {
	UserCode        string `json:"user_code"`
	DeviceCode      string `json:"device_code"`
	VerificationURI string `json:"verification_uri"`
	ExpiresIn       int    `json:"expires_in"`
	Interval        int    `json:"interval"`
}

// codePair is one device-code authorization in progress.
type codePair struct {
	userCode string
	expires  time.Time
	approved bool
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) // crypto/rand.Read never fails
	return fmt.Sprintf("%x", b)
}

func writeOAuthError(w http.ResponseWriter, status int, code, description string) {
	writeJSON(w, status, oauthError{Error: code, Description: description})
}

// handleToken is LWA's token endpoint: the refresh_token,
// authorization_code and device_code grants, form encoded. Client
// credentials are not checked.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "The request body is not a valid form: "+err.Error())
		return
	}
	form := r.PostForm
	missing := func(name string) bool {
		if form.Get(name) != "" {
			return false
		}
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "The request is missing a required parameter : "+name)
		return true
	}
	switch grant := form.Get("grant_type"); grant {
	case "refresh_token":
		if missing("refresh_token") {
			return
		}
		token := form.Get("refresh_token")
		s.mu.Lock()
		ok := s.refreshTokens[token]
		s.mu.Unlock()
		if !ok {
			writeOAuthError(w, http.StatusBadRequest, "invalid_grant", "The request has an invalid grant parameter : refresh_token")
			return
		}
		writeJSON(w, http.StatusOK, s.issueTokens(token))
	case "authorization_code":
		if missing("code") {
			return
		}
		writeJSON(w, http.StatusOK, s.issueTokens(""))
	case "device_code":
		if missing("device_code") || missing("user_code") {
			return
		}
		s.pollDeviceCode(w, form.Get("device_code"), form.Get("user_code"))
	case "":
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "The request is missing a required parameter : grant_type")
	default:
		writeOAuthError(w, http.StatusBadRequest, "unsupported_grant_type", fmt.Sprintf("The authorization grant type %q is not supported", grant))
	}
}

// issueTokens mints an LWA access token, and a refresh token unless
// refresh names the one being used.
func (s *Server) issueTokens(refresh string) tokenResponse {
	return s.mintTokens("Atza|sim-", refresh)
}

// mintTokens issues an access token starting with prefix (Amazon's LWA
// tokens start Atza|, its identity service's Atna|).
func (s *Server) mintTokens(prefix, refresh string) tokenResponse {
	s.mu.Lock()
	defer s.mu.Unlock()
	if refresh == "" {
		refresh = "Atzr|sim-" + randomHex(24)
		s.refreshTokens[refresh] = true
	}
	access, ttl := s.mintAccessLocked(prefix)
	return tokenResponse{
		AccessToken:  access,
		RefreshToken: refresh,
		TokenType:    "bearer",
		ExpiresIn:    int(ttl / time.Second),
	}
}

// mintAccessLocked issues an access token starting with prefix, living
// access_token_ttl_s, and returns it with its lifetime; s.mu is held.
func (s *Server) mintAccessLocked(prefix string) (string, time.Duration) {
	now := s.opts.Now()
	// Forget tokens long expired; recently expired ones still get the
	// "expired" answer rather than "not valid".
	for t, exp := range s.accessTokens {
		if !exp.IsZero() && now.After(exp.Add(24*time.Hour)) {
			delete(s.accessTokens, t)
			delete(s.app.tokens, t)
		}
	}
	ttl := s.app.settings.accessTTL()
	access := prefix + randomHex(24)
	s.accessTokens[access] = now.Add(ttl)
	return access, ttl
}

// pollDeviceCode answers a device_code grant: authorization_pending until
// the code pair is approved (by POST /_sim/codepair/approve, or
// automatically by the first poll), then tokens, once.
func (s *Server) pollDeviceCode(w http.ResponseWriter, deviceCode, userCode string) {
	s.mu.Lock()
	cp, ok := s.codePairs[deviceCode]
	var approved bool
	switch {
	case !ok || cp.userCode != userCode:
		ok = false
	case s.opts.Now().After(cp.expires):
		delete(s.codePairs, deviceCode)
		s.mu.Unlock()
		writeOAuthError(w, http.StatusBadRequest, "expired_token", "The device code has expired")
		return
	case cp.approved:
		approved = true
		delete(s.codePairs, deviceCode)
	default:
		// The simulated user approves while the device waits.
		cp.approved = true
	}
	s.mu.Unlock()
	switch {
	case !ok:
		writeOAuthError(w, http.StatusBadRequest, "invalid_grant", "The request has an invalid grant parameter : device_code")
	case approved:
		writeJSON(w, http.StatusOK, s.issueTokens(""))
	default:
		writeOAuthError(w, http.StatusBadRequest, "authorization_pending", "The user has not yet entered the user code")
	}
}

// handleCodePair starts the device-code (code-based linking) flow.
func (s *Server) handleCodePair(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "The request body is not a valid form: "+err.Error())
		return
	}
	if rt := r.PostForm.Get("response_type"); rt != "device_code" {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", fmt.Sprintf("response_type must be device_code, got %q", rt))
		return
	}
	s.mu.Lock()
	s.seq++
	deviceCode := randomHex(16)
	userCode := fmt.Sprintf("SIM%03d", s.seq%1000)
	s.codePairs[deviceCode] = &codePair{userCode: userCode, expires: s.opts.Now().Add(codePairLifetime)}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, codePairResponse{
		UserCode:        userCode,
		DeviceCode:      deviceCode,
		VerificationURI: verificationURI,
		ExpiresIn:       int(codePairLifetime / time.Second),
		Interval:        int((s.opts.CodePairInterval + time.Second - 1) / time.Second),
	})
}

// handleApproveCodePair approves the code pair whose user code the body
// names ({"user_code":"SIM001"}), or every pending one when the body is
// empty.
func (s *Server) handleApproveCodePair(w http.ResponseWriter, r *http.Request) {
	var req struct {
		UserCode string `json:"user_code"`
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		writeControlError(w, http.StatusBadRequest, fmt.Errorf("read body: %w", err))
		return
	}
	if len(strings.TrimSpace(string(body))) > 0 {
		if err := decodeStrict(strings.NewReader(string(body)), &req); err != nil {
			writeControlError(w, http.StatusBadRequest, fmt.Errorf("decode body: %w", err))
			return
		}
	}
	s.mu.Lock()
	n := 0
	for _, cp := range s.codePairs {
		if req.UserCode == "" || cp.userCode == req.UserCode {
			cp.approved = true
			n++
		}
	}
	s.mu.Unlock()
	if req.UserCode != "" && n == 0 {
		writeControlError(w, http.StatusNotFound, fmt.Errorf("no pending code pair with user code %q", req.UserCode))
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"approved": n})
}

// handleDeleteTokens expires every issued access token (not the ones
// Options.AccessTokens configures), so clients must refresh.
func (s *Server) handleDeleteTokens(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	for t, exp := range s.accessTokens {
		if !exp.IsZero() {
			delete(s.accessTokens, t)
		}
	}
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// expireRequest is the body of POST /_sim/auth/expire.
type expireRequest struct {
	AccessToken bool `json:"access_token"`
	Cookies     bool `json:"cookies"`
}

// handleExpire expires every issued access token and/or web session now
// (not the tokens Options.AccessTokens configures, nor the legacy static
// cookie): unlike DELETE /_sim/tokens, which forgets them, the API then
// answers EXPIRED_AUTHORIZATION_CREDENTIAL, as Amazon does for a token
// whose hour ran out mid-run, and the web API 401.
func (s *Server) handleExpire(w http.ResponseWriter, r *http.Request) {
	var req expireRequest
	if err := decodeStrict(io.LimitReader(r.Body, maxBody), &req); err != nil {
		writeControlError(w, http.StatusBadRequest, fmt.Errorf("decode expire request: %w", err))
		return
	}
	if !req.AccessToken && !req.Cookies {
		writeControlError(w, http.StatusBadRequest, errors.New(`nothing to expire: give {"access_token":true} and/or {"cookies":true}`))
		return
	}
	answer := map[string]int{}
	s.mu.Lock()
	if req.AccessToken {
		now, n := s.opts.Now(), 0
		for t, exp := range s.accessTokens {
			if !exp.IsZero() && now.Before(exp) {
				s.accessTokens[t] = now
				n++
			}
		}
		answer["access_tokens"] = n
	}
	if req.Cookies {
		answer["cookies"] = s.expireCookiesLocked()
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, answer)
}

// bearerToken is the token of the request's "Authorization: Bearer"
// header, or "" when it has none.
func bearerToken(r *http.Request) string {
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}

// authorized lets through requests bearing a live access token and answers
// the others 401 with an Error object.
func (s *Server) authorized(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if e := s.checkBearer(r); e != nil {
			writeError(w, e)
			return
		}
		next(w, r)
	})
}

// checkBearer returns nil when r bears a live access token, else the 401
// Error (with its WWW-Authenticate challenge) to answer with.
func (s *Server) checkBearer(r *http.Request) *apiError {
	token := bearerToken(r)
	if token == "" {
		return &apiError{status: http.StatusUnauthorized, Type: errInvalidCredential, challenge: `Bearer`,
			Message: "The request has no bearer access token in its Authorization header."}
	}
	s.mu.Lock()
	exp, ok := s.accessTokens[token]
	expired := ok && !exp.IsZero() && !s.opts.Now().Before(exp)
	s.mu.Unlock()
	switch {
	case !ok:
		return &apiError{status: http.StatusUnauthorized, Type: errInvalidCredential, challenge: `Bearer error="invalid_token"`,
			Message: "The access token is not valid."}
	case expired:
		return &apiError{status: http.StatusUnauthorized, Type: errExpiredCredential, challenge: `Bearer error="invalid_token"`,
			Message: "The access token has expired."}
	}
	return nil
}
