package sim

import (
	"cmp"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// registerRequest is the body of POST /auth/register; keys the simulator
// does not use are ignored (clients differ in them).
type registerRequest struct {
	RequestedExtensions []string `json:"requested_extensions"`
	Cookies             struct {
		Domain string `json:"domain"`
	} `json:"cookies"`
	RegistrationData struct {
		DeviceType   string `json:"device_type"`
		DeviceName   string `json:"device_name"`
		DeviceSerial string `json:"device_serial"`
		AppName      string `json:"app_name"`
	} `json:"registration_data"`
	AuthData struct {
		ClientID          string `json:"client_id"`
		AuthorizationCode string `json:"authorization_code"`
		CodeVerifier      string `json:"code_verifier"`
		AccessToken       string `json:"access_token"`
	} `json:"auth_data"`
	RequestedTokenType []string `json:"requested_token_type"`
}

// registerError is a refusal of /auth/register:
// {"response":{"error":{"code","message"}}}.
type registerError struct {
	status        int
	code, message string
}

func invalidValue(format string, args ...any) *registerError {
	return &registerError{status: http.StatusBadRequest, code: "InvalidValue", message: fmt.Sprintf(format, args...)}
}

func invalidToken(message string) *registerError {
	return &registerError{status: http.StatusBadRequest, code: "InvalidToken", message: message}
}

func writeRegisterError(w http.ResponseWriter, e *registerError) {
	writeJSON(w, e.status, map[string]any{"response": map[string]any{
		"error": map[string]string{"code": e.code, "message": e.message},
	}})
}

// handleRegister is POST /auth/register: an authorization code (with its
// PKCE verifier and client id), or an access token fresh from an
// interactive sign-in, for a registered app device's tokens.
func (s *Server) handleRegister(w http.ResponseWriter, r *http.Request) {
	var req registerRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, maxBody)).Decode(&req); err != nil {
		writeRegisterError(w, invalidValue("the request body is not a JSON registration request: %v", err))
		return
	}
	if e := req.validate(); e != nil {
		writeRegisterError(w, e)
		return
	}
	domain, err := cookieDomain(cmp.Or(req.Cookies.Domain, ".amazon.com"))
	if err != nil {
		writeRegisterError(w, invalidValue("cookies.domain: %v", err))
		return
	}
	s.mu.Lock()
	g, e := s.authenticateLocked(req)
	s.mu.Unlock()
	if e != nil {
		writeRegisterError(w, e)
		return
	}
	// The device key is made outside the lock: RSA key generation is slow.
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		http.Error(w, "generate device key: "+err.Error(), http.StatusInternalServerError)
		return
	}
	s.mu.Lock()
	reg := s.registerLocked(req, g, key)
	access, ttl := s.mintAppTokenLocked(reg.appGrant)
	var cookies []exchangedCookie
	if slices.Contains(req.RequestedTokenType, "website_cookies") {
		cookies = s.issueCookiesLocked(domain, reg.serial)
	}
	home := s.app.settings.HomeRegion
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"response": map[string]any{"success": map[string]any{
		"extensions": registerExtensions(req, reg, home),
		"tokens":     registerTokens(req, reg, access, ttl, cookies),
	}}})
}

// validate checks what every registration needs, whatever its grant.
func (req registerRequest) validate() *registerError {
	switch {
	case len(req.RequestedTokenType) == 0:
		return invalidValue("requested_token_type is missing")
	case req.RegistrationData.DeviceSerial == "":
		return invalidValue("registration_data.device_serial is missing")
	case req.RegistrationData.DeviceType == "":
		return invalidValue("registration_data.device_type is missing")
	case req.AuthData.AccessToken != "":
		return nil
	case req.AuthData.AuthorizationCode == "":
		return invalidValue("auth_data needs authorization_code (with code_verifier and client_id) or access_token")
	case req.AuthData.CodeVerifier == "":
		return invalidValue("auth_data.code_verifier is missing")
	case req.AuthData.ClientID == "":
		return invalidValue("auth_data.client_id is missing")
	}
	return nil
}

// authenticateLocked checks the registration's grant: the authorization
// code (single use, unexpired, bound to the client id and the PKCE
// challenge) or the access token (stale-token rule). s.mu is held.
func (s *Server) authenticateLocked(req registerRequest) (appGrant, *registerError) {
	now := s.opts.Now()
	if t := req.AuthData.AccessToken; t != "" {
		info, ok := s.app.tokens[t]
		exp, live := s.accessTokens[t]
		switch {
		case !ok || !live:
			return appGrant{}, invalidToken("The access token is not valid.")
		case !now.Before(exp):
			return appGrant{}, invalidToken("The access token has expired.")
		case info.authTime.IsZero() || now.Sub(info.authTime) > s.app.settings.staleAfter():
			return appGrant{}, invalidToken("Auth time of the token is expired.")
		}
		return appGrant{clientID: info.clientID, authTime: info.authTime}, nil
	}
	code, ok := s.app.codes[req.AuthData.AuthorizationCode]
	switch {
	case !ok:
		return appGrant{}, invalidValue("The authorization code is not valid.")
	case code.used:
		return appGrant{}, invalidValue("The authorization code has already been used.")
	}
	// Any attempt uses the code up, as OAuth asks of a code presented twice.
	code.used = true
	sum := sha256.Sum256([]byte(req.AuthData.CodeVerifier))
	switch {
	case !now.Before(code.expires):
		return appGrant{}, invalidValue("The authorization code has expired.")
	case clientHex(req.AuthData.ClientID) != code.clientHex:
		return appGrant{}, invalidValue("The client_id does not match the authorization code.")
	case base64.RawURLEncoding.EncodeToString(sum[:]) != code.challenge:
		return appGrant{}, invalidValue("The code_verifier does not match the code_challenge.")
	}
	return appGrant{clientID: code.clientHex, authTime: code.authTime}, nil
}

// clientHex is the device id of a client_id given as "device:<hex>" or
// "<hex>", lower case.
func clientHex(id string) string {
	return strings.ToLower(strings.TrimPrefix(strings.TrimSpace(id), "device:"))
}

// registerLocked records the device: the same device_serial again is the
// same device (its old tokens die, its name stays), a new serial a new
// device. s.mu is held.
func (s *Server) registerLocked(req registerRequest, g appGrant, key *rsa.PrivateKey) *registration {
	serial := req.RegistrationData.DeviceSerial
	name := ""
	if old, ok := s.app.regs[serial]; ok {
		s.revokeLocked(old)
		name = old.name
	} else {
		name = s.deviceNameLocked(req.RegistrationData.DeviceName, req.RegistrationData.AppName)
	}
	g.serial = serial
	reg := &registration{
		appGrant: g,
		name:     name,
		refresh:  "Atnr|sim-" + randomBase64(48, base64.RawURLEncoding),
		adpToken: adpToken(),
		key:      key,
		time:     s.opts.Now(),
	}
	s.app.regs[serial] = reg
	s.app.byRefresh[reg.refresh] = reg
	s.app.byADP[reg.adpToken] = reg
	return reg
}

// deviceNameLocked renders the device_name template
// ("%FIRST_NAME%'s%DUPE_STRATEGY_1ST%ioBroker Alexa2"): the account's
// first name, and " " for the first device of that name, " 2. ", " 3. "
// for the next ones. s.mu is held.
func (s *Server) deviceNameLocked(template, appName string) string {
	if template == "" {
		template = "%FIRST_NAME%'s%DUPE_STRATEGY_1ST%" + cmp.Or(appName, "Alexa")
	}
	template = strings.ReplaceAll(template, "%FIRST_NAME%", simFirstName)
	if !strings.Contains(template, "%DUPE_STRATEGY_1ST%") {
		return template
	}
	taken := map[string]bool{}
	for _, reg := range s.app.regs {
		taken[reg.name] = true
	}
	for n := 1; ; n++ {
		dupe := " "
		if n > 1 {
			dupe = " " + strconv.Itoa(n) + ". "
		}
		if name := strings.ReplaceAll(template, "%DUPE_STRATEGY_1ST%", dupe); !taken[name] {
			return name
		}
	}
}

// adpToken is an opaque token shaped like Amazon's
// ({enc:…}{key:…}{iv:…}{name:…}{serial:…}).
func adpToken() string {
	b64 := func(n int) string { return randomBase64(n, base64.StdEncoding) }
	return "{enc:" + b64(96) + "}{key:" + b64(256) + "}{iv:" + b64(16) + "}{name:" +
		base64.StdEncoding.EncodeToString([]byte("ADPAuthenticator")) + "}{serial:Mg==}"
}

func registerExtensions(req registerRequest, reg *registration, homeRegion string) map[string]any {
	ext := map[string]any{}
	if slices.Contains(req.RequestedExtensions, "device_info") {
		ext["device_info"] = map[string]string{
			"device_name":          reg.name,
			"device_serial_number": reg.serial,
			"device_type":          req.RegistrationData.DeviceType,
		}
	}
	if slices.Contains(req.RequestedExtensions, "customer_info") {
		ext["customer_info"] = map[string]string{
			"account_pool": "Amazon",
			"user_id":      simUserID,
			"home_region":  homeRegion,
			"name":         simFullName,
			"given_name":   simFirstName,
		}
	}
	ext["age_classification"] = "ADULT"
	return ext
}

func registerTokens(req registerRequest, reg *registration, access string, ttl time.Duration, cookies []exchangedCookie) map[string]any {
	tokens := map[string]any{}
	for _, t := range req.RequestedTokenType {
		switch t {
		case "bearer":
			tokens["bearer"] = map[string]string{
				"access_token":  access,
				"refresh_token": reg.refresh,
				// A string here, a number in /auth/token (research §6).
				"expires_in": strconv.Itoa(int(ttl / time.Second)),
			}
		case "mac_dms":
			der, err := x509.MarshalPKCS8PrivateKey(reg.key)
			if err != nil {
				panic(fmt.Sprintf("sim: marshal an RSA key: %v", err)) // cannot fail for RSA keys
			}
			tokens["mac_dms"] = map[string]string{
				"adp_token":          reg.adpToken,
				"device_private_key": base64.StdEncoding.EncodeToString(der),
			}
		case "website_cookies":
			tokens["website_cookies"] = cookies
		case "store_authentication_cookie":
			tokens["store_authentication_cookie"] = map[string]string{"cookie": randomBase64(96, base64.StdEncoding)}
		}
	}
	return tokens
}
