package engine

import (
	"sync"
	"sync/atomic"
)

// DefaultMaxStates is how many rule instances (Lua states) the engine
// keeps when Config.MaxStates is zero. An instance of a small rule holds
// about 40–60 KB, so 256 of them hold 10–15 MB, whatever the number of
// rules (docs/BENCHMARKS.md).
const DefaultMaxStates = 256

// states bounds the rule instances the engine keeps between runs: an
// instance is a cache entry, not a possession. Each worker (one goroutine
// owning one instance) that finishes a run is listed here, most recently
// used first; when more workers are alive than the bound allows, the
// least recently used idle ones are retired: their coordinator closes
// them, and each closes its instance on its own goroutine and exits, so
// its Lua state and goroutine stack are freed. A retired rule's next run
// builds a new instance from the compiled rule (Rule.NewInstance).
// Workers of parallel rules are pinned (warm, never retired): they are
// the rule's pool, built at start-up.
type states struct {
	max int

	mu sync.Mutex
	// idle lists the idle workers, most recently released first (head)
	// to least (tail); n counts them.
	head, tail *worker
	n          int
	live       int // workers alive and not retired, pinned ones included

	built, retired atomic.Uint64
}

func newStates(max int) *states {
	if max <= 0 {
		max = DefaultMaxStates
	}
	return &states{max: max}
}

// added counts a new worker; it returns the idle workers to retire to make
// room for it.
func (s *states) added() []*worker {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.live++
	return s.over()
}

// released lists w, whose run has finished, as the most recently used
// idle worker; it returns the idle workers to retire.
func (s *states) released(w *worker) []*worker {
	if w.pinned {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if w.retired {
		return nil
	}
	s.pushFront(w)
	return s.over()
}

// take claims the idle worker w for a run: it reports false when w was
// retired meanwhile (its coordinator must close it instead).
func (s *states) take(w *worker) bool {
	if w.pinned {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if w.retired {
		return false
	}
	s.remove(w)
	return true
}

// closed forgets a worker its coordinator closed (the runner stopped).
func (s *states) closed(w *worker) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if w.retired {
		return
	}
	s.remove(w)
	w.retired = true
	s.live--
}

// over retires idle workers, least recently used first, while more are
// alive than the bound; s.mu is held.
func (s *states) over() []*worker {
	var out []*worker
	for s.live > s.max && s.tail != nil { // else the rest are busy or pinned
		w := s.tail
		s.remove(w)
		w.retired = true
		s.live--
		out = append(out, w)
	}
	if len(out) > 0 {
		s.retired.Add(uint64(len(out)))
	}
	return out
}

// pushFront lists w as the most recently used idle worker; s.mu is held.
func (s *states) pushFront(w *worker) {
	w.prev, w.next, w.listed = nil, s.head, true
	if s.head != nil {
		s.head.prev = w
	} else {
		s.tail = w
	}
	s.head = w
	s.n++
}

// remove takes w off the idle list, if it is on it; s.mu is held.
func (s *states) remove(w *worker) {
	if !w.listed {
		return
	}
	if w.prev != nil {
		w.prev.next = w.next
	} else {
		s.head = w.next
	}
	if w.next != nil {
		w.next.prev = w.prev
	} else {
		s.tail = w.prev
	}
	w.prev, w.next, w.listed = nil, nil, false
	s.n--
}

// retire asks the workers' coordinators to close them.
func retire(ws []*worker) {
	for _, w := range ws {
		w.r.retire(w)
	}
}

// stats reports how many rule instances the engine keeps now (idle, busy
// and pinned), how many of them are idle and may be released, and how
// many were built and released since the engine started.
func (s *states) stats() (live, idle int, built, retired uint64) {
	s.mu.Lock()
	live, idle = s.live, s.n
	s.mu.Unlock()
	return live, idle, s.built.Load(), s.retired.Load()
}

// StateGauges are the state cache's metrics for /metrics.
func (e *Engine) StateGauges() []Gauge {
	live, idle, built, retired := e.states.stats()
	return []Gauge{
		{Name: "alexarules_rule_states", Help: "Rule instances (Lua states) kept now: idle, running, and parallel rules' pools.", Type: "gauge",
			Value: float64(live)},
		{Name: "alexarules_rule_states_idle", Help: "Rule instances kept now that no run uses and that may be released (pools excluded).", Type: "gauge",
			Value: float64(idle)},
		{Name: "alexarules_rule_states_max", Help: "The bound of rule instances kept between runs (states.max).", Type: "gauge",
			Value: float64(e.states.max)},
		{Name: "alexarules_rule_states_built_total", Help: "Rule instances built: at a rule's first run, after a release, for a parallel rule's pool.",
			Type: "counter", Value: float64(built)},
		{Name: "alexarules_rule_states_retired_total", Help: "Idle rule instances released, least recently used first, to stay within states.max.",
			Type: "counter", Value: float64(retired)},
	}
}
