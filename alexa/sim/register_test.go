package sim_test

import (
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/alexarules/alexarules/alexa/sim"
)

// registerBody is alexa-cookie2's registration request (research §6) for
// d with the code; change edits it before it is sent.
func registerBody(d appDevice, code string, change func(auth, reg map[string]any)) map[string]any {
	auth := map[string]any{
		"client_id": d.clientHex, "authorization_code": code, "code_verifier": d.verifier,
		"code_algorithm": "SHA-256", "client_domain": "DeviceLegacy",
	}
	reg := map[string]any{
		"domain": "Device", "app_version": "2.2.651540.0", "device_type": "A2IVLV5VM2W81",
		"device_name": "%FIRST_NAME%'s%DUPE_STRATEGY_1ST%alexarules", "os_version": "18.3.1",
		"device_serial": d.serial, "device_model": "iPhone", "app_name": "alexarules", "software_version": "1",
	}
	if change != nil {
		change(auth, reg)
	}
	return map[string]any{
		"requested_extensions": []string{"device_info", "customer_info"},
		"cookies":              map[string]any{"website_cookies": []any{}, "domain": ".amazon.com"},
		"registration_data":    reg,
		"auth_data":            auth,
		"user_context_map":     map[string]string{"frc": "abc"},
		"requested_token_type": []string{"bearer", "mac_dms", "website_cookies"},
	}
}

// registered is the /auth/register answer, every key a client reads.
type registered struct {
	Response struct {
		Success struct {
			Extensions struct {
				DeviceInfo struct {
					DeviceName         string `json:"device_name"`
					DeviceSerialNumber string `json:"device_serial_number"`
					DeviceType         string `json:"device_type"`
				} `json:"device_info"`
				CustomerInfo struct {
					AccountPool string `json:"account_pool"`
					UserID      string `json:"user_id"`
					HomeRegion  string `json:"home_region"`
					Name        string `json:"name"`
					GivenName   string `json:"given_name"`
				} `json:"customer_info"`
			} `json:"extensions"`
			Tokens struct {
				Bearer struct {
					AccessToken  string `json:"access_token"`
					RefreshToken string `json:"refresh_token"`
					ExpiresIn    string `json:"expires_in"`
				} `json:"bearer"`
				MacDMS struct {
					ADPToken         string `json:"adp_token"`
					DevicePrivateKey string `json:"device_private_key"`
				} `json:"mac_dms"`
				WebsiteCookies []cookieJSON `json:"website_cookies"`
			} `json:"tokens"`
		} `json:"success"`
		Error struct {
			Code, Message string
		} `json:"error"`
	} `json:"response"`
}

type cookieJSON struct {
	Name, Value, Path, Domain, Expires, Secure, HttpOnly string
}

func (e *env) register(body map[string]any) (registered, response) {
	e.t.Helper()
	r := e.do(http.MethodPost, "/auth/register", "", body)
	var reg registered
	r.decode(e.t, r.status, &reg)
	return reg, r
}

// registerDevice signs d in and registers it.
func (e *env) registerDevice(d appDevice) registered {
	e.t.Helper()
	reg, r := e.register(registerBody(d, e.code(d), nil))
	if r.status != http.StatusOK {
		e.t.Fatalf("register: %d %s", r.status, r.raw)
	}
	return reg
}

func TestRegister(t *testing.T) {
	e := newEnv(t, sim.DemoHousehold(), sim.Options{})
	d := newAppDevice(t)
	got := e.registerDevice(d)
	s := got.Response.Success
	if di := s.Extensions.DeviceInfo; di.DeviceName != "Sim's alexarules" || di.DeviceSerialNumber != d.serial || di.DeviceType != "A2IVLV5VM2W81" {
		t.Errorf("device_info %+v", di)
	}
	if ci := s.Extensions.CustomerInfo; ci.HomeRegion != "NA" || ci.UserID == "" || ci.GivenName != "Sim" || ci.Name == "" || ci.AccountPool == "" {
		t.Errorf("customer_info %+v", ci)
	}
	b := s.Tokens.Bearer
	if b.ExpiresIn != "3600" || len(b.AccessToken) < 10 || b.AccessToken[:5] != "Atna|" || b.RefreshToken[:5] != "Atnr|" {
		t.Errorf("bearer %+v", b)
	}
	der, err := base64.StdEncoding.DecodeString(s.Tokens.MacDMS.DevicePrivateKey)
	if err != nil {
		t.Fatalf("device_private_key: %v", err)
	}
	if key, err := x509.ParsePKCS8PrivateKey(der); err != nil {
		t.Errorf("device_private_key is not PKCS#8: %v", err)
	} else if _, ok := key.(*rsa.PrivateKey); !ok {
		t.Errorf("device_private_key is a %T", key)
	}
	if s.Tokens.MacDMS.ADPToken == "" {
		t.Error("no adp_token")
	}
	checkCookies(t, s.Tokens.WebsiteCookies, ".amazon.com", "main")

	var st struct {
		Registrations []struct {
			DeviceSerial string `json:"device_serial"`
			ClientID     string `json:"client_id"`
			Time         string `json:"time"`
		} `json:"registrations"`
	}
	e.do(http.MethodGet, "/_sim/auth", "", nil).decode(t, http.StatusOK, &st)
	if len(st.Registrations) != 1 || st.Registrations[0].DeviceSerial != d.serial || st.Registrations[0].ClientID != d.clientHex {
		t.Errorf("registrations %+v", st.Registrations)
	}
	// The registration's access token opens the downchannel.
	if r := e.do(http.MethodGet, "/ping", b.AccessToken, nil); r.status != http.StatusNoContent {
		t.Errorf("/ping with the registration token: %d", r.status)
	}
}

// checkCookies checks a cookie list of the exchange or registration shape.
func checkCookies(t *testing.T, cookies []cookieJSON, domain, suffix string) {
	t.Helper()
	var names []string
	for _, c := range cookies {
		names = append(names, c.Name)
		if c.Domain != domain || c.Path != "/" || c.Secure != "true" || c.HttpOnly != "false" || c.Value == "" {
			t.Errorf("cookie %+v", c)
		}
		if _, err := time.Parse("2 Jan 2006 15:04:05 GMT", c.Expires); err != nil {
			t.Errorf("cookie %s Expires: %v", c.Name, err)
		}
		if c.Name == "at-"+suffix && c.Value[:5] != "Atza|" {
			t.Errorf("at cookie %q", c.Value)
		}
	}
	want := []string{"session-id", "session-id-time", "ubid-" + suffix, "session-token", "at-" + suffix, "sess-at-" + suffix, "x-" + suffix}
	if len(names) != len(want) {
		t.Fatalf("cookies %v, want %v", names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Fatalf("cookies %v, want %v", names, want)
		}
	}
}

func TestRegisterRefusals(t *testing.T) {
	e := newEnv(t, sim.DemoHousehold(), sim.Options{})
	refused := func(name string, body map[string]any, code string) {
		t.Helper()
		got, r := e.register(body)
		if r.status != http.StatusBadRequest || got.Response.Error.Code != code || got.Response.Error.Message == "" {
			t.Errorf("%s: %d %s, want 400 %s", name, r.status, r.raw, code)
		}
	}
	d := newAppDevice(t)
	code := e.code(d)
	refused("wrong verifier", registerBody(d, code, func(a, _ map[string]any) { a["code_verifier"] = newAppDevice(t).verifier }), "InvalidValue")
	// A refused attempt used the code up.
	refused("code after a refused attempt", registerBody(d, code, nil), "InvalidValue")

	code = e.code(d)
	refused("other client id", registerBody(d, code, func(a, _ map[string]any) { a["client_id"] = newAppDevice(t).clientHex }), "InvalidValue")

	// Both client_id forms are the same device.
	code = e.code(d)
	if _, r := e.register(registerBody(d, code, func(a, _ map[string]any) { a["client_id"] = "device:" + d.clientHex })); r.status != http.StatusOK {
		t.Fatalf("client_id device:<hex>: %d %s", r.status, r.raw)
	}
	refused("reused code", registerBody(d, code, nil), "InvalidValue")

	code = e.code(d)
	e.clock.Advance(5 * time.Minute)
	refused("expired code", registerBody(d, code, nil), "InvalidValue")
	refused("unknown code", registerBody(d, "ANWHbbUJToeNlkgZndtWwWgI", nil), "InvalidValue")

	for name, change := range map[string]func(a, r map[string]any){
		"no serial":      func(_, r map[string]any) { delete(r, "device_serial") },
		"no device type": func(_, r map[string]any) { delete(r, "device_type") },
		"no verifier":    func(a, _ map[string]any) { delete(a, "code_verifier") },
		"no client id":   func(a, _ map[string]any) { delete(a, "client_id") },
		"no code":        func(a, _ map[string]any) { delete(a, "authorization_code") },
	} {
		refused(name, registerBody(d, e.code(d), change), "InvalidValue")
	}
	noTypes := registerBody(d, e.code(d), nil)
	delete(noTypes, "requested_token_type")
	refused("no requested_token_type", noTypes, "InvalidValue")
	if r := e.do(http.MethodPost, "/auth/register", "", "not json"); r.status != http.StatusBadRequest {
		t.Errorf("not JSON: %d", r.status)
	}
}

func TestRegisterSameSerial(t *testing.T) {
	e := newEnv(t, sim.DemoHousehold(), sim.Options{})
	d := newAppDevice(t)
	first := e.registerDevice(d)
	// A second login with the stored device: the same device, new tokens.
	d2 := d
	d2.verifier, d2.challenge = newAppDevice(t).verifier, ""
	d2 = withChallenge(d2)
	second := e.registerDevice(d2)
	if n := second.Response.Success.Extensions.DeviceInfo.DeviceName; n != "Sim's alexarules" {
		t.Errorf("re-registered device renamed to %q", n)
	}
	oldRefresh := first.Response.Success.Tokens.Bearer.RefreshToken
	if r := e.form("/auth/token", tokenForm(oldRefresh, "access_token")); r.status != http.StatusBadRequest || r.json(t)["error"] != "invalid_grant" {
		t.Errorf("replaced refresh token: %d %s", r.status, r.raw)
	}
	if r := e.do(http.MethodGet, "/ping", first.Response.Success.Tokens.Bearer.AccessToken, nil); r.status != http.StatusForbidden {
		t.Errorf("replaced access token on /ping: %d", r.status)
	}
	if r := e.form("/auth/token", tokenForm(second.Response.Success.Tokens.Bearer.RefreshToken, "access_token")); r.status != http.StatusOK {
		t.Errorf("new refresh token: %d %s", r.status, r.raw)
	}
	// A new serial is a new device, numbered.
	other := e.registerDevice(newAppDevice(t))
	if n := other.Response.Success.Extensions.DeviceInfo.DeviceName; n != "Sim's 2. alexarules" {
		t.Errorf("second device named %q", n)
	}
	var st struct {
		Registrations []struct {
			DeviceSerial string `json:"device_serial"`
		} `json:"registrations"`
	}
	e.do(http.MethodGet, "/_sim/auth", "", nil).decode(t, http.StatusOK, &st)
	if len(st.Registrations) != 2 {
		t.Errorf("registrations %+v, want 2", st.Registrations)
	}
}

// withChallenge recomputes d's PKCE challenge from its verifier.
func withChallenge(d appDevice) appDevice {
	sum := sha256.Sum256([]byte(d.verifier))
	d.challenge = base64.RawURLEncoding.EncodeToString(sum[:])
	return d
}

// tokenForm is the /auth/token (and exchange) form of alexa-cookie2.
func tokenForm(refresh, requested string) url.Values {
	return url.Values{
		"app_name": {"alexarules"}, "app_version": {"2.2.651540.0"}, "di.sdk.version": {"6.12.4"},
		"source_token": {refresh}, "package_name": {"com.amazon.echo"}, "di.hw.version": {"iPhone"},
		"platform": {"iOS"}, "requested_token_type": {requested}, "source_token_type": {"refresh_token"},
		"di.os.name": {"iOS"}, "di.os.version": {"16.6"}, "current_version": {"6.12.4"},
	}
}

// TestStaleAccessToken: registering with auth_data.access_token works
// only soon after an interactive sign-in; tokens from /auth/token inherit
// the sign-in's time.
func TestStaleAccessToken(t *testing.T) {
	e := newEnv(t, sim.DemoHousehold(), sim.Options{})
	withToken := func(d appDevice, token string) map[string]any {
		return registerBody(d, "", func(a, _ map[string]any) {
			clear(a)
			a["access_token"] = token
		})
	}
	// response_type=token: the maplanding carries the access token.
	d := newAppDevice(t)
	u, _ := url.Parse(e.signIn(d, "token", "").location)
	token := u.Query().Get("openid.oa2.access_token")
	if token == "" {
		t.Fatalf("no access token in %s", u)
	}
	reg, r := e.register(withToken(d, token))
	if r.status != http.StatusOK {
		t.Fatalf("fresh token: %d %s", r.status, r.raw)
	}
	e.clock.Advance(4 * time.Minute)
	fresh := e.form("/auth/token", tokenForm(reg.Response.Success.Tokens.Bearer.RefreshToken, "access_token")).json(t)["access_token"].(string)
	// Minted a minute ago, but the sign-in was 6 minutes ago (window 5).
	e.clock.Advance(2 * time.Minute)
	got, r := e.register(withToken(d, fresh))
	if r.status != http.StatusBadRequest || got.Response.Error.Code != "InvalidToken" || got.Response.Error.Message != "Auth time of the token is expired." {
		t.Errorf("refreshed token after the window: %d %s", r.status, r.raw)
	}
	// The window is a setting.
	e.do(http.MethodPut, "/_sim/auth", "", map[string]any{"stale_after_s": 3600})
	if _, r := e.register(withToken(d, fresh)); r.status != http.StatusOK {
		t.Errorf("within a one-hour window: %d %s", r.status, r.raw)
	}
	if got, r := e.register(withToken(d, "Atna|unknown")); r.status != http.StatusBadRequest || got.Response.Error.Code != "InvalidToken" {
		t.Errorf("unknown token: %d %s", r.status, r.raw)
	}
	// The static refresh token has no interactive sign-in behind it.
	static := e.form("/auth/token", tokenForm(sim.SimRefreshToken, "access_token")).json(t)["access_token"].(string)
	if got, r := e.register(withToken(d, static)); got.Response.Error.Code != "InvalidToken" {
		t.Errorf("token of the static refresh token: %d %s", r.status, r.raw)
	}
}
