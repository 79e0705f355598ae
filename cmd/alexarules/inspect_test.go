package main

import (
	"bufio"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/engine/admin"
)

const dstRules = `
return {
  rule "berlin" {
    when = schedule("daily 02:30", { tz = "Europe/Berlin" }),
    run = function() end,
  },
  rule "new-york" {
    when = { cron("30 1 * * *", { tz = "America/New_York" }), schedule("sun 02:15", { tz = "America/New_York" }) },
    run = function() end,
  },
  rule "no-schedule" { when = event "x", run = function() end },
}`

// TestNextAcrossDST: `next` on a rules directory lists the fires around
// both 2026 transitions of Europe/Berlin and America/New_York, with the
// DST note of RULES.md §2's policy.
func TestNextAcrossDST(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "dst.lua", dstRules)
	tests := []struct {
		rule, from string
		count      int
		want       []string
	}{
		{"berlin", "2026-03-28T12:00:00+01:00", 2, []string{
			`Sun 2026-03-29 03:00:00 CEST (+02:00)  schedule "daily 02:30" { tz=Europe/Berlin }  (DST: 02:30 does not exist, fires at 03:00)`,
			`Mon 2026-03-30 02:30:00 CEST (+02:00)  schedule "daily 02:30" { tz=Europe/Berlin }`}},
		{"berlin", "2026-10-24T12:00:00+02:00", 2, []string{
			`Sun 2026-10-25 02:30:00 CEST (+02:00)  schedule "daily 02:30" { tz=Europe/Berlin }  (DST: 02:30 occurs twice, fires once, at the first (CEST))`,
			`Mon 2026-10-26 02:30:00 CET (+01:00)  schedule "daily 02:30" { tz=Europe/Berlin }`}},
		{"new-york", "2026-03-08T00:00:00-05:00", 3, []string{
			`Sun 2026-03-08 01:30:00 EST (-05:00)  cron "30 1 * * *" { tz=America/New_York }`,
			`Sun 2026-03-08 03:00:00 EDT (-04:00)  schedule "sun 02:15" { tz=America/New_York }  (DST: 02:15 does not exist, fires at 03:00)`,
			`Mon 2026-03-09 01:30:00 EDT (-04:00)  cron "30 1 * * *" { tz=America/New_York }`}},
		{"new-york", "2026-11-01T00:00:00-04:00", 3, []string{
			`Sun 2026-11-01 01:30:00 EDT (-04:00)  cron "30 1 * * *" { tz=America/New_York }  (DST: 01:30 occurs twice, fires once, at the first (EDT))`,
			`Sun 2026-11-01 02:15:00 EST (-05:00)  schedule "sun 02:15" { tz=America/New_York }`,
			`Mon 2026-11-02 01:30:00 EST (-05:00)  cron "30 1 * * *" { tz=America/New_York }`}},
	}
	for _, tt := range tests {
		out, errOut, code := runCLI(t, "next", tt.rule, "--rules", dir, "--from", tt.from, "--count", strconv.Itoa(tt.count))
		if code != exitOK || strings.TrimSpace(out) != strings.Join(tt.want, "\n") {
			t.Errorf("next %s --from %s: exit %d\n%s%s\nwant\n%s", tt.rule, tt.from, code, out, errOut, strings.Join(tt.want, "\n"))
		}
	}
	out, _, code := runCLI(t, "next", "berlin", "--rules", dir, "--from", "2026-03-29T00:00:00+01:00", "--count", "1", "--json")
	var rep admin.NextReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != exitOK {
		t.Fatalf("--json: exit %d, %v\n%s", code, err, out)
	}
	if len(rep.Fires) != 1 || rep.Fires[0].Time.Format(time.RFC3339) != "2026-03-29T03:00:00+02:00" ||
		rep.Fires[0].DST != "02:30 does not exist, fires at 03:00" {
		t.Errorf("--json: %+v", rep)
	}
	if _, errOut, _ := runCLI(t, "next", "no-schedule", "--rules", dir); !strings.Contains(errOut, "no schedule or cron trigger") {
		t.Errorf("a rule without schedules: %s", errOut)
	}
	if _, errOut, code := runCLI(t, "next", "nope", "--rules", dir); code != exitFailure || !strings.Contains(errOut, `no such rule "nope"`) {
		t.Errorf("unknown rule: exit %d, %s", code, errOut)
	}
	for _, args := range [][]string{{"--from", "tomorrow"}, {"--count", "0"}, {"--rules", dir, "--admin", "127.0.0.1:1"}} {
		if _, _, code := runCLI(t, append([]string{"next", "berlin", "--rules", dir}, args...)...); code != exitUsage {
			t.Errorf("next %v: exit %d, want 2", args, code)
		}
	}
}

const inspectRules = `
return {
  rule "count" {
    when = event "tick",
    state = { n = 0 },
    run = function(ctx, ev)
      ctx.state.n = ctx.state.n + 1
      ctx.log.info("tick %d", ctx.state.n)
      ctx.after("1h", "later", { n = ctx.state.n }, { id = "later" })
    end,
    handlers = { later = function() end },
  },
  rule "berlin" {
    when = schedule("daily 02:30", { tz = "Europe/Berlin" }),
    run = function() end,
  },
}`

// TestInspectARunningEngineAndItsDataFile: trace, state, timers, next and
// events --follow ask a running engine's admin API; once it stopped,
// trace, state, timers and events read its data file.
func TestInspectARunningEngineAndItsDataFile(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "rules.lua", inspectRules)
	data := filepath.Join(t.TempDir(), "alexarules.db")
	d := startRun(t, dir, data)
	follow := startFollow(t, d.base)
	d.post("/api/events", `{"name":"tick","data":{"k":"v"}}`)
	d.waitFor(func() bool { return len(d.runs("count")) == 1 }, "the run of count")
	follow.waitFor(t, ` tick {"k":"v"}  id `)
	follow.stop(t)

	adminFlag := []string{"--admin", d.base}
	checkInspect(t, adminFlag, 1)
	out, errOut, code := runCLI(t, "next", "berlin", "--admin", strings.TrimPrefix(d.base, "http://"), "--from", "2026-03-29T00:00:00+01:00", "--count", "1")
	if code != exitOK || !strings.Contains(out, "2026-03-29 03:00:00 CEST") || !strings.Contains(out, "(DST: 02:30 does not exist, fires at 03:00)") {
		t.Errorf("next --admin: exit %d\n%s%s", code, out, errOut)
	}
	if _, errOut, code := runCLI(t, "state", "nope", "--admin", d.base); code != exitFailure || !strings.Contains(errOut, "HTTP 404") {
		t.Errorf("state of an unknown rule: exit %d, %s", code, errOut)
	}
	if _, errOut, code := runCLI(t, "state", "count", "--data", data); code != exitFailure || !strings.Contains(errOut, "--admin") {
		t.Errorf("state --data while the engine holds the file: exit %d, %s", code, errOut)
	}

	stopDaemon(d)
	checkInspect(t, []string{"--data", data}, 1)
	if _, errOut, code := runCLI(t, "timers", "--data", filepath.Join(dir, "missing.db")); code != exitUsage || !strings.Contains(errOut, "no data file") {
		t.Errorf("a missing data file: exit %d, %s", code, errOut)
	}
}

// checkInspect checks trace, state, timers and events after n ticks.
func checkInspect(t *testing.T, from []string, n int) {
	t.Helper()
	cli := func(args ...string) string {
		t.Helper()
		out, errOut, code := runCLI(t, append(args, from...)...)
		if code != exitOK {
			t.Fatalf("%v: exit %d\n%s%s", args, code, out, errOut)
		}
		return out
	}
	var traces []engine.Trace
	if err := json.Unmarshal([]byte(cli("trace", "count", "--last", "5", "--json")), &traces); err != nil ||
		len(traces) != n || traces[0].Outcome != "ok" || !strings.Contains(strings.Join(traces[0].Log, ""), "tick 1") {
		t.Errorf("trace --json %v: %+v, %v", from, traces, err)
	}
	if out := cli("trace", "count"); !strings.Contains(out, " ok ") || !strings.Contains(out, "tick 1") {
		t.Errorf("trace %v:\n%s", from, out)
	}
	if out := cli("state", "count"); strings.Join(strings.Fields(out), "") != `{"n":1}` {
		t.Errorf("state %v: %s", from, out)
	}
	var timers []engine.TimerRecord
	if err := json.Unmarshal([]byte(cli("timers", "--json")), &timers); err != nil || len(timers) != 1 || timers[0].Handler != "later" {
		t.Errorf("timers --json %v: %+v, %v", from, timers, err)
	}
	if out := cli("timers", "count"); !strings.Contains(out, "count/later  id count/later") || !strings.Contains(out, `args {"n":1}`) {
		t.Errorf("timers %v:\n%s", from, out)
	}
	if out := cli("events", "--last", "5"); !strings.Contains(out, `tick {"k":"v"}`) {
		t.Errorf("events %v:\n%s", from, out)
	}
}

// follower is a running `alexarules events --follow`.
type follower struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  strings.Builder
	done chan struct{}
}

// startFollow starts `events --follow` and waits until it is connected.
func startFollow(t *testing.T, base string) *follower {
	t.Helper()
	cmd := cli(t, "events", "--follow", "--admin", base)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	f := &follower{cmd: cmd, done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			f.mu.Lock()
			f.out.WriteString(sc.Text() + "\n")
			f.mu.Unlock()
		}
		close(f.done)
	}()
	line, err := bufio.NewReader(stderr).ReadString('\n')
	if err != nil || !strings.Contains(line, "following events at "+base) {
		t.Fatalf("events --follow: %q, %v", line, err)
	}
	return f
}

func (f *follower) waitFor(t *testing.T, text string) {
	t.Helper()
	if !eventually(20*time.Second, func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return strings.Contains(f.out.String(), text)
	}) {
		t.Fatalf("events --follow never printed %q:\n%s", text, f.out.String())
	}
}

// stop sends SIGINT (Ctrl-C): events --follow exits 0.
func (f *follower) stop(t *testing.T) {
	t.Helper()
	if err := f.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-f.done:
	case <-time.After(20 * time.Second):
		t.Fatal("events --follow did not stop on SIGINT")
	}
	if err := f.cmd.Wait(); err != nil {
		t.Errorf("events --follow after Ctrl-C: %v", err)
	}
}
