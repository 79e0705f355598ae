package scripting_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/scripting"
)

type fakeHousehold struct {
	reminders []scripting.Reminder
	volumes   map[string]int
	items     map[string][]scripting.ListItem
	calls     []string
	// echo.go's: what Perform, SetDND, RunRoutine and PlayerCommand got,
	// one line each; the player and DND state they read; an error for a
	// call by name.
	acts   []string
	player *scripting.Player
	dnd    map[string]bool
	fail   map[string]error
	last   *scripting.Utterance
}

func (f *fakeHousehold) ResolveEcho(_ context.Context, q string) (scripting.Echo, error) {
	switch strings.ToLower(q) {
	case "bedroom echo", "g090xx":
		return scripting.Echo{Serial: "G090XX", Name: "Bedroom Echo"}, nil
	case "kitchen echo":
		return scripting.Echo{Serial: "G6G0XX", Name: "Kitchen Echo"}, nil
	case "offline echo":
		return scripting.Echo{}, &remoteFailure{typ: "CONNECTION", message: "no answer"}
	}
	return scripting.Echo{}, &notFound{name: q}
}

func (f *fakeHousehold) SetNotificationVolume(_ context.Context, e scripting.Echo, v int) error {
	f.volumes[e.Serial] = v
	return nil
}

func (f *fakeHousehold) Alarms(e scripting.Echo) []scripting.Alarm {
	return []scripting.Alarm{
		{ID: "a1", Label: "off", Recurring: false},
		{ID: "a2", Label: "later", Next: time.Unix(2000, 0), Recurring: true},
		{ID: "a3", Label: "soon", Next: time.Unix(1000, 0)},
	}
}

func (f *fakeHousehold) Remind(_ context.Context, r scripting.Reminder) (string, error) {
	f.reminders = append(f.reminders, r)
	return fmt.Sprintf("rem-%d", len(f.reminders)), nil
}

func (f *fakeHousehold) ListItems(_ context.Context, list string) ([]scripting.ListItem, error) {
	items, ok := f.items[list]
	if !ok {
		return nil, &notFound{name: list}
	}
	return items, nil
}

func (f *fakeHousehold) AddListItem(_ context.Context, list, text string) (scripting.ListItem, error) {
	f.calls = append(f.calls, "add "+list+" "+text)
	return scripting.ListItem{ID: "i9", Text: text}, nil
}

func (f *fakeHousehold) CheckListItem(_ context.Context, list, text string) error {
	f.calls = append(f.calls, "check "+list+" "+text)
	return nil
}

func (f *fakeHousehold) RemoveListItem(_ context.Context, list, text string) error {
	f.calls = append(f.calls, "remove "+list+" "+text)
	return &remoteFailure{typ: "THROTTLED", status: 429, message: "slow down"}
}

func (f *fakeHousehold) do(call, line string) error {
	f.acts = append(f.acts, call+" "+line)
	return f.fail[call]
}

func (f *fakeHousehold) Perform(_ context.Context, targets []scripting.Echo, a scripting.EchoAction) error {
	serials := make([]string, len(targets))
	for i, e := range targets {
		serials[i] = e.Serial
	}
	return f.do("perform", fmt.Sprintf("%s %+v", strings.Join(serials, ","), a))
}

func (f *fakeHousehold) Routines(context.Context) ([]scripting.Routine, error) {
	if err := f.fail["routines"]; err != nil {
		return nil, err
	}
	return []scripting.Routine{{ID: "amzn1.alexa.automation.1", Name: "Good night", Utterances: []string{"sleep tight"}}}, nil
}

func (f *fakeHousehold) RunRoutine(_ context.Context, name string, on *scripting.Echo) error {
	if !strings.EqualFold(name, "good night") && !strings.EqualFold(name, "sleep tight") {
		return &notFound{name: name}
	}
	serial := "-"
	if on != nil {
		serial = on.Serial
	}
	return f.do("routine", name+" "+serial)
}

func (f *fakeHousehold) DND(e scripting.Echo) (bool, bool) {
	on, ok := f.dnd[e.Serial]
	return on, ok
}

func (f *fakeHousehold) SetDND(_ context.Context, e scripting.Echo, on bool, d time.Duration) error {
	return f.do("dnd", fmt.Sprintf("%s %t %s", e.Serial, on, d))
}

func (f *fakeHousehold) Player(context.Context, scripting.Echo) (*scripting.Player, error) {
	return f.player, f.fail["player"]
}

func (f *fakeHousehold) PlayerCommand(_ context.Context, e scripting.Echo, cmd string, on bool) error {
	return f.do("media", fmt.Sprintf("%s %s %t", e.Serial, cmd, on))
}

func (f *fakeHousehold) LastCalled() (scripting.Utterance, bool) {
	if f.last == nil {
		return scripting.Utterance{}, false
	}
	return *f.last, true
}

func alexaState(t *testing.T, run *fakeRun, hh scripting.Household) *lua.LState {
	t.Helper()
	L := scripting.NewState(scripting.StateOptions{})
	t.Cleanup(L.Close)
	var rc scripting.RunContext
	if run != nil {
		rc = run
	}
	scripting.OpenAlexa(L, rc, hh, engine.NewVirtual(time.Unix(500, 0)))
	return L
}

func TestAlexaEchoRemindAndLists(t *testing.T) {
	hh := &fakeHousehold{volumes: map[string]int{}, items: map[string][]scripting.ListItem{
		"Shopping": {{ID: "i1", Text: "milk"}, {ID: "i2", Text: "eggs", Completed: true}}}}
	run := &fakeRun{}
	L := alexaState(t, run, hh)
	out, err := devDo(t, L, true, `
local echo = alexa.echo("Bedroom Echo")
assert(echo:set_notification_volume(40))
local next = echo:next_alarm()
local all = echo:alarms()
local id = alexa.remind { device = "Bedroom Echo", text = "buy milk", at = "17:30", ["repeat"] = "weekdays" }
local id2 = alexa.remind { device = "g090xx", text = "tea", ["in"] = "10m" }
local list = alexa.list("Shopping")
local items = list:items()
local added = list:add("bread")
assert(list:check("milk"))
local ok, err = list:remove("eggs")
return echo.name, echo.serial, next.id, next.time, #all, id, id2, #items, items[2].completed, added, ok, tostring(err)`)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]string, len(out))
	for i, v := range out {
		got[i] = v.String()
	}
	want := []string{"Bedroom Echo", "G090XX", "a3", "1000", "3", "rem-1", "rem-2", "2", "true", "i9", "nil", "THROTTLED (HTTP 429): slow down"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got  %v\nwant %v", got, want)
	}
	if hh.volumes["G090XX"] != 40 {
		t.Fatalf("volume: %v", hh.volumes)
	}
	if r := hh.reminders[0]; r.Clock != "17:30" || r.Repeat != "weekdays" || r.Text != "buy milk" || r.Echo.Serial != "G090XX" {
		t.Fatalf("reminder: %+v", r)
	}
	if r := hh.reminders[1]; !r.At.Equal(time.Unix(500+600, 0)) {
		t.Fatalf("reminder in 10m: %+v", r)
	}
	if len(run.recorded()) != 6 { // volume, 2 reminders, add, check, remove
		t.Fatalf("actions: %+v", run.recorded())
	}
}

// A rule passes ev.device straight through: its id is the Echo, or its
// name when it has no id.
func TestAlexaRemindDeviceFromEventTable(t *testing.T) {
	hh := &fakeHousehold{volumes: map[string]int{}}
	L := alexaState(t, &fakeRun{}, hh)
	_, err := devDo(t, L, true, `
alexa.remind { device = { id = "g090xx", name = "Nope" }, text = "a", ["in"] = "1m" }
alexa.remind { device = { name = "Bedroom Echo" }, text = "b", ["in"] = "1m" }`)
	if err != nil {
		t.Fatal(err)
	}
	if len(hh.reminders) != 2 || hh.reminders[0].Echo.Serial != "G090XX" || hh.reminders[1].Echo.Serial != "G090XX" {
		t.Fatalf("reminders: %+v", hh.reminders)
	}
}

func TestAlexaBadArgumentsRaiseBeforeAnyRequest(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{`alexa.echo("Bedroom Echo"):set_notification_volume(101)`, "bad argument #1 to set_notification_volume (0..100 expected, got 101)"},
		{`alexa.remind { text = "x", at = "17:30" }`, "field device"},
		{`alexa.remind { device = "Bedroom Echo", at = "17:30" }`, "field text"},
		{`alexa.remind { device = "Bedroom Echo", text = "x" }`, "exactly one of at and in"},
		{`alexa.remind { device = "Bedroom Echo", text = "x", at = "25:00" }`, "at:"},
		{`alexa.remind { device = "Bedroom Echo", text = "x", at = 100 }`, "in the past"},
		{`alexa.remind { device = "Bedroom Echo", text = "x", ["in"] = "5m", ["repeat"] = "hourly" }`, "repeat"},
		{`alexa.remind { device = "Bedroom Echo", text = "x", ["in"] = "5m", when = 1 }`, "unknown field"},
		{`alexa.remind { "Bedroom Echo", device = "Bedroom Echo", text = "x", ["in"] = "5m" }`, `unknown field "1"`},
		{`alexa.remind { device = "Bedroom Echo", text = "x", ["in"] = "5m", [true] = 1 }`, `unknown field "true"`},
		{`alexa.remind { device = "Bedrom Echo", text = "x", ["in"] = "5m" }`, "unknown"},
		{`alexa.remind { device = 5, text = "x", ["in"] = "5m" }`, "field device"},
		{`alexa.remind { device = {}, text = "x", ["in"] = "5m" }`, "field device"},
		{`alexa.remind { device = "Bedroom Echo", text = "x", at = 0 }`, "at: epoch seconds expected"},
		{`alexa.remind { device = "Bedroom Echo", text = "x", at = true }`, "at: epoch seconds or"},
		{`alexa.remind { device = "Bedroom Echo", text = "x", ["in"] = "soon" }`, "in: a duration"},
		{`alexa.list("Nope"):items()`, "unknown"},
		{`alexa.list("Shopping"):add("")`, "bad argument #1 to add"},
	} {
		hh := &fakeHousehold{volumes: map[string]int{}, items: map[string][]scripting.ListItem{"Shopping": nil}}
		L := alexaState(t, &fakeRun{}, hh)
		_, err := devDo(t, L, true, tc.src)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), ":1:") {
			t.Errorf("%s: want an error with %q at line 1, got %v", tc.src, tc.want, err)
		}
		if len(hh.reminders)+len(hh.volumes)+len(hh.calls) != 0 {
			t.Errorf("%s: a request was made", tc.src)
		}
	}
}

func TestAlexaDryRunAndLoadTime(t *testing.T) {
	hh := &fakeHousehold{volumes: map[string]int{}, items: map[string][]scripting.ListItem{"Shopping": nil}}
	run := &fakeRun{dry: true}
	L := alexaState(t, run, hh)
	out, err := devDo(t, L, true, `return alexa.remind { device = "Bedroom Echo", text = "x", ["in"] = "5m" }, alexa.list("Shopping"):add("y")`)
	if err != nil || out[0].String() != "dry-run" || len(hh.reminders)+len(hh.calls) != 0 || len(run.recorded()) != 2 {
		t.Fatalf("dry run: %v %v %+v", out, err, hh)
	}
	L = alexaState(t, nil, hh)
	if _, err := devDo(t, L, false, `alexa.list("Shopping"):add("y")`); err == nil || !strings.Contains(err.Error(), "inside a rule run") {
		t.Fatalf("at load time: %v", err)
	}
}
