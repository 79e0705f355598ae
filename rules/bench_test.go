package rules_test

// Benchmarks of the engine's performance goals (issue 2, item 6): dispatch
// throughput and latency with 1,000 rules loaded, start-up, memory per
// rule and committed runs. They run the whole path (rules.Load, the
// engine's runners, Lua, a bbolt store on disk) on the real clock. Results
// and the commands that produced them are in docs/BENCHMARKS.md.

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/engine/store"
	"github.com/alexarules/alexarules/rules"
	"github.com/alexarules/alexarules/scripting"
	lua "github.com/yuin/gopher-lua"
)

// benchEngine is an engine over a rules directory with the real clock and
// a store in a temp dir.
type benchEngine struct {
	b      *testing.B
	store  *store.Store
	engine *engine.Engine
	set    *rules.Set
	cancel context.CancelFunc
	done   chan struct{}

	runs    atomic.Int64
	skipped atomic.Int64
	failed  atomic.Int64
}

// benchOptions load rules as `run` does: with the bound device() and
// alexa.* API in every state (no account behind them: benchmark rules do
// not act).
func benchOptions() rules.Options {
	return rules.Options{Location: time.UTC, Bind: func(L *lua.LState, run scripting.RunContext) {
		scripting.OpenDevice(L, run, nil, nil)
		scripting.OpenAlexa(L, run, nil, engine.RealClock{})
	}}
}

// benchDeadline bounds every wait of a benchmark: a run that never comes
// fails it instead of hanging it.
const benchDeadline = 2 * time.Minute

// within waits for done, at most benchDeadline.
func within(b testing.TB, what string, done <-chan struct{}) {
	b.Helper()
	select {
	case <-done:
	case <-time.After(benchDeadline):
		b.Fatalf("%s: not done within %s", what, benchDeadline)
	}
}

// startEngine loads dir and runs an engine on it; onRun, when set, sees
// every trace after it is counted. It returns once the engine runs.
func startEngine(b *testing.B, dir string, onRun func(engine.Trace)) *benchEngine {
	b.Helper()
	return startEngineWith(b, dir, hooks{onRun: onRun})
}

// hooks are what a benchmark adds to its engine; each may be nil.
type hooks struct {
	onRun   func(engine.Trace) // every trace but the ready rule's, after it is counted
	onEvent func(engine.Event) // engine.Config.OnEvent
	edit    func(*engine.Rule) // applied to every rule before the engine gets it
}

// startEngineWith is startEngine with every hook of h.
func startEngineWith(b *testing.B, dir string, h hooks) *benchEngine {
	b.Helper()
	st, err := store.Open(filepath.Join(b.TempDir(), "bench.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	set, err := rules.Load(benchOptions(), dir)
	if err != nil {
		b.Fatal(err)
	}
	if len(set.Errors) > 0 {
		b.Fatal(set.Errors[0])
	}
	be := &benchEngine{b: b, store: st, set: set, done: make(chan struct{})}
	started := make(chan struct{})
	be.engine = engine.New(engine.Config{Store: st, OnEvent: h.onEvent, OnRun: func(tr engine.Trace) {
		if tr.Rule == "ready" {
			close(started)
			return
		}
		switch tr.Outcome {
		case engine.OutcomeSkipped:
			be.skipped.Add(1)
		case engine.OutcomeOK:
		default:
			be.failed.Add(1)
		}
		be.runs.Add(1)
		if h.onRun != nil {
			h.onRun(tr)
		}
	}})
	list := make([]*engine.Rule, 0, len(set.Rules))
	for _, l := range set.Rules {
		r := l.Engine(nil, false)
		if h.edit != nil {
			h.edit(r)
		}
		list = append(list, r)
	}
	if err := be.engine.SetRules(list); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	be.cancel = cancel
	go func() {
		defer close(be.done)
		if err := be.engine.Run(ctx); err != nil {
			b.Error(err)
		}
	}()
	within(b, "the engine's start", started)
	b.Cleanup(be.stop)
	return be
}

func (be *benchEngine) stop() {
	if be.cancel == nil {
		return
	}
	be.cancel()
	within(be.b, "the engine's stop", be.done)
	be.cancel = nil
	if err := be.store.Close(); err != nil {
		be.b.Error(err)
	}
	// b.Cleanup keeps be until the benchmark's last round: let the rules go.
	be.engine, be.set = nil, nil
}

// report adds what went wrong to the benchmark's metrics: runs that were
// skipped or failed, events the engine dropped and recorded events or
// traces the store dropped.
func (be *benchEngine) report() {
	var drops uint64
	for _, r := range be.engine.Rules() {
		drops += r.Dropped
	}
	be.b.ReportMetric(float64(be.skipped.Load()+be.failed.Load()), "bad-runs")
	be.b.ReportMetric(float64(drops), "inbox-drops")
	be.b.ReportMetric(float64(be.store.Dropped()), "store-drops")
}

// readyRule is in every benchmark directory: its run on the startup event
// says the engine has started every runner and published its first event.
const readyRule = `return rule "ready" { when = startup {}, run = function(ctx, ev) end }`

// writeFiles writes name → source into a new temp dir.
func writeFiles(b testing.TB, files map[string]string) string {
	b.Helper()
	dir := b.TempDir()
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return dir
}

// limiter bounds how many events each rule may have in flight, so that
// the producer waits for the slowest rule instead of overflowing its inbox
// (the engine drops events beyond a full inbox, without a trace).
type limiter struct {
	b     testing.TB
	rules map[string]chan struct{}
	// stuck bounds a wait for a slot; one timer, reused, as the producer
	// is one goroutine and the wait is the benchmark's steady state.
	stuck *time.Timer
}

func newLimiter(b testing.TB, perRule int, names []string) *limiter {
	stuck := time.NewTimer(benchDeadline)
	stuck.Stop()
	l := &limiter{b: b, rules: map[string]chan struct{}{}, stuck: stuck}
	for _, n := range names {
		l.rules[n] = make(chan struct{}, perRule)
	}
	return l
}

// acquire takes one slot of every rule; call it before publishing an
// event they all match.
func (l *limiter) acquire() {
	for _, c := range l.rules {
		select {
		case c <- struct{}{}:
			continue
		default:
		}
		l.stuck.Reset(benchDeadline)
		select {
		case c <- struct{}{}:
			l.stuck.Stop()
		case <-l.stuck.C:
			l.b.Fatalf("no run finished within %s", benchDeadline)
		}
	}
}

// release returns the slot of the trace's rule; it is the OnRun hook.
func (l *limiter) release(tr engine.Trace) {
	if c := l.rules[tr.Rule]; c != nil {
		<-c
	}
}

// wait returns once every event in flight has been run.
func (l *limiter) wait() {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, c := range l.rules {
			for range cap(c) {
				c <- struct{}{}
			}
		}
	}()
	within(l.b, "the events in flight", done)
}

func hotNames(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("hot-%d", i)
	}
	return names
}

// dispatchRules returns `total` rules with a no-op action: `hot` of them
// listen to the event "hot", the rest to an event of their own. The hot
// rules queue their runs so that a burst of events is run, not skipped.
func dispatchRules(total, hot int) map[string]string {
	files := map[string]string{"ready.lua": readyRule}
	for i := range total {
		name, ev := fmt.Sprintf("idle-%04d", i), fmt.Sprintf("e%d", i)
		if i < hot {
			name, ev = fmt.Sprintf("hot-%d", i), "hot"
		}
		files[name+".lua"] = fmt.Sprintf(`return rule %q {
  when = event %q,
  mode = "queued",
  max = 1000,
  run = function(ctx, ev) end,
}
`, name, ev)
	}
	return files
}

// BenchmarkDispatch publishes custom events as fast as the engine runs
// them, with a bounded number in flight so no rule inbox overflows; one
// op is one event, published until every run it caused has finished. The
// store records every event and trace (or counts what it drops).
func BenchmarkDispatch(b *testing.B) {
	for _, c := range []struct{ total, hot int }{{1, 1}, {3, 3}, {1000, 3}} {
		b.Run(fmt.Sprintf("rules=%d/match=%d", c.total, c.hot), func(b *testing.B) {
			lim := newLimiter(b, 64, hotNames(c.hot))
			be := startEngine(b, writeFiles(b, dispatchRules(c.total, c.hot)), lim.release)
			b.ReportAllocs()
			b.ResetTimer()
			begin := time.Now()
			for range b.N {
				lim.acquire()
				be.engine.Publish(engine.Event{Kind: engine.KindCustom, Name: "hot"})
			}
			lim.wait()
			elapsed := time.Since(begin)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
			b.ReportMetric(float64(b.N*c.hot)/elapsed.Seconds(), "runs/s")
			b.ReportMetric(float64(elapsed.Nanoseconds())/float64(b.N*c.hot), "ns/run")
			be.report()
		})
	}
}

// BenchmarkLatency publishes one event per millisecond with 1,000 rules
// loaded (3 match each event) and measures the time from Publish to the
// start of each run it causes. One op is one event; run it with
// -benchtime 3000x for three seconds of load.
func BenchmarkLatency(b *testing.B) {
	const hot = 3
	var (
		mu   sync.Mutex
		pub  []time.Time // publish time by event number
		lats []time.Duration
	)
	be := startEngine(b, writeFiles(b, dispatchRules(1000, hot)), func(tr engine.Trace) {
		n, err := strconv.Atoi(strings.TrimPrefix(tr.EventID, "bench-"))
		if err != nil {
			return
		}
		mu.Lock()
		lats = append(lats, tr.Started.Sub(pub[n]))
		mu.Unlock()
	})
	pub = make([]time.Time, b.N)
	lats = make([]time.Duration, 0, b.N*hot)
	b.ResetTimer()
	begin := time.Now()
	for i := range b.N {
		time.Sleep(time.Until(begin.Add(time.Duration(i) * time.Millisecond)))
		now := time.Now()
		mu.Lock()
		pub[i] = now
		mu.Unlock()
		be.engine.Publish(engine.Event{ID: "bench-" + strconv.Itoa(i), Time: now, Kind: engine.KindCustom, Name: "hot"})
	}
	deadline := time.Now().Add(benchDeadline)
	for be.runs.Load() < int64(b.N*hot) {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d runs within %s", be.runs.Load(), b.N*hot, benchDeadline)
		}
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	mu.Lock()
	slices.Sort(lats)
	q := func(p float64) float64 { return float64(lats[int(p*float64(len(lats)-1))].Microseconds()) }
	b.ReportMetric(q(0.50), "p50-µs")
	b.ReportMetric(q(0.99), "p99-µs")
	b.ReportMetric(q(1), "max-µs")
	mu.Unlock()
	be.report()
}

// realisticRule is a 50-line rule file with local helpers, four kinds of
// trigger, a condition, state, logging and a durable timer. Its run needs
// no bound API, so it runs as it stands.
func realisticRule(i int) string {
	return strings.NewReplacer("<i>", strconv.Itoa(i), "<m>", fmt.Sprintf("%02d", i%60)).Replace(`-- room-<i>.lua: the lamp of room <i> follows presence and the time of day.
local ROOM = "Room <i>"
local LAMP = ROOM .. " Lamp"
local NIGHT_LEVEL = 10
local DAY_LEVEL = 80

local function level_for(hour)
  if hour >= 22 or hour < 6 then
    return NIGHT_LEVEL
  elseif hour < 9 then
    return 40
  end
  return DAY_LEVEL
end

local function describe(ev)
  if ev.device then
    return string.format("%s (%s)", ev.device.name or "?", ev.kind)
  end
  return ev.kind
end

return rule "room-<i>" {
  description = "Lights for " .. ROOM .. " follow presence and the time of day",
  when = {
    event("presence-<i>", { id = "presence" }),
    reading { device = "Room <i> Sensor", attr = "temperature", above = 26, id = "hot" },
    alexa.alarm { device = "Room <i> Echo", id = "alarm" },
    schedule("daily 07:<m>", { id = "morning" }),
  },
  unless = function(ctx, ev) return ctx.state.count > 1000000 end,
  mode = "restart",
  timeout = "10s",
  state = { count = 0, last = "", level = 0 },
  run = function(ctx, ev)
    local level = level_for(tonumber(time.format(ctx.now, "%H")))
    ctx.state.count = ctx.state.count + 1
    ctx.state.last = describe(ev)
    ctx.state.level = level
    if ev.trigger == "hot" then
      ctx.log.warn("%s is warm: %s", ROOM, tostring(ev.value))
    end
    ctx.log.info("%s: level %d after %s", LAMP, level, ctx.state.last)
    ctx.after("30m", "dim", { level = math.floor(level / 2) }, { id = "dim" })
  end,
  handlers = {
    dim = function(ctx, args) ctx.state.level = args.level end,
  },
}
`)
}

func realisticRules(n int) map[string]string {
	files := map[string]string{"ready.lua": readyRule}
	for i := range n {
		files[fmt.Sprintf("room-%04d.lua", i)] = realisticRule(i)
	}
	return files
}

// BenchmarkStartup loads 1,000 realistic rule files, hands them to an
// engine and runs it until its startup event has run a rule; one op is
// one start-up, store opening included.
func BenchmarkStartup(b *testing.B) {
	dir := writeFiles(b, realisticRules(1000))
	b.ResetTimer()
	var total time.Duration
	for range b.N {
		begin := time.Now()
		be := startEngine(b, dir, nil)
		total += time.Since(begin)
		b.StopTimer()
		if n := len(be.set.Rules); n != 1001 {
			b.Fatalf("loaded %d rules", n)
		}
		be.stop()
		b.StartTimer()
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/startup")
}

// BenchmarkMemoryPerRule measures the live heap that 1,000 realistic rules
// add once loaded (compiled, validated) and once each has run (its runner,
// Lua state and committed state exist). Goroutine stacks are not heap;
// they are reported apart.
func BenchmarkMemoryPerRule(b *testing.B) {
	const n = 1000
	dir := writeFiles(b, realisticRules(n))
	for range b.N {
		base := measure()
		set, err := rules.Load(benchOptions(), dir)
		if err != nil || len(set.Errors) > 0 {
			b.Fatal(err, set.Errors)
		}
		reportLoaded(b, base, n)
		runtime.KeepAlive(set)
		set = nil

		var ran atomic.Int64
		all := make(chan struct{})
		be := startEngine(b, dir, func(engine.Trace) {
			if ran.Add(1) == n {
				close(all)
			}
		})
		for i := range n {
			be.engine.Publish(engine.Event{Kind: engine.KindCustom, Name: fmt.Sprintf("presence-%d", i)})
		}
		reportRan(b, be, all, base, n)
	}
}

// warmRules are rules like the end-to-end benchmark's (engine/host
// e2eRule): one parallel rule on the event "bench" whose run makes one
// Alexa call of each kind.
var warmRules = map[string]string{
	"web": `
		local action = string.format('{"seq":%d,"bucket":%d}', seq, bucket)
		alexa.remind { device = "Bench Echo", text = action, ["in"] = "1h" }`,
	"features": `
		local action = string.format('{"seq":%d,"bucket":%d}', seq, bucket)
		device("Bench Lamp " .. (seq % 64)):set_brightness(bucket)`,
}

// warmHeapProfile, when set, names a file that gets a heap profile taken
// while BenchmarkMemoryPerWarmState's instances are alive.
var warmHeapProfile = flag.String("warm.heapprofile", "", "write a heap profile of the warm instances of BenchmarkMemoryPerWarmState to this file")

// BenchmarkMemoryPerWarmState measures the live heap of one warm instance
// of a parallel rule (issue 13): the engine builds max of them when the
// rule starts and keeps them, each a Lua state with the bound API as `run`
// installs it and the rule file run in it. One op builds 256 instances
// (without spares, which would be built beside them) and reports the heap
// they hold per instance, then again once each has run an event.
func BenchmarkMemoryPerWarmState(b *testing.B) {
	const n = 256
	for _, kind := range []string{"web", "features"} {
		b.Run(kind, func(b *testing.B) {
			dir := writeFiles(b, map[string]string{"bench.lua": `return {
	rule "bench" { when = event "bench", mode = "parallel", max = 256, run = function(ctx, ev)
		if ev.name ~= "bench" then return end
		local seq = ev.data.seq
		local bucket = seq % 100` + warmRules[kind] + `
	end },
}`})
			opts := benchOptions()
			opts.SpareStates = -1
			set, err := rules.Load(opts, dir)
			if err != nil || len(set.Errors) > 0 || len(set.Rules) != 1 {
				b.Fatal(err, set.Errors)
			}
			rule := set.Rules[0].Engine(nil, false)
			instances := make([]engine.Instance, n)
			for b.Loop() {
				base := measure()
				for i := range instances {
					if instances[i], err = rule.NewInstance(); err != nil {
						b.Fatal(err)
					}
				}
				warm := measure()
				b.ReportMetric(perRule(warm.HeapAlloc, base.HeapAlloc, n), "KB/instance")
				writeWarmProfile(b)
				for i, in := range instances {
					// No account is bound: the call fails, after the run
					// went as deep as the benchmark's.
					ev := &engine.Event{Kind: engine.KindCustom, Name: "bench", Data: map[string]any{"seq": i}}
					in.Run(context.Background(), &engine.Invocation{Event: ev})
				}
				ran := measure()
				b.ReportMetric(perRule(ran.HeapAlloc, base.HeapAlloc, n), "KB/instance-ran")
				for i, in := range instances {
					in.Close()
					instances[i] = nil
				}
			}
		})
	}
}

// writeWarmProfile writes the heap profile -warm.heapprofile asks for.
func writeWarmProfile(b *testing.B) {
	if *warmHeapProfile == "" {
		return
	}
	f, err := os.Create(*warmHeapProfile)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := pprof.WriteHeapProfile(f); err != nil {
		b.Fatal(err)
	}
}

// measure returns the memory statistics after two collections: what is
// live.
func measure() runtime.MemStats {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m
}

func perRule(after, before uint64, n int) float64 {
	return (float64(after) - float64(before)) / float64(n) / 1024
}

// reportLoaded reports the heap n loaded rules added since base.
func reportLoaded(b *testing.B, base runtime.MemStats, n int) {
	loaded := measure()
	b.ReportMetric(perRule(loaded.HeapAlloc, base.HeapAlloc, n), "KB/rule-loaded")
}

// reportRan waits until all the engine's n rules have run (all closes),
// reports the heap and stacks per rule since base, and stops the engine.
func reportRan(b *testing.B, be *benchEngine, all <-chan struct{}, base runtime.MemStats, n int) {
	within(b, "every rule's run", all)
	if be.failed.Load() > 0 || be.skipped.Load() > 0 {
		b.Fatalf("%d runs failed, %d skipped", be.failed.Load(), be.skipped.Load())
	}
	ran := measure()
	b.ReportMetric(perRule(ran.HeapAlloc, base.HeapAlloc, n), "KB/rule-ran")
	b.ReportMetric(perRule(ran.HeapInuse, base.HeapInuse, n), "KB/rule-ran-inuse")
	b.ReportMetric(perRule(ran.StackInuse, base.StackInuse, n), "KB/rule-stack")
	be.stop()
}

// commitRules returns n rules on the event "w" whose every run changes
// ctx.state, so every run is a store.Commit.
func commitRules(n int) map[string]string {
	files := map[string]string{"ready.lua": readyRule}
	for i := range n {
		files[fmt.Sprintf("w-%02d.lua", i)] = fmt.Sprintf(`return rule "w-%02d" {
  when = event "w",
  mode = "queued",
  max = 1000,
  state = { n = 0 },
  run = function(ctx, ev) ctx.state.n = ctx.state.n + 1 end,
}
`, i)
	}
	return files
}

// BenchmarkCommit measures runs that change their rule's state, each
// committed (fsync) before the run counts as done. parallel=64: 64 rules
// run on every event, a few events in flight; one op is one committed run.
// lone: one rule, one run at a time, so each commit is alone in its
// transaction; one op is one event and its committed run.
func BenchmarkCommit(b *testing.B) {
	b.Run("parallel=64", func(b *testing.B) {
		const rulesN = 64
		names := make([]string, rulesN)
		for i := range names {
			names[i] = fmt.Sprintf("w-%02d", i)
		}
		lim := newLimiter(b, 8, names)
		be := startEngine(b, writeFiles(b, commitRules(rulesN)), lim.release)
		events := (b.N + rulesN - 1) / rulesN
		b.ResetTimer()
		begin := time.Now()
		for range events {
			lim.acquire()
			be.engine.Publish(engine.Event{Kind: engine.KindCustom, Name: "w"})
		}
		lim.wait()
		elapsed := time.Since(begin)
		b.StopTimer()
		b.ReportMetric(float64(events*rulesN)/elapsed.Seconds(), "commits/s")
		be.report()
	})
	b.Run("lone", func(b *testing.B) {
		done := make(chan struct{}, 1)
		be := startEngine(b, writeFiles(b, commitRules(1)), func(engine.Trace) { done <- struct{}{} })
		b.ResetTimer()
		for range b.N {
			be.engine.Publish(engine.Event{Kind: engine.KindCustom, Name: "w"})
			within(b, "the run", done)
		}
		b.StopTimer()
		be.report()
	})
}

// scaleRule is issue 15's rule file: a weekday schedule, an event trigger
// and a counter in ctx.state.
func scaleRule(id string) string {
	return fmt.Sprintf(`return rule %q {
  when = { schedule "mon-fri 07:00", event %q },
  state = { count = 0 },
  run = function(ctx, ev)
    ctx.state.count = ctx.state.count + 1
  end,
}
`, id, id)
}

func scaleRules(n int) (map[string]string, []string) {
	files := map[string]string{"ready.lua": readyRule}
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("room-%05d", i)
		files[ids[i]+".lua"] = scaleRule(ids[i])
	}
	return files, ids
}

// BenchmarkScale is issue 15's scale run in one process: n one-rule files
// loaded and started (to the startup event's run), then each rule fired
// once, 8 events in flight. It reports the start-up time and the heap and
// goroutine stacks per rule, loaded and after every rule ran once (with
// the default bound of kept states). The process's RSS is measured by
// testdata/bench/rulescale on the binary (docs/BENCHMARKS.md).
func BenchmarkScale(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			files, ids := scaleRules(n)
			dir := writeFiles(b, files)
			for range b.N {
				scaleOnce(b, dir, ids)
			}
		})
	}
}

func scaleOnce(b *testing.B, dir string, ids []string) {
	base := measure()
	var ran atomic.Int64
	all := make(chan struct{})
	slots := make(chan struct{}, 8)
	begin := time.Now()
	be := startEngine(b, dir, func(engine.Trace) {
		<-slots
		if ran.Add(1) == int64(len(ids)) {
			close(all)
		}
	})
	b.ReportMetric(float64(time.Since(begin).Milliseconds()), "ms/startup")
	reportLoaded(b, base, len(ids))
	for _, id := range ids {
		slots <- struct{}{}
		be.engine.Publish(engine.Event{Kind: engine.KindCustom, Name: id})
	}
	reportRan(b, be, all, base, len(ids))
}

// BenchmarkRebuild measures what a run adds when its rule's state was
// released: making the instance (a sandboxed state with the bound API, the
// file run again) and closing it. One op is one rebuild; p50 and p99 are
// over b.N rebuilds. With spares (the default), each rebuild finds the
// rule set's blank states ready (it waits for them first, outside the
// times taken; B/op counts the spares' building too); no-spare builds the
// sandbox in the rebuild, as when a burst has used the spares up. Run it
// with -benchtime 5000x.
func BenchmarkRebuild(b *testing.B) {
	for _, c := range []struct{ name, src string }{
		{"issue15-rule", scaleRule("room-00001")},
		{"50-line-rule", realisticRule(1)},
	} {
		for _, v := range []struct {
			name   string
			spares int
		}{{"spare", 0}, {"no-spare", -1}} {
			b.Run(c.name+"/"+v.name, func(b *testing.B) {
				opts := benchOptions()
				opts.SpareStates = v.spares
				set, err := rules.Load(opts, writeFiles(b, map[string]string{"r.lua": c.src}))
				if err != nil || len(set.Errors) > 0 {
					b.Fatal(err, set.Errors)
				}
				rule := set.Rules[0].Engine(nil, false)
				first, err := rule.NewInstance() // the spares are made after a first take
				if err != nil {
					b.Fatal(err)
				}
				first.Close()
				took := make([]time.Duration, 0, b.N)
				b.ReportAllocs()
				for range b.N {
					deadline := time.Now().Add(benchDeadline)
					for v.spares == 0 && rules.SparesReady(set.Rules[0]) < rules.DefaultSpareStates {
						if time.Now().After(deadline) {
							b.Fatal("the spare states were not made")
						}
						time.Sleep(20 * time.Microsecond)
					}
					t0 := time.Now()
					inst, err := rule.NewInstance()
					if err != nil {
						b.Fatal(err)
					}
					inst.Close()
					took = append(took, time.Since(t0))
				}
				reportQuantiles(b, "", took)
			})
		}
	}
}

// reportQuantiles reports the p50, p99 and max of took, in µs, each
// metric's name starting with prefix.
func reportQuantiles(b *testing.B, prefix string, took []time.Duration) {
	if len(took) == 0 {
		b.Fatal("nothing measured: " + prefix)
	}
	slices.Sort(took)
	b.ReportMetric(quantileMicros(took, 0.50), prefix+"p50-µs")
	b.ReportMetric(quantileMicros(took, 0.99), prefix+"p99-µs")
	b.ReportMetric(quantileMicros(took, 1), prefix+"max-µs")
}

// quantileMicros is the p quantile of sorted, in µs.
func quantileMicros(sorted []time.Duration, p float64) float64 {
	return float64(sorted[int(p*float64(len(sorted)-1))].Nanoseconds()) / 1000
}

// durations is a list of times taken, appended to by several goroutines.
type durations struct {
	mu   sync.Mutex
	took []time.Duration
}

func (d *durations) add(took time.Duration) {
	d.mu.Lock()
	d.took = append(d.took, took)
	d.mu.Unlock()
}

// list is what was added; call it once the adding has stopped.
func (d *durations) list() []time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.took
}

// timeRebuilds makes every rule's NewInstance add the time it takes to
// rebuilds while measuring is set.
func timeRebuilds(measuring *atomic.Bool, rebuilds *durations) func(*engine.Rule) {
	return func(r *engine.Rule) {
		build := r.NewInstance
		r.NewInstance = func() (engine.Instance, error) {
			t0 := time.Now()
			inst, err := build()
			if measuring.Load() {
				rebuilds.add(time.Since(t0))
			}
			return inst, err
		}
	}
}

// loadedEngine is an engine over issue 15's rules, every one run once (its
// state built, then released for all but the last states.max), with at
// most 8 events in flight: the heap is as big as a real one's.
type loadedEngine struct {
	*benchEngine
	slots chan struct{}
}

// startLoaded starts the engine over dir (the rules ids) with h (its
// onRun is the loaded engine's own), and runs every rule once.
func startLoaded(b *testing.B, dir string, ids []string, h hooks) *loadedEngine {
	le := &loadedEngine{slots: make(chan struct{}, 8)}
	also := h.onRun
	h.onRun = func(t engine.Trace) {
		if also != nil {
			also(t)
		}
		<-le.slots
	}
	le.benchEngine = startEngineWith(b, dir, h)
	le.fireAll(ids)
	return le
}

// fireAll publishes an event for each of ids and waits for their runs.
func (le *loadedEngine) fireAll(ids []string) {
	for _, id := range ids {
		le.slots <- struct{}{}
		le.engine.Publish(engine.Event{Kind: engine.KindCustom, Name: id})
	}
	le.drain()
}

// drain returns once no event is in flight.
func (le *loadedEngine) drain() {
	for range cap(le.slots) {
		le.slots <- struct{}{}
	}
	for range cap(le.slots) {
		<-le.slots
	}
}

// publish publishes b.N events, event(i) the i-th, each once a slot is
// free; paced, the i-th not before i ms from the first. It returns once
// their runs are done, with the events published per second.
func (le *loadedEngine) publish(b *testing.B, paced bool, event func(i int) engine.Event) float64 {
	begin := time.Now()
	for i := range b.N {
		if paced {
			time.Sleep(time.Until(begin.Add(time.Duration(i) * time.Millisecond)))
		}
		le.slots <- struct{}{}
		le.engine.Publish(event(i))
	}
	le.drain()
	return float64(b.N) / time.Since(begin).Seconds()
}

// BenchmarkRebuildLoaded measures what a rebuild adds to a run in an
// engine as issue 15's operator runs it: 10,000 of the rules
// loaded, states.max at its default (256), every rule run once first (so
// the heap is as big as a real one's), then events for the rules in turn,
// so that nearly every run finds its rule's state released and rebuilds
// it. The time taken is the rebuild's, around Rule.NewInstance, which the
// run's worker calls before the run. One op is one event. paced publishes
// 1,000 events/s (the engine is busy, not saturated); flood keeps 8 events
// in flight, as many as the 2 cores can run. Run it with -benchtime 5000x.
func BenchmarkRebuildLoaded(b *testing.B) {
	const n = 10000
	files, ids := scaleRules(n)
	dir := writeFiles(b, files)
	pacings(b, func(b *testing.B, paced bool) {
		var measuring atomic.Bool
		var rebuilds durations
		le := startLoaded(b, dir, ids, hooks{edit: timeRebuilds(&measuring, &rebuilds)})
		ran := le.runs.Load()
		measuring.Store(true)
		b.ResetTimer()
		rate := le.publish(b, paced, func(i int) engine.Event {
			return engine.Event{Kind: engine.KindCustom, Name: ids[(n+i)%n]}
		})
		b.StopTimer()
		measuring.Store(false)
		took := rebuilds.list()
		b.ReportMetric(float64(len(took))/float64(le.runs.Load()-ran), "rebuilds/run")
		b.ReportMetric(rate, "events/s")
		reportQuantiles(b, "", took)
		le.report()
		le.stop() // now, not after the last round: two engines of 10,000 rules pass the heap ceiling
	})
}

// pacings runs run as the sub-benchmarks paced (events published at
// 1,000/s) and flood (as fast as 8 in flight allow).
func pacings(b *testing.B, run func(b *testing.B, paced bool)) {
	for _, paced := range []bool{true, false} {
		b.Run(map[bool]string{true: "paced", false: "flood"}[paced], func(b *testing.B) { run(b, paced) })
	}
}

// runTimes are the moments of one measured run: its event published, its
// event dispatched to the rules' runners (journaled: OnEvent), its rule's
// handler (Instance.Run) started and ended; build is how long its state's
// rebuild took, if it rebuilt.
type runTimes struct {
	rebuilt, hot                      bool
	skipped                           bool // by the rule's mode: its previous run had not ended
	published, dispatched, start, end time.Time
	build                             time.Duration
}

// runLatencies collects the runTimes of the measured events: those with a
// "seq" in their data.
type runLatencies struct {
	hot map[string]bool

	mu   sync.Mutex
	runs []runTimes     // by seq
	seqs map[string]int // event id to seq, once dispatched
}

// timedInstance reports every run of its instance to runLatencies; fresh
// (built for the run) until its first run is over.
type timedInstance struct {
	engine.Instance
	lat   *runLatencies
	fresh bool
	built time.Duration // how long Rule.NewInstance took
}

func (t *timedInstance) Run(ctx context.Context, inv *engine.Invocation) engine.Result {
	start := time.Now()
	res := t.Instance.Run(ctx, inv)
	end := time.Now()
	if seq, ok := inv.Event.Data["seq"].(int); ok {
		t.lat.at(seq, func(r *runTimes) {
			r.start, r.end, r.rebuilt = start, end, t.fresh
			if t.fresh {
				r.build = t.built
			}
		})
	}
	t.fresh = false
	return res
}

// wrap makes every instance of the rule a timedInstance.
func (l *runLatencies) wrap(r *engine.Rule) {
	build := r.NewInstance
	r.NewInstance = func() (engine.Instance, error) {
		t0 := time.Now()
		inst, err := build()
		if err != nil {
			return nil, err
		}
		return &timedInstance{Instance: inst, lat: l, fresh: true, built: time.Since(t0)}, nil
	}
}

// event is the seq-th measured event, for rule, published now.
func (l *runLatencies) event(seq int, rule string) engine.Event {
	now := time.Now()
	l.at(seq, func(r *runTimes) { r.published, r.hot = now, l.hot[rule] })
	return engine.Event{Kind: engine.KindCustom, Name: rule, Data: map[string]any{"seq": seq}}
}

// dispatched is the engine's OnEvent: ev is journaled and goes to its rules.
func (l *runLatencies) dispatched(ev engine.Event) {
	now := time.Now()
	if seq, ok := ev.Data["seq"].(int); ok { // not the warm-up's
		l.at(seq, func(r *runTimes) { r.dispatched = now })
		l.mu.Lock()
		l.seqs[ev.ID] = seq
		l.mu.Unlock()
	}
}

// ran is the engine's OnRun: it notes the runs the rule's mode skipped.
// A stall of the store (its checkpoint, 3-17 ms here with 10,000 rules)
// can hand a hot rule two of its events within one run, and in flood a
// hot rule's run may still be going 16 events later; the second event is
// then skipped (mode single), as it would be in any engine.
func (l *runLatencies) ran(t engine.Trace) {
	if t.Outcome != engine.OutcomeSkipped || !strings.HasPrefix(t.Reason, "already running") {
		return
	}
	l.mu.Lock()
	seq, ok := l.seqs[t.EventID]
	l.mu.Unlock()
	if ok {
		l.at(seq, func(r *runTimes) { r.skipped = true })
	}
}

// at applies set to the times of the seq-th event's run.
func (l *runLatencies) at(seq int, set func(*runTimes)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if seq >= len(l.runs) {
		l.runs = append(l.runs, make([]runTimes, seq+1-len(l.runs))...)
	}
	set(&l.runs[seq])
}

// report reports, from the dispatch to the handler's start (no prefix),
// from the publish to the start (pub-) and from the dispatch to the
// handler's end (end-), the quantiles of rebuilt runs and of warm runs,
// and what rebuilds add: the differences of their p50s, p90s and p99s.
func (l *runLatencies) report(b *testing.B) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.check(b); err != nil {
		b.Fatal(err)
	}
	if b.N < 2 {
		return // the testing package's first round of one event: no pair to compare
	}
	dispatched := func(r *runTimes) time.Time { return r.dispatched }
	published := func(r *runTimes) time.Time { return r.published }
	start := func(r *runTimes) time.Time { return r.start }
	end := func(r *runTimes) time.Time { return r.end }
	for _, v := range []struct {
		name     string
		from, to func(*runTimes) time.Time
	}{{"", dispatched, start}, {"pub-", published, start}, {"end-", dispatched, end}} {
		var rebuilt, warm []time.Duration
		for i := range l.runs {
			r := &l.runs[i]
			if r.skipped {
				continue
			}
			if r.rebuilt {
				rebuilt = append(rebuilt, v.to(r).Sub(v.from(r)))
			} else {
				warm = append(warm, v.to(r).Sub(v.from(r)))
			}
		}
		reportQuantiles(b, v.name+"rebuilt-", rebuilt)
		reportQuantiles(b, v.name+"warm-", warm)
		for _, p := range []float64{0.50, 0.90, 0.99} {
			adds := quantileMicros(rebuilt, p) - quantileMicros(warm, p)
			b.ReportMetric(adds, fmt.Sprintf("%sadds-p%.0f-µs", v.name, p*100))
		}
	}
	l.reportRebuilds(b)
}

// reportRebuilds reports the quantiles of the rebuilds' own times
// (Rule.NewInstance), and what the slowest 1% of the rebuilt runs (from
// the dispatch to the handler's start) took on average, and how much of it
// was their rebuild: the rest is waiting.
func (l *runLatencies) reportRebuilds(b *testing.B) {
	var rebuilt []runTimes
	var took []time.Duration
	for _, r := range l.runs {
		if r.rebuilt {
			rebuilt, took = append(rebuilt, r), append(took, r.build)
		}
	}
	b.ReportMetric(float64(len(rebuilt))/float64(len(l.runs)), "rebuilds/run")
	reportQuantiles(b, "rebuild-", took)
	wait := func(r runTimes) time.Duration { return r.start.Sub(r.dispatched) }
	slices.SortFunc(rebuilt, func(x, y runTimes) int { return cmp.Compare(wait(x), wait(y)) })
	tail := rebuilt[int(0.99*float64(len(rebuilt)-1)):]
	var build, total time.Duration
	for _, r := range tail {
		build, total = build+r.build, total+wait(r)
	}
	b.ReportMetric(float64(total.Microseconds())/float64(len(tail)), "tail-µs")
	b.ReportMetric(float64(build.Microseconds())/float64(len(tail)), "tail-rebuild-µs")
}

// check says whether every run was seen through but those a hot rule's
// mode skipped (at most 5% of the events, reported as skipped-hot, and
// left out of the quantiles), and whether the cold rules' runs, and only
// theirs, rebuilt.
func (l *runLatencies) check(b *testing.B) error {
	skipped := 0
	for i, r := range l.runs {
		switch {
		case r.skipped && r.hot && r.start.IsZero():
			skipped++
		case r.skipped:
			return fmt.Errorf("event %d of %d: a released rule's event was skipped, or a skipped one ran", i, len(l.runs))
		case r.published.IsZero() || r.dispatched.IsZero() || r.start.IsZero():
			return fmt.Errorf("event %d of %d: its run was not seen through", i, len(l.runs))
		case r.hot && r.rebuilt:
			return fmt.Errorf("event %d of %d: a hot rule's run rebuilt its state", i, len(l.runs))
		case !r.hot && !r.rebuilt:
			return fmt.Errorf("event %d of %d: a released rule's run found a state", i, len(l.runs))
		}
	}
	// A stall skips a few; a runner that never frees its rule would skip
	// every hot event after the first.
	if skipped > len(l.runs)/20 {
		return fmt.Errorf("%d of %d events skipped as their hot rule's run had not ended: more than stalls explain", skipped, len(l.runs))
	}
	b.ReportMetric(float64(skipped), "skipped-hot")
	return nil
}

// BenchmarkRebuildAdds measures what a rebuild adds to a run's latency, in
// the engine of BenchmarkRebuildLoaded: events alternate between rules
// whose state was released (a different one each time: it rebuilds) and
// 8 hot rules (their states kept: no rebuild), so both kinds of run share
// the same time window, pacing and engine, are equally numerous, and each
// kind follows either kind equally often. A run's latency is from its
// event's dispatch (journaled and handed to the rules' runners,
// Config.OnEvent) or its Publish to the start of its rule's handler
// (Instance.Run, after the rebuild if any), or to its end; the quantiles
// of rebuilt runs less those of warm runs are what a rebuild adds. The
// rebuilds' own times (around Rule.NewInstance) are reported as
// rebuild-*; tail-µs and tail-rebuild-µs say what the slowest 1% of
// rebuilt runs took, and spent rebuilding, on average. paced publishes
// 1,000 events/s, flood keeps 8 in flight. Run it with -benchtime 5000x
// or more.
func BenchmarkRebuildAdds(b *testing.B) {
	const n, hot = 10000, 8
	files, ids := scaleRules(n)
	dir := writeFiles(b, files)
	pacings(b, func(b *testing.B, paced bool) {
		lat := &runLatencies{hot: map[string]bool{}, seqs: map[string]int{}}
		for _, id := range ids[:hot] {
			lat.hot[id] = true
		}
		le := startLoaded(b, dir, ids, hooks{onEvent: lat.dispatched, edit: lat.wrap, onRun: lat.ran})
		le.fireAll(ids[:hot]) // their states built again, and kept from now on
		b.ResetTimer()
		rate := le.publish(b, paced, func(i int) engine.Event {
			if i%4 == 1 || i%4 == 2 { // cold, hot, hot, cold: each kind follows each kind
				return lat.event(i, ids[(i/2)%hot])
			}
			return lat.event(i, ids[hot+(i/2)%(n-hot)])
		})
		b.StopTimer()
		b.ReportMetric(rate, "events/s")
		lat.report(b)
		le.report()
		le.stop() // now, not after the last round: two engines of 10,000 rules pass the heap ceiling
	})
}
