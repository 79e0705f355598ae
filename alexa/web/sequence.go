package web

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// ActionKind is what Perform makes Echos do.
type ActionKind string

// The actions Perform sends as behaviors/preview sequences (research §2).
const (
	ActionSpeak    ActionKind = "speak"    // Alexa.Speak: Text in the Echo's voice
	ActionAnnounce ActionKind = "announce" // AlexaAnnouncement: chime, then Text; Title on screens
	ActionSSML     ActionKind = "ssml"     // AlexaAnnouncement of SSML: Text starts with <speak>
	ActionSound    ActionKind = "sound"    // Alexa.Sound: Text is the sound id (amzn_sfx_doorbell_chime_01)
	ActionCommand  ActionKind = "command"  // Alexa.TextCommand: Text as if said to Alexa
	ActionVolume   ActionKind = "volume"   // Alexa.DeviceControls.Volume: Volume 0..100
	ActionStop     ActionKind = "stop"     // Alexa.DeviceControls.Stop: stop what plays
	ActionDND      ActionKind = "dnd"      // Alexa.DeviceControls.DoNotDisturb: Enable, for Duration
)

// Action is one thing Perform makes its target Echos do.
type Action struct {
	Kind        ActionKind
	Text, Title string        // Title: the announcement's title on screens (default "alexarules")
	Volume      int           // ActionVolume
	Enable      bool          // ActionDND
	Duration    time.Duration // ActionDND with Enable: how long (whole seconds, at most 12 h); 0 until turned off
}

// MaxTextLen is the longest text one Speak or announcement node carries
// (alexa-remote's limit; Amazon's own is unknown): longer text is split
// at sentence ends into several nodes.
const MaxTextLen = 250

// MaxDNDDuration is the longest timed Do Not Disturb the node takes.
const MaxDNDDuration = 12 * time.Hour

const (
	previewPath  = "/api/behaviors/preview"
	modelPrefix  = "com.amazon.alexa.behaviors.model."
	defaultTitle = "alexarules"
)

// nodeSpec is one row of the node table: the operation node type and the
// skill it belongs to, and whether one node lists every target device
// (announcement, stop, DND) or each target gets its own node, run in
// parallel.
type nodeSpec struct {
	typ, skill string
	oneNode    bool
}

// nodeTable is every node Perform builds (research §2 table).
var nodeTable = map[ActionKind]nodeSpec{
	ActionSpeak:    {typ: "Alexa.Speak", skill: "amzn1.ask.1p.saysomething"},
	ActionAnnounce: {typ: "AlexaAnnouncement", skill: "amzn1.ask.1p.routines.messaging", oneNode: true},
	ActionSSML:     {typ: "AlexaAnnouncement", skill: "amzn1.ask.1p.routines.messaging", oneNode: true},
	ActionSound:    {typ: "Alexa.Sound", skill: "amzn1.ask.1p.sound"},
	ActionCommand:  {typ: "Alexa.TextCommand", skill: "amzn1.ask.1p.tellalexa"},
	ActionVolume:   {typ: "Alexa.DeviceControls.Volume", skill: "amzn1.ask.1p.alexadevicecontrols"},
	ActionStop:     {typ: "Alexa.DeviceControls.Stop", skill: "amzn1.ask.1p.alexadevicecontrols", oneNode: true},
	ActionDND:      {typ: "Alexa.DeviceControls.DoNotDisturb", skill: "amzn1.ask.1p.alexadevicecontrols", oneNode: true},
}

// Perform makes the targets do a in one POST /api/behaviors/preview: a
// Sequence whose SerialNode holds one node per text part, several targets
// in a ParallelNode or, for announcements, stop and DND, in the node's own
// device list. Bad input (no target, empty text, volume out of range) is
// an ErrInvalid before any request. Success means Amazon accepted the
// sequence, not that an Echo spoke.
func (c *Client) Perform(ctx context.Context, targets []Echo, a Action) error {
	spec, ok := nodeTable[a.Kind]
	if !ok {
		return invalid("action %q: want speak, announce, ssml, sound, command, volume, stop or dnd", a.Kind)
	}
	if len(targets) == 0 {
		return invalid("%s: no target Echo", a.Kind)
	}
	for _, e := range targets {
		if err := checkEcho(e); err != nil {
			return err
		}
	}
	parts, err := actionParts(a)
	if err != nil {
		return err
	}
	customer, err := c.CustomerID(ctx)
	if err != nil {
		return err
	}
	b := builder{customer: customer, locale: c.locale, spec: spec, action: a}
	nodes := make([]any, 0, len(parts))
	for _, p := range parts {
		nodes = append(nodes, b.nodesFor(targets, p))
	}
	return c.preview(ctx, "PREVIEW", sequence{Type: modelPrefix + "Sequence", StartNode: container("SerialNode", nodes)})
}

// actionParts checks a and returns the text of each node to send: the
// cleaned text split for speech, one empty part for actions without text.
func actionParts(a Action) ([]string, error) {
	switch a.Kind {
	case ActionSpeak, ActionAnnounce:
		text := cleanText(a.Text)
		if text == "" {
			return nil, invalid("%s: empty text", a.Kind)
		}
		return splitText(text, MaxTextLen), nil
	case ActionSSML:
		text := strings.TrimSpace(a.Text)
		if !strings.HasPrefix(text, "<speak>") {
			return nil, invalid("ssml must start with <speak>")
		}
		return []string{text}, nil
	case ActionSound, ActionCommand:
		text := cleanText(a.Text)
		if text == "" && a.Kind == ActionSound {
			return nil, invalid("sound: empty sound id")
		}
		if text == "" {
			return nil, invalid("command: empty text")
		}
		return []string{text}, nil
	case ActionVolume:
		if a.Volume < 0 || a.Volume > 100 {
			return nil, invalid("volume %d: want 0..100", a.Volume)
		}
	case ActionDND:
		if a.Duration < 0 || a.Duration > MaxDNDDuration || a.Duration%time.Second != 0 {
			return nil, invalid("do not disturb duration %s: want whole seconds up to 12h", a.Duration)
		}
	}
	return []string{""}, nil
}

// cleanText collapses runs of white space into one space and trims.
func cleanText(s string) string { return strings.Join(strings.Fields(s), " ") }

// sentenceEnd is the end of a sentence: ., ! or ? (repeated, maybe with
// closing quotes) before white space.
var sentenceEnd = regexp.MustCompile(`[.!?…]+["'»)]*\s`)

// splitText cuts cleaned text into parts of at most limit runes: whole
// sentences packed together, a longer sentence cut at word ends, a longer
// word cut where it must.
func splitText(text string, limit int) []string {
	if utf8.RuneCountInString(text) <= limit {
		return []string{text}
	}
	var sentences []string
	rest := text
	for {
		loc := sentenceEnd.FindStringIndex(rest)
		if loc == nil {
			break
		}
		sentences = append(sentences, strings.TrimSpace(rest[:loc[1]]))
		rest = rest[loc[1]:]
	}
	if rest = strings.TrimSpace(rest); rest != "" {
		sentences = append(sentences, rest)
	}
	var units []string
	for _, s := range sentences {
		if utf8.RuneCountInString(s) <= limit {
			units = append(units, s)
			continue
		}
		units = append(units, splitWords(s, limit)...)
	}
	return pack(units, limit)
}

// splitWords cuts a sentence at word ends into parts of at most limit runes.
func splitWords(s string, limit int) []string {
	var words []string
	for w := range strings.FieldsSeq(s) {
		for utf8.RuneCountInString(w) > limit {
			r := []rune(w)
			words = append(words, string(r[:limit]))
			w = string(r[limit:])
		}
		words = append(words, w)
	}
	return pack(words, limit)
}

// pack joins units with spaces into as few parts of at most limit runes as
// keeps their order.
func pack(units []string, limit int) []string {
	var parts []string
	cur, n := "", 0
	for _, u := range units {
		l := utf8.RuneCountInString(u)
		if cur != "" && n+1+l <= limit {
			cur, n = cur+" "+u, n+1+l
			continue
		}
		if cur != "" {
			parts = append(parts, cur)
		}
		cur, n = u, l
	}
	if cur != "" {
		parts = append(parts, cur)
	}
	return parts
}

// tags are SSML tags, dropped from the announcement's display text.
var tags = regexp.MustCompile(`<[^>]+>`)

// builder builds the nodes of one Perform call.
type builder struct {
	customer, locale string
	spec             nodeSpec
	action           Action
}

// nodesFor is the node(s) doing one text part on every target: one node
// listing them all, or one per target in a ParallelNode (the node itself
// for one target).
func (b builder) nodesFor(targets []Echo, part string) any {
	if b.spec.oneNode {
		return b.op(b.groupPayload(targets, part))
	}
	if len(targets) == 1 {
		return b.op(b.devicePayload(targets[0], part))
	}
	nodes := make([]any, 0, len(targets))
	for _, e := range targets {
		nodes = append(nodes, b.op(b.devicePayload(e, part)))
	}
	return container("ParallelNode", nodes)
}

func (b builder) op(payload any) opNode {
	return opNode{Type: modelPrefix + "OpaquePayloadOperationNode", NodeType: b.spec.typ, SkillID: b.spec.skill, OperationPayload: payload}
}

// devicePayload is the payload of a node for one Echo: the base fields
// and the action's own.
func (b builder) devicePayload(e Echo, part string) any {
	base := basePayload{DeviceType: e.Type, DeviceSerialNumber: e.Serial, Locale: b.locale, CustomerID: b.customer}
	switch b.action.Kind {
	case ActionSpeak:
		return speakPayload{base, part}
	case ActionSound:
		return soundPayload{base, part}
	case ActionCommand:
		return commandPayload{base, strings.ToLower(part)}
	default: // ActionVolume
		return volumePayload{base, b.action.Volume}
	}
}

// groupPayload is the payload of a node that lists all its targets.
func (b builder) groupPayload(targets []Echo, part string) any {
	switch b.action.Kind {
	case ActionStop:
		devs := make([]stopDevice, 0, len(targets))
		for _, e := range targets {
			devs = append(devs, stopDevice{e.Serial, e.Type})
		}
		return stopPayload{CustomerID: b.customer, Devices: devs}
	case ActionDND:
		p := dndPayload{CustomerID: b.customer, Devices: targetDevices(targets), Action: "Disable"}
		if b.action.Enable {
			p.Action = "Enable"
			if b.action.Duration > 0 {
				p.Duration = dndDuration(b.action.Duration)
			}
		}
		return p
	default: // announcements
		speakType, body := "text", part
		if b.action.Kind == ActionSSML {
			speakType, body = "ssml", cleanText(tags.ReplaceAllString(part, " "))
		}
		title := cleanText(b.action.Title)
		if title == "" {
			title = defaultTitle
		}
		return announcePayload{
			CustomerID:  b.customer,
			ExpireAfter: "PT5S",
			Content: []announceContent{{Locale: b.locale, Display: announceDisplay{title, body},
				Speak: announceSpeak{speakType, part}}},
			Target: announceTarget{CustomerID: b.customer, Devices: targetDevices(targets)},
		}
	}
}

func targetDevices(targets []Echo) []targetDevice {
	devs := make([]targetDevice, 0, len(targets))
	for _, e := range targets {
		devs = append(devs, targetDevice{e.Serial, e.Type})
	}
	return devs
}

// dndDuration is alexa-remote's duration: DURATION#PT[<h>H]<m>M<s>S.
func dndDuration(d time.Duration) string {
	secs := int(d / time.Second)
	h, m, s := secs/3600, secs%3600/60, secs%60
	out := "DURATION#PT"
	if h > 0 {
		out += fmt.Sprintf("%dH", h)
	}
	return out + fmt.Sprintf("%dM%dS", m, s)
}

// preview sends a Sequence: POST /api/behaviors/preview with the sequence
// as a JSON string; 2xx (an empty body) is success.
func (c *Client) preview(ctx context.Context, behaviorID string, seq any) error {
	seqJSON, err := marshalRaw(seq)
	if err != nil {
		return err
	}
	return c.previewJSON(ctx, behaviorID, string(seqJSON))
}

func (c *Client) previewJSON(ctx context.Context, behaviorID, seqJSON string) error {
	body, err := marshalRaw(previewBody{BehaviorID: behaviorID, SequenceJSON: seqJSON, Status: "ENABLED"})
	if err != nil {
		return err
	}
	_, err = c.send(ctx, "POST", c.web, previewPath, nil, body)
	return err
}

// The wire shapes, fields in alexa-remote's order.
type (
	previewBody struct {
		BehaviorID   string `json:"behaviorId"`
		SequenceJSON string `json:"sequenceJson"`
		Status       string `json:"status"`
	}
	sequence struct {
		Type      string        `json:"@type"`
		StartNode containerNode `json:"startNode"`
	}
	containerNode struct {
		Type           string  `json:"@type"`
		Name           *string `json:"name"`
		NodesToExecute []any   `json:"nodesToExecute"`
	}
	opNode struct {
		Type             string `json:"@type"`
		NodeType         string `json:"type"`
		SkillID          string `json:"skillId"`
		OperationPayload any    `json:"operationPayload"`
	}
	basePayload struct {
		DeviceType         string `json:"deviceType"`
		DeviceSerialNumber string `json:"deviceSerialNumber"`
		Locale             string `json:"locale"`
		CustomerID         string `json:"customerId"`
	}
	speakPayload struct {
		basePayload
		TextToSpeak string `json:"textToSpeak"`
	}
	soundPayload struct {
		basePayload
		SoundStringID string `json:"soundStringId"`
	}
	commandPayload struct {
		basePayload
		Text string `json:"text"`
	}
	volumePayload struct {
		basePayload
		Value int `json:"value"`
	}
	stopDevice struct {
		DeviceSerialNumber string `json:"deviceSerialNumber"`
		DeviceType         string `json:"deviceType"`
	}
	stopPayload struct {
		CustomerID         string       `json:"customerId"`
		Devices            []stopDevice `json:"devices"`
		IsAssociatedDevice bool         `json:"isAssociatedDevice"`
	}
	targetDevice struct {
		DeviceSerialNumber string `json:"deviceSerialNumber"`
		DeviceTypeID       string `json:"deviceTypeId"`
	}
	dndPayload struct {
		CustomerID         string         `json:"customerId"`
		Devices            []targetDevice `json:"devices"`
		IsAssociatedDevice bool           `json:"isAssociatedDevice"`
		Action             string         `json:"action"`
		Duration           string         `json:"duration,omitempty"`
	}
	announcePayload struct {
		CustomerID  string            `json:"customerId"`
		ExpireAfter string            `json:"expireAfter"`
		Content     []announceContent `json:"content"`
		Target      announceTarget    `json:"target"`
	}
	announceContent struct {
		Locale  string          `json:"locale"`
		Display announceDisplay `json:"display"`
		Speak   announceSpeak   `json:"speak"`
	}
	announceDisplay struct {
		Title string `json:"title"`
		Body  string `json:"body"`
	}
	announceSpeak struct {
		Type  string `json:"type"`
		Value string `json:"value"`
	}
	announceTarget struct {
		CustomerID string         `json:"customerId"`
		Devices    []targetDevice `json:"devices"`
	}
)

// container is a SerialNode or ParallelNode.
func container(kind string, nodes []any) containerNode {
	return containerNode{Type: modelPrefix + kind, NodesToExecute: nodes}
}
