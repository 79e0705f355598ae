package host_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/alexarules/alexarules/alexa/auth/signin/signintest"
	"github.com/alexarules/alexarules/engine/enginetest"
	"github.com/alexarules/alexarules/engine/host"
	"github.com/alexarules/alexarules/engine/store"
)

var (
	proxyURL  = regexp.MustCompile(`http://127\.0\.0\.1:[0-9]+/\S*`)
	signInURL = regexp.MustCompile(`https?://\S+/ap/signin\?\S+`)
)

// login runs host.LoginApp against the simulator at cloud and plays the
// browser on the URL it prints with password. It returns LoginApp's
// error, everything printed and logged (at debug level) and the page the
// browser ended on.
func login(t *testing.T, cloud, data, password string) (err error, out, page string) {
	t.Helper()
	pr, pw := io.Pipe()
	logs := &enginetest.LogBuffer{}
	done := make(chan error, 1)
	go func() {
		o := host.AppLoginOptions{Out: pw, Logger: logs.Logger(slog.LevelDebug)}
		done <- host.LoginApp(context.Background(), host.Config{Cloud: cloud, Data: data}, noEnv, o)
		pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	if !sc.Scan() {
		t.Fatalf("login printed nothing: %v", <-done)
	}
	line := sc.Text()
	start := proxyURL.FindString(line)
	if start == "" {
		t.Fatalf("login printed %q, no http://127.0.0.1:PORT/ URL", line)
	}
	go io.Copy(io.Discard, pr)
	page = browse(t, start, password)
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("login did not return after the sign-in")
	}
	return err, line + "\n" + logs.String(), page
}

func noEnv(string) string { return "" }

// browse plays the user's browser: sign in at start with the simulator's
// account and password; it returns the page the browser ends on.
func browse(t *testing.T, start, password string) string {
	t.Helper()
	_, page, err := signintest.SignIn(signintest.Client(), start, "sim@example.com", password)
	if err != nil {
		t.Fatal(err)
	}
	return page
}

// stored reads the auth bucket of a data file no one holds.
func stored(t *testing.T, data string) map[string][]byte { return enginetest.Bucket(t, data, "auth") }

func TestLoginAppRegistersOnceAndReusesTheDevice(t *testing.T) {
	cloud, stopSim := startSim(t)
	defer stopSim()
	data := filepath.Join(t.TempDir(), "a.db")
	err, out, page := login(t, cloud, data, "sim-password")
	if err != nil || !strings.Contains(page, "You can close this window") {
		t.Fatalf("login: %v\n%s\nbrowser page:\n%s", err, out, page)
	}
	regs := signintest.Registrations(t, cloud)
	if len(regs) != 1 {
		t.Fatalf("registrations after one login: %v", regs)
	}
	first := stored(t, data)
	if string(first["account"]) != `{"auth":"app"}` || first["app_session"] == nil || first["app_device"] == nil {
		t.Fatalf("stored after login: account %s, session %t, device %t", first["account"], first["app_session"] != nil, first["app_device"] != nil)
	}
	signintest.NoSecret(t, first["app_session"], out, "sim-password")
	if fi, err := os.Stat(data); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("data file mode: %v %v", fi.Mode(), err)
	}

	if err, out, _ := login(t, cloud, data, "sim-password"); err != nil {
		t.Fatalf("second login: %v\n%s", err, out)
	}
	again := signintest.Registrations(t, cloud)
	if len(again) != 1 || again[0]["device_serial"] != regs[0]["device_serial"] {
		t.Fatalf("registrations after a second login: %v, first %v", again, regs)
	}
	second := stored(t, data)
	if !bytes.Equal(first["app_device"], second["app_device"]) {
		t.Errorf("the second login changed the stored device")
	}
	if bytes.Equal(first["app_session"], second["app_session"]) {
		t.Errorf("the second login did not store its session")
	}
}

func TestARefusedLoginKeepsTheStoredSession(t *testing.T) {
	cloud, stopSim := startSim(t)
	defer stopSim()
	data := filepath.Join(t.TempDir(), "a.db")
	if err, out, _ := login(t, cloud, data, "sim-password"); err != nil {
		t.Fatalf("login: %v\n%s", err, out)
	}
	before := stored(t, data)
	paste := strings.NewReader("http://127.0.0.1/ap/maplanding?openid.oa2.authorization_code=ANnotacode\n")
	var out bytes.Buffer
	err := host.LoginApp(context.Background(), host.Config{Cloud: cloud, Data: data}, noEnv,
		host.AppLoginOptions{URL: true, In: paste, Out: &out})
	var refused *host.LoginRefusedError
	if !errors.As(err, &refused) {
		t.Fatalf("login with a wrong code = %v, want a LoginRefusedError", err)
	}
	if strings.Contains(err.Error(), "ANnotacode") {
		t.Errorf("the error shows the code: %v", err)
	}
	after := stored(t, data)
	for _, k := range []string{"account", "app_session", "app_device"} {
		if !bytes.Equal(before[k], after[k]) {
			t.Errorf("a refused login changed %s", k)
		}
	}
}

func TestLoginAppWithAPastedURL(t *testing.T) {
	cloud, stopSim := startSim(t)
	defer stopSim()
	data := filepath.Join(t.TempDir(), "a.db")
	pr, pw := io.Pipe()
	in, paste := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- host.LoginApp(context.Background(), host.Config{Cloud: cloud, Data: data}, noEnv,
			host.AppLoginOptions{URL: true, In: in, Out: pw})
		pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	var start string
	for start == "" && sc.Scan() {
		start = signInURL.FindString(sc.Text())
	}
	go io.Copy(io.Discard, pr)
	if start == "" {
		t.Fatalf("login --url printed no sign-in URL: %v", <-done)
	}
	io.WriteString(paste, "\n"+maplanding(t, start)+"\n")
	if err := <-done; err != nil {
		t.Fatalf("login --url: %v", err)
	}
	if regs := signintest.Registrations(t, cloud); len(regs) != 1 {
		t.Fatalf("registrations: %v", regs)
	}
	if kv := stored(t, data); string(kv["account"]) != `{"auth":"app"}` {
		t.Errorf("account = %s", kv["account"])
	}
}

// maplanding signs in at the simulator directly, as a browser on another
// machine would, and returns the final URL the user would paste.
func maplanding(t *testing.T, start string) string {
	t.Helper()
	c := signintest.StopAt(signintest.Client(), "/ap/maplanding")
	resp, _, err := signintest.SignIn(c, start, "sim@example.com", "sim-password")
	if err != nil {
		t.Fatal(err)
	}
	return resp.Header.Get("Location")
}

func TestLoginWhileRunHoldsTheDataFile(t *testing.T) {
	data := filepath.Join(t.TempDir(), "a.db")
	st, err := store.Open(data, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var out bytes.Buffer
	err = host.LoginApp(context.Background(), host.Config{Cloud: "http://127.0.0.1:1", Data: data}, noEnv,
		host.AppLoginOptions{Out: &out})
	if !errors.Is(err, store.ErrInUse) || !strings.Contains(err.Error(), data) || host.IsConfigError(err) {
		t.Fatalf("login on a held data file = %v, want ErrInUse naming %s, exit 1", err, data)
	}
	if out.Len() != 0 {
		t.Errorf("login printed %q before failing", out.String())
	}
	if kv, err := st.List("auth", ""); err != nil || len(kv) != 0 {
		t.Errorf("auth bucket after the refused login: %v %v", kv, err)
	}
}

func TestARegistrationRefusedThroughTheProxy(t *testing.T) {
	cloud, stopSim := startSim(t)
	defer stopSim()
	resp, err := http.Post(cloud+"/_sim/faults", "application/json",
		strings.NewReader(`{"path_prefix":"/auth/register","status":400,"times":1}`))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /_sim/faults: %v %v", resp, err)
	}
	resp.Body.Close()
	data := filepath.Join(t.TempDir(), "a.db")
	err, out, page := login(t, cloud, data, "sim-password")
	var refused *host.LoginRefusedError
	if !errors.As(err, &refused) {
		t.Fatalf("login with /auth/register refused = %v\n%s", err, out)
	}
	if !strings.Contains(page, "could not register") {
		t.Errorf("the browser was not told: %s", page)
	}
	kv := stored(t, data)
	if kv["app_session"] != nil || kv["account"] != nil || kv["app_device"] == nil {
		t.Errorf("stored after a refused registration: %v", keys(kv))
	}
}

func keys(kv map[string][]byte) []string {
	var out []string
	for k := range kv {
		out = append(out, k)
	}
	return out
}
