package scripting

import (
	"fmt"
	"maps"
	"strings"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/alexarules/alexarules/engine"
)

// EchoAction is what Household.Perform asks of Echos.
type EchoAction struct {
	// Kind is speak, announce, ssml, sound, command, volume or stop.
	Kind string
	// Text is what to say (speak, announce, command), the SSML (ssml) or
	// the sound's id (sound); runs of white space are collapsed.
	Text string
	// Title is what an Echo with a screen shows with an announcement.
	Title string
	// Volume is the volume of kind volume, 0..100; of an announcement,
	// the volume to set before it (0: leave the volume as it is).
	Volume int
}

// Routine is an Alexa routine of the account.
type Routine struct {
	ID, Name   string
	Utterances []string // the voice commands that start it
}

// Player is what an Echo plays.
type Player struct {
	State                          string // PLAYING, PAUSED
	Title, Artist, Album, Provider string
	Position, Length               int // seconds
	Volume                         int
	Muted                          bool
}

// Utterance is something said to an Echo, from the voice history.
type Utterance struct {
	Echo                Echo
	Text, Reply, Person string
	Time                time.Time
}

// The actions an echo (or several, alexa.echoes) can be asked to do.
const (
	ActSpeak    = "speak"
	ActAnnounce = "announce"
	ActSSML     = "ssml"
	ActSound    = "sound"
	ActCommand  = "command"
	ActVolume   = "volume"
	ActStop     = "stop"
)

// performMethods are the methods of echo and echoes handles that make
// Echos act: each one request to all the handle's Echos at once.
var performMethods = map[string]func(a *alexaLib) lua.LGFunction{
	ActSpeak:    performWith(ActSpeak, textAction(ActSpeak, "text")),
	ActAnnounce: performWith(ActAnnounce, announceAction),
	ActSSML:     performWith(ActSSML, ssmlAction),
	ActSound:    performWith(ActSound, soundAction),
	ActCommand:  performWith(ActCommand, textAction(ActCommand, "what to ask Alexa")),
	ActVolume:   performWith(ActVolume, volumeAction),
	ActStop: performWith(ActStop, func(L *lua.LState, call string) (EchoAction, []any) {
		noMore(L, call, 0)
		return EchoAction{Kind: ActStop}, nil
	}),
}

// echoesMethods are the methods of alexa.echoes{...} handles.
var echoesMethods = performMethods

// playerMethods are the media commands of echo handles.
var playerMethods = map[string]func(a *alexaLib) lua.LGFunction{
	"play":     func(a *alexaLib) lua.LGFunction { return a.playerCommand("play", false) },
	"pause":    func(a *alexaLib) lua.LGFunction { return a.playerCommand("pause", false) },
	"next":     func(a *alexaLib) lua.LGFunction { return a.playerCommand("next", false) },
	"previous": func(a *alexaLib) lua.LGFunction { return a.playerCommand("previous", false) },
	"shuffle":  func(a *alexaLib) lua.LGFunction { return a.playerCommand("shuffle", true) },
	"loop":     func(a *alexaLib) lua.LGFunction { return a.playerCommand("loop", true) },
}

var routineMethods = map[string]func(a *alexaLib) lua.LGFunction{
	"run": func(a *alexaLib) lua.LGFunction { return a.runRoutine },
}

// MaxDNDDuration is the longest timed Do Not Disturb Amazon takes.
const MaxDNDDuration = 12 * time.Hour

// announceFields are the fields of announce's options table.
var announceFields = []string{"title", "volume"}

// union is one map with the entries of all of ms (echo handles have the
// perform, player and their own methods).
func union[M ~map[K]V, K comparable, V any](ms ...M) M {
	out := M{}
	for _, m := range ms {
		maps.Copy(out, m)
	}
	return out
}

// actionParser reads a perform method's arguments (Lua stack index 2 on)
// into the action and the arguments the trace shows; it raises on a bad
// one.
type actionParser func(L *lua.LState, call string) (EchoAction, []any)

// performWith makes the method call of echo and echoes handles: every
// Echo is resolved (an unknown one is the rule's mistake, also in a dry
// run), then one Perform has them all act.
func performWith(call string, parse actionParser) func(a *alexaLib) lua.LGFunction {
	return func(a *alexaLib) lua.LGFunction {
		return func(L *lua.LState) int {
			hs := targetsSelf(L, call)
			a.mustRun(L)
			act, args := parse(L, call)
			targets := make([]Echo, 0, len(hs))
			var err error
			for _, h := range hs {
				if err = a.resolveEcho(L, h); err != nil {
					break
				}
				targets = append(targets, h.echo)
			}
			rec := engine.Action{Call: call, Device: echoLabel(hs)}
			if len(args) > 0 {
				rec.Args = args
			}
			return a.send(L, rec, err, func() error { return a.hh.Perform(a.run.Context(), targets, act) })
		}
	}
}

// send records rec and, unless the run withholds actions, makes the
// request do: true, or nil, err. resolveErr is how resolving the call's
// Echos failed (a failure other than an unknown Echo, which raised): it
// is the call's failure. A "not found" answer (an unknown routine) is
// raised as the rule's mistake.
func (a *alexaLib) send(L *lua.LState, rec engine.Action, resolveErr error, do func() error) int {
	return a.act(L, rec, lua.LTrue, lua.LTrue, func() (any, error) {
		if resolveErr != nil {
			return nil, resolveErr
		}
		return true, raiseNotFound(L, do())
	})
}

// targetsSelf is the receiver of a perform method: one Echo, or the
// Echos of alexa.echoes.
func targetsSelf(L *lua.LState, call string) []*echoHandle {
	if ud, ok := L.Get(1).(*lua.LUserData); ok {
		switch h := ud.Value.(type) {
		case *echoHandle:
			return []*echoHandle{h}
		case *echoesHandle:
			return h.members
		}
	}
	L.RaiseError("%s must be called as a method, echo:%s(...)", call, call)
	return nil
}

// echoLabel names the Echos of an action in its trace: "Kitchen Echo" or
// "Kitchen Echo, Office Echo".
func echoLabel(hs []*echoHandle) string {
	names := make([]string, len(hs))
	for i, h := range hs {
		names[i] = h.label()
	}
	return strings.Join(names, ", ")
}

func (h *echoHandle) label() string {
	if h.resolved {
		return h.echo.Name
	}
	return h.query
}

// textArg reads v, the user's argument n, as non-empty text with its
// runs of white space collapsed.
func textArg(L *lua.LState, n int, call, what string, v lua.LValue) string {
	s, ok := v.(lua.LString)
	text := strings.Join(strings.Fields(string(s)), " ")
	if !ok || text == "" {
		argError(L, n, call, what+" expected, got "+describe(v))
	}
	return text
}

func textAction(kind, what string) actionParser {
	return func(L *lua.LState, call string) (EchoAction, []any) {
		text := textArg(L, 1, call, what, L.Get(2))
		noMore(L, call, 1)
		return EchoAction{Kind: kind, Text: text}, []any{text}
	}
}

// announceAction reads announce(text [, { title=, volume= }]).
func announceAction(L *lua.LState, call string) (EchoAction, []any) {
	a := EchoAction{Kind: ActAnnounce, Text: textArg(L, 1, call, "text", L.Get(2))}
	args := []any{a.Text}
	switch opts := L.Get(3).(type) {
	case *lua.LNilType:
	case *lua.LTable:
		shown := map[string]any{}
		opts.ForEach(func(k, v lua.LValue) {
			switch lua.LVAsString(k) {
			case "title":
				s, ok := v.(lua.LString)
				if !ok {
					argError(L, 2, call, "title: text expected, got "+describe(v))
				}
				a.Title = strings.TrimSpace(string(s))
				shown["title"] = a.Title
			case "volume":
				a.Volume = int(checkRange(L, 2, call, v, 1, 100, "volume", true))
				shown["volume"] = a.Volume
			default:
				argError(L, 2, call, fmt.Sprintf("unknown field %s (%s)", describe(k), strings.Join(announceFields, ", ")))
			}
		})
		args = append(args, shown)
	default:
		argError(L, 2, call, "options table { title=, volume= } expected, got "+describe(opts))
	}
	noMore(L, call, 2)
	return a, args
}

// ssmlAction reads SSML, which must be a <speak> document.
func ssmlAction(L *lua.LState, call string) (EchoAction, []any) {
	s, ok := L.Get(2).(lua.LString)
	text := strings.TrimSpace(string(s))
	if !ok || !strings.HasPrefix(text, "<speak>") {
		argError(L, 1, call, "SSML starting with <speak> expected, got "+describe(L.Get(2)))
	}
	noMore(L, call, 1)
	return EchoAction{Kind: ActSSML, Text: text}, []any{text}
}

// soundAction reads a sound's id, such as amzn_sfx_doorbell_chime_01.
func soundAction(L *lua.LState, call string) (EchoAction, []any) {
	s, ok := L.Get(2).(lua.LString)
	id := strings.TrimSpace(string(s))
	if !ok || id == "" || strings.ContainsFunc(id, func(r rune) bool { return r == ' ' || r == '\t' || r == '\n' }) {
		argError(L, 1, call, "a sound id such as \"amzn_sfx_doorbell_chime_01\" expected, got "+describe(L.Get(2)))
	}
	noMore(L, call, 1)
	return EchoAction{Kind: ActSound, Text: id}, []any{id}
}

func volumeAction(L *lua.LState, call string) (EchoAction, []any) {
	v := int(checkRange(L, 1, call, L.Get(2), 0, 100, "", true))
	noMore(L, call, 1)
	return EchoAction{Kind: ActVolume, Volume: v}, []any{v}
}

// echoesHandle is alexa.echoes{...}: several Echos that act together.
type echoesHandle struct{ members []*echoHandle }

func (a *alexaLib) echoes(L *lua.LState) int {
	const call = "alexa.echoes"
	t, ok := L.Get(1).(*lua.LTable)
	if !ok || t.Len() == 0 {
		argError(L, 1, call, "a list of Echo names expected, got "+describe(L.Get(1)))
	}
	t.ForEach(func(k, _ lua.LValue) {
		if n, isNum := k.(lua.LNumber); !isNum || int(n) < 1 || int(n) > t.Len() {
			argError(L, 1, call, "a list of Echo names expected, got the field "+describe(k))
		}
	})
	h := &echoesHandle{members: make([]*echoHandle, t.Len())}
	for i := range h.members {
		h.members[i] = echoArg(L, 1, call, t.RawGetInt(i+1))
	}
	noMoreArgs(L, call, 1)
	return a.pushHandle(L, echoesType, h)
}

func (a *alexaLib) echoesIndex(L *lua.LState) int {
	return a.method(L, echoesType, L.CheckString(2))
}

// dnd is echo:dnd(true | false | { duration = }) and, without an
// argument, the state as last seen (nil when not known).
func (a *alexaLib) dnd(L *lua.LState) int {
	const call = "dnd"
	h := echoSelf(L, call)
	a.mustRun(L)
	if L.GetTop() < 2 {
		if err := a.resolveEcho(L, h); err != nil {
			pushFailure(L, err)
			return 2
		}
		on, known := a.hh.DND(h.echo)
		if !known {
			L.Push(lua.LNil)
			return 1
		}
		L.Push(lua.LBool(on))
		return 1
	}
	on, d, arg := dndArg(L, call, L.Get(2))
	noMore(L, call, 1)
	err := a.resolveEcho(L, h)
	return a.send(L, engine.Action{Call: call, Device: h.label(), Args: []any{arg}}, err,
		func() error { return a.hh.SetDND(a.run.Context(), h.echo, on, d) })
}

// dndArg reads true, false or { duration = "1h" }; arg is how the trace
// shows it.
func dndArg(L *lua.LState, call string, v lua.LValue) (on bool, d time.Duration, arg any) {
	switch x := v.(type) {
	case lua.LBool:
		return bool(x), 0, bool(x)
	case *lua.LTable:
		x.ForEach(func(k, _ lua.LValue) {
			if lua.LVAsString(k) != "duration" {
				argError(L, 1, call, "unknown field "+describe(k)+" (duration)")
			}
		})
		d, err := ParseDuration(x.RawGetString("duration"))
		switch {
		case err != nil:
		case d < time.Minute:
			err = fmt.Errorf("at least 1m expected, got %s", d)
		case d > MaxDNDDuration:
			err = fmt.Errorf("at most %s expected, got %s", "12h", d)
		}
		if err != nil {
			argError(L, 1, call, "duration: "+err.Error())
		}
		return true, d, map[string]any{"duration": d.String()}
	}
	argError(L, 1, call, "true, false or { duration = \"1h\" } expected, got "+describe(v))
	return false, 0, nil
}

// player is echo:player(): nil when the Echo plays nothing. It reads,
// also in a dry run, and the trace records the read.
func (a *alexaLib) player(L *lua.LState) int {
	const call = "player"
	h := echoSelf(L, call)
	a.mustRun(L)
	noMore(L, call, 0)
	var p *Player
	err := a.resolveEcho(L, h)
	if err == nil {
		p, err = a.hh.Player(a.run.Context(), h.echo)
	}
	rec := engine.Action{Call: call, Device: h.label()}
	if err = raiseNotFound(L, err); err != nil || p == nil {
		return finish(L, a.run, rec, err, lua.LNil, "idle")
	}
	m := p.data()
	return finish(L, a.run, rec, nil, ToLua(L, m), m)
}

// data is the player as a rule sees it; empty text fields are left out.
func (p *Player) data() map[string]any {
	m := map[string]any{"state": p.State, "position": float64(p.Position), "length": float64(p.Length),
		"volume": float64(p.Volume), "muted": p.Muted}
	for k, v := range map[string]string{"title": p.Title, "artist": p.Artist, "album": p.Album, "provider": p.Provider} {
		if v != "" {
			m[k] = v
		}
	}
	return m
}

// playerCommand makes a media command's method; shuffle and loop take a
// boolean.
func (a *alexaLib) playerCommand(call string, takesBool bool) lua.LGFunction {
	return func(L *lua.LState) int {
		h := echoSelf(L, call)
		a.mustRun(L)
		rec := engine.Action{Call: call}
		on, used := false, 0
		if takesBool {
			b, ok := L.Get(2).(lua.LBool)
			if !ok {
				argError(L, 1, call, "true or false expected, got "+describe(L.Get(2)))
			}
			on, used, rec.Args = bool(b), 1, []any{bool(b)}
		}
		noMore(L, call, used)
		err := a.resolveEcho(L, h)
		rec.Device = h.label()
		return a.send(L, rec, err, func() error { return a.hh.PlayerCommand(a.run.Context(), h.echo, call, on) })
	}
}

// routines is alexa.routines(): a read, made also in a dry run.
func (a *alexaLib) routines(L *lua.LState) int {
	const call = "routines"
	a.mustRun(L)
	noMoreArgs(L, "alexa.routines", 0)
	list, err := a.hh.Routines(a.run.Context())
	names := make([]any, len(list))
	t := L.CreateTable(len(list), 0)
	for i, r := range list {
		names[i] = r.Name
		t.Append(ToLua(L, r.data()))
	}
	return finish(L, a.run, engine.Action{Call: call}, err, t, names)
}

// routineHandle is alexa.routine(name).
type routineHandle struct{ name string }

func (a *alexaLib) routine(L *lua.LState) int {
	name := textArg(L, 1, "alexa.routine", "routine name", L.Get(1))
	noMoreArgs(L, "alexa.routine", 1)
	return a.pushHandle(L, routineType, &routineHandle{name: name})
}

func (h *routineHandle) label() string { return h.name }

// runRoutine is routine:run([{ on = echo }]). An unknown routine is the
// rule's mistake; in a dry run the routine is not looked up (that takes
// a request), the Echo is.
func (a *alexaLib) runRoutine(L *lua.LState) int {
	const call = "run"
	var h *routineHandle
	if ud, ok := L.Get(1).(*lua.LUserData); ok {
		h, _ = ud.Value.(*routineHandle)
	}
	if h == nil {
		L.RaiseError("run must be called as a method, routine:run(...)")
	}
	a.mustRun(L)
	on := routineOn(L, call)
	noMore(L, call, 1)
	rec := engine.Action{Call: call, Device: h.name}
	var err error
	if on != nil {
		err = a.resolveEcho(L, on)
		rec.Args = map[string]any{"on": on.label()}
	}
	return a.send(L, rec, err, func() error {
		var target *Echo
		if on != nil {
			target = &on.echo
		}
		return a.hh.RunRoutine(a.run.Context(), h.name, target)
	})
}

// routineOn reads run's options: { on = echo } or nothing.
func routineOn(L *lua.LState, call string) *echoHandle {
	switch opts := L.Get(2).(type) {
	case *lua.LNilType:
		return nil
	case *lua.LTable:
		var on *echoHandle
		opts.ForEach(func(k, v lua.LValue) {
			if lua.LVAsString(k) != "on" {
				argError(L, 1, call, "unknown field "+describe(k)+" (on)")
			}
			on = echoArg(L, 1, call, v)
		})
		return on
	default:
		argError(L, 1, call, "options table { on = echo } expected, got "+describe(opts))
	}
	return nil
}

// lastCalled is alexa.last_called(): the latest utterance the voice
// history showed, without a request.
func (a *alexaLib) lastCalled(L *lua.LState) int {
	a.mustRun(L)
	noMoreArgs(L, "alexa.last_called", 0)
	u, ok := a.hh.LastCalled()
	if !ok {
		L.Push(lua.LNil)
		return 1
	}
	L.Push(ToLua(L, u.data()))
	return 1
}

// data is the utterance as alexa.last_called() returns it.
func (u Utterance) data() map[string]any {
	m := map[string]any{"device": map[string]any{"name": u.Echo.Name, "serial": u.Echo.Serial}, "text": u.Text}
	if !u.Time.IsZero() {
		m["time"] = float64(TimeToLua(u.Time))
	}
	for k, v := range map[string]string{"reply": u.Reply, "person": u.Person} {
		if v != "" {
			m[k] = v
		}
	}
	return m
}

// data is the routine as alexa.routines() lists it.
func (r Routine) data() map[string]any {
	u := make([]any, len(r.Utterances))
	for i, s := range r.Utterances {
		u[i] = s
	}
	return map[string]any{"id": r.ID, "name": r.Name, "utterances": u}
}
