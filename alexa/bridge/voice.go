package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/alexarules/alexarules/alexa/internal/request"
	"github.com/alexarules/alexarules/alexa/internal/retry"
	"github.com/alexarules/alexarules/alexa/web"
	"github.com/alexarules/alexarules/engine"
)

// VoiceOff in VoiceOptions.History turns the voice watcher off.
const VoiceOff = "off"

// Defaults of VoiceOptions and the watcher's fixed timings (research
// echo-voice-media-api.md §4.5: alexa-remote2 and Home Assistant's
// Alexa Media Player).
const (
	DefaultVoicePoll     = 2 * time.Minute
	DefaultVoiceRequests = 6.0 // per minute
	DefaultVoiceLookback = 10 * time.Minute

	voiceDebounce  = 2 * time.Second  // after the last push of a burst
	voiceAttempts  = 3                // polls per burst
	voiceRetryGap  = 4 * time.Second  // between them
	voiceCatchUp   = 3                // polls after the start-up one, voiceRetryGap apart
	voiceOverlap   = 2 * time.Minute  // a poll's window reaches back past the last one: records show up late
	voiceSkew      = time.Minute      // and ahead, for clocks that differ
	voiceMatch     = 10 * time.Second // a record this much older than its burst still answers it
	voiceEpisode   = 2 * time.Second  // pushes of one Echo this close are one utterance's
	voiceMaxPages  = 5
	voiceBackoff   = 30 * time.Second // after a 429, doubling
	voiceMaxBack   = 15 * time.Minute
	voiceRetention = 48 * time.Hour // seen records are kept at least this long
	voiceBucket    = "voice"
	voiceSeen      = "seen/"
	voiceLastKey   = "last"
)

// VoiceOptions configure the voice watcher: the voice history is polled
// after the push bursts that say someone spoke to an Echo and every Poll
// otherwise, within RequestsPerMinute, and each new utterance becomes one
// alexa.voice event.
type VoiceOptions struct {
	History           string        // web.HistoryRVH (default), web.HistoryRAH or VoiceOff
	Poll              time.Duration // the slow timer (DefaultVoicePoll)
	RequestsPerMinute float64       // history calls, all causes together (DefaultVoiceRequests)
	// Lookback is how old an utterance may be and still fire: after a
	// restart, the ones spoken while the engine was down within it fire
	// once, late (DefaultVoiceLookback).
	Lookback time.Duration
}

func (o VoiceOptions) withDefaults() VoiceOptions {
	if o.History == "" {
		o.History = web.HistoryRVH
	}
	if o.Poll <= 0 {
		o.Poll = DefaultVoicePoll
	}
	if o.RequestsPerMinute <= 0 {
		o.RequestsPerMinute = DefaultVoiceRequests
	}
	if o.Lookback <= 0 {
		o.Lookback = DefaultVoiceLookback
	}
	return o
}

// voiceWatcher turns the voice history into alexa.voice events.
type voiceWatcher struct {
	b     *Bridge
	o     VoiceOptions
	clock engine.Clock
	log   *slog.Logger
	wake  chan struct{}

	mu       sync.Mutex
	seen     map[string]time.Time // record key → record time, durable
	last     *web.VoiceRecord
	lastPoll time.Time
	covered  time.Time // the last successful poll; zero: none since start
	burst    *burst
	throttle int // 429s in a row
	catchUp  int // start-up polls still due, voiceRetryGap apart
	resume   time.Time
	sent     []time.Time // the budget's window of recent calls
}

// burst is a pending poll after pushes that say someone spoke.
type burst struct {
	since, due time.Time
	serials    map[string]*spokenTo // the Echos spoken to
	left       int                  // polls left
	polled     bool
}

// spokenTo counts the utterances a burst expects from one Echo (runs of
// pushes, voiceEpisode apart) and those the history showed.
type spokenTo struct {
	last            time.Time // the last push
	expected, heard int
}

// pushed counts a push of the Echo at now.
func (b *burst) pushed(serial string, now time.Time) {
	e := b.serials[serial]
	if e == nil {
		e = &spokenTo{}
		b.serials[serial] = e
	}
	if e.expected == 0 || now.Sub(e.last) > voiceEpisode {
		e.expected++
	}
	e.last = now
}

func newVoiceWatcher(b *Bridge, o VoiceOptions) (*voiceWatcher, error) {
	v := &voiceWatcher{b: b, o: o.withDefaults(), clock: b.o.Clock, log: b.log, wake: make(chan struct{}, 1),
		seen: map[string]time.Time{}}
	stored, err := b.o.Store.List(voiceBucket, "")
	if err != nil {
		return nil, fmt.Errorf("bridge: load voice records: %w", err)
	}
	for k, raw := range stored {
		if key, ok := strings.CutPrefix(k, voiceSeen); ok {
			var t time.Time
			if t.UnmarshalText(raw) == nil {
				v.seen[key] = t
			}
		} else if k == voiceLastKey {
			var r web.VoiceRecord
			if json.Unmarshal(raw, &r) == nil {
				v.last = &r
			}
		}
	}
	return v, nil
}

// hint is told of a push that says someone spoke to the Echo serial.
func (v *voiceWatcher) hint(serial string) {
	if v == nil || serial == "" {
		return
	}
	now := v.clock.Now()
	v.mu.Lock()
	switch b := v.burst; {
	case b == nil:
		v.burst = &burst{since: now, due: now.Add(voiceDebounce), serials: map[string]*spokenTo{}, left: voiceAttempts}
	case !b.polled:
		b.due = minTime(now.Add(voiceDebounce), b.since.Add(2*voiceDebounce))
	default:
		b.left = voiceAttempts // more speech: keep looking
	}
	v.burst.pushed(serial, now)
	v.mu.Unlock()
	select {
	case v.wake <- struct{}{}:
	default:
	}
}

// run polls at once (the start-up catch-up), then as nextPoll says,
// until ctx ends. The start-up poll is followed by voiceCatchUp more,
// as after a push burst: an utterance said just before the start shows
// in the history seconds later (2-15 s on Amazon), and no push announces
// it to an engine that was not connected yet.
func (v *voiceWatcher) run(ctx context.Context) {
	v.prune()
	v.poll(ctx)
	v.mu.Lock()
	v.catchUp = voiceCatchUp
	v.mu.Unlock()
	for ctx.Err() == nil {
		if due := v.nextPoll(); v.clock.Now().Before(due) {
			v.waitUntil(ctx, due) // a push may wake it early: the schedule changed
			continue
		}
		v.poll(ctx)
	}
}

// nextPoll is when the next history call is due: the burst's or the slow
// timer's, whichever is first, but not before a back-off ends or the
// budget has room.
func (v *voiceWatcher) nextPoll() time.Time {
	v.mu.Lock()
	defer v.mu.Unlock()
	due := v.lastPoll.Add(v.o.Poll)
	if v.catchUp > 0 {
		due = v.lastPoll.Add(voiceRetryGap)
	}
	if v.burst != nil && v.burst.due.Before(due) {
		due = v.burst.due
	}
	if v.resume.After(due) {
		due = v.resume
	}
	if room := v.budgetRoom(); room.After(due) {
		due = room
	}
	return due
}

// budgetCalls is the n of the budget: ⌈RequestsPerMinute⌉, at least 1.
func (v *voiceWatcher) budgetCalls() int {
	return max(1, int(math.Ceil(v.o.RequestsPerMinute-1e-9)))
}

// budgetRoom is when the budget allows the next call: no span of
// n/RequestsPerMinute minutes holds more than n calls, n = budgetCalls. mu held.
func (v *voiceWatcher) budgetRoom() time.Time {
	n := v.budgetCalls()
	if len(v.sent) < n {
		return time.Time{}
	}
	span := time.Duration(float64(n) / v.o.RequestsPerMinute * float64(time.Minute))
	return v.sent[len(v.sent)-n].Add(span)
}

// spend counts one history call against the budget. mu held.
func (v *voiceWatcher) spend(now time.Time) {
	n := v.budgetCalls()
	v.sent = append(v.sent, now)
	if len(v.sent) > n {
		v.sent = slices.Delete(v.sent, 0, len(v.sent)-n)
	}
}

// waitUntil waits on the engine clock until t or a push's wake-up; false
// when ctx ended.
func (v *voiceWatcher) waitUntil(ctx context.Context, t time.Time) bool {
	d := t.Sub(v.clock.Now())
	if d <= 0 {
		return ctx.Err() == nil
	}
	fired := make(chan struct{})
	timer := v.clock.AfterFunc(d, func() { close(fired) })
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-fired:
	case <-v.wake:
	}
	return true
}

// poll reads the history window and publishes the utterances not seen
// before.
func (v *voiceWatcher) poll(ctx context.Context) {
	now := v.clock.Now()
	v.mu.Lock()
	from := now.Add(-v.o.Lookback)
	if !v.covered.IsZero() {
		from = maxTime(from, v.covered.Add(-voiceOverlap))
		if v.burst != nil {
			from = maxTime(now.Add(-v.o.Lookback), minTime(from, v.burst.since.Add(-voiceOverlap)))
		}
	}
	v.lastPoll = now
	v.catchUp = max(0, v.catchUp-1)
	v.mu.Unlock()
	recs, err := v.fetch(ctx, from, now.Add(voiceSkew))
	if err != nil {
		v.failed(ctx, err)
		return
	}
	v.mu.Lock()
	v.throttle, v.covered = 0, now
	v.mu.Unlock()
	slices.SortFunc(recs, func(a, b web.VoiceRecord) int { return a.Time.Compare(b.Time) })
	v.settleBurst(v.publishNew(recs, now), now)
}

// fetch reads every page of the window, each within the budget.
func (v *voiceWatcher) fetch(ctx context.Context, from, to time.Time) ([]web.VoiceRecord, error) {
	var all []web.VoiceRecord
	q := web.HistoryQuery{API: v.o.History, From: from, To: to}
	for range voiceMaxPages {
		v.mu.Lock()
		v.spend(v.clock.Now())
		v.mu.Unlock()
		page, err := v.b.o.Web.VoiceHistory(ctx, q)
		if err != nil {
			return all, err
		}
		all = append(all, page.Records...)
		if page.Next == "" {
			return all, nil
		}
		q.Token = page.Next
		for room := v.room(); room.After(v.clock.Now()); room = v.room() {
			if !v.waitUntil(ctx, room) { // a push may wake it early
				return all, ctx.Err()
			}
		}
	}
	return all, nil
}

func (v *voiceWatcher) room() time.Time {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.budgetRoom()
}

// failed backs off after a throttled call (30 s doubling to 15 min) and
// counts an attempt of the burst otherwise.
func (v *voiceWatcher) failed(ctx context.Context, err error) {
	if ctx.Err() != nil {
		return
	}
	var re *request.Error
	v.mu.Lock()
	defer v.mu.Unlock()
	if errors.As(err, &re) && re.Throttled {
		d := retry.Backoff(v.throttle, voiceBackoff, voiceMaxBack)
		v.throttle++
		v.resume = v.clock.Now().Add(d)
		v.log.Warn("voice history throttled: backing off", "delay", d, "err", err)
		return
	}
	v.log.Warn("voice history", "err", err)
	v.countAttempt(v.clock.Now())
}

// publishNew publishes the spoken records not seen before and within
// the look-back, oldest first, and returns them.
func (v *voiceWatcher) publishNew(recs []web.VoiceRecord, now time.Time) (published []web.VoiceRecord) {
	for _, r := range recs {
		v.mu.Lock()
		_, dup := v.seen[r.ID]
		fresh := r.ID != "" && !dup && r.Spoken() && !r.Time.Before(now.Add(-v.o.Lookback))
		var writes []engine.Write
		if fresh {
			v.seen[r.ID] = r.Time
			stamp, _ := r.Time.MarshalText()
			writes = append(writes, engine.Write{Bucket: voiceBucket, Key: voiceSeen + r.ID, Value: stamp})
			if v.last == nil || !r.Time.Before(v.last.Time) {
				rc := r
				v.last = &rc
				raw, _ := json.Marshal(r)
				writes = append(writes, engine.Write{Bucket: voiceBucket, Key: voiceLastKey, Value: raw})
			}
		}
		v.mu.Unlock()
		if !fresh {
			continue
		}
		published = append(published, r)
		v.b.o.Publish(v.event(r, now, writes))
	}
	return published
}

// event is the alexa.voice event of r: data text, reply, person, record,
// time (epoch seconds of the utterance) and delay (seconds since).
func (v *voiceWatcher) event(r web.VoiceRecord, now time.Time, writes []engine.Write) engine.Event {
	dev := v.b.echoDevice(r.Serial)
	if dev.Name == "" {
		dev.Name = r.Device
	}
	data := map[string]any{"text": r.Text, "record": r.ID, "time": float64(r.Time.UnixMilli()) / 1000,
		"delay": max(0, now.Sub(r.Time).Seconds())}
	if r.Reply != "" {
		data["reply"] = r.Reply
	}
	if r.Person != "" {
		data["person"] = r.Person
	}
	v.log.Info("voice", "device", r.Serial, "delay", now.Sub(r.Time).Round(time.Millisecond))
	return engine.Event{Kind: engine.KindVoice, Device: dev, Data: data, Writes: writes}
}

// settleBurst drops from the pending burst each Echo whose utterances
// the history has shown, as many as it had runs of pushes (a record up to
// voiceMatch older than the burst counts: Amazon's time stamp is when the
// speech began); the burst ends when none is left, else it counts an
// attempt. A wake word alone shows no utterance: like alexa-remote2, the
// burst keeps looking for the words that may follow it, for its attempts.
func (v *voiceWatcher) settleBurst(fresh []web.VoiceRecord, now time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	b := v.burst
	if b == nil {
		return
	}
	for _, r := range fresh {
		if e := b.serials[r.Serial]; e != nil && !r.Time.Before(b.since.Add(-voiceMatch)) {
			e.heard++
		}
	}
	if b.due.After(now) {
		return
	}
	for serial, e := range b.serials {
		if e.heard >= e.expected {
			delete(b.serials, serial)
		}
	}
	if len(b.serials) == 0 {
		v.burst = nil
		return
	}
	v.countAttempt(now)
}

// countAttempt spends one poll of the due burst. mu held.
func (v *voiceWatcher) countAttempt(now time.Time) {
	b := v.burst
	if b == nil || b.due.After(now) {
		return
	}
	b.polled = true
	b.left--
	if b.left <= 0 {
		v.log.Info("voice history: nothing new after a push burst", "since", b.since)
		v.burst = nil
		return
	}
	b.due = now.Add(voiceRetryGap)
}

// prune forgets seen records older than the look-back could reach.
func (v *voiceWatcher) prune() {
	cutoff := v.clock.Now().Add(-max(voiceRetention, 2*v.o.Lookback))
	v.mu.Lock()
	var old []string
	for k, t := range v.seen {
		if t.Before(cutoff) {
			old = append(old, k)
			delete(v.seen, k)
		}
	}
	v.mu.Unlock()
	for _, k := range old {
		if err := v.b.o.Store.Delete(voiceBucket, voiceSeen+k); err != nil {
			v.log.Warn("prune voice record", "err", err)
		}
	}
}

// lastCalled is the newest utterance heard.
func (v *voiceWatcher) lastCalled() (web.VoiceRecord, bool) {
	if v == nil {
		return web.VoiceRecord{}, false
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.last == nil {
		return web.VoiceRecord{}, false
	}
	return *v.last, true
}

// LastCalled is the newest utterance the voice history showed: which
// Echo was spoken to last, and what was said. ok is false when none was
// heard yet (or the watcher is off).
func (b *Bridge) LastCalled() (web.VoiceRecord, bool) { return b.voice.lastCalled() }

// volumeChange handles a PUSH_VOLUME_CHANGE: a changed volume is an
// alexa.volume event; an unchanged one is the first push of the burst an
// Echo sends when it hears its wake word.
func (b *Bridge) volumeChange(serial string, payload map[string]any) {
	v, ok := payload["volumeSetting"].(float64)
	if !ok {
		return
	}
	data := map[string]any{"value": v}
	muted, hasMute := payload["isMuted"].(bool)
	if hasMute {
		data["muted"] = muted
	}
	b.mu.Lock()
	prev, known := b.volumes[serial]
	prevMuted, knownMute := b.muted[serial]
	b.volumes[serial] = v
	if hasMute {
		b.muted[serial] = muted
	}
	b.mu.Unlock()
	if known && prev == v && (!hasMute || !knownMute || prevMuted == muted) {
		b.voice.hint(serial)
		return
	}
	if known {
		data["previous"] = prev
	}
	b.o.Publish(engine.Event{Kind: engine.KindVolume, Device: b.echoDevice(serial), Data: data})
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
