package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConfigErrorsAreUsageErrors(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.json")
	write(t, dir, "c.json", `{"rules": "x", "pol_interval": "5s"}`)
	_, errOut, code := runCLI(t, "run", "--config", cfg)
	if code != exitUsage || !strings.Contains(errOut, cfg) || !strings.Contains(errOut, "pol_interval") {
		t.Fatalf("unknown config field: exit %d, %s", code, errOut)
	}
	_, errOut, code = runCLI(t, "run", "--rules", dir, "--push", "carrier-pigeon")
	if code != exitUsage || !strings.Contains(errOut, "--push") {
		t.Fatalf("bad --push: exit %d, %s", code, errOut)
	}
	_, errOut, code = runCLI(t, "run")
	if code != exitUsage || !strings.Contains(errOut, "--rules") {
		t.Fatalf("no rules: exit %d, %s", code, errOut)
	}
}

func TestLoginWithTheCodePairFlowStoresTheToken(t *testing.T) {
	_, url := startSim(t)
	data := filepath.Join(t.TempDir(), "login.db")
	cmd := cli(t, "login", "--device", "--cloud", url, "--data", data)
	cmd.Env = append(cmd.Env, "ALEXARULES_CLIENT_ID=sim-client")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("login: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "logged in") || strings.Contains(string(out), "sim-refresh-token") {
		t.Fatalf("login output (must not show the token): %s", out)
	}
	fi, err := os.Stat(data)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode: %v %v", fi.Mode(), err)
	}
	if kv := authBucket(t, data); string(kv["account"]) != `{"auth":"lwa"}` || kv["lwa"] == nil {
		t.Fatalf("stored after login --device: account %s, lwa token %t", kv["account"], kv["lwa"] != nil)
	}
	// The stored token is enough for devices, with no credentials configured.
	stdout, errOut, code := runCLI(t, "devices", "--data", data, "--config", writeConfig(t, `{"cloud": "`+url+`", "alexa": {"client_id": "sim-client"}}`))
	if code != exitOK || !strings.Contains(stdout, "Bedroom Lamp") {
		t.Fatalf("devices with the stored token: exit %d\n%s%s", code, stdout, errOut)
	}
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	dir := t.TempDir()
	write(t, dir, "config.json", body)
	return filepath.Join(dir, "config.json")
}

func TestSunSchedulesNeedTheLocation(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "porch.lua", `return rule "porch" { when = schedule "sunset-30m", run = function() end }`)
	_, errOut, code := runCLI(t, "check", dir)
	if code != exitFailure || !strings.Contains(errOut, "porch.lua:1:") || !strings.Contains(errOut, `"latitude" and "longitude"`) {
		t.Fatalf("without a location: exit %d, %s", code, errOut)
	}
	cfg := writeConfig(t, `{"timezone": "Europe/Berlin", "latitude": 52.52, "longitude": 13.405}`)
	if out, errOut, code := runCLI(t, "check", "--config", cfg, dir); code != exitOK {
		t.Fatalf("with a location: exit %d\n%s%s", code, out, errOut)
	}
	bad := writeConfig(t, `{"latitude": 95, "longitude": 13.4}`)
	if _, errOut, code := runCLI(t, "check", "--config", bad, dir); code != exitUsage || !strings.Contains(errOut, "latitude") {
		t.Fatalf("a bad latitude: exit %d, %s", code, errOut)
	}
}
