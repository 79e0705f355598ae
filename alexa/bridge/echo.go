package bridge

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/alexarules/alexarules/alexa/web"
	"github.com/alexarules/alexarules/engine"
)

// echoState is what the bridge knows of the Echos' Do Not Disturb and
// players, and the fetches that keep it current. Pushes are hints: the
// DND list is fetched at the start and on every resync, a player again
// (debounced, per device) when a media push names it.
type echoState struct {
	mu      sync.Mutex
	ctx     context.Context // Run's, for the per-device debouncers; nil before Run
	dnd     map[string]bool // serial → Do Not Disturb on
	players map[string]mediaState
	dndSync *web.Debouncer
	media   map[string]*web.Debouncer // serial → player fetch
}

// mediaState is what an Echo's player last showed.
type mediaState struct{ state, title string }

// mediaWindow is how long a player push waits for the rest of its burst
// (a state, media and progress push come together) before the fetch.
const mediaWindow = time.Second

func newEchoState() *echoState {
	return &echoState{dnd: map[string]bool{}, players: map[string]mediaState{}, media: map[string]*web.Debouncer{}}
}

// startEcho starts the DND and player fetches for Run; the returned
// function stops them.
func (b *Bridge) startEcho(ctx context.Context) func() {
	s := b.echo
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ctx = ctx
	s.dndSync = web.NewDebouncer(ctx, b.fetchDND, web.DebouncerOptions{Clock: b.o.Clock, Logger: b.log})
	return func() {
		// Closing waits for a running fetch, which takes s.mu: not under it.
		s.mu.Lock()
		all := []*web.Debouncer{s.dndSync}
		for _, d := range s.media {
			all = append(all, d)
		}
		s.ctx = nil
		s.mu.Unlock()
		for _, d := range all {
			d.Close()
		}
	}
}

// resyncDND fetches the DND list again (after a start or reconnect).
func (b *Bridge) resyncDND() {
	b.echo.mu.Lock()
	d := b.echo.dndSync
	b.echo.mu.Unlock()
	if d != nil {
		d.Trigger()
	}
}

func (b *Bridge) fetchDND(ctx context.Context) error {
	list, err := b.o.Web.DNDStatus(ctx)
	if err != nil {
		return err
	}
	for _, d := range list {
		b.noteDND(d.Serial, d.Enabled, true)
	}
	return nil
}

// noteDND records an Echo's DND and publishes alexa.dnd when it changed.
// A state first seen in the list is the baseline, not news; a push about
// an Echo not seen before is (previous nil).
func (b *Bridge) noteDND(serial string, on, fromList bool) {
	if serial == "" {
		return
	}
	s := b.echo
	s.mu.Lock()
	prev, known := s.dnd[serial]
	s.dnd[serial] = on
	s.mu.Unlock()
	if (known && prev == on) || (!known && fromList) {
		return
	}
	data := map[string]any{"value": on, "previous": nil}
	if known {
		data["previous"] = prev
	}
	b.o.Publish(engine.Event{Kind: engine.KindDND, Device: b.echoDevice(serial), Data: data})
}

// dndPushed handles PUSH_DND_STATE_CHANGE {dopplerId, enabled}.
func (b *Bridge) dndPushed(serial string, payload map[string]any) {
	if on, ok := payload["enabled"].(bool); ok {
		b.noteDND(serial, on, false)
	}
}

// DND is an Echo's Do Not Disturb as last seen (device-status-list,
// pushes, own writes), without a request; known is false before the
// first sight.
func (b *Bridge) DND(serial string) (on, known bool) {
	b.echo.mu.Lock()
	defer b.echo.mu.Unlock()
	on, known = b.echo.dnd[serial]
	return on, known
}

// SetDND turns Do Not Disturb on or off on e (a speaker group: on its
// members): for d > 0 on through the DoNotDisturb sequence node, which
// ends by itself, else with PUT /api/dnd/status. Like a rule's list
// changes, the new state is taken into the cache (before the request, so
// that the push Amazon sends meanwhile is no change) and makes no
// alexa.dnd event; a failed request puts the old state back.
func (b *Bridge) SetDND(ctx context.Context, e web.Echo, on bool, d time.Duration) error {
	targets, err := b.members(ctx, []web.Echo{e})
	if err != nil {
		return err
	}
	if on && d > 0 {
		return b.writeDND(targets, on, func() error {
			return b.o.Web.Perform(ctx, targets, web.Action{Kind: web.ActionDND, Enable: true, Duration: d})
		})
	}
	for _, t := range targets {
		if err := b.writeDND([]web.Echo{t}, on, func() error { return b.o.Web.SetDND(ctx, t, on) }); err != nil {
			return err
		}
	}
	return nil
}

// writeDND runs a rule's DND write with the new state already in the
// cache, restoring the old one if the write fails.
func (b *Bridge) writeDND(targets []web.Echo, on bool, write func() error) error {
	type old struct{ on, known bool }
	s := b.echo
	s.mu.Lock()
	before := make(map[string]old, len(targets))
	for _, t := range targets {
		v, known := s.dnd[t.Serial]
		before[t.Serial] = old{v, known}
		s.dnd[t.Serial] = on
	}
	s.mu.Unlock()
	err := write()
	if err != nil {
		s.mu.Lock()
		for serial, o := range before {
			if !o.known {
				delete(s.dnd, serial)
			} else {
				s.dnd[serial] = o.on
			}
		}
		s.mu.Unlock()
	}
	return err
}

// Perform makes Echos act in one request (web.Client.Perform); speaker
// groups are replaced by their member Echos and each Echo is sent once.
func (b *Bridge) Perform(ctx context.Context, targets []web.Echo, a web.Action) error {
	echos, err := b.members(ctx, targets)
	if err != nil {
		return err
	}
	perform := func() error { return b.o.Web.Perform(ctx, echos, a) }
	if a.Kind == web.ActionDND {
		return b.writeDND(echos, a.Enable, perform)
	}
	return perform()
}

// members resolves speaker groups (clusterMembers) to their Echos and
// drops repeats, keeping the order.
func (b *Bridge) members(ctx context.Context, targets []web.Echo) ([]web.Echo, error) {
	var out []web.Echo
	seen := map[string]bool{}
	add := func(e web.Echo) {
		if !seen[e.Serial] {
			seen[e.Serial] = true
			out = append(out, e)
		}
	}
	for _, t := range targets {
		if len(t.Members) == 0 && !t.IsGroup() {
			add(t)
			continue
		}
		if len(t.Members) == 0 {
			return nil, fmt.Errorf("bridge: speaker group %q has no member Echos", t.Name)
		}
		for _, serial := range t.Members {
			m, err := b.ResolveEcho(ctx, serial)
			if err != nil {
				return nil, fmt.Errorf("bridge: speaker group %q: member: %w", t.Name, err)
			}
			add(m)
		}
	}
	return out, nil
}

// defaultEcho is where a routine runs without `on`: the first online
// Echo of the device list that is neither a speaker group nor an app.
func (b *Bridge) defaultEcho(ctx context.Context) (web.Echo, error) {
	echos, err := b.Echos(ctx)
	if err != nil {
		return web.Echo{}, err
	}
	for _, e := range echos {
		if e.Online && e.IsSpeaker() {
			return e, nil
		}
	}
	return web.Echo{}, errors.New("bridge: no online Echo to run the routine on")
}

// Routines lists the account's enabled routines.
func (b *Bridge) Routines(ctx context.Context) ([]web.Routine, error) {
	return b.o.Web.Routines(ctx)
}

// RunRoutine runs the routine called name (its name, else an utterance;
// a *NotFoundError if none) on the Echo on, or on the default Echo
// (defaultEcho) when on is nil; a speaker group runs it on its first
// member.
func (b *Bridge) RunRoutine(ctx context.Context, name string, on *web.Echo) error {
	rs, err := b.o.Web.Routines(ctx)
	if err != nil {
		return err
	}
	r, ok := web.FindRoutine(rs, name)
	if !ok {
		names := make([]string, 0, len(rs))
		for _, r := range rs {
			names = append(names, r.Name)
		}
		return &NotFoundError{What: "routine", Name: name, Known: names}
	}
	var target web.Echo
	if on == nil {
		target, err = b.defaultEcho(ctx)
	} else {
		var ms []web.Echo
		ms, err = b.members(ctx, []web.Echo{*on})
		if err == nil {
			target = ms[0]
		}
	}
	if err != nil {
		return err
	}
	return b.o.Web.RunRoutine(ctx, r, target)
}

// Player reads what an Echo plays (nil: nothing).
func (b *Bridge) Player(ctx context.Context, e web.Echo) (*web.Player, error) {
	return b.o.Web.Player(ctx, e)
}

// PlayerCommand sends a transport command (web.CmdPause, ...) to an
// Echo's player.
func (b *Bridge) PlayerCommand(ctx context.Context, e web.Echo, typ string, on bool) error {
	return b.o.Web.PlayerCommand(ctx, e, typ, on)
}

// mediaPushed asks for the player of serial to be fetched again; an
// empty serial (NotifyNowPlayingUpdated names no device) asks for every
// Echo known to play, or, when none is, every online Echo.
func (b *Bridge) mediaPushed(serial string) {
	serials := []string{serial}
	if serial == "" {
		serials = b.mediaCandidates()
	}
	s := b.echo
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx == nil {
		return
	}
	for _, sn := range serials {
		d, ok := s.media[sn]
		if !ok {
			d = web.NewDebouncer(s.ctx, func(ctx context.Context) error { return b.fetchPlayer(ctx, sn) },
				web.DebouncerOptions{Clock: b.o.Clock, Logger: b.log, Window: mediaWindow, RetryMin: 30 * time.Second, RetryMax: 10 * time.Minute})
			s.media[sn] = d
		}
		d.Trigger()
	}
}

// mediaCandidates are the Echos whose player to fetch on a push that
// names none.
func (b *Bridge) mediaCandidates() []string {
	var out []string
	b.echo.mu.Lock()
	for serial, m := range b.echo.players {
		if m.state != stateIdle {
			out = append(out, serial)
		}
	}
	b.echo.mu.Unlock()
	if len(out) > 0 {
		return out
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, e := range b.echos {
		if e.Online && e.IsSpeaker() {
			out = append(out, e.Serial)
		}
	}
	return out
}

const stateIdle = "IDLE"

// fetchPlayer reads one Echo's player and publishes alexa.media when its
// state or title changed. The first sight of an idle player is the
// baseline; a playing one is news (previous nil).
func (b *Bridge) fetchPlayer(ctx context.Context, serial string) error {
	e, err := b.ResolveEcho(ctx, serial)
	var nf *NotFoundError
	if errors.As(err, &nf) {
		b.log.Debug("media push for an unknown Echo", "device", serial)
		return nil
	}
	if err != nil {
		return err
	}
	p, err := b.o.Web.Player(ctx, e)
	if err != nil {
		return err
	}
	now := mediaState{state: stateIdle}
	data := map[string]any{"state": stateIdle, "title": "", "artist": "", "provider": "", "previous": nil}
	if p != nil {
		now = mediaState{state: p.State, title: p.Title}
		data["state"], data["title"], data["artist"], data["provider"] = p.State, p.Title, p.Artist, p.Provider
	}
	b.echo.mu.Lock()
	prev, known := b.echo.players[serial]
	b.echo.players[serial] = now
	b.echo.mu.Unlock()
	if (known && prev == now) || (!known && now.state == stateIdle) {
		return nil
	}
	if known {
		data["previous"] = prev.state
	}
	b.o.Publish(engine.Event{Kind: engine.KindMedia, Device: b.echoDevice(serial), Data: data})
	return nil
}
