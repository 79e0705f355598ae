package main

import (
	"bytes"
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alexarules/alexarules/engine/store"
)

// runHere runs the command line in this process.
func runHere(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, func(string) string { return "" }, strings.NewReader(""), &out, &errb)
	return out.String(), errb.String(), code
}

func TestFlagsAfterPaths(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "r.lua", `return rule "r" { when = schedule "daily 07:00", run = function() end }`)
	if out, errOut, code := runHere(t, "check", dir, "--tz", "Europe/Berlin"); code != exitOK || !strings.Contains(out, "ok  r") {
		t.Fatalf("check PATH --tz ZONE: exit %d\n%s%s", code, out, errOut)
	}
	// The zone after the path is read: a bad one is refused.
	if _, errOut, code := runHere(t, "check", dir, "--tz", "Mars/Olympus"); code != exitUsage || !strings.Contains(errOut, "Mars/Olympus") {
		t.Fatalf("check PATH --tz BAD: exit %d, %s", code, errOut)
	}
}

func TestExitCodesTellUsageFromRuntimeFailures(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "r.lua", `return rule "r" { when = event "x", run = function() end }`)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	busy, err := store.Open(filepath.Join(t.TempDir(), "busy.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	data := filepath.Join(t.TempDir(), "d.db")
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{}, exitUsage, "Available Commands"},
		{[]string{"frobnicate"}, exitUsage, `unknown command "frobnicate"`},
		{[]string{"check"}, exitUsage, "requires at least 1 arg"},
		{[]string{"check", dir, "--frob"}, exitUsage, "unknown flag: --frob"},
		{[]string{"run"}, exitUsage, "--rules"},
		{[]string{"run", "--rules", dir, "extra"}, exitUsage, `unknown command "extra"`},
		{[]string{"run", "--rules", dir, "--log-level", "loud"}, exitUsage, "--log-level"},
		{[]string{"run", "--rules", dir, "--data", data, "--admin", taken.Addr().String()}, exitFailure, "address already in use"},
		{[]string{"run", "--rules", dir, "--data", busy.Path(), "--admin", "off"}, exitFailure, "database in use"},
		{[]string{"sim", "--household", filepath.Join(dir, "none.json")}, exitUsage, "none.json"},
		{[]string{"devices", "--data", data}, exitUsage, "no Alexa credentials"},
	} {
		_, errOut, code := runHere(t, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("alexarules %s: exit %d, want %d with %q:\n%s", strings.Join(tc.args, " "), code, tc.code, tc.want, errOut)
		}
	}
}

func TestCompletionForEveryShell(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish"} {
		out, errOut, code := runHere(t, "completion", shell)
		if code != exitOK || !strings.Contains(out, "alexarules") || len(out) < 500 {
			t.Errorf("completion %s: exit %d, %d bytes\n%s", shell, code, len(out), errOut)
		}
	}
}

func TestHelpForEveryCommand(t *testing.T) {
	for cmd, flag := range map[string]string{"demo": "--admin", "run": "--poll-interval", "sim": "--household",
		"check": "--tz", "test": "-run", "login": "--device", "devices": "--cloud", "completion": "bash",
		"next": "--from", "trace": "--last", "state": "--data", "timers": "--admin", "events": "--follow",
		"shadow": "--admin", "types": "--out", "init": "--force"} {
		out, errOut, code := runHere(t, cmd, "--help")
		if code != exitOK || !strings.Contains(out, "alexarules "+cmd) || !strings.Contains(out, flag) {
			t.Errorf("%s --help: exit %d\n%s%s", cmd, code, out, errOut)
		}
	}
	out, _, code := runHere(t, "--help")
	if code != exitOK || !strings.Contains(out, "docs/CONFIG.md") {
		t.Fatalf("--help: exit %d\n%s", code, out)
	}
}
