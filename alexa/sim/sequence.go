package sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The behaviors/preview sequence model (research/echo-voice-media-api.md
// §2): a Sequence whose startNode is a Serial or Parallel node of
// operation nodes (or one operation node, as alexa-remote sends a single
// command). parseSequence checks the structure and the node table;
// resolving devices and the customer id needs the household (behaviors.go).

// The @types of the sequence model.
const (
	typeSequence  = "com.amazon.alexa.behaviors.model.Sequence"
	typeSerial    = "com.amazon.alexa.behaviors.model.SerialNode"
	typeParallel  = "com.amazon.alexa.behaviors.model.ParallelNode"
	typeOperation = "com.amazon.alexa.behaviors.model.OpaquePayloadOperationNode"
)

// Node types with effects in the simulator.
const (
	nodeSpeak        = "Alexa.Speak"
	nodeAnnouncement = "AlexaAnnouncement"
	nodeSound        = "Alexa.Sound"
	nodeTextCommand  = "Alexa.TextCommand"
	nodeVolume       = "Alexa.DeviceControls.Volume"
	nodeStop         = "Alexa.DeviceControls.Stop"
	nodeDND          = "Alexa.DeviceControls.DoNotDisturb"
)

// maxSpeakText is the longest text a speech node may carry (alexa-remote's
// limit; Amazon's own is unknown).
const maxSpeakText = 250

// maxDNDDuration is the longest timed Do Not Disturb (alexa-remote).
const maxDNDDuration = 12 * time.Hour

// placeholders are the values clients must replace before sending;
// ALEXA_ALL_DSN and ALEXA_ALL_DEVICE_TYPE are Amazon's own "every device"
// and stay.
var placeholders = []string{"ALEXA_CURRENT_DSN", "ALEXA_CURRENT_DEVICE_TYPE", "ALEXA_CUSTOMER_ID", "ALEXA_CURRENT_LOCALE"}

// allDevices is the serial that stands for every Echo in Stop and
// DoNotDisturb nodes.
const allDevices = "ALEXA_ALL_DSN"

// payload is an operationPayload, decoded with numbers kept as written.
type opPayload map[string]any

func (p opPayload) str(key string) string {
	s, _ := p[key].(string)
	return s
}

func (p opPayload) obj(key string) opPayload {
	m, _ := p[key].(map[string]any)
	return m
}

func (p opPayload) list(key string) []any {
	l, _ := p[key].([]any)
	return l
}

// deviceRef names a target device as a node does.
type deviceRef struct {
	serial, typ string
}

// nodeSpec is what the simulator knows of one node type.
type nodeSpec struct {
	// skill is the skillId the node must carry; "" when the research
	// records none (any or none is accepted).
	skill string
	// devices reads the target devices (nil: the base payload's).
	devices func(opPayload) ([]deviceRef, error)
	// check validates the type's own fields.
	check func(opPayload) error
	// noCustomer marks types that carry no customerId.
	noCustomer bool
}

// nodeSpecs is research §2's node table.
var nodeSpecs = map[string]nodeSpec{
	nodeSpeak:        {skill: "amzn1.ask.1p.saysomething", check: checkSpeak},
	nodeAnnouncement: {skill: "amzn1.ask.1p.routines.messaging", devices: announcementDevices, check: checkAnnouncement},
	nodeSound:        {skill: "amzn1.ask.1p.sound", check: requireString("soundStringId")},
	"Alexa.Notifications.SendMobilePush": {skill: "amzn1.ask.1p.routines.messaging", devices: noDevices,
		check: requireString("notificationMessage")},
	nodeTextCommand:         {skill: "amzn1.ask.1p.tellalexa", check: checkTextCommand},
	"Alexa.CannedTts.Speak": {skill: "amzn1.ask.1p.saysomething", check: requireString("cannedTtsStringId")},
	nodeVolume:              {skill: "amzn1.ask.1p.alexadevicecontrols", check: checkVolume},
	nodeStop:                {skill: "amzn1.ask.1p.alexadevicecontrols", devices: listedDevices("deviceType")},
	nodeDND:                 {skill: "amzn1.ask.1p.alexadevicecontrols", devices: listedDevices("deviceTypeId"), check: checkDND},
	"Alexa.System.Wait":     {devices: noDevices, check: checkWait, noCustomer: true},
	"Alexa.Operation.SkillConnections.Launch": {devices: launchDevices},
	"Alexa.SmartHome.Batch":                   {skill: "amzn1.ask.1p.smarthome", devices: noDevices},
	"Alexa.Weather.Play":                      {},
	"Alexa.Traffic.Play":                      {},
	"Alexa.FlashBriefing.Play":                {},
	"Alexa.GoodMorning.Play":                  {},
	"Alexa.FunFact.Play":                      {},
	"Alexa.Joke.Play":                         {},
	"Alexa.CleanUp.Play":                      {},
	"Alexa.SingASong.Play":                    {},
	"Alexa.TellStory.Play":                    {},
	"Alexa.Calendar.PlayToday":                {},
	"Alexa.Calendar.PlayTomorrow":             {},
	"Alexa.Calendar.PlayNext":                 {},
}

// op is one operation node of a parsed sequence.
type op struct {
	path    string // where it is, for messages: startNode.nodesToExecute[1]
	typ     string
	payload opPayload
	devices []deviceRef
}

// sequence is a parsed, structurally valid Sequence.
type sequence struct {
	id  string // sequenceId, "" when absent
	ops []op
}

// parseSequence parses a Sequence JSON. Unless template, an unreplaced
// placeholder anywhere in it is an error (routines stored in the household
// are templates).
func parseSequence(text []byte, template bool) (sequence, error) {
	dec := json.NewDecoder(bytes.NewReader(text))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return sequence{}, fmt.Errorf("sequenceJson is not JSON: %w", err)
	}
	if dec.More() {
		return sequence{}, errors.New("sequenceJson: unexpected data after the JSON value")
	}
	if !template {
		if err := findPlaceholder(v, "sequence"); err != nil {
			return sequence{}, err
		}
	}
	root, ok := v.(map[string]any)
	if !ok {
		return sequence{}, errors.New("sequenceJson is not a JSON object")
	}
	if t, _ := root["@type"].(string); t != typeSequence {
		return sequence{}, fmt.Errorf("sequence: unknown @type %q (want %s)", t, typeSequence)
	}
	var seq sequence
	if id, ok := root["sequenceId"]; ok && id != nil {
		s, isStr := id.(string)
		if !isStr {
			return sequence{}, errors.New("sequence: sequenceId is not a string")
		}
		seq.id = s
	}
	start, ok := root["startNode"]
	if !ok || start == nil {
		return sequence{}, errors.New("sequence: startNode is missing")
	}
	if err := seq.walk(start, "startNode"); err != nil {
		return sequence{}, err
	}
	return seq, nil
}

// findPlaceholder reports the first string under v holding a placeholder.
func findPlaceholder(v any, path string) error {
	switch x := v.(type) {
	case string:
		for _, p := range placeholders {
			if strings.Contains(x, p) {
				return fmt.Errorf("%s: unreplaced placeholder %s", path, p)
			}
		}
	case map[string]any:
		for k, e := range x {
			if err := findPlaceholder(e, path+"."+k); err != nil {
				return err
			}
		}
	case []any:
		for i, e := range x {
			if err := findPlaceholder(e, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	}
	return nil
}

// walk adds the operation nodes under node, depth first, in order.
func (seq *sequence) walk(node any, path string) error {
	n, ok := node.(map[string]any)
	if !ok {
		return fmt.Errorf("%s: not a JSON object", path)
	}
	switch t, _ := n["@type"].(string); t {
	case typeSerial, typeParallel:
		children, ok := n["nodesToExecute"].([]any)
		if !ok {
			return fmt.Errorf("%s: nodesToExecute is missing or not an array", path)
		}
		for i, c := range children {
			if err := seq.walk(c, fmt.Sprintf("%s.nodesToExecute[%d]", path, i)); err != nil {
				return err
			}
		}
		return nil
	case typeOperation:
		o, err := parseOp(n, path)
		if err != nil {
			return err
		}
		seq.ops = append(seq.ops, o)
		return nil
	default:
		return fmt.Errorf("%s: unknown @type %q", path, t)
	}
}

// parseOp validates one operation node against the node table.
func parseOp(n map[string]any, path string) (op, error) {
	typ, _ := n["type"].(string)
	spec, ok := nodeSpecs[typ]
	if !ok {
		return op{}, fmt.Errorf("%s: unknown node type %q", path, typ)
	}
	p, ok := n["operationPayload"].(map[string]any)
	if !ok {
		return op{}, fmt.Errorf("%s (%s): operationPayload is missing or not an object", path, typ)
	}
	// alexa-remote puts skillId on the node, alexapy and aioamazondevices
	// in the payload; Amazon accepts both.
	skill, _ := n["skillId"].(string)
	if skill == "" {
		skill = opPayload(p).str("skillId")
	}
	if spec.skill != "" && skill != spec.skill {
		return op{}, fmt.Errorf("%s (%s): skillId %q is not the type's skill %q", path, typ, skill, spec.skill)
	}
	o := op{path: path, typ: typ, payload: p}
	if spec.check != nil {
		if err := spec.check(o.payload); err != nil {
			return op{}, fmt.Errorf("%s (%s): %w", path, typ, err)
		}
	}
	devices := baseDevice
	if spec.devices != nil {
		devices = spec.devices
	}
	refs, err := devices(o.payload)
	if err != nil {
		return op{}, fmt.Errorf("%s (%s): %w", path, typ, err)
	}
	o.devices = refs
	return o, nil
}

// baseDevice reads the base payload's deviceSerialNumber and deviceType.
func baseDevice(p opPayload) ([]deviceRef, error) {
	serial := p.str("deviceSerialNumber")
	if serial == "" {
		return nil, errors.New("deviceSerialNumber is missing")
	}
	return []deviceRef{{serial: serial, typ: p.str("deviceType")}}, nil
}

func noDevices(opPayload) ([]deviceRef, error) { return nil, nil }

// announcementDevices reads target.devices: every device the one
// announcement goes to.
func announcementDevices(p opPayload) ([]deviceRef, error) {
	return deviceList(p.obj("target").list("devices"), "target.devices", "deviceTypeId")
}

// listedDevices reads a "devices" list whose type field is typeKey.
func listedDevices(typeKey string) func(opPayload) ([]deviceRef, error) {
	return func(p opPayload) ([]deviceRef, error) { return deviceList(p.list("devices"), "devices", typeKey) }
}

func launchDevices(p opPayload) ([]deviceRef, error) {
	t := p.obj("targetDevice")
	if t == nil {
		return nil, errors.New("targetDevice is missing")
	}
	return baseDevice(t)
}

func deviceList(list []any, where, typeKey string) ([]deviceRef, error) {
	if len(list) == 0 {
		return nil, fmt.Errorf("%s is missing or empty", where)
	}
	refs := make([]deviceRef, 0, len(list))
	for i, d := range list {
		m, _ := d.(map[string]any)
		serial := opPayload(m).str("deviceSerialNumber")
		if serial == "" {
			return nil, fmt.Errorf("%s[%d]: deviceSerialNumber is missing", where, i)
		}
		refs = append(refs, deviceRef{serial: serial, typ: opPayload(m).str(typeKey)})
	}
	return refs, nil
}

// checkText checks a text an Echo is to speak.
func checkText(field, text string) error {
	switch n := utf8.RuneCountInString(text); {
	case strings.TrimSpace(text) == "":
		return fmt.Errorf("%s is empty", field)
	case n > maxSpeakText:
		return fmt.Errorf("%s is %d characters, more than %d", field, n, maxSpeakText)
	}
	return nil
}

func checkSpeak(p opPayload) error { return checkText("textToSpeak", p.str("textToSpeak")) }

func checkTextCommand(p opPayload) error { return checkText("text", p.str("text")) }

// announcement is the content of an AlexaAnnouncement node.
type announcement struct {
	kind, title, text string
}

// tags matches SSML tags, which display.body leaves out.
var tags = regexp.MustCompile(`<[^>]+>`)

func readAnnouncement(p opPayload) (announcement, error) {
	content := p.list("content")
	if len(content) == 0 {
		return announcement{}, errors.New("content is missing or empty")
	}
	c, _ := content[0].(map[string]any)
	speak := opPayload(c).obj("speak")
	a := announcement{title: opPayload(c).obj("display").str("title"), text: speak.str("value")}
	switch typ := speak.str("type"); typ {
	case "text":
		a.kind = "announce"
		return a, checkText("content[0].speak.value", a.text)
	case "ssml":
		a.kind = "ssml"
		if !strings.HasPrefix(a.text, "<speak>") {
			return announcement{}, errors.New("content[0].speak.value: SSML must start with <speak>")
		}
		return a, checkText("content[0].speak.value without tags", tags.ReplaceAllString(a.text, ""))
	default:
		return announcement{}, fmt.Errorf("content[0].speak.type %q is not text or ssml", typ)
	}
}

func checkAnnouncement(p opPayload) error {
	_, err := readAnnouncement(p)
	return err
}

func requireString(key string) func(opPayload) error {
	return func(p opPayload) error {
		if strings.TrimSpace(p.str(key)) == "" {
			return fmt.Errorf("%s is missing or empty", key)
		}
		return nil
	}
}

// intValue reads an integer given as a JSON number or a numeric string.
func intValue(v any) (int, bool) {
	var s string
	switch x := v.(type) {
	case json.Number:
		s = x.String()
	case string:
		s = x
	default:
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}

func checkVolume(p opPayload) error {
	v, ok := intValue(p["value"])
	if !ok || v < 0 || v > 100 {
		return fmt.Errorf("value %v is not an integer 0..100", p["value"])
	}
	return nil
}

func checkWait(p opPayload) error {
	if v, ok := intValue(p["waitTimeInSeconds"]); !ok || v < 0 {
		return fmt.Errorf("waitTimeInSeconds %v is not a non-negative integer", p["waitTimeInSeconds"])
	}
	return nil
}

// dndSetting is what a DoNotDisturb node asks for.
type dndSetting struct {
	enable   bool
	duration time.Duration // > 0: timed
	iso      string        // the duration as sent, without DURATION#
	until    string        // hh:mm as sent, without TIME#T
	zone     string        // timeZoneId of an until
}

// isoDuration matches the durations alexa-remote builds: PT[nH][nM][nS].
var isoDuration = regexp.MustCompile(`^PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?$`)

// untilTime matches alexa-remote's TIME#Thh:mm.
var untilTime = regexp.MustCompile(`^T([01]\d|2[0-3]):([0-5]\d)$`)

func readDND(p opPayload) (dndSetting, error) {
	var d dndSetting
	switch a := p.str("action"); a {
	case "Enable":
		d.enable = true
	case "Disable":
	default:
		return d, fmt.Errorf("action %q is not Enable or Disable", a)
	}
	if raw, ok := p["duration"]; ok && raw != nil {
		s, _ := raw.(string)
		iso, ok := strings.CutPrefix(s, "DURATION#")
		m := isoDuration.FindStringSubmatch(iso)
		if !ok || m == nil || iso == "PT" {
			return d, fmt.Errorf("duration %v is not DURATION#PT<h>H<m>M<s>S", raw)
		}
		for i, unit := range []time.Duration{time.Hour, time.Minute, time.Second} {
			n, _ := strconv.Atoi(m[i+1]) // "" reads as 0
			d.duration += time.Duration(n) * unit
		}
		if d.duration <= 0 || d.duration > maxDNDDuration {
			return d, fmt.Errorf("duration %s is not above 0 and at most 12h", iso)
		}
		d.iso = iso
	}
	if raw, ok := p["until"]; ok && raw != nil {
		s, _ := raw.(string)
		t, ok := strings.CutPrefix(s, "TIME#")
		if !ok || !untilTime.MatchString(t) {
			return d, fmt.Errorf("until %v is not TIME#Thh:mm", raw)
		}
		if d.iso != "" {
			return d, errors.New("duration and until exclude each other")
		}
		d.until, d.zone = strings.TrimPrefix(t, "T"), p.str("timeZoneId")
	}
	return d, nil
}

func checkDND(p opPayload) error {
	_, err := readDND(p)
	return err
}
