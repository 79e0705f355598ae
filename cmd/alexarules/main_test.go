package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as the alexarules binary: with this variable set
// it runs the CLI on its arguments, so tests can start, signal and kill
// real processes.
const asCLI = "ALEXARULES_TEST_AS_CLI"

func TestMain(m *testing.M) {
	if os.Getenv(asCLI) == "1" {
		ctx, stop := signalNotify()
		code := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

func cli(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), asCLI+"=1")
	return cmd
}

// runCLI runs a short command to completion.
func runCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := cli(t, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code = 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "good.lua", `return rule "good" { when = event "x", run = function() end }`)
	write(t, dir, "bad.lua", "return rule \"bad\" {\n  when = event \"x\",\n  run = function() end,\n  mode = \"singel\",\n}")
	out, errOut, code := runCLI(t, "check", dir)
	if code != exitFailure {
		t.Fatalf("exit %d, want 1", code)
	}
	if !strings.Contains(errOut, "bad.lua:4: ") || !strings.Contains(errOut, `did you mean "single"`) {
		t.Fatalf("stderr: %s", errOut)
	}
	if !strings.Contains(out, "ok  good") {
		t.Fatalf("stdout: %s", out)
	}
	if _, _, code := runCLI(t, "check", filepath.Join(dir, "good.lua")); code != exitOK {
		t.Fatalf("a valid file: exit %d", code)
	}
	if _, _, code := runCLI(t, "check"); code != exitUsage {
		t.Fatalf("no paths: exit %d, want 2", code)
	}
	if _, _, code := runCLI(t, "frobnicate"); code != exitUsage {
		t.Fatalf("unknown command: exit %d, want 2", code)
	}
}

func TestExamplesAreValid(t *testing.T) {
	out, errOut, code := runCLI(t, "check", "../../examples")
	if code != exitOK {
		t.Fatalf("examples: exit %d\n%s%s", code, out, errOut)
	}
}

func write(t *testing.T, dir, name, src string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
}

// daemon is a running `alexarules run`.
type daemon struct {
	t     *testing.T
	cmd   *exec.Cmd
	base  string
	exit  chan error
	lines chan string
	mu    sync.Mutex
	all   strings.Builder // every line logged, for tests that read them all
}

// log returns every line d has logged so far.
func (d *daemon) log() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.all.String()
}

var listening = regexp.MustCompile(`admin API listening.*addr=(http://[0-9.:]+)`)

func startRun(t *testing.T, rulesDir, data string, extra ...string) *daemon {
	t.Helper()
	args := append([]string{"run", "--rules", rulesDir, "--data", data, "--admin", "127.0.0.1:0"}, extra...)
	cmd := cli(t, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &daemon{t: t, cmd: cmd, exit: make(chan error, 1), lines: make(chan string, 1000)}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
			d.mu.Lock()
			d.all.WriteString(sc.Text() + "\n")
			d.mu.Unlock()
			select {
			case d.lines <- sc.Text():
			default:
			}
		}
		d.exit <- cmd.Wait()
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	select {
	case d.base = <-addr:
	case err := <-d.exit:
		t.Fatalf("alexarules run exited: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("alexarules run did not start its admin API")
	}
	d.waitFor(func() bool { return d.get("/healthz") == "{\n  \"status\": \"ok\"\n}\n" }, "healthz ok")
	return d
}

func (d *daemon) get(path string) string {
	d.t.Helper()
	resp, err := http.Get(d.base + path)
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// dump logs what the engine says about its rules, its latest runs and
// its last log lines, for a test that failed waiting for it.
func (d *daemon) dump() {
	d.t.Helper()
	d.t.Logf("GET /api/rules:\n%s", d.get("/api/rules"))
	d.t.Logf("GET /api/runs?limit=20:\n%s", d.get("/api/runs?limit=20"))
	drain := func(wait time.Duration) {
		for {
			select {
			case l := <-d.lines:
				d.t.Logf("engine: %s", l)
			case <-time.After(wait):
				return
			}
		}
	}
	drain(100 * time.Millisecond)
	if os.Getenv("ALEXARULES_DUMP") != "" {
		_ = d.cmd.Process.Signal(syscall.SIGQUIT) // the Go runtime prints every goroutine
		drain(2 * time.Second)
	}
}

func (d *daemon) post(path, body string) int {
	d.t.Helper()
	resp, err := http.Post(d.base+path, "application/json", strings.NewReader(body))
	if err != nil {
		d.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func (d *daemon) runs(rule string) []map[string]any {
	d.t.Helper()
	var out []map[string]any
	if err := json.Unmarshal([]byte(d.get("/api/runs?rule="+rule+"&limit=100")), &out); err != nil {
		d.t.Fatal(err)
	}
	return out
}

func (d *daemon) waitFor(cond func() bool, what string) {
	d.t.Helper()
	if !eventually(20*time.Second, cond) {
		d.t.Fatalf("timed out waiting for %s", what)
	}
}

// eventually polls cond until it holds or timeout has passed, and reports
// whether it held.
func eventually(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return true
}

func (d *daemon) wait() int {
	d.t.Helper()
	select {
	case err := <-d.exit:
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		if err != nil {
			d.t.Fatal(err)
		}
		return 0
	case <-time.After(20 * time.Second):
		d.t.Fatal("alexarules run did not exit")
		return -1
	}
}

const durableRules = `
return {
  rule "count" {
    when = event "tick",
    mode = "queued",
    state = { n = 0 },
    run = function(ctx, ev)
      ctx.state.n = ctx.state.n + 1
      ctx.log.info("n=%d", ctx.state.n)
      if ev.data and ev.data.timer then ctx.after("2s", "ring", { n = ctx.state.n }, { id = "ring" }) end
    end,
    handlers = { ring = function(ctx, args) ctx.log.info("ring %d", args.n) end },
  },
  rule "spin" { when = event "spin", timeout = "200ms", run = function() while true do end end },
  rule "every" { when = cron "@every 1s", run = function(ctx) ctx.state.beats = (ctx.state.beats or 0) + 1 end },
  rule "chain-a" { when = event "a", run = function(ctx) ctx.emit("b", { from = "a" }) end },
  rule "chain-b" { when = event("b", { match = { from = "a" } }), run = function(ctx, ev) ctx.log.info("from %s", ev.data.from) end },
}`

func TestRunAdminAPIAndCleanShutdown(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "r.lua", durableRules)
	write(t, dir, "broken.lua", "return rule \"broken\" { when = cron \"nope\", run = function() end }")
	d := startRun(t, dir, filepath.Join(t.TempDir(), "a.db"))

	var rules []map[string]any
	if err := json.Unmarshal([]byte(d.get("/api/rules")), &rules); err != nil || len(rules) != 6 {
		t.Fatalf("rules: %v %v (the broken file must not stop the others)", rules, err)
	}
	if broken := rules[5]; broken["id"] != "" || broken["status"] != "error" || !strings.Contains(fmt.Sprint(broken["error"]), "broken.lua:1:") {
		t.Fatalf("the broken file's entry: %v", broken)
	}
	for _, k := range []string{"id", "file", "enabled", "triggers", "runs", "failures", "last_run"} {
		if _, ok := rules[0][k]; !ok {
			t.Errorf("rule listing lacks %q: %v", k, rules[0])
		}
	}
	if code := d.post("/api/events", `{"name":"a","data":{}}`); code != http.StatusAccepted {
		t.Fatalf("POST /api/events: %d", code)
	}
	if code := d.post("/api/events", `{"data":{}}`); code != http.StatusBadRequest {
		t.Fatalf("POST /api/events without a name: %d, want 400", code)
	}
	d.waitFor(func() bool { return len(d.runs("chain-b")) == 1 }, "the chained rule's run")
	if log := d.runs("chain-b")[0]["log"]; fmt.Sprint(log) != "[info: from a]" {
		t.Fatalf("chain-b log: %v", log)
	}
	d.post("/api/events", `{"name":"spin"}`)
	d.waitFor(func() bool { r := d.runs("spin"); return len(r) == 1 && r[0]["outcome"] == "timeout" }, "a timeout")
	d.waitFor(func() bool { return len(d.runs("every")) >= 2 }, "two @every 1s runs")
	var events []map[string]any
	if err := json.Unmarshal([]byte(d.get("/api/events?limit=5")), &events); err != nil || len(events) == 0 {
		t.Fatalf("events: %v", err)
	}
	metrics := d.get("/metrics")
	for _, want := range []string{`alexarules_rule_runs_total{outcome="timeout",rule="spin"} 1`, `alexarules_events_total{kind="event"}`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, metrics)
		}
	}
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := d.wait(); code != 0 {
		t.Fatalf("SIGTERM: exit %d, want 0", code)
	}
}

func TestNothingCommittedIsLostOnKill9(t *testing.T) {
	dir, data := t.TempDir(), filepath.Join(t.TempDir(), "k.db")
	write(t, dir, "r.lua", durableRules)
	d := startRun(t, dir, data)
	d.post("/api/events", `{"name":"tick"}`)
	d.post("/api/events", `{"name":"tick","data":{"timer":true}}`)
	d.waitFor(func() bool { return len(d.runs("count")) == 2 }, "two committed runs")
	if err := d.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	d.wait()
	time.Sleep(2500 * time.Millisecond) // the 2 s timer falls due while the engine is down

	d = startRun(t, dir, data)
	d.waitFor(func() bool {
		for _, r := range d.runs("count") {
			if r["handler"] == "ring" {
				return true
			}
		}
		return false
	}, "the timer that fell due while down")
	rings := 0
	for _, r := range d.runs("count") {
		if r["handler"] == "ring" {
			rings++
			if r["late"] != true || fmt.Sprint(r["log"]) != "[info: ring 2]" {
				t.Errorf("late timer run: %v", r)
			}
		}
	}
	if rings != 1 {
		t.Fatalf("the timer ran %d times, want once", rings)
	}
	d.post("/api/events", `{"name":"tick"}`)
	d.waitFor(func() bool { return len(d.runs("count")) == 4 }, "a run after the restart")
	if log := fmt.Sprint(d.runs("count")[0]["log"]); log != "[info: n=3]" {
		t.Fatalf("state after kill -9: %s, want n=3", log)
	}
}

func TestDemoRunsTheExamplesAgainstTheSimulator(t *testing.T) {
	if testing.Short() {
		t.Skip("the demo's script takes about 20 s")
	}
	demoShows(t, []string{"demo", "--admin", "127.0.0.1:0"},
		"admin API on http://127.0.0.1:",
		"cloud  POST /api/np/command",
		"cloud  POST /api/behaviors/preview",
		"run    doorbell                 ok",
		"event  alexa.list",
		"run    milk-reminder            ok",
		"cloud  POST /v2/endpoints/amzn1.alexa.endpoint.3f9d2c1e…/features/power/turnOn  -> 200",
		"run    good-morning             ok",
		"event  alexa.voice",
		"[Bedroom Lamp:off, Kitchen Light:off, Bedroom Echo:dnd]",
	)
}

func TestDemoOfAHouseholdsSmartHomeDevices(t *testing.T) {
	if testing.Short() {
		t.Skip("the demo's script takes about 30 s")
	}
	demoShows(t, []string{"demo", "--household", "--admin", "127.0.0.1:0"},
		"smart-home devices",
		`cloud  POST /api/phoenix/state {"stateRequests":[{"entityId":"6a1f0c2e-3b4d-4e5f-9a8b-7c6d5e4f3a03","entityType":"ENTITY"},{"entityId":"6a1f0c2e-3b4d-4e5f-9a8b-7c6d5e4f3a04","entityType":"ENTITY"}]} -> 200`,
		"run    too-warm                 ok",
		`"entityType":"GROUP","parameters":{"action":"turnOff"}}]} -> 200`,
		"Bedroom Lamp:set_color → orange",
		"POST /api/phoenix/state",
		"-> 429",
		"run    cool-again               ok",
		"run    good-morning             ok",
	)
}

// demoShows runs a demo until its output has shown each of want, in
// order, then stops it with Ctrl-C.
func demoShows(t *testing.T, args []string, want ...string) {
	t.Helper()
	cmd := cli(t, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	sc := bufio.NewScanner(stdout)
	found := 0
	var seen strings.Builder
	deadline := time.AfterFunc(90*time.Second, func() { _ = cmd.Process.Kill() })
	defer deadline.Stop()
	for found < len(want) && sc.Scan() {
		seen.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), want[found]) {
			found++
		}
	}
	if found < len(want) {
		t.Fatalf("demo output lacks %q after:\n%s", want[found], seen.String())
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, stdout)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("demo after Ctrl-C: %v", err)
	}
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

func TestReloadKeepsStateAndRefusesBrokenFiles(t *testing.T) {
	dir := t.TempDir()
	counter := func(word string) string {
		return `return rule "count" { when = event "tick", state = { n = 0 },
			run = function(ctx) ctx.state.n = ctx.state.n + 1; ctx.log.info("` + word + ` %d", ctx.state.n) end }`
	}
	write(t, dir, "r.lua", counter("one"))
	d := startRun(t, dir, filepath.Join(t.TempDir(), "r.db"))
	d.post("/api/events", `{"name":"tick"}`)
	d.waitFor(func() bool { return len(d.runs("count")) == 1 }, "the first run")

	// SIGHUP reloads the edited file; the rule's state carries over.
	write(t, dir, "r.lua", counter("two"))
	write(t, dir, "s.lua", `return rule "second" { when = event "tick", run = function() end }`)
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	d.waitFor(func() bool { return strings.Contains(d.get("/api/rules"), `"second"`) }, "the reload")
	d.post("/api/events", `{"name":"tick"}`)
	d.waitFor(func() bool { return len(d.runs("count")) == 2 }, "a run of the reloaded rule")
	if log := fmt.Sprint(d.runs("count")[0]["log"]); log != "[info: two 2]" {
		t.Fatalf("after reload: %s", log)
	}

	// A broken file: the reload is refused and the running rules stay.
	write(t, dir, "s.lua", `return rule "second" { when = event "tick", mode = "paralel", run = function() end }`)
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	d.waitFor(func() bool {
		h := d.get("/healthz")
		return strings.Contains(h, `"status": "degraded"`) && strings.Contains(h, "s.lua:1:")
	}, "the failed SIGHUP reload in /healthz")
	if !strings.Contains(d.get("/api/rules"), `"status": "error"`) {
		t.Fatalf("the failed SIGHUP reload is not in /api/rules: %s", d.get("/api/rules"))
	}
	resp, err := http.Post(d.base+"/api/reload", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(body), "s.lua:1:") {
		t.Fatalf("reload of a broken file: %d %s", resp.StatusCode, body)
	}
	d.post("/api/events", `{"name":"tick"}`)
	d.waitFor(func() bool { return len(d.runs("count")) == 3 }, "the old rules still running")
}
