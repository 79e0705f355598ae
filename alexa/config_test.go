package alexa_test

import (
	"strings"
	"testing"

	"github.com/alexarules/alexarules/alexa"
)

func TestConfigFromEnv(t *testing.T) {
	env := map[string]string{
		"ALEXARULES_CLIENT_ID":     "env-client",
		"ALEXARULES_REGION":        "DE",
		"ALEXARULES_CLOUD":         "http://127.0.0.1:9000",
		"ALEXARULES_CLIENT_SECRET": "", // empty: keeps the file's value
	}
	base := alexa.Config{ClientID: "file-client", ClientSecret: "file-secret", RefreshToken: "file-refresh", Scale: "FAHRENHEIT"}
	got := alexa.ConfigFromEnv(func(k string) string { return env[k] }, base)
	want := alexa.Config{ClientID: "env-client", ClientSecret: "file-secret", RefreshToken: "file-refresh",
		Region: "DE", Scale: "FAHRENHEIT", Cloud: "http://127.0.0.1:9000"}
	if got.ClientID != want.ClientID || got.ClientSecret != want.ClientSecret || got.RefreshToken != want.RefreshToken ||
		got.Region != want.Region || got.Scale != want.Scale || got.Cloud != want.Cloud {
		t.Errorf("got %+v, want %+v", got, want)
	}
	env = map[string]string{"ALEXARULES_REFRESH_TOKEN": "env-refresh", "ALEXARULES_CLIENT_SECRET": "env-secret"}
	got = alexa.ConfigFromEnv(func(k string) string { return env[k] }, base)
	if got.RefreshToken != "env-refresh" || got.ClientSecret != "env-secret" {
		t.Errorf("got %+v", got)
	}
}

func TestWithDefaults(t *testing.T) {
	c := alexa.Config{Cloud: "http://127.0.0.1:9000"}.WithDefaults()
	sim := alexa.SimCredentials()
	if c.ClientID != "sim-client" || c.RefreshToken != "sim-refresh-token" || c.ClientSecret != "" || sim != c.Credentials() {
		t.Errorf("cloud without credentials: %+v", c)
	}
	if c.Region != "US" || c.Scale != alexa.Celsius || len(c.Scopes) == 0 || c.RedirectAddr == "" {
		t.Errorf("defaults: %+v", c)
	}
	c = alexa.Config{Cloud: "http://127.0.0.1:9000", ClientID: "mine"}.WithDefaults()
	if c.ClientID != "mine" || c.RefreshToken != "" {
		t.Errorf("configured credentials replaced: %+v", c)
	}
	c = alexa.Config{ClientID: "mine"}.WithDefaults()
	if c.RefreshToken != "" {
		t.Errorf("sim credentials without cloud: %+v", c)
	}
	if c := (alexa.Config{Scale: "fahrenheit"}).WithDefaults(); c.Scale != alexa.Fahrenheit {
		t.Errorf("scale = %q", c.Scale)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := (alexa.Config{ClientID: "x", Region: "IN"}).Validate(); err != nil {
		t.Errorf("valid config: %v", err)
	}
	if err := (alexa.Config{Cloud: "http://127.0.0.1:1"}).Validate(); err != nil {
		t.Errorf("cloud config: %v", err)
	}
	err := alexa.Config{Region: "XX", Scale: "RANKINE"}.Validate()
	if err == nil {
		t.Fatal("want an error")
	}
	for _, want := range []string{"XX", "RANKINE", "client id"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}
