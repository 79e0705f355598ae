package sim_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/alexarules/alexarules/alexa/sim"
)

func TestRefreshTokenGrant(t *testing.T) {
	e := newEnv(t, testHousehold(), sim.Options{RefreshTokens: []string{"Atzr|configured"}})
	for _, tok := range []string{sim.SimRefreshToken, "Atzr|configured"} {
		r := e.form("/auth/o2/token", url.Values{
			"grant_type": {"refresh_token"}, "refresh_token": {tok},
			"client_id": {"anything"}, "client_secret": {"anything"},
		})
		if r.status != http.StatusOK {
			t.Fatalf("refresh with %q: %d %s", tok, r.status, r.raw)
		}
		m := r.json(t)
		if m["token_type"] != "bearer" || m["expires_in"] != 3600.0 || m["refresh_token"] != tok {
			t.Errorf("token answer %s", r.raw)
		}
		access, _ := m["access_token"].(string)
		if !strings.HasPrefix(access, "Atza|") {
			t.Errorf("access_token %q", access)
		}
		if r := e.do(http.MethodGet, "/v2/endpoints/"+lamp+"/features/power", access, nil); r.status != http.StatusOK {
			t.Errorf("issued token refused: %d %s", r.status, r.raw)
		}
	}
}

func TestTokenErrors(t *testing.T) {
	e := newEnv(t, testHousehold(), sim.Options{})
	tests := []struct {
		name string
		form url.Values
		want string
	}{
		{"bad refresh token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"Atzr|stolen"}}, "invalid_grant"},
		{"missing refresh token", url.Values{"grant_type": {"refresh_token"}}, "invalid_request"},
		{"missing grant type", url.Values{"refresh_token": {sim.SimRefreshToken}}, "invalid_request"},
		{"unsupported grant", url.Values{"grant_type": {"password"}}, "unsupported_grant_type"},
		{"RFC 8628 grant name", url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "device_code": {"x"}}, "unsupported_grant_type"},
		{"missing code", url.Values{"grant_type": {"authorization_code"}}, "invalid_request"},
		{"unknown device code", url.Values{"grant_type": {"device_code"}, "device_code": {"nope"}, "user_code": {"SIM001"}}, "invalid_grant"},
		{"device code without user code", url.Values{"grant_type": {"device_code"}, "device_code": {"nope"}}, "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.form("/auth/o2/token", tt.form)
			if r.status != http.StatusBadRequest {
				t.Fatalf("status %d: %s", r.status, r.raw)
			}
			m := r.json(t)
			if m["error"] != tt.want || m["error_description"] == "" {
				t.Errorf("answer %s, want error %q with a description", r.raw, tt.want)
			}
		})
	}
}

func TestAuthorizationCodeGrant(t *testing.T) {
	e := newEnv(t, testHousehold(), sim.Options{})
	r := e.form("/auth/o2/token", url.Values{"grant_type": {"authorization_code"}, "code": {"ANY"}, "redirect_uri": {"http://localhost/cb"}})
	if r.status != http.StatusOK {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	refresh := r.json(t)["refresh_token"].(string)
	// The refresh token it issued works from then on.
	r = e.form("/auth/o2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}})
	if r.status != http.StatusOK {
		t.Errorf("issued refresh token refused: %d %s", r.status, r.raw)
	}
}

func startCodePair(t *testing.T, e *env) (deviceCode, userCode string) {
	t.Helper()
	r := e.form("/auth/o2/create/codepair", url.Values{"response_type": {"device_code"}, "client_id": {"c"}, "scope": {"alexa::enterprise:management"}})
	if r.status != http.StatusOK {
		t.Fatalf("codepair: %d %s", r.status, r.raw)
	}
	m := r.json(t)
	for _, k := range []string{"user_code", "device_code", "verification_uri"} {
		if s, _ := m[k].(string); s == "" {
			t.Errorf("codepair answer lacks %s: %s", k, r.raw)
		}
	}
	if m["expires_in"] != 600.0 || m["interval"] != 1.0 {
		t.Errorf("codepair expires_in/interval: %s", r.raw)
	}
	return m["device_code"].(string), m["user_code"].(string)
}

func pollDeviceCode(e *env, deviceCode, userCode string) response {
	return e.form("/auth/o2/token", url.Values{"grant_type": {"device_code"}, "device_code": {deviceCode}, "user_code": {userCode}})
}

func TestDeviceCodeFlow(t *testing.T) {
	t.Run("approved automatically after the first poll", func(t *testing.T) {
		e := newEnv(t, testHousehold(), sim.Options{})
		dc, uc := startCodePair(t, e)
		r := pollDeviceCode(e, dc, uc)
		if r.status != http.StatusBadRequest || r.json(t)["error"] != "authorization_pending" {
			t.Fatalf("first poll: %d %s", r.status, r.raw)
		}
		r = pollDeviceCode(e, dc, uc)
		if r.status != http.StatusOK {
			t.Fatalf("second poll: %d %s", r.status, r.raw)
		}
		refresh := r.json(t)["refresh_token"].(string)
		if r := e.form("/auth/o2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}); r.status != http.StatusOK {
			t.Errorf("refresh token from the device flow refused: %s", r.raw)
		}
		// A device code is used once.
		if r := pollDeviceCode(e, dc, uc); r.json(t)["error"] != "invalid_grant" {
			t.Errorf("third poll: %s", r.raw)
		}
	})
	t.Run("approved through the control API", func(t *testing.T) {
		e := newEnv(t, testHousehold(), sim.Options{})
		dc, uc := startCodePair(t, e)
		if r := e.do(http.MethodPost, "/_sim/codepair/approve", "", `{"user_code":"`+uc+`"}`); r.status != http.StatusOK {
			t.Fatalf("approve: %d %s", r.status, r.raw)
		}
		if r := pollDeviceCode(e, dc, uc); r.status != http.StatusOK {
			t.Errorf("first poll after approval: %d %s", r.status, r.raw)
		}
		if r := e.do(http.MethodPost, "/_sim/codepair/approve", "", `{"user_code":"NOPE"}`); r.status != http.StatusNotFound {
			t.Errorf("approving an unknown user code: %d", r.status)
		}
	})
	t.Run("wrong user code", func(t *testing.T) {
		e := newEnv(t, testHousehold(), sim.Options{})
		dc, _ := startCodePair(t, e)
		if r := pollDeviceCode(e, dc, "WRONG"); r.json(t)["error"] != "invalid_grant" {
			t.Errorf("%s", r.raw)
		}
	})
	t.Run("expired", func(t *testing.T) {
		e := newEnv(t, testHousehold(), sim.Options{})
		dc, uc := startCodePair(t, e)
		e.clock.Advance(11 * time.Minute)
		if r := pollDeviceCode(e, dc, uc); r.json(t)["error"] != "expired_token" {
			t.Errorf("%s", r.raw)
		}
	})
	t.Run("codepair needs response_type", func(t *testing.T) {
		e := newEnv(t, testHousehold(), sim.Options{})
		r := e.form("/auth/o2/create/codepair", url.Values{"client_id": {"c"}, "scope": {"profile"}})
		if r.status != http.StatusBadRequest || r.json(t)["error"] != "invalid_request" {
			t.Errorf("%d %s", r.status, r.raw)
		}
	})
}

func TestBearerAuth(t *testing.T) {
	e := newEnv(t, testHousehold(), sim.Options{AccessTokens: []string{"static-token"}})
	path := "/v2/endpoints/" + lamp + "/features/power"
	check := func(name string, r response, wantType string) {
		t.Helper()
		if r.status != http.StatusUnauthorized {
			t.Errorf("%s: status %d, want 401: %s", name, r.status, r.raw)
			return
		}
		if got := r.errorType(t); got != wantType {
			t.Errorf("%s: type %q, want %q", name, got, wantType)
		}
	}
	check("no header", e.do(http.MethodGet, path, "", nil), "INVALID_AUTHORIZATION_CREDENTIAL")
	check("unknown token", e.do(http.MethodGet, path, "Atza|forged", nil), "INVALID_AUTHORIZATION_CREDENTIAL")
	check("unknown token on update", e.do(http.MethodPost, path+"/turnOn", "Atza|forged", nil), "INVALID_AUTHORIZATION_CREDENTIAL")
	check("unknown token on list", e.do(http.MethodGet, "/v2/endpoints?owner=~caller", "Atza|forged", nil), "INVALID_AUTHORIZATION_CREDENTIAL")

	req, _ := http.NewRequest(http.MethodGet, e.ts.URL+path, nil)
	req.Header.Set("Authorization", "Basic dXNlcjpwYXNz")
	check("basic auth", e.send(req), "INVALID_AUTHORIZATION_CREDENTIAL")

	if r := e.do(http.MethodGet, path, "static-token", nil); r.status != http.StatusOK {
		t.Errorf("configured access token refused: %d", r.status)
	}

	if r := e.api(http.MethodGet, path, nil); r.status != http.StatusOK {
		t.Fatalf("fresh token refused: %d", r.status)
	}
	e.clock.Advance(59 * time.Minute)
	if r := e.api(http.MethodGet, path, nil); r.status != http.StatusOK {
		t.Errorf("token refused before its hour is up: %d", r.status)
	}
	e.clock.Advance(time.Minute)
	check("expired token", e.api(http.MethodGet, path, nil), "EXPIRED_AUTHORIZATION_CREDENTIAL")
	if r := e.do(http.MethodGet, path, "static-token", nil); r.status != http.StatusOK {
		t.Errorf("configured access token expired: %d", r.status)
	}

	e.token = ""
	e.api(http.MethodGet, path, nil) // fetches a new token
	if r := e.do(http.MethodDelete, "/_sim/tokens", "", nil); r.status != http.StatusNoContent {
		t.Fatalf("DELETE /_sim/tokens: %d", r.status)
	}
	check("revoked token", e.api(http.MethodGet, path, nil), "INVALID_AUTHORIZATION_CREDENTIAL")
}

func TestExpireAccessTokensNow(t *testing.T) {
	e := newEnv(t, testHousehold(), sim.Options{AccessTokens: []string{"static-token"}})
	path := "/v2/endpoints/" + lamp + "/features/power"
	if r := e.api(http.MethodGet, path, nil); r.status != http.StatusOK {
		t.Fatalf("fresh token refused: %d", r.status)
	}
	r := e.do(http.MethodPost, "/_sim/auth/expire", "", map[string]any{"access_token": true})
	if r.status != http.StatusOK || r.json(t)["access_tokens"] != float64(1) {
		t.Fatalf("POST /_sim/auth/expire: %d %s", r.status, r.raw)
	}
	// Expired, not forgotten: the client is told to refresh, well within
	// the token's hour.
	r = e.api(http.MethodGet, path, nil)
	if r.status != http.StatusUnauthorized || r.errorType(t) != "EXPIRED_AUTHORIZATION_CREDENTIAL" {
		t.Fatalf("after expiry: %d %s", r.status, r.raw)
	}
	if r := e.do(http.MethodGet, path, "static-token", nil); r.status != http.StatusOK {
		t.Errorf("a configured access token expired: %d", r.status)
	}
	e.token = ""
	if r := e.api(http.MethodGet, path, nil); r.status != http.StatusOK {
		t.Errorf("a token refreshed after the expiry: %d", r.status)
	}
	for _, body := range []any{map[string]any{}, map[string]any{"access_token": false}, map[string]any{"tokens": true}} {
		if r := e.do(http.MethodPost, "/_sim/auth/expire", "", body); r.status != http.StatusBadRequest {
			t.Errorf("POST /_sim/auth/expire %v: %d, want 400", body, r.status)
		}
	}
}
