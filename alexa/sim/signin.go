package sim

import (
	"bytes"
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// The sign-in pages. Every action and link is relative, so a proxy that
// serves them under its own address needs to rewrite nothing; the element
// ids and names are the ones clients parse (research §12.2).
var signInPages = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en-US"><head><meta charset="utf-8"><title>Amazon Sign-In</title></head>
<body><div id="a-page"><div class="a-section auth-pagelet-container">
{{- if .Error}}
<div id="auth-error-message-box" class="a-box a-alert a-alert-error auth-server-side-message-box"><div class="a-box-inner a-alert-container">
<h4 class="a-alert-heading">There was a problem</h4>
<div class="a-alert-content"><ul class="a-unordered-list a-nostyle a-vertical"><li><span class="a-list-item">{{.Error}}</span></li></ul></div>
</div></div>
{{- end}}
{{- if eq .Page "signin"}}
<h1 class="a-spacing-small">Sign in</h1>
<form name="signIn" method="post" novalidate action="/ap/signin" class="auth-validate-form auth-real-time-validation">
<input type="hidden" name="appActionToken" value="{{.Token}}"><input type="hidden" name="appAction" value="SIGNIN_PWD_COLLECT">
<input type="hidden" name="workflowState" value="{{.State}}"><input type="hidden" name="create" value="0">
<label for="ap_email">Email or mobile phone number</label>
<input type="email" maxlength="128" id="ap_email" name="email" value="{{.Email}}">
<label for="ap_password">Password</label>
<input type="password" maxlength="1024" id="ap_password" name="password">
<input id="signInSubmit" type="submit" value="Sign in">
</form>
<p><a href="/ap/signin?{{.Query}}">Start over</a></p>
{{- else if eq .Page "mfa"}}
<h1>Two-Step Verification</h1>
<form id="auth-mfa-form" method="post" action="/ap/signin">
<input type="hidden" name="appActionToken" value="{{.Token}}"><input type="hidden" name="appAction" value="SIGNIN_MFA">
<input type="hidden" name="workflowState" value="{{.State}}">
<label for="auth-mfa-otpcode">Enter OTP:</label>
<input type="tel" id="auth-mfa-otpcode" name="otpCode" maxlength="20" autocomplete="off">
<input type="checkbox" id="auth-mfa-remember-device" name="rememberDevice" value="true">
<input id="auth-signin-button" type="submit" name="mfaSubmit" value="Submit">
</form>
{{- else if eq .Page "landing"}}
<h1>Signed in</h1><p>You can close this window.</p>
{{- end}}
</div></div></body></html>
`))

// signInPage is the data of one page.
type signInPage struct {
	Page         string // signin, mfa, landing, or "" for an error only
	Error        string
	Token, State string
	Email        string
	Query        template.URL
}

// writeHTML renders a page chunked, without a Content-Length: a proxy that
// rewrites the page changes its length.
func writeHTML(w http.ResponseWriter, status int, p signInPage) {
	var buf bytes.Buffer
	if err := signInPages.Execute(&buf, p); err != nil {
		http.Error(w, "render page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html;charset=UTF-8")
	w.WriteHeader(status)
	b := buf.Bytes()
	w.Write(b[:len(b)/2])
	http.NewResponseController(w).Flush()
	w.Write(b[len(b)/2:])
}

// errSignInSession is the error box of a POST whose sign-in is gone.
const errSignInSession = "Your sign-in session has expired or is not known. Start the sign-in again."

// Sign-in stages.
const (
	stagePassword = iota
	stageOTP
)

// signIn is one sign-in in progress, from the form to the redirect.
type signIn struct {
	clientHex, challenge string
	responseType         string
	assocHandle          string
	returnTo             string
	query                string // the start URL's query, to start over
	state                string // workflowState, echoed by the form
	stage                int
	expires              time.Time
}

// authCode is an authorization code issued by a sign-in.
type authCode struct {
	clientHex, challenge string
	authTime, expires    time.Time
	used                 bool
}

// newSignIn checks the start URL's query (research §5) and returns the
// sign-in it begins, or what is wrong with it.
func newSignIn(q url.Values) (*signIn, error) {
	si := &signIn{
		responseType: q.Get("openid.oa2.response_type"),
		assocHandle:  cmp.Or(q.Get("openid.assoc_handle"), "amzn_dp_project_dee_ios"),
		returnTo:     q.Get("openid.return_to"),
		challenge:    q.Get("openid.oa2.code_challenge"),
	}
	id, ok := strings.CutPrefix(q.Get("openid.oa2.client_id"), "device:")
	if _, err := hex.DecodeString(id); !ok || id == "" || err != nil {
		return nil, fmt.Errorf("openid.oa2.client_id %q is not device:<hex device id>", q.Get("openid.oa2.client_id"))
	}
	si.clientHex = strings.ToLower(id)
	if u, err := url.Parse(si.returnTo); err != nil || !strings.HasSuffix(u.Path, "/ap/maplanding") {
		return nil, fmt.Errorf("openid.return_to %q is not a /ap/maplanding URL", si.returnTo)
	}
	switch si.responseType {
	case "code":
		if m := q.Get("openid.oa2.code_challenge_method"); m != "S256" {
			return nil, fmt.Errorf("openid.oa2.code_challenge_method %q is not S256", m)
		}
		if len(si.challenge) != 43 {
			return nil, fmt.Errorf("openid.oa2.code_challenge must be 43 characters of base64url (SHA-256), got %d", len(si.challenge))
		}
	case "token":
	default:
		return nil, fmt.Errorf("openid.oa2.response_type %q is not code or token", si.responseType)
	}
	return si, nil
}

// handleSignInForm is GET /ap/signin: the sign-in form for the app's
// OpenID/OAuth request.
func (s *Server) handleSignInForm(w http.ResponseWriter, r *http.Request) {
	si, err := newSignIn(r.URL.Query())
	if err != nil {
		writeHTML(w, http.StatusBadRequest, signInPage{Error: "The sign-in request is not valid: " + err.Error()})
		return
	}
	si.query = r.URL.RawQuery
	si.state = randomHex(16)
	token := randomHex(20)
	s.mu.Lock()
	now := s.opts.Now()
	for t, old := range s.app.signIns {
		if !now.Before(old.expires) {
			delete(s.app.signIns, t)
		}
	}
	si.expires = now.Add(signInLifetime)
	s.app.signIns[token] = si
	s.mu.Unlock()
	writeHTML(w, http.StatusOK, signInPage{Page: "signin", Token: token, State: si.state, Query: template.URL(si.query)})
}

// handleSignInPost is POST /ap/signin: the password form, then (with otp
// on) the OTP form. Success redirects to /ap/maplanding with the code.
func (s *Server) handleSignInPost(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeHTML(w, http.StatusBadRequest, signInPage{Error: "The form is not valid: " + err.Error()})
		return
	}
	token := r.PostForm.Get("appActionToken")
	s.mu.Lock()
	si, ok := s.app.signIns[token]
	ok = ok && s.opts.Now().Before(si.expires) && r.PostForm.Get("workflowState") == si.state
	otp := s.app.settings.OTP
	stage := stagePassword
	if ok {
		stage = si.stage
	}
	s.mu.Unlock()
	if !ok {
		writeHTML(w, http.StatusBadRequest, signInPage{Error: errSignInSession})
		return
	}
	page := signInPage{Token: token, State: si.state, Query: template.URL(si.query)}
	if stage == stageOTP {
		if strings.TrimSpace(r.PostForm.Get("otpCode")) != simOTP {
			page.Page, page.Error = "mfa", "The code you entered is not valid. Please check the code and try again."
			writeHTML(w, http.StatusOK, page)
			return
		}
		s.completeSignIn(w, r, token, si)
		return
	}
	email := strings.TrimSpace(r.PostForm.Get("email"))
	if !strings.EqualFold(email, simEmail) || r.PostForm.Get("password") != simPassword {
		page.Page, page.Email, page.Error = "signin", email, "Your email or password is incorrect."
		writeHTML(w, http.StatusOK, page)
		return
	}
	if otp {
		s.mu.Lock()
		si.stage = stageOTP
		s.mu.Unlock()
		// A relative Location, as Amazon's own redirects within the
		// sign-in are: a proxy must resolve it against its own address.
		w.Header().Set("Location", "/ap/mfa?arb="+url.QueryEscape(token))
		w.WriteHeader(http.StatusFound)
		return
	}
	s.completeSignIn(w, r, token, si)
}

// handleMFAForm is GET /ap/mfa: the OTP form of a sign-in whose password
// was right.
func (s *Server) handleMFAForm(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("arb")
	s.mu.Lock()
	si, ok := s.app.signIns[token]
	ok = ok && si.stage == stageOTP && s.opts.Now().Before(si.expires)
	s.mu.Unlock()
	if !ok {
		writeHTML(w, http.StatusBadRequest, signInPage{Error: errSignInSession})
		return
	}
	writeHTML(w, http.StatusOK, signInPage{Page: "mfa", Token: token, State: si.state})
}

// completeSignIn ends the sign-in: the login cookies, and a 302 to
// /ap/maplanding on the request's own host with the authorization code
// (or, for response_type=token, an access token).
func (s *Server) completeSignIn(w http.ResponseWriter, r *http.Request, token string, si *signIn) {
	base := baseURL(r)
	q := url.Values{
		"openid.assoc_handle": {si.assocHandle},
		"openid.claimed_id":   {base + "/ap/id/" + simUserID},
		"openid.identity":     {base + "/ap/id/" + simUserID},
		"openid.mode":         {"id_res"},
		"openid.ns":           {"http://specs.openid.net/auth/2.0"},
		"openid.op_endpoint":  {base + "/ap/signin"},
		"openid.return_to":    {si.returnTo},
		"openid.oa2.scope":    {"device_auth_access"},
	}
	s.mu.Lock()
	if s.app.signIns[token] != si {
		// A concurrent POST completed this sign-in first.
		s.mu.Unlock()
		writeHTML(w, http.StatusBadRequest, signInPage{Error: errSignInSession})
		return
	}
	delete(s.app.signIns, token)
	now := s.opts.Now()
	if si.responseType == "token" {
		access, ttl := s.mintAppTokenLocked(appGrant{clientID: si.clientHex, authTime: now})
		q.Set("openid.oa2.access_token", access)
		q.Set("openid.oa2.token_type", "bearer")
		q.Set("openid.oa2.expires_in", fmt.Sprint(int(ttl/time.Second)))
	} else {
		q.Set("openid.oa2.authorization_code", s.issueCodeLocked(si, now))
	}
	cookies := s.issueCookiesLocked(loginDomain(s.app.settings.Marketplace), "")
	s.mu.Unlock()
	setCookieHeaders(w, cookies)
	w.Header().Set("Location", base+"/ap/maplanding?"+q.Encode())
	w.WriteHeader(http.StatusFound)
}

// loginDomain is the cookie domain of the sign-in: amazon.com for every
// marketplace but Japan's (research §3).
func loginDomain(marketplace string) string {
	if marketplace == "amazon.co.jp" {
		return ".amazon.co.jp"
	}
	return ".amazon.com"
}

// codeAlphabet is what authorization codes are made of (ANWHbbUJToeNlkgZndtWwWgI).
const codeAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// issueCodeLocked issues an authorization code for si: "AN" and 22
// letters, single use, valid authCodeLifetime. s.mu is held.
func (s *Server) issueCodeLocked(si *signIn, now time.Time) string {
	for c, old := range s.app.codes {
		if now.After(old.expires.Add(time.Hour)) {
			delete(s.app.codes, c)
		}
	}
	r := make([]byte, 22)
	rand.Read(r) // crypto/rand.Read never fails
	b := []byte("AN")
	for _, c := range r {
		b = append(b, codeAlphabet[int(c)%len(codeAlphabet)])
	}
	code := string(b)
	s.app.codes[code] = &authCode{clientHex: si.clientHex, challenge: si.challenge, authTime: now, expires: now.Add(authCodeLifetime)}
	return code
}

// handleMapLanding is GET /ap/maplanding, where a sign-in ends. Clients
// take the code from the URL before getting here; a browser that does
// get here sees a short page.
func (s *Server) handleMapLanding(w http.ResponseWriter, r *http.Request) {
	writeHTML(w, http.StatusOK, signInPage{Page: "landing"})
}
