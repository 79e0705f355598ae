package rules

import (
	"sync"

	lua "github.com/yuin/gopher-lua"

	"github.com/alexarules/alexarules/scripting"
)

// DefaultSpareStates is how many blank states a rule set keeps built ahead
// of need when Options.SpareStates is zero: about 40 KB each.
const DefaultSpareStates = 8

// spareStates keeps a few blank sandboxed states (the rule API bound to a
// Run of their own, no code run yet) built ahead of need, so that a new
// instance, when its rule runs for the first time or again after the
// engine released its state, only runs the rule file in one: building the
// sandbox is most of a rebuild's time and four fifths of its allocations,
// which is what the garbage collector's assists charge for. One goroutine
// refills the spares after each take, off the run's path, and exits when
// they are full; at most max are kept. A spare is used once: an
// instance's state is closed with it, never given back, so nothing one
// rule's code did can reach another rule. A spare is built on the filling
// goroutine and handed, under mu, to the one goroutine that owns it from
// then on.
type spareStates struct {
	opts *Options
	max  int

	mu      sync.Mutex
	free    []spare
	dir     string // the rule directory the filler builds for: the last taken's
	filling bool
}

// spare is a blank state, the Run its bound API reports to and its ctx
// table.
type spare struct {
	L   *lua.LState
	run *Run
	ctx *ruleCtx
	dir string
}

func newSpareStates(opts *Options) *spareStates {
	n := opts.SpareStates
	if n == 0 {
		n = DefaultSpareStates
	}
	return &spareStates{opts: opts, max: max(n, 0)}
}

// take returns a blank state for a rule of dir, with its Run and ctx,
// which the caller fills in: a spare when one is ready, else one built
// now. The caller calls refill once the state is ready for its run.
func (s *spareStates) take(dir string) spare {
	s.mu.Lock()
	sp, ok := spare{}, false
	if n := len(s.free); n > 0 {
		sp, ok = s.free[n-1], true
		s.free[n-1] = spare{}
		s.free = s.free[:n-1]
	}
	s.dir = dir
	s.mu.Unlock()
	if !ok {
		sp = s.build(dir)
	} else if sp.dir != dir {
		scripting.SetLibDir(sp.L, libDir(dir), s.opts.libs)
	}
	return sp
}

// refill starts the filler unless it runs or the spares are full. It is
// called after a take, once the taker's rebuild is done, so that the filler
// does not build beside it (sharing the allocator and the collector's
// assists with it) on a small machine.
func (s *spareStates) refill() {
	s.mu.Lock()
	fill := !s.filling && len(s.free) < s.max
	s.filling = s.filling || fill
	s.mu.Unlock()
	if fill {
		go s.fill()
	}
}

// fill builds spares until max are ready.
func (s *spareStates) fill() {
	for {
		s.mu.Lock()
		if len(s.free) >= s.max {
			s.filling = false
			s.mu.Unlock()
			return
		}
		dir := s.dir
		s.mu.Unlock()
		sp := s.build(dir)
		s.mu.Lock()
		s.free = append(s.free, sp)
		s.mu.Unlock()
	}
}

// build makes a blank state for the rules of dir.
func (s *spareStates) build(dir string) spare {
	run := &Run{limits: s.opts.Limits, logs: scripting.NewRunLog(s.opts.Limits)}
	L := blankState(s.opts, stateOptions(s.opts, dir, "", run), run)
	installRuleTables(L, s.opts.funcs)
	return spare{L: L, run: run, ctx: newCtx(L), dir: dir}
}

// ready reports how many spares are built and not taken.
func (s *spareStates) ready() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.free)
}
