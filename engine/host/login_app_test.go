package host_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexarules/alexarules/engine/host"
	"github.com/alexarules/alexarules/engine/store"
)

var (
	proxyURL  = regexp.MustCompile(`http://127\.0\.0\.1:[0-9]+/\S*`)
	signInURL = regexp.MustCompile(`https?://\S+/ap/signin\?\S+`)
	formTag   = regexp.MustCompile(`(?is)<form\b[^>]*\bname="signIn"[^>]*>(.*?)</form>`)
	inputTag  = regexp.MustCompile(`(?is)<input\b[^>]*>`)
	attrRe    = regexp.MustCompile(`(?is)([a-z][a-z0-9_-]*)\s*=\s*"([^"]*)"`)
)

// lockedBuffer is a log sink several goroutines write to.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// login runs host.LoginApp against the simulator at cloud and plays the
// browser on the URL it prints with password. It returns LoginApp's
// error and everything printed and logged (at debug level).
func login(t *testing.T, cloud, data, password string) (error, string) {
	t.Helper()
	pr, pw := io.Pipe()
	logs := &lockedBuffer{}
	done := make(chan error, 1)
	go func() {
		o := host.AppLoginOptions{Out: pw, Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
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
	browse(t, start, password)
	select {
	case err := <-done:
		return err, line + "\n" + logs.String()
	case <-time.After(30 * time.Second):
		t.Fatal("login did not return after the sign-in")
	}
	return nil, ""
}

func noEnv(string) string { return "" }

// browse is a scripted browser: it opens start, submits the sign-in form
// with the simulator's account and password, and follows the redirects to
// the page it ends on.
func browse(t *testing.T, start, password string) string {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	resp, err := c.Get(start)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	form := formTag.FindSubmatch(page)
	if form == nil {
		t.Fatalf("GET %s: %s, no sign-in form:\n%s", start, resp.Status, page)
	}
	action, fields := formFields(form[0])
	fields.Set("email", "sim@example.com")
	fields.Set("password", password)
	target, err := resp.Request.URL.Parse(action)
	if err != nil {
		t.Fatal(err)
	}
	resp, err = c.PostForm(target.String(), fields)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func formFields(form []byte) (string, url.Values) {
	attrs := func(tag []byte) map[string]string {
		m := map[string]string{}
		for _, a := range attrRe.FindAllSubmatch(tag, -1) {
			m[strings.ToLower(string(a[1]))] = html.UnescapeString(string(a[2]))
		}
		return m
	}
	fields := url.Values{}
	for _, in := range inputTag.FindAll(form, -1) {
		if a := attrs(in); a["name"] != "" {
			fields.Set(a["name"], a["value"])
		}
	}
	return attrs(form[:bytes.IndexByte(form, '>')+1])["action"], fields
}

// simRegistrations is GET /_sim/auth's registrations.
func simRegistrations(t *testing.T, cloud string) []map[string]any {
	t.Helper()
	resp, err := http.Get(cloud + "/_sim/auth")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Registrations []map[string]any `json:"registrations"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out.Registrations
}

// stored reads the auth bucket of a data file no one holds.
func stored(t *testing.T, data string) map[string][]byte {
	t.Helper()
	st, err := store.Open(data, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	kv, err := st.List("auth", "")
	if err != nil {
		t.Fatal(err)
	}
	return kv
}

func TestLoginAppRegistersOnceAndReusesTheDevice(t *testing.T) {
	cloud, stopSim := startSim(t)
	defer stopSim()
	data := filepath.Join(t.TempDir(), "a.db")
	err, out := login(t, cloud, data, "sim-password")
	if err != nil {
		t.Fatalf("login: %v\n%s", err, out)
	}
	regs := simRegistrations(t, cloud)
	if len(regs) != 1 {
		t.Fatalf("registrations after one login: %v", regs)
	}
	first := stored(t, data)
	if string(first["account"]) != `{"auth":"app"}` || first["app_session"] == nil || first["app_device"] == nil {
		t.Fatalf("stored after login: account %s, session %t, device %t", first["account"], first["app_session"] != nil, first["app_device"] != nil)
	}
	checkNoSecret(t, first["app_session"], out)
	if fi, err := os.Stat(data); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("data file mode: %v %v", fi.Mode(), err)
	}

	if err, out := login(t, cloud, data, "sim-password"); err != nil {
		t.Fatalf("second login: %v\n%s", err, out)
	}
	again := simRegistrations(t, cloud)
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

// checkNoSecret fails when a token or cookie value of the stored session
// appears in what the login printed or logged.
func checkNoSecret(t *testing.T, session []byte, out string) {
	t.Helper()
	var s struct {
		AccessToken  string                   `json:"access_token"`
		RefreshToken string                   `json:"refresh_token"`
		ADPToken     string                   `json:"adp_token"`
		Key          string                   `json:"device_private_key"`
		Login        []struct{ Value string } `json:"login_cookies"`
		Web          []struct{ Value string } `json:"web_cookies"`
	}
	if err := json.Unmarshal(session, &s); err != nil {
		t.Fatal(err)
	}
	secrets := []string{s.AccessToken, s.RefreshToken, s.ADPToken, s.Key, "sim-password"}
	for _, c := range append(s.Login, s.Web...) {
		if len(c.Value) >= 8 {
			secrets = append(secrets, c.Value)
		}
	}
	for _, sec := range secrets {
		if sec == "" {
			t.Errorf("stored session lacks a secret it should have: %+v", s.AccessToken != "")
			continue
		}
		if strings.Contains(out, sec) {
			t.Errorf("the login's output or logs show a secret (%.6s…)", sec)
		}
	}
}

func TestARefusedLoginKeepsTheStoredSession(t *testing.T) {
	cloud, stopSim := startSim(t)
	defer stopSim()
	data := filepath.Join(t.TempDir(), "a.db")
	if err, out := login(t, cloud, data, "sim-password"); err != nil {
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
	if regs := simRegistrations(t, cloud); len(regs) != 1 {
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
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(r *http.Request, _ []*http.Request) error {
		if strings.Contains(r.URL.Path, "/ap/maplanding") {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	resp, err := c.Get(start)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	form := formTag.FindSubmatch(page)
	if form == nil {
		t.Fatalf("no sign-in form at %s:\n%s", start, page)
	}
	action, fields := formFields(form[0])
	fields.Set("email", "sim@example.com")
	fields.Set("password", "sim-password")
	target, _ := resp.Request.URL.Parse(action)
	resp, err = c.PostForm(target.String(), fields)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if !strings.Contains(loc, "/ap/maplanding") {
		t.Fatalf("sign-in ended with %s, Location %q", resp.Status, loc)
	}
	return loc
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
