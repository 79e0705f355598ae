package scripting

import (
	"maps"
	"slices"
	"strings"
)

// Func describes a function or method of the Lua API the way an editor
// shows it; `alexarules types` writes LuaLS definitions from these.
type Func struct {
	Name    string
	Params  []Param
	Returns []Param // Name may be empty
	Doc     string
}

// Param is a parameter, return value or table field of the Lua API. Type
// is a LuaLS type: string, number, integer, boolean, table, a literal
// ("daily"), a union (a|b) or a class the definitions declare (Device,
// Echo, AlexaList, Alarm, ListItem, AlexaError, Color, Duration, Time,
// DeviceAttr, Repeat, RemindOptions, Condition).
type Param struct {
	Name     string
	Type     string
	Optional bool
	Doc      string
}

// API is the bound API of a rule's state (RULES.md §4) as editors see it:
// every list is taken from the tables the bindings use, so that the
// definitions cannot name a method the bindings lack or miss one they have.
type API struct {
	DeviceMethods    []Func // device(...) handles
	EchoMethods      []Func // alexa.echo(...) handles
	EchoesMethods    []Func // alexa.echoes{...} handles
	ListMethods      []Func // alexa.list(name) handles
	RoutineMethods   []Func // alexa.routine(name) handles
	Alexa            []Func // alexa.echo, alexa.remind, alexa.list(name)
	Time             []Func // the time table
	DeviceAttributes []string
	Repeats          []string
	RemindFields     []Param
	AnnounceFields   []Param // announce's options table
	// Shapes of what echo:player(), alexa.routines() and
	// alexa.last_called() return.
	PlayerFields, RoutineFields, LastCalledFields []Param
	// ActionOptions are the fields of the options table that device
	// methods which change an attribute take last (check_first, ...).
	ActionOptions []Param
}

// BoundAPI describes the bound API.
func BoundAPI() API {
	return API{
		DeviceMethods:    methodsOf(deviceMethods, deviceSigs),
		EchoMethods:      methodsOf(echoMethods, echoSigs),
		EchoesMethods:    methodsOf(echoesMethods, echoSigs),
		ListMethods:      methodsOf(listMethods, listSigs),
		RoutineMethods:   methodsOf(routineMethods, routineSigs),
		Alexa:            alexaSigs,
		Time:             timeSigs,
		DeviceAttributes: slices.Clone(deviceAttributes),
		Repeats:          slices.Clone(repeats),
		RemindFields:     fieldsOf(remindFields, remindSigs),
		AnnounceFields:   fieldsOf(announceFields, announceSigs),
		PlayerFields:     slices.Clone(playerSigs),
		RoutineFields:    slices.Clone(routineInfoSigs),
		LastCalledFields: slices.Clone(lastCalledSigs),
		ActionOptions:    slices.Clone(actionOptionSigs),
	}
}

// methodsOf lists the methods of a handle table, sorted, with their
// signatures; a method without one keeps only its name (a test fails on
// that).
func methodsOf[F any](methods map[string]F, sigs map[string]Func) []Func {
	out := make([]Func, 0, len(methods))
	for _, name := range slices.Sorted(maps.Keys(methods)) {
		f := sigs[name]
		f.Name = name
		out = append(out, f)
	}
	return out
}

func fieldsOf(names []string, sigs map[string]Param) []Param {
	out := make([]Param, 0, len(names))
	for _, n := range names {
		p := sigs[n]
		p.Name = n
		out = append(out, p)
	}
	return out
}

// Literals is a LuaLS union of string literals: "a"|"b".
func Literals(values []string) string {
	q := make([]string, len(values))
	for i, v := range values {
		q[i] = `"` + v + `"`
	}
	return strings.Join(q, "|")
}

// Signatures of the bound API. Names come from the bindings' own tables
// (deviceMethods, echoMethods, listMethods, remindFields); these add the
// types and a line of documentation.
var (
	okOrErr = []Param{{Name: "ok", Type: "true?"}, {Name: "err", Type: "AlexaError?"}}

	// actionOptsParam is the action options table of the methods that change an
	// attribute (RULES.md §4).
	actionOptsParam = Param{Name: "opts", Type: "ActionOptions", Optional: true, Doc: "{ check_first = true } or { revert_after = \"5m\" }"}

	actionOptionSigs = []Param{
		{Name: "check_first", Type: "boolean", Optional: true, Doc: "skip the action when the attribute already has the value it sets (result skipped_by_check)"},
		{Name: "revert_after", Type: "Duration", Optional: true, Doc: "restore the value from before the action after this long (durable, across restarts)"},
	}

	deviceSigs = map[string]Func{
		"on":                {Params: []Param{actionOptsParam}, Returns: okOrErr, Doc: "Power on (turnOn)."},
		"off":               {Params: []Param{actionOptsParam}, Returns: okOrErr, Doc: "Power off (turnOff)."},
		"set_brightness":    {Params: []Param{{Name: "level", Type: "integer", Doc: "0..100"}, actionOptsParam}, Returns: okOrErr, Doc: "setBrightness, 0..100."},
		"adjust_brightness": {Params: []Param{{Name: "delta", Type: "integer", Doc: "-100..100"}, actionOptsParam}, Returns: okOrErr, Doc: "adjustBrightness, -100..100."},
		"set_color": {Params: []Param{{Name: "color", Type: "Color|string", Doc: `{hue=0..360, saturation=0..1, brightness=0..1}, a colour name ("red") or "#rrggbb"`}, actionOptsParam},
			Returns: okOrErr, Doc: "setColor."},
		"set_color_temperature": {Params: []Param{{Name: "kelvin", Type: "integer|string", Doc: `1000..10000, or "warm white", "soft white", "white", "daylight", "cool white"`}, actionOptsParam},
			Returns: okOrErr, Doc: "setColorTemperature."},
		"warmer":           {Params: []Param{actionOptsParam}, Returns: okOrErr, Doc: "decreaseColorTemperature."},
		"cooler":           {Params: []Param{actionOptsParam}, Returns: okOrErr, Doc: "increaseColorTemperature."},
		"set_volume":       {Params: []Param{{Name: "volume", Type: "integer", Doc: "0..100"}, actionOptsParam}, Returns: okOrErr, Doc: "Speaker setVolume, 0..100."},
		"adjust_volume":    {Params: []Param{{Name: "delta", Type: "integer", Doc: "-100..100"}, actionOptsParam}, Returns: okOrErr, Doc: "Speaker adjustVolume, -100..100."},
		"unpair_bluetooth": {Returns: okOrErr, Doc: "Bluetooth unpair."},
		"get": {Params: []Param{{Name: "attr", Type: "DeviceAttr"}},
			Returns: []Param{{Name: "value", Type: "any"}, {Name: "err", Type: "AlexaError?"}}, Doc: "Live read of one attribute."},
		"last": {Params: []Param{{Name: "attr", Type: "DeviceAttr"}},
			Returns: []Param{{Name: "value", Type: "any"}, {Name: "seen", Type: "number?", Doc: "epoch seconds"}},
			Doc:     "Last polled value and when it was seen, without a request; nil when never polled."},
	}

	echoSigs = map[string]Func{
		"set_notification_volume": {Params: []Param{{Name: "volume", Type: "integer", Doc: "0..100"}}, Returns: okOrErr,
			Doc: "Volume of alarms, timers and reminders, 0..100."},
		"alarms":     {Returns: []Param{{Type: "Alarm[]"}}, Doc: "The Echo's alarms, with their next ring."},
		"next_alarm": {Returns: []Param{{Type: "Alarm?"}}, Doc: "The alarm that rings next, or nil."},
		ActSpeak:     {Params: []Param{textParam}, Returns: okOrErr, Doc: "Says the text (long text is split at sentence ends). true: Amazon accepted it."},
		ActAnnounce: {Params: []Param{textParam, {Name: "opts", Type: "AnnounceOptions", Optional: true}}, Returns: okOrErr,
			Doc: "An announcement (a chime, then the text); to several Echos at once with alexa.echoes."},
		ActSSML:    {Params: []Param{{Name: "ssml", Type: "string", Doc: "<speak>...</speak>"}}, Returns: okOrErr, Doc: "Says SSML (sent as an announcement)."},
		ActSound:   {Params: []Param{{Name: "id", Type: "string", Doc: `e.g. "amzn_sfx_doorbell_chime_01"`}}, Returns: okOrErr, Doc: "Plays a sound of Amazon's library."},
		ActCommand: {Params: []Param{{Name: "text", Type: "string", Doc: `e.g. "turn on the hall light"`}}, Returns: okOrErr, Doc: "As if the text was said to Alexa."},
		ActVolume:  {Params: []Param{{Name: "volume", Type: "integer", Doc: "0..100"}}, Returns: okOrErr, Doc: "Sets the speaker volume."},
		ActStop:    {Returns: okOrErr, Doc: "Stops what the Echo plays or says."},
		"dnd": {Params: []Param{{Name: "on", Type: "boolean|{ duration: Duration }", Optional: true, Doc: "omitted: read the state as last seen"}},
			Returns: []Param{{Name: "ok", Type: "boolean?", Doc: "without an argument: the state, nil when not known"}, {Name: "err", Type: "AlexaError?"}},
			Doc:     "Do Not Disturb: on, off, or on for a duration."},
		"player": {Returns: []Param{{Name: "player", Type: "Player?", Doc: "nil when nothing plays"}, {Name: "err", Type: "AlexaError?"}},
			Doc: "What the Echo plays (a request)."},
		"play":     {Returns: okOrErr, Doc: "Resumes playback."},
		"pause":    {Returns: okOrErr, Doc: "Pauses playback."},
		"next":     {Returns: okOrErr, Doc: "The next track."},
		"previous": {Returns: okOrErr, Doc: "The previous track."},
		"shuffle":  {Params: []Param{{Name: "on", Type: "boolean"}}, Returns: okOrErr, Doc: "Shuffle on or off."},
		"loop":     {Params: []Param{{Name: "on", Type: "boolean"}}, Returns: okOrErr, Doc: "Repeat on or off."},
	}

	textParam = Param{Name: "text", Type: "string"}

	routineSigs = map[string]Func{
		"run": {Params: []Param{{Name: "opts", Type: "{ on: string|Echo|EventDevice }", Optional: true, Doc: "the Echo it runs on; default: the first online Echo"}},
			Returns: okOrErr, Doc: "Runs the routine (matched by name, then by its voice command)."},
	}

	playerSigs = []Param{
		{Name: "state", Type: `"PLAYING"|"PAUSED"`},
		{Name: "title", Type: "string?"}, {Name: "artist", Type: "string?"}, {Name: "album", Type: "string?"},
		{Name: "provider", Type: "string?", Doc: "e.g. Spotify, Amazon Music"},
		{Name: "position", Type: "integer", Doc: "seconds into the track"}, {Name: "length", Type: "integer", Doc: "seconds"},
		{Name: "volume", Type: "integer"}, {Name: "muted", Type: "boolean"},
	}

	routineInfoSigs = []Param{{Name: "id", Type: "string"}, {Name: "name", Type: "string"},
		{Name: "utterances", Type: "string[]", Doc: "the voice commands that start it"}}

	lastCalledSigs = []Param{{Name: "device", Type: "{ name: string, serial: string }"}, {Name: "text", Type: "string"},
		{Name: "time", Type: "number?", Doc: "epoch seconds"}, {Name: "reply", Type: "string?"}, {Name: "person", Type: "string?"}}

	announceSigs = map[string]Param{
		"title":  {Type: "string", Optional: true, Doc: "shown on Echos with a screen"},
		"volume": {Type: "integer", Optional: true, Doc: "1..100, set before the announcement (a request of its own) and left there"},
	}

	listSigs = map[string]Func{
		"items":  {Returns: []Param{{Name: "items", Type: "ListItem[]?"}, {Name: "err", Type: "AlexaError?"}}, Doc: "The list's items."},
		"add":    {Params: []Param{{Name: "text", Type: "string"}}, Returns: []Param{{Name: "id", Type: "string?"}, {Name: "err", Type: "AlexaError?"}}, Doc: "Adds an item; returns its id."},
		"check":  {Params: []Param{{Name: "text_or_id", Type: "string"}}, Returns: okOrErr, Doc: "Marks an item completed."},
		"remove": {Params: []Param{{Name: "text_or_id", Type: "string"}}, Returns: okOrErr, Doc: "Removes an item."},
	}

	alexaSigs = []Func{
		{Name: "echo", Params: []Param{{Name: "name_or_serial", Type: "string|EventDevice|Echo"}}, Returns: []Param{{Type: "Echo"}},
			Doc: "An Echo device by friendly name or serial number, or ev.device."},
		{Name: "echoes", Params: []Param{{Name: "echos", Type: "(string|EventDevice|Echo)[]"}}, Returns: []Param{{Type: "Echoes"}},
			Doc: "Several Echos that act together: one request for all (an announcement to all of them)."},
		{Name: "routines", Returns: []Param{{Name: "routines", Type: "RoutineInfo[]?"}, {Name: "err", Type: "AlexaError?"}},
			Doc: "The account's enabled routines (a request)."},
		{Name: "routine", Params: []Param{{Name: "name", Type: "string", Doc: "its name or voice command, any case"}}, Returns: []Param{{Type: "Routine"}},
			Doc: "An Alexa routine by name or voice command."},
		{Name: "last_called", Returns: []Param{{Type: "LastCalled?"}}, Doc: "The latest thing said to an Echo, from the voice history (best effort), or nil."},
		{Name: "remind", Params: []Param{{Name: "opts", Type: "RemindOptions"}},
			Returns: []Param{{Name: "id", Type: "string?"}, {Name: "err", Type: "AlexaError?"}}, Doc: "Creates a reminder; returns its id."},
		{Name: "list", Params: []Param{{Name: "name", Type: "string", Doc: `e.g. "Shopping"`}}, Returns: []Param{{Type: "AlexaList"}},
			Doc: "An Alexa list by name."},
	}

	timeSigs = []Func{
		{Name: "now", Returns: []Param{{Type: "number"}}, Doc: "Epoch seconds on the engine's clock."},
		{Name: "next", Params: []Param{{Name: "clock", Type: "string", Doc: `"HH:MM"`}, {Name: "from", Type: "number", Optional: true}},
			Returns: []Param{{Type: "number"}}, Doc: "Epoch seconds of the next occurrence of HH:MM (today or tomorrow)."},
		{Name: "format", Params: []Param{{Name: "t", Type: "number"}, {Name: "format", Type: "string", Optional: true, Doc: `strftime subset, default "%Y-%m-%d %H:%M:%S"; "!" prefix = UTC`}},
			Returns: []Param{{Type: "string"}}, Doc: "Formats epoch seconds in the rules' time zone."},
		{Name: "between", Params: []Param{{Name: "from", Type: "string", Doc: `"HH:MM"`}, {Name: "to", Type: "string", Doc: `"HH:MM"`}},
			Returns: []Param{{Type: "Condition"}}, Doc: "A condition for only_if/unless; call it for a boolean."},
		{Name: "weekday", Params: []Param{{Name: "t", Type: "number", Optional: true}},
			Returns: []Param{{Type: `"mon"|"tue"|"wed"|"thu"|"fri"|"sat"|"sun"`}}, Doc: "The day of the week, now or at t."},
		{Name: "parse", Params: []Param{{Name: "s", Type: "string", Doc: `"YYYY-MM-DD HH:MM"`}},
			Returns: []Param{{Name: "t", Type: "number?"}, {Name: "err", Type: "string?"}}, Doc: "Epoch seconds of a wall-clock time in the rules' time zone."},
	}

	remindSigs = map[string]Param{
		"device": {Type: "string|table", Doc: "an Echo's name or serial, or ev.device"},
		"text":   {Type: "string"},
		"at":     {Type: "number|string", Optional: true, Doc: `epoch seconds or "HH:MM" (next occurrence); give at or in`},
		"in":     {Type: "Duration", Optional: true, Doc: `a duration from now, e.g. "90m"; write it ["in"] = ...`},
		"repeat": {Type: "Repeat", Optional: true},
	}
)
