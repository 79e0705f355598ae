package poll

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"time"

	"github.com/alexarules/alexarules/engine"
)

// reading is the last value of one (endpoint, attribute) and when it
// began.
type reading struct {
	value any
	since time.Time
}

// record is a reading as Bucket stores it, under recordKey.
type record struct {
	Endpoint string    `json:"endpoint"`
	Attr     string    `json:"attr"`
	Value    any       `json:"value"`
	Since    time.Time `json:"since"`
}

func recordKey(k key) string { return k.endpoint + "/" + k.attr }

func decodeRecord(b []byte) (record, error) {
	var r record
	if err := json.Unmarshal(b, &r); err != nil {
		return r, err
	}
	if r.Endpoint == "" || r.Attr == "" {
		return r, errors.New("no endpoint or attribute")
	}
	return r, nil
}

// observe takes in a value read. A successful read also shows that the
// endpoint is reachable.
func (p *Poller) observe(t *target, v any, now time.Time) {
	v = plain(v)
	if t.attr == AttrConnectivity {
		s, ok := v.(string)
		if !ok {
			p.mu.Lock()
			p.stats.Errors++
			p.mu.Unlock()
			p.log.Warn("poll: connectivity is not a string", "endpoint", t.endpoint, "value", v)
			return
		}
		p.setConnectivity(t, s, now, false)
		return
	}
	p.setConnectivity(t, ConnectivityOK, now, true)

	p.mu.Lock()
	old := p.readings[t.key]
	if old != nil && equal(old.value, v) {
		p.mu.Unlock()
		return
	}
	p.readings[t.key] = &reading{value: v, since: now}
	p.stats.Changes++
	p.mu.Unlock()

	p.markDirty(t.key, v, now)
	var previous any
	if old != nil {
		previous = old.value
	}
	p.publish(ReadingEvent(engine.Device{Name: t.name, ID: t.endpoint}, t.attr, v, previous, old != nil, now))
}

// unreachable takes in a read that failed because the endpoint did not
// answer: it is no value, so the last one stays, but the endpoint's
// connectivity changes.
func (p *Poller) unreachable(t *target, connectivity string, now time.Time) {
	p.setConnectivity(t, connectivity, now, false)
}

// setConnectivity records the endpoint's connectivity and publishes a
// reachability event when the endpoint became reachable or unreachable.
// The first connectivity ever seen publishes only when it is unreachable:
// "reachable" is news only after "unreachable". implied marks an OK that
// a successful read of another attribute suggests; it is recorded only
// when it ends a known unreachable spell.
func (p *Poller) setConnectivity(t *target, conn string, now time.Time, implied bool) {
	k := key{t.endpoint, AttrConnectivity}
	p.mu.Lock()
	old := p.readings[k]
	if old == nil && implied {
		p.mu.Unlock()
		return
	}
	var prev string
	if old != nil {
		prev, _ = old.value.(string)
		if prev == conn {
			p.mu.Unlock()
			return
		}
	}
	reachable := conn == ConnectivityOK
	news := !reachable
	if old != nil {
		news = reachable != (prev == ConnectivityOK)
	}
	p.readings[k] = &reading{value: conn, since: now}
	if news {
		p.stats.Changes++
	}
	p.mu.Unlock()

	p.markDirty(k, conn, now)
	if !news {
		return
	}
	p.publish(ReachabilityEvent(engine.Device{Name: t.name, ID: t.endpoint}, conn, prev, old != nil, now))
}

func (p *Poller) publish(ev engine.Event) {
	if p.o.Publish != nil {
		p.o.Publish(ev)
	}
}

// epoch is t in epoch seconds, as rules see times.
func epoch(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// markDirty hands a changed reading to the persister. Several changes of
// one reading before it runs are stored once.
func (p *Poller) markDirty(k key, v any, since time.Time) {
	if p.o.Store == nil {
		return
	}
	p.dirtyMu.Lock()
	p.dirty[k] = record{Endpoint: k.endpoint, Attr: k.attr, Value: v, Since: since}
	p.dirtyMu.Unlock()
	select {
	case p.flush <- struct{}{}:
	default:
	}
}

// persistWave bounds the concurrent Puts of one wave; the store commits
// concurrent Puts in one transaction, so a wave costs about one fsync.
const persistWave = 64

// persist stores changed readings until stop closes, then stores what is
// left.
func (p *Poller) persist(stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			p.writeDirty()
			return
		case <-p.flush:
			if failed := p.writeDirty(); failed {
				// Retry on the next change or flush signal, not in a tight loop.
				p.o.Clock.AfterFunc(5*time.Second, func() {
					select {
					case p.flush <- struct{}{}:
					default:
					}
				})
			}
		}
	}
}

// writeDirty stores the dirty readings; a reading that fails to store is
// dirty again unless it changed meanwhile.
func (p *Poller) writeDirty() (failed bool) {
	p.dirtyMu.Lock()
	batch := p.dirty
	if len(batch) == 0 {
		p.dirtyMu.Unlock()
		return false
	}
	p.dirty = make(map[key]record, len(batch))
	p.dirtyMu.Unlock()

	var (
		mu     sync.Mutex
		wg     sync.WaitGroup
		errs   = map[key]error{}
		tokens = make(chan struct{}, persistWave)
	)
	for k, rec := range batch {
		tokens <- struct{}{}
		wg.Go(func() {
			defer func() { <-tokens }()
			b, err := json.Marshal(rec)
			if err == nil {
				err = p.o.Store.Put(Bucket, recordKey(k), b)
			}
			if err != nil {
				mu.Lock()
				errs[k] = err
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(errs) == 0 {
		return false
	}
	p.dirtyMu.Lock()
	var first error
	for k, err := range errs {
		if first == nil {
			first = err
		}
		if _, newer := p.dirty[k]; !newer {
			p.dirty[k] = batch[k]
		}
	}
	p.dirtyMu.Unlock()
	p.log.Error("poll: storing readings failed", "readings", len(errs), "err", fmt.Errorf("poll: store: %w", first))
	return true
}

// plain turns numbers into float64, as a stored reading decodes, so a
// value read after a restart compares equal to the stored one.
func plain(v any) any {
	switch x := v.(type) {
	case nil, string, float64, bool:
		return v
	case int:
		return float64(x)
	case int64:
		return float64(x)
	case int32:
		return float64(x)
	case float32:
		return float64(x)
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = plain(e)
		}
		return m
	case []any:
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = plain(e)
		}
		return s
	}
	return v
}

// equal compares plain values deeply; floats exactly.
func equal(a, b any) bool {
	switch x := a.(type) {
	case string:
		y, ok := b.(string)
		return ok && x == y
	case float64:
		y, ok := b.(float64)
		return ok && x == y
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case nil:
		return b == nil
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, e := range x {
			f, ok := y[k]
			if !ok || !equal(e, f) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equal(x[i], y[i]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}

// Stored returns the last value of one reading as a Poller keeps it in st
// (Bucket), for an engine that reads what another one polls: a cluster
// node that does not run the account's poller.
func Stored(st engine.Store, endpointID, attr string) (value any, since time.Time, ok bool) {
	b, err := st.Get(Bucket, recordKey(key{endpointID, attr}))
	if err != nil || b == nil {
		return nil, time.Time{}, false
	}
	r, err := decodeRecord(b)
	if err != nil {
		return nil, time.Time{}, false
	}
	return r.Value, r.Since, true
}
