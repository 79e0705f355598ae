package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/alexarules/alexarules/alexa/auth"
	"github.com/alexarules/alexarules/alexa/auth/signin/signintest"
	"github.com/alexarules/alexarules/engine/enginetest"
	"github.com/alexarules/alexarules/engine/store"
)

var loginProxyURL = regexp.MustCompile(`http://127\.0\.0\.1:[0-9]+/`)

// appLogin runs `alexarules login --cloud simURL --data data` as a user
// with a browser would: it opens the one URL the command prints, signs in
// on the form with the simulator's account and follows the redirects. It
// returns the command's output (stdout and stderr), the page the browser
// ended on, and the exit code.
func appLogin(t *testing.T, simURL, data string, extra ...string) (out, page string, code int) {
	t.Helper()
	cmd := cli(t, append([]string{"login", "--cloud", simURL, "--data", data}, extra...)...)
	stdout, errOut := startPiped(t, cmd)
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var printed []string
	select {
	case line, ok := <-lines:
		if !ok {
			_ = cmd.Wait()
			t.Fatalf("login printed nothing; stderr:\n%s", errOut.String())
		}
		printed = append(printed, line)
		if urls := loginProxyURL.FindAllString(line, -1); len(urls) != 1 {
			t.Fatalf("login's first line %q does not hold one http://127.0.0.1:PORT/ URL", line)
		} else {
			page = scriptedSignIn(t, urls[0])
		}
	case <-time.After(30 * time.Second):
		t.Fatal("login printed no URL within 30 s")
	}
	for line := range lines {
		printed = append(printed, line)
	}
	code = 0
	if err := cmd.Wait(); err != nil {
		ee, ok := err.(interface{ ExitCode() int })
		if !ok {
			t.Fatal(err)
		}
		code = ee.ExitCode()
	}
	return strings.Join(printed, "\n") + "\n" + errOut.String(), page, code
}

// scriptedSignIn is the browser: GET the proxy, submit the sign-in form,
// follow the redirects; it returns the last page.
func scriptedSignIn(t *testing.T, start string) string {
	t.Helper()
	resp, page, err := signintest.SignIn(signintest.Client(), start, "sim@example.com", "sim-password")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sign-in ended with %s at %s:\n%s", resp.Status, resp.Request.URL, page)
	}
	return page
}

func TestLoginRegistersOneDeviceAndReusesIt(t *testing.T) {
	s, simURL := startSim(t)
	data := filepath.Join(t.TempDir(), "a.db")
	out, page, code := appLogin(t, simURL, data)
	if code != exitOK || !strings.Contains(page, "You can close this window") {
		t.Fatalf("login: exit %d, browser page:\n%s\noutput:\n%s", code, page, out)
	}
	regs := signintest.Registrations(t, simURL)
	if len(regs) != 1 {
		t.Fatalf("registrations after the login: %v", regs)
	}
	if fi, err := os.Stat(data); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("data file: %v, %v; want mode 0600", fi, err)
	}
	loginHasNoSecret(t, data, out)

	// At debug level too, nothing secret is logged.
	out2, _, code := appLogin(t, simURL, data, "--config", writeConfig(t, `{"log_level": "debug"}`))
	if code != exitOK {
		t.Fatalf("second login: exit %d\n%s", code, out2)
	}
	again := signintest.Registrations(t, simURL)
	if len(again) != 1 || again[0]["device_serial"] != regs[0]["device_serial"] {
		t.Fatalf("after a second login: %v, want the one device %v", again, regs[0]["device_serial"])
	}
	if !strings.Contains(out2, "level=DEBUG") {
		t.Errorf("the second login logged nothing at debug level:\n%s", out2)
	}
	loginHasNoSecret(t, data, out2)
	if n := len(apiCalls(s, "/auth/register")); n != 2 {
		t.Errorf("/auth/register called %d times for two logins", n)
	}
}

// loginHasNoSecret fails when a secret of the stored session (tokens,
// key, cookie values) or the password shows in what login printed.
func loginHasNoSecret(t *testing.T, data, out string) {
	t.Helper()
	kv := authBucket(t, data)
	if kv["app_session"] == nil || string(kv["account"]) != `{"auth":"app"}` {
		t.Fatalf("stored: session %t, account %s", kv["app_session"] != nil, kv["account"])
	}
	// Beyond the tokens, key and cookies NoSecret checks: csrf and the
	// device cookies.
	var sess auth.Session
	if err := json.Unmarshal(kv["app_session"], &sess); err != nil {
		t.Fatal(err)
	}
	signintest.NoSecret(t, kv["app_session"], out, "sim-password", sess.CSRF, sess.Device.FRC, sess.Device.MapMD)
}

func TestLoginRefusalsAndUsage(t *testing.T) {
	_, simURL := startSim(t)
	data := filepath.Join(t.TempDir(), "a.db")
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--auth", "oauth"}, exitUsage, `--auth "oauth": want app or lwa`},
		{[]string{"--auth", "lwa", "--url"}, exitUsage, "--url is an app sign-in"},
		{[]string{"--auth", "app", "--device"}, exitUsage, "--device is a Login with Amazon flow"},
		{[]string{"--cloud", "ftp://x"}, exitUsage, "cloud URL"},
	} {
		_, errOut, code := runCLI(t, append([]string{"login", "--data", data}, tc.args...)...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("login %v: exit %d, stderr %q; want %d with %q", tc.args, code, errOut, tc.code, tc.want)
		}
	}

	cmd := cli(t, "login", "--url", "--cloud", simURL, "--data", data)
	cmd.Stdin = strings.NewReader(simURL + "/ap/maplanding?openid.oa2.authorization_code=ANwrong\n")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ee, ok := err.(interface{ ExitCode() int }); !ok || ee.ExitCode() != exitFailure {
		t.Fatalf("login --url with a wrong code: %v\n%s", err, errOut.String())
	}
	if !strings.Contains(out.String(), simURL+"/ap/signin?") || !strings.Contains(errOut.String(), "login refused") ||
		strings.Contains(out.String()+errOut.String(), "ANwrong") {
		t.Errorf("login --url with a wrong code printed:\n%s\n%s", out.String(), errOut.String())
	}
	if regs := signintest.Registrations(t, simURL); len(regs) != 0 {
		t.Errorf("a refused login registered %v", regs)
	}
}

func TestLoginWhileRunHoldsTheDataFile(t *testing.T) {
	_, simURL := startSim(t)
	data := filepath.Join(t.TempDir(), "a.db")
	if out, _, code := appLogin(t, simURL, data); code != exitOK {
		t.Fatalf("login: exit %d\n%s", code, out)
	}
	before := authBucket(t, data)
	st, err := store.Open(data, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	stdout, errOut, code := runCLI(t, "login", "--cloud", simURL, "--data", data)
	st.Close()
	if code != exitFailure || !strings.Contains(errOut, data) || !strings.Contains(errOut, "in use by a running alexarules") {
		t.Fatalf("login on a held data file: exit %d\nstdout %s\nstderr %s", code, stdout, errOut)
	}
	if strings.Contains(stdout, "127.0.0.1") {
		t.Errorf("login served a sign-in although the data file is held: %s", stdout)
	}
	if after := authBucket(t, data); !equalKV(before, after) {
		t.Errorf("a refused login changed the auth bucket")
	}
}

// startPiped starts cmd with its stdout piped and its stderr collected;
// the process is killed when the test ends.
func startPiped(t *testing.T, cmd *exec.Cmd) (io.Reader, *bytes.Buffer) {
	t.Helper()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	errOut := &bytes.Buffer{}
	cmd.Stderr = errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return stdout, errOut
}

// authBucket reads the auth bucket of a data file no one holds.
func authBucket(t *testing.T, data string) map[string][]byte {
	return enginetest.Bucket(t, data, "auth")
}

func equalKV(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !bytes.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

func TestLoginWithAPastedURL(t *testing.T) {
	_, simURL := startSim(t)
	data := filepath.Join(t.TempDir(), "a.db")
	cmd := cli(t, "login", "--url", "--cloud", simURL, "--data", data)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, errOut := startPiped(t, cmd)
	sc := bufio.NewScanner(stdout)
	var start string
	for start == "" && sc.Scan() {
		if strings.HasPrefix(sc.Text(), simURL+"/ap/signin?") {
			start = sc.Text()
		}
	}
	if start == "" {
		t.Fatalf("login --url printed no sign-in URL; stderr:\n%s", errOut.String())
	}
	go io.Copy(io.Discard, stdout)
	resp, _, err := signintest.SignIn(signintest.StopAt(signintest.Client(), "/ap/maplanding"), start, "sim@example.com", "sim-password")
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(stdin, resp.Header.Get("Location")+"\n")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("login --url: %v\n%s", err, errOut.String())
	}
	if regs := signintest.Registrations(t, simURL); len(regs) != 1 {
		t.Errorf("registrations after login --url: %v", regs)
	}
	if kv := authBucket(t, data); string(kv["account"]) != `{"auth":"app"}` {
		t.Errorf("account after login --url: %s", kv["account"])
	}
}
