package host

import (
	"context"
	"fmt"
	"time"

	"github.com/alexarules/alexarules/alexa/web"
	"github.com/alexarules/alexarules/scripting"
)

// This file serves the rules' Echo voice, routine, Do Not Disturb, media
// and voice history calls (scripting.Household) from the bridge.

// actionKinds are the web client's actions for the rules' ones.
var actionKinds = map[string]web.ActionKind{
	scripting.ActSpeak: web.ActionSpeak, scripting.ActAnnounce: web.ActionAnnounce, scripting.ActSSML: web.ActionSSML,
	scripting.ActSound: web.ActionSound, scripting.ActCommand: web.ActionCommand, scripting.ActVolume: web.ActionVolume,
	scripting.ActStop: web.ActionStop,
}

// playerCommands are np/command's types for the rules' media methods.
var playerCommands = map[string]string{
	"play": web.CmdPlay, "pause": web.CmdPause, "next": web.CmdNext, "previous": web.CmdPrevious,
	"shuffle": web.CmdShuffle, "loop": web.CmdRepeat,
}

func (h household) echos(ctx context.Context, es []scripting.Echo) ([]web.Echo, error) {
	out := make([]web.Echo, 0, len(es))
	for _, e := range es {
		we, err := h.echo(ctx, e)
		if err != nil {
			return nil, err
		}
		out = append(out, we)
	}
	return out, nil
}

// Perform sends the action to every target in one request. An
// announcement's volume is set first, in a request of its own: the
// announcement node has no volume (ioBroker does the same).
func (h household) Perform(ctx context.Context, targets []scripting.Echo, a scripting.EchoAction) error {
	kind, ok := actionKinds[a.Kind]
	if !ok {
		return fmt.Errorf("host: unknown Echo action %q", a.Kind)
	}
	ws, err := h.echos(ctx, targets)
	if err != nil {
		return err
	}
	if kind == web.ActionAnnounce && a.Volume > 0 {
		if err := h.b.Perform(ctx, ws, web.Action{Kind: web.ActionVolume, Volume: a.Volume}); err != nil {
			return err
		}
	}
	wa := web.Action{Kind: kind, Text: a.Text, Title: a.Title}
	if kind == web.ActionVolume {
		wa.Volume = a.Volume
	}
	return h.b.Perform(ctx, ws, wa)
}

func (h household) Routines(ctx context.Context) ([]scripting.Routine, error) {
	rs, err := h.b.Routines(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]scripting.Routine, len(rs))
	for i, r := range rs {
		out[i] = scripting.Routine{ID: r.ID, Name: r.Name, Utterances: r.Utterances}
	}
	return out, nil
}

func (h household) RunRoutine(ctx context.Context, name string, on *scripting.Echo) error {
	if on == nil {
		return h.b.RunRoutine(ctx, name, nil)
	}
	we, err := h.echo(ctx, *on)
	if err != nil {
		return err
	}
	return h.b.RunRoutine(ctx, name, &we)
}

func (h household) DND(e scripting.Echo) (on, known bool) { return h.b.DND(e.Serial) }

func (h household) SetDND(ctx context.Context, e scripting.Echo, on bool, d time.Duration) error {
	we, err := h.echo(ctx, e)
	if err != nil {
		return err
	}
	return h.b.SetDND(ctx, we, on, d)
}

func (h household) Player(ctx context.Context, e scripting.Echo) (*scripting.Player, error) {
	we, err := h.echo(ctx, e)
	if err != nil {
		return nil, err
	}
	p, err := h.b.Player(ctx, we)
	if err != nil || p == nil {
		return nil, err
	}
	return &scripting.Player{State: p.State, Title: p.Title, Artist: p.Artist, Album: p.Album, Provider: p.Provider,
		Position: p.Position, Length: p.Length, Volume: p.Volume, Muted: p.Muted}, nil
}

func (h household) PlayerCommand(ctx context.Context, e scripting.Echo, command string, on bool) error {
	typ, ok := playerCommands[command]
	if !ok {
		return fmt.Errorf("host: unknown player command %q", command)
	}
	we, err := h.echo(ctx, e)
	if err != nil {
		return err
	}
	return h.b.PlayerCommand(ctx, we, typ, on)
}

func (h household) LastCalled() (scripting.Utterance, bool) {
	r, ok := h.b.LastCalled()
	if !ok {
		return scripting.Utterance{}, false
	}
	return scripting.Utterance{Echo: scripting.Echo{Serial: r.Serial, Name: r.Device}, Text: r.Text, Reply: r.Reply,
		Person: r.Person, Time: r.Time}, true
}
