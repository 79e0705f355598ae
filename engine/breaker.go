package engine

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"
)

// The runaway breaker's defaults (RULES.md §6).
const (
	DefaultBreakerRuns     = 20
	DefaultBreakerWindow   = time.Minute
	DefaultBreakerCooldown = 10 * time.Minute
)

// BreakerConfig tunes the runaway breaker. A rule can trigger itself
// through the cloud: it adds an item to a list or switches a device, Amazon
// reports the change back, and the report triggers the rule again. Such an
// event carries no Cause, so neither "a rule does not trigger itself" nor
// the depth limit sees the loop. The breaker does: an event about a device,
// Echo or list that a rule acted on within Window is an echo of that
// action; a rule triggered by Runs echoes within Window is tripped, and its
// triggers are skipped for Cooldown.
type BreakerConfig struct {
	Runs     int           // default DefaultBreakerRuns; negative: no breaker
	Window   time.Duration // default DefaultBreakerWindow
	Cooldown time.Duration // default DefaultBreakerCooldown
}

func (c BreakerConfig) withDefaults() BreakerConfig {
	if c.Runs == 0 {
		c.Runs = DefaultBreakerRuns
	}
	if c.Window <= 0 {
		c.Window = DefaultBreakerWindow
	}
	if c.Cooldown <= 0 {
		c.Cooldown = DefaultBreakerCooldown
	}
	return c
}

// breaker keeps what rules acted on lately and one ruleBreaker per rule id,
// so a tripped rule stays tripped across a reload.
type breaker struct {
	cfg   BreakerConfig
	clock Clock
	log   *slog.Logger
	trips atomic.Uint64 // every rule's trips, for /metrics

	mu    sync.Mutex
	acted map[string]*actedOn // by target key; updated in place
	rules map[string]*ruleBreaker
}

// actedOn is the last action on one target.
type actedOn struct {
	at     time.Time
	rule   string
	target string // as the action named it
}

// ruleBreaker is the breaker of one rule.
type ruleBreaker struct {
	b    *breaker
	rule string

	mu     sync.Mutex
	echoes []time.Time // triggers by echoes, within the window
	until  time.Time   // tripped until; zero when not tripped
	why    string      // what tripped it
	trips  uint64
}

func newBreaker(cfg BreakerConfig, clock Clock, log *slog.Logger) *breaker {
	return &breaker{cfg: cfg.withDefaults(), clock: clock, log: log,
		acted: map[string]*actedOn{}, rules: map[string]*ruleBreaker{}}
}

// BreakerGauges are the runaway breaker's metrics for /metrics: how often
// it tripped a rule, and how many rules it skips now.
func (e *Engine) BreakerGauges() []Gauge {
	tripped := 0
	for _, r := range e.rules.Load().list {
		if why, _ := r.breaker.status(); why != "" {
			tripped++
		}
	}
	return []Gauge{
		{Name: "alexarules_breaker_trips_total", Help: "Times the runaway breaker tripped a rule.", Type: "counter",
			Value: float64(e.breaker.trips.Load())},
		{Name: "alexarules_breaker_tripped_rules", Help: "Rules whose triggers the runaway breaker skips now.", Type: "gauge",
			Value: float64(tripped)},
	}
}

// forRule returns the breaker of a rule id, the same one across reloads.
func (b *breaker) forRule(id string) *ruleBreaker {
	b.mu.Lock()
	defer b.mu.Unlock()
	rb := b.rules[id]
	if rb == nil {
		rb = &ruleBreaker{b: b, rule: id}
		b.rules[id] = rb
	}
	return rb
}

// observe remembers what a finished run acted on. Reads and withheld actions
// (dry and shadow runs)
// change nothing and are left out.
func (rb *ruleBreaker) observe(actions []Action, at time.Time) {
	b := rb.b
	if b.cfg.Runs < 0 || len(actions) == 0 {
		return
	}
	var buf [64]byte
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, a := range actions {
		if a.Device == "" || isRead(a.Call) || a.Result == ResultDryRun || a.Result == ResultShadow {
			continue
		}
		// A target acted on before is looked up without making its key.
		k := appendTargetKey(buf[:0], a.Device)
		if on := b.acted[string(k)]; on != nil {
			*on = actedOn{at: at, rule: rb.rule, target: a.Device}
		} else {
			b.acted[string(k)] = &actedOn{at: at, rule: rb.rule, target: a.Device}
		}
	}
	if len(b.acted) > 256 { // forget what no echo can refer to any more
		for k, v := range b.acted {
			if at.Sub(v.at) > b.cfg.Window {
				delete(b.acted, k)
			}
		}
	}
}

// echoOf returns the action ev reports back: the latest one within the
// window on a device, Echo or list ev concerns.
func (b *breaker) echoOf(ev *Event, now time.Time) (actedOn, bool) {
	keys := eventTargets(ev)
	if len(keys) == 0 {
		return actedOn{}, false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	var found actedOn
	for _, k := range keys {
		if a := b.acted[k]; a != nil && now.Sub(a.at) <= b.cfg.Window && a.at.After(found.at) {
			found = *a
		}
	}
	return found, !found.at.IsZero()
}

// admit decides whether an event may trigger the rule: it returns "" when
// it may, else the reason for a skipped trace. It counts echoes and trips
// the breaker at the limit; the event that trips it is skipped too. Timer
// handler runs are durable work, not triggers: they always run.
func (rb *ruleBreaker) admit(j job) string {
	b, ev := rb.b, j.ev
	if b.cfg.Runs < 0 || ev == nil || j.timer != nil {
		return ""
	}
	rb.mu.Lock()
	defer rb.mu.Unlock()
	if rb.until.IsZero() && (ev.Cause.Rule != "" || ev.Device == nil && ev.Kind != KindList) {
		return "" // no echo: it has a cause, or names nothing a rule acts on
	}
	now := b.clock.Now()
	if !rb.until.IsZero() {
		if now.Before(rb.until) {
			return rb.reason()
		}
		rb.until, rb.why = time.Time{}, ""
		b.log.Info("runaway breaker reset: the rule runs again", "rule", rb.rule)
	}
	if ev.Cause.Rule != "" {
		return "" // an in-process chain: the depth limit bounds it
	}
	echo, ok := b.echoOf(ev, now)
	if !ok {
		return ""
	}
	cut := 0
	for cut < len(rb.echoes) && now.Sub(rb.echoes[cut]) > b.cfg.Window {
		cut++
	}
	rb.echoes = append(rb.echoes[cut:], now)
	if len(rb.echoes) < b.cfg.Runs {
		return ""
	}
	rb.echoes = rb.echoes[:0]
	rb.until = now.Add(b.cfg.Cooldown)
	rb.why = fmt.Sprintf("%d runs within %s were triggered by changes to %q, which rule %s had just acted on",
		b.cfg.Runs, b.cfg.Window, echo.target, echo.rule)
	rb.trips++
	b.trips.Add(1)
	b.log.Error("runaway breaker tripped: the rule's triggers are skipped", "rule", rb.rule, "event", ev.ID,
		"kind", ev.Kind, "device", echo.target, "acted_by", echo.rule, "runs", b.cfg.Runs,
		"window", b.cfg.Window, "until", rb.until)
	return rb.reason()
}

// reason is the skipped trace's reason while tripped; rb.mu is held.
func (rb *ruleBreaker) reason() string {
	return "runaway breaker: " + rb.why + "; triggers are skipped until " + rb.until.Format(time.RFC3339)
}

// status is the rule's breaker as the admin API shows it ("" when not
// tripped) and how often it tripped.
func (rb *ruleBreaker) status() (string, uint64) {
	now := rb.b.clock.Now()
	rb.mu.Lock()
	defer rb.mu.Unlock()
	if rb.until.IsZero() || !now.Before(rb.until) {
		return "", rb.trips
	}
	return "tripped until " + rb.until.Format(time.RFC3339) + ": " + rb.why, rb.trips
}

// eventTargets are the keys of the devices, Echos and lists ev concerns.
func eventTargets(ev *Event) []string {
	var keys []string
	if ev.Device != nil {
		for _, s := range []string{ev.Device.Name, ev.Device.ID} {
			if s != "" {
				keys = append(keys, targetKey(s))
			}
		}
	}
	if l, ok := ev.Data["list"].(map[string]any); ok && ev.Kind == KindList {
		for _, f := range []string{"name", "id"} {
			if s, _ := l[f].(string); s != "" {
				keys = append(keys, targetKey(s))
			}
		}
	}
	return keys
}

// isRead reports whether a recorded call of the bound API only reads
// (device:get): an event about its target is no echo of it.
func isRead(call string) bool { return call == "get" || call == "last" }

// targetKey compares names the way rules may write them: any case, and
// "To-do" is "todo" and "to do", as list names resolve.
func targetKey(s string) string {
	return string(appendTargetKey(nil, s))
}

// appendTargetKey appends targetKey(s) to b.
func appendTargetKey(b []byte, s string) []byte {
	for _, r := range s {
		if r == '-' || r == '_' || unicode.IsSpace(r) {
			continue
		}
		b = utf8.AppendRune(b, unicode.ToLower(r))
	}
	return b
}
