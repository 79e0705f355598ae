package rules_test

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/rules"
	"github.com/alexarules/alexarules/scripting"
)

// redTeamDir holds the hostile rules; each file's header says what it
// attacks and how it must end (docs/RELIABILITY.md, "Sandbox red team").
const redTeamDir = "../scripting/testdata/redteam"

// canary answers pings during the attack and checks that nothing another
// rule did reached its own state.
const canary = `
return rule "canary" {
  when = event "ping",
  mode = "queued", max = 100,
  state = { n = 0 },
  run = function(ctx, ev)
    canary_secret = "s3cret"
    assert(("a"):upper() == "A", "string metatable tampered with")
    assert(string.format("%d", 1) == "1", "string.format replaced")
    assert(type(os.time()) == "number", "os replaced")
    assert(rawget(_G, "canary_flag") == nil, "a global set by another rule")
    assert(getmetatable(_G) == nil, "_G has a metatable")
    ctx.state.n = ctx.state.n + 1
    ctx.log.info("pong %d", ctx.state.n)
  end,
}`

// expectation is a red-team file's "-- expect: outcome: text" header.
type expectation struct {
	file, rule string
	outcome    string // ok, failed, timeout, refused (at load), loaded (with print output)
	text       string // in the error, or in the log for ok
}

func readRedTeam(t *testing.T) (map[string]string, []expectation) {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(redTeamDir, "*.lua"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no red-team rules in %s: %v", redTeamDir, err)
	}
	files := map[string]string{}
	var exps []expectation
	for _, p := range paths {
		src, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(p)
		files[name] = string(src)
		e := expectation{file: name, rule: "rt-" + strings.TrimSuffix(name, ".lua")}
		sc := bufio.NewScanner(strings.NewReader(string(src)))
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "-- expect: "); ok {
				e.outcome, e.text, _ = strings.Cut(rest, ": ")
			}
		}
		if e.outcome == "" {
			t.Fatalf("%s: no \"-- expect:\" header", name)
		}
		exps = append(exps, e)
	}
	return files, exps
}

// redTeamOptions binds act(n), which records an action, like the bound API.
func redTeamOptions(prints *sync.Map) rules.Options {
	return rules.Options{
		LoadTimeout: 3 * time.Second,
		Print:       func(file, msg string) { prints.Store(filepath.Base(file), msg) },
		Bind: func(L *lua.LState, run scripting.RunContext) {
			L.SetGlobal("act", L.NewFunction(func(L *lua.LState) int {
				if run == nil {
					L.RaiseError("act: only in a run")
				}
				run.Record(engine.Action{Call: "act", Args: L.CheckInt(1)})
				return 0
			}))
		},
	}
}

// TestRedTeam runs the hostile rules through a real engine together with a
// canary rule: first each bomb alone, which must end exactly as its header
// says with a trace that says why; then all of them at once, where
// every bomb must end failed or timeout (or ok, when its header says so)
// with a reason: the heap guard cannot tell which run grew the heap, so a
// run in progress beside a memory bomb may be stopped with it. All along
// the canary keeps answering, and the process's memory stays under 1 GiB.
// REDTEAM_ROUNDS=n runs n rounds of the wave (the long form; 1 by
// default); REDTEAM_DEBUG=1 logs how every bomb of the wave ended.
func TestRedTeam(t *testing.T) {
	if testing.Short() {
		t.Skip("red team: about 11 s, 35 s with -race")
	}
	rounds := 1
	if n, err := strconv.Atoi(os.Getenv("REDTEAM_ROUNDS")); err == nil && n > 0 {
		rounds = n
	}
	files, exps := readRedTeam(t)
	files["canary.lua"] = canary
	var prints sync.Map
	h := newHarnessOpts(t, files, redTeamOptions(&prints))
	checkLoad(t, h, exps, &prints)
	var bombs []expectation
	for _, e := range exps {
		if e.outcome != "refused" && e.outcome != "loaded" {
			bombs = append(bombs, e)
		}
	}

	baseline := pingLatencies(t, h, 20)
	mem := watchMemory()
	pinger := startPinger(t, h)
	for _, e := range bombs {
		h.emit(e.rule, nil)
		checkRun(t, e, "alone", waitRun(t, h, e.rule, 1))
	}
	for round := 1; round <= rounds; round++ {
		h.emit("attack", nil)
		for _, e := range bombs {
			checkWave(t, e, fmt.Sprintf("wave %d", round), waitRun(t, h, e.rule, 1+round))
		}
	}
	under := pinger.stop()
	peak, peakHeap := mem.stop()
	// Leave the process as the next tests expect it: the bombs' garbage
	// freed and returned.
	t.Cleanup(debug.FreeOSMemory)

	base, attack := median(baseline), median(under)
	t.Logf("canary: baseline median %v, under attack median %v over %d pings; peak memory %d MiB (heap %d MiB)",
		base, attack, len(under), peak>>20, peakHeap>>20)
	if len(under) < 10 {
		t.Errorf("the canary answered only %d pings while the attack ran", len(under))
	}
	// Two cores run every bomb at once: allow the canary a generous factor
	// of its own baseline (floored at 1 ms), not an absolute time.
	if limit := 200 * max(base, time.Millisecond); attack > limit {
		t.Errorf("canary median latency %v under attack, over 200x its baseline %v", attack, base)
	}
	if peak >= 1<<30 {
		t.Errorf("process memory peaked at %d MiB, want under 1024", peak>>20)
	}
}

// checkLoad checks the files refused at load, each loaded alone (loaded
// together, a memory bomb's growth may stop the others' loading too), and
// the print budget of loading.
func checkLoad(t *testing.T, h *harness, exps []expectation, prints *sync.Map) {
	t.Helper()
	for _, e := range exps {
		switch e.outcome {
		case "refused":
			set, err := rules.Load(redTeamOptions(&sync.Map{}), filepath.Join(h.dir, e.file))
			if err != nil || len(set.Errors) != 1 || !strings.Contains(set.Errors[0].Error(), e.text) {
				t.Errorf("%s: want refused at load with %q, got %v (%v)", e.file, e.text, set.Errors, err)
			}
			if !slices.ContainsFunc(h.set.Errors, func(err error) bool { return strings.Contains(err.Error(), e.file) }) {
				t.Errorf("%s: loaded with the others: %v", e.file, h.set.Errors)
			}
		case "loaded":
			msg, _ := prints.Load(e.file)
			if s, _ := msg.(string); !strings.Contains(s, e.text) {
				t.Errorf("%s: last print at load %q, want it to contain %q", e.file, s, e.text)
			}
		}
	}
	if len(h.set.Errors) != 2 {
		t.Errorf("load errors: %v, want only the two refused files", h.set.Errors)
	}
}

func checkRun(t *testing.T, e expectation, phase string, tr engine.Trace) {
	t.Helper()
	where := e.file + " " + phase
	if tr.Outcome != e.outcome {
		t.Errorf("%s: outcome %s (%s), want %s", where, tr.Outcome, cut(tr.Error), e.outcome)
		return
	}
	switch e.outcome {
	case engine.OutcomeFailed:
		if !strings.Contains(tr.Error, e.text) {
			t.Errorf("%s: error %q, want it to contain %q", where, cut(tr.Error), e.text)
		}
	case engine.OutcomeTimeout:
		if !strings.Contains(tr.Error, "timeout") {
			t.Errorf("%s: timeout trace says %q", where, tr.Error)
		}
	case engine.OutcomeOK:
		if !slices.ContainsFunc(tr.Log, func(l string) bool { return strings.Contains(l, e.text) }) {
			t.Errorf("%s: log %q, want a line containing %q", where, cutLog(tr.Log), e.text)
		}
	}
	checkBudget(t, where, tr)
}

// checkWave checks a bomb's run in the wave: it ended as alone, or failed
// or timed out with a reason.
func checkWave(t *testing.T, e expectation, phase string, tr engine.Trace) {
	t.Helper()
	switch {
	case tr.Outcome == e.outcome && !strings.Contains(tr.Error, "memory budget exceeded"):
		checkRun(t, e, phase, tr)
	case tr.Outcome == engine.OutcomeFailed || tr.Outcome == engine.OutcomeTimeout:
		if os.Getenv("REDTEAM_DEBUG") != "" {
			t.Logf("DEBUG %s %s: %s", e.file, phase, tr.Error)
		}
		if tr.Error == "" {
			t.Errorf("%s %s: %s without a reason", e.file, phase, tr.Outcome)
		}
		checkBudget(t, e.file+" "+phase, tr)
	default:
		t.Errorf("%s %s: outcome %s, want %s, failed or timeout", e.file, phase, tr.Outcome, e.outcome)
	}
}

func checkBudget(t *testing.T, where string, tr engine.Trace) {
	t.Helper()
	if len(tr.Error) > 8<<10 {
		t.Errorf("%s: error of %d bytes in the trace", where, len(tr.Error))
	}
	if len(tr.Log) > 202 || len(tr.Actions) > 200 {
		t.Errorf("%s: trace of %d log lines and %d actions, over the budget", where, len(tr.Log), len(tr.Actions))
	}
}

func cut(s string) string { return scripting.Truncate(s, 300) }

func cutLog(lines []string) []string {
	if len(lines) > 3 {
		lines = append(lines[:2:2], lines[len(lines)-1])
	}
	for i := range lines {
		lines[i] = cut(lines[i])
	}
	return lines
}

// waitRun waits for the nth run of rule, without a fixed bound on how long
// a bomb takes under the race detector on a loaded machine (the rules'
// own timeouts bound it), and returns its trace.
func waitRun(t *testing.T, h *harness, rule string, n int) engine.Trace {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		if runs := h.runsOf(rule); len(runs) >= n {
			return runs[n-1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no run %d within 3 minutes", rule, n)
		}
		select {
		case <-h.notify:
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func (h *harness) runsOf(rule string) []engine.Trace {
	var out []engine.Trace
	for _, tr := range h.all() {
		if tr.Rule == rule {
			out = append(out, tr)
		}
	}
	return out
}

// ping sends one ping and waits for the canary's run of it; it returns
// the time from publishing to the trace.
func ping(h *harness, n int) (time.Duration, error) {
	id := fmt.Sprintf("ping-%d", n)
	begin := time.Now()
	h.publish(engine.Event{ID: id, Kind: engine.KindCustom, Name: "ping"})
	deadline := time.After(30 * time.Second)
	for {
		for _, tr := range h.runsOf("canary") {
			if tr.EventID != id {
				continue
			}
			if tr.Outcome != engine.OutcomeOK {
				return 0, fmt.Errorf("canary %s: %s %s", id, tr.Outcome, tr.Error)
			}
			return time.Since(begin), nil
		}
		select {
		case <-deadline:
			return 0, fmt.Errorf("canary %s: no answer within 30 s", id)
		case <-time.After(time.Millisecond):
		}
	}
}

func pingLatencies(t *testing.T, h *harness, n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		d, err := ping(h, i)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = d
	}
	return out
}

// pinger pings the canary, one ping after another, until stopped.
type pinger struct {
	stopc chan struct{}
	got   chan []time.Duration
}

func startPinger(t *testing.T, h *harness) *pinger {
	p := &pinger{stopc: make(chan struct{}), got: make(chan []time.Duration)}
	go func() {
		var out []time.Duration
		for n := 1000; ; n++ {
			select {
			case <-p.stopc:
				p.got <- out
				return
			default:
			}
			d, err := ping(h, n)
			if err != nil {
				t.Error(err)
				p.got <- out
				return
			}
			out = append(out, d)
		}
	}()
	return p
}

func (p *pinger) stop() []time.Duration {
	close(p.stopc)
	return <-p.got
}

func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// memoryWatch samples the memory the Go runtime holds from the OS (mapped
// and not released: what RSS can reach) until stopped.
type memoryWatch struct {
	stopc chan struct{}
	peak  chan uint64
}

func watchMemory() *memoryWatch {
	w := &memoryWatch{stopc: make(chan struct{}), peak: make(chan uint64)}
	go func() {
		s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"},
			{Name: "/memory/classes/heap/objects:bytes"}}
		var peak, heap uint64
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(s)
			peak = max(peak, s[0].Value.Uint64()-s[1].Value.Uint64())
			heap = max(heap, s[2].Value.Uint64())
			select {
			case <-w.stopc:
				w.peak <- peak
				w.peak <- heap
				return
			case <-tick.C:
			}
		}
	}()
	return w
}

// stop returns the peak memory held from the OS and the peak heap.
func (w *memoryWatch) stop() (uint64, uint64) {
	close(w.stopc)
	return <-w.peak, <-w.peak
}
