package store

import "runtime"

// gather yields the processor once, in the interval mode, before the
// writer writes a batch of one waited-for write (when s.w.company says
// so), and takes what was queued meanwhile; a batch that took more was
// not handed over write by write. Like drain, it reports false once the
// ops channel is closed.
func (s *Store) gather(b *batch) (open bool) {
	if s.wal == nil || len(b.ops) != 1 || !b.urgent() || !s.w.company.due() {
		return true
	}
	n := len(b.ops)
	runtime.Gosched()
	open = s.drain(b)
	s.w.company.found(len(b.ops) > n)
	return open
}

// yields is the interval mode writer's choice to yield its processor once
// before it writes a batch of one waited-for write. A caller's send hands
// the processor straight to the writer (the runtime runs the goroutine a
// send woke next), so a busy engine's writes would each go alone into
// their own log record and pwrite; after one yield, the goroutines that
// were ready have queued theirs, and one record carries them all. Yielding
// costs a trip through the scheduler, so after a yield that found nothing
// queued the writer skips the next one, after two in a row the next two,
// then four, up to maxYieldSkip: a quiet engine seldom pays it.
type yields struct {
	skip, skipped int
}

const maxYieldSkip = 64

// due reports whether the writer should yield now.
func (y *yields) due() bool {
	if y.skipped < y.skip {
		y.skipped++
		return false
	}
	y.skipped = 0
	return true
}

// found records whether the yield found more writes queued.
func (y *yields) found(more bool) {
	if more {
		y.skip = 0
	} else {
		y.skip = min(max(2*y.skip, 1), maxYieldSkip)
	}
}
