package sim

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// The household's Echo-side state beyond the devices: routines, media
// players, speaker groups, Do Not Disturb, and the logs of what the Echos
// were made to do (GET /_sim/household "spoken" and "dnd").

// familyGroup is the deviceFamily of a speaker group.
const familyGroup = "WHA"

// defaultEchoVolume is an Echo's volume until one is set.
const defaultEchoVolume = 50

// Routine is an Alexa routine; GET /api/behaviors/v2/automations serves
// it as an Automation.
type Routine struct {
	// ID is the automationId; made from the name (or first utterance)
	// when empty.
	ID   string `json:"id,omitempty"`
	Name string `json:"name"`
	// Utterances are the CustomUtterance trigger's phrases.
	Utterances []string `json:"utterances"`
	// Sequence is the raw Sequence the routine runs, with placeholders;
	// when empty, one Alexa.Speak node saying "Running <name>".
	Sequence json.RawMessage `json:"sequence,omitempty"`
	// Enabled is false for a disabled routine (status DISABLED).
	Enabled *bool `json:"enabled,omitempty"`
}

// displayName is the name, else the first utterance.
func (r Routine) displayName() string {
	if r.Name != "" || len(r.Utterances) == 0 {
		return r.Name
	}
	return r.Utterances[0]
}

func (r Routine) enabled() bool { return r.Enabled == nil || *r.Enabled }

// Player is an Echo's media session.
type Player struct {
	// Echo names the Echo (name or serial); Serial is filled in.
	Echo   string `json:"echo"`
	Serial string `json:"serial,omitempty"`
	// State is PLAYING, PAUSED or IDLE (np/player answers null).
	State    string `json:"state"`
	Title    string `json:"title,omitempty"`
	Artist   string `json:"artist,omitempty"`
	Album    string `json:"album,omitempty"`
	Provider string `json:"provider,omitempty"`
	// Position and Length are in seconds.
	Position int `json:"position"`
	Length   int `json:"length,omitempty"`
	// Volume is 0..100; the Echo's volume when absent.
	Volume  *int `json:"volume,omitempty"`
	Muted   bool `json:"muted,omitempty"`
	Shuffle bool `json:"shuffle,omitempty"`
	Repeat  bool `json:"repeat,omitempty"`
	// MediaID is the mediaReferenceId pushes carry; made when empty and
	// renewed by NextCommand and PreviousCommand.
	MediaID string `json:"media_id,omitempty"`
	// Commands are the np/command types received, oldest first.
	Commands []string `json:"commands"`
}

// Player states.
var playerStates = []string{"PLAYING", "PAUSED", "IDLE"}

// Spoken is one thing an Echo was made to say or do: one entry per node
// per target device.
type Spoken struct {
	Time   time.Time `json:"time"`
	Device string    `json:"device"`
	Serial string    `json:"serial"`
	// Kind is speak, announce, ssml, sound, command, volume, stop or
	// routine.
	Kind  string `json:"kind"`
	Text  string `json:"text"`
	Title string `json:"title"`
	// Routine names the routine a run's entries belong to.
	Routine string `json:"routine"`
	// Volume is the new volume of a volume entry.
	Volume *int `json:"volume,omitempty"`
}

// DNDChange is one Do Not Disturb change.
type DNDChange struct {
	Time    time.Time `json:"time"`
	Device  string    `json:"device"`
	Serial  string    `json:"serial"`
	Enabled bool      `json:"enabled"`
	// Duration is a timed change's ISO 8601 duration (PT1H0M0S), Until
	// its end time (22:00); both empty for an untimed one.
	Duration string `json:"duration"`
	Until    string `json:"until,omitempty"`
	// Via is how it came: status (PUT /api/dnd/status), sequence (a
	// DoNotDisturb node) or expiry (a timed one ended).
	Via string `json:"via"`
}

// validateEchoState reports the problems of the Echo-side fields.
func (h Household) validateEchoState() []error {
	var errs []error
	bySerial := map[string]Echo{}
	for _, e := range h.Echos {
		bySerial[e.Serial] = e
	}
	for i, e := range h.Echos {
		where := labelled(fmt.Sprintf("echos[%d]", i), e.Name)
		if e.Volume != nil && (*e.Volume < 0 || *e.Volume > 100) {
			errs = append(errs, fmt.Errorf("%s: volume %d is out of range 0..100", where, *e.Volume))
		}
		if e.DNDUntil != nil && !e.DND {
			errs = append(errs, fmt.Errorf("%s: dnd_until needs dnd true", where))
		}
		errs = append(errs, checkGroup(where, e, bySerial)...)
	}
	errs = append(errs, h.validateRoutines()...)
	errs = append(errs, h.validatePlayers()...)
	return errs
}

// checkGroup checks a speaker group's members: only a WHA Echo has them,
// at least one, each another non-group Echo, once.
func checkGroup(where string, e Echo, bySerial map[string]Echo) []error {
	if e.Family != familyGroup {
		if len(e.Members) > 0 {
			return []error{fmt.Errorf("%s: members need family %q", where, familyGroup)}
		}
		return nil
	}
	if len(e.Members) == 0 {
		return []error{fmt.Errorf("%s: a speaker group needs members", where)}
	}
	var errs []error
	seen := map[string]bool{}
	for j, m := range e.Members {
		member, ok := bySerial[m]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("%s: members[%d] %q is no Echo's serial", where, j, m))
		case member.Family == familyGroup:
			errs = append(errs, fmt.Errorf("%s: members[%d] %q is a speaker group itself", where, j, m))
		case seen[m]:
			errs = append(errs, fmt.Errorf("%s: members[%d] %q is listed twice", where, j, m))
		}
		seen[m] = true
	}
	return errs
}

func (h Household) validateRoutines() []error {
	var errs []error
	ids := map[string]bool{}
	for i, r := range h.Routines {
		where := labelled(fmt.Sprintf("routines[%d]", i), r.Name)
		if r.displayName() == "" {
			errs = append(errs, fmt.Errorf("%s: needs a name or an utterance", where))
			continue
		}
		for j, u := range r.Utterances {
			if strings.TrimSpace(u) == "" {
				errs = append(errs, fmt.Errorf("%s: utterances[%d] is empty", where, j))
			}
		}
		id := r.automationID()
		if ids[id] {
			errs = append(errs, fmt.Errorf("%s: duplicate id %q (ids are made from the name)", where, id))
		}
		ids[id] = true
		if len(r.Sequence) > 0 {
			if _, err := parseSequence(r.Sequence, true); err != nil {
				errs = append(errs, fmt.Errorf("%s: sequence: %w", where, err))
			}
		}
	}
	return errs
}

func (h Household) validatePlayers() []error {
	var errs []error
	seen := map[string]bool{}
	for i, p := range h.Players {
		where := fmt.Sprintf("players[%d]", i)
		e, ok := h.findEcho(p.Echo)
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("%s: echo %q is no Echo's name or serial", where, p.Echo))
		case p.Serial != "" && p.Serial != e.Serial:
			errs = append(errs, fmt.Errorf("%s: serial %q is not the serial of %q", where, p.Serial, p.Echo))
		case seen[e.Serial]:
			errs = append(errs, fmt.Errorf("%s: a second player for %q", where, p.Echo))
		}
		seen[e.Serial] = true
		if !slices.Contains(playerStates, p.State) {
			errs = append(errs, fmt.Errorf("%s: state %q is not one of %v", where, p.State, playerStates))
		}
		if p.Position < 0 || p.Length < 0 {
			errs = append(errs, fmt.Errorf("%s: position and length must not be negative", where))
		}
		if p.Volume != nil && (*p.Volume < 0 || *p.Volume > 100) {
			errs = append(errs, fmt.Errorf("%s: volume %d is out of range 0..100", where, *p.Volume))
		}
	}
	return errs
}

// findEcho finds an Echo by name (case-insensitive) or serial.
func (h Household) findEcho(nameOrSerial string) (Echo, bool) {
	for _, e := range h.Echos {
		if e.Serial == nameOrSerial || strings.EqualFold(e.Name, nameOrSerial) {
			return e, true
		}
	}
	return Echo{}, false
}

// cloneEchoState makes the nil slices of the Echo-side fields empty.
func (h *Household) cloneEchoState() {
	if h.Routines == nil {
		h.Routines = []Routine{}
	}
	for i := range h.Routines {
		if h.Routines[i].Utterances == nil {
			h.Routines[i].Utterances = []string{}
		}
	}
	if h.Players == nil {
		h.Players = []Player{}
	}
	for i := range h.Players {
		if h.Players[i].Commands == nil {
			h.Players[i].Commands = []string{}
		}
	}
	if h.Spoken == nil {
		h.Spoken = []Spoken{}
	}
	if h.DND == nil {
		h.DND = []DNDChange{}
	}
}

// completeEchoState fills in what the server makes of a valid household:
// routine ids and default sequences, player serials, volumes and media
// ids.
func (h *Household) completeEchoState() {
	for i := range h.Routines {
		r := &h.Routines[i]
		r.ID = r.automationID()
		if len(r.Sequence) == 0 {
			r.Sequence = defaultRoutineSequence(*r)
		}
		r.Sequence = withSequenceID(r.Sequence, "amzn1.alexa.sequence."+nameID(r.displayName()))
	}
	for i := range h.Players {
		p := &h.Players[i]
		e, _ := h.findEcho(p.Echo) // validated
		p.Serial = e.Serial
		if p.Volume == nil {
			v := echoVolume(e)
			p.Volume = &v
		}
		if p.MediaID == "" {
			p.MediaID = newUUID()
		}
	}
}

func echoVolume(e Echo) int {
	if e.Volume == nil {
		return defaultEchoVolume
	}
	return *e.Volume
}

// nameID makes a stable UUID-shaped id from a name.
func nameID(name string) string {
	b := sha256.Sum256([]byte(strings.ToLower(normalizeSpace(name))))
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func normalizeSpace(s string) string { return strings.Join(strings.Fields(s), " ") }

// automationID is the routine's id: the one given, else made from its
// name.
func (r Routine) automationID() string {
	if r.ID != "" {
		return r.ID
	}
	return "amzn1.alexa.automation." + nameID(r.displayName())
}

// defaultRoutineSequence is a routine's sequence when the household gives
// none: "Running <name>" spoken on the Echo the routine runs on, with the
// placeholders clients replace (completeEchoState adds its sequenceId).
func defaultRoutineSequence(r Routine) json.RawMessage {
	seq := map[string]any{
		"@type": typeSequence,
		"startNode": map[string]any{
			"@type": typeSerial,
			"name":  nil,
			"nodesToExecute": []any{map[string]any{
				"@type":   typeOperation,
				"type":    nodeSpeak,
				"skillId": nodeSpecs[nodeSpeak].skill,
				"operationPayload": map[string]any{
					"deviceType":         "ALEXA_CURRENT_DEVICE_TYPE",
					"deviceSerialNumber": "ALEXA_CURRENT_DSN",
					"locale":             "ALEXA_CURRENT_LOCALE",
					"customerId":         "ALEXA_CUSTOMER_ID",
					"textToSpeak":        "Running " + r.displayName(),
				},
			}},
		},
	}
	b, err := json.Marshal(seq)
	if err != nil {
		panic(fmt.Sprintf("sim: marshal routine sequence: %v", err))
	}
	return b
}

// errNoEcho reports a device serial the household does not have.
var errNoEcho = errors.New("unknown device")

// withSequenceID gives a stored sequence (a valid Sequence object) the
// sequenceId an automation's sequence has, when it has none.
func withSequenceID(seq json.RawMessage, id string) json.RawMessage {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(seq, &m); err != nil || m["sequenceId"] != nil {
		return seq
	}
	m["sequenceId"], _ = json.Marshal(id) // a string always marshals
	b, err := json.Marshal(m)
	if err != nil {
		panic(fmt.Sprintf("sim: marshal routine sequence: %v", err))
	}
	return b
}
