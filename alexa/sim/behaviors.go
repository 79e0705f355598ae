package sim

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// POST /api/behaviors/preview: every "make the Echo do something" call
// (research/echo-voice-media-api.md §2, §11.1). The simulator validates
// the whole sequence before any of it takes effect, records what the
// Echos were made to say in the household's "spoken" log, applies volume,
// stop and Do Not Disturb, and pushes what Amazon pushes for them.

// previewBehavior is the behaviorId of an ad-hoc sequence.
const previewBehavior = "PREVIEW"

// Values of PUT /_sim/auth customer_id_check.
const (
	customerCheckReject = "reject"
	customerCheckIgnore = "ignore"
)

// previewRequest is the body of POST /api/behaviors/preview.
type previewRequest struct {
	BehaviorID   string          `json:"behaviorId"`
	SequenceJSON json.RawMessage `json:"sequenceJson"`
	Status       string          `json:"status"`
}

// pendingPush is a push decided under s.mu and sent after it is released.
type pendingPush struct {
	command string
	payload any
}

func (s *Server) sendPending(pushes []pendingPush) {
	for _, p := range pushes {
		s.pushJSON(p.command, p.payload)
	}
}

// changeAndPush runs change with s.mu held, then sends the pushes it
// decided; when it fails, it answers 400 with its error and reports false.
func (s *Server) changeAndPush(w http.ResponseWriter, change func() ([]pendingPush, error)) bool {
	s.mu.Lock()
	pushes, err := change()
	s.mu.Unlock()
	if err != nil {
		writeWebErr(w, http.StatusBadRequest, err)
		return false
	}
	s.sendPending(pushes)
	return true
}

func (s *Server) handlePreview(w http.ResponseWriter, r *http.Request) {
	seq, behaviorID, err := readPreview(r)
	if err != nil {
		writeWebErr(w, http.StatusBadRequest, err)
		return
	}
	if !s.changeAndPush(w, func() ([]pendingPush, error) { return s.runSequenceLocked(behaviorID, seq) }) {
		return
	}
	// Amazon's answer: 200 with an empty body (research §2 "Response").
	w.Header().Set("Content-Type", "application/octet-stream")
	w.WriteHeader(http.StatusOK)
}

// readPreview decodes the outer body and parses sequenceJson, a string
// holding the Sequence.
func readPreview(r *http.Request) (sequence, string, error) {
	var req previewRequest
	if err := decodeOne(r, &req); err != nil {
		return sequence{}, "", fmt.Errorf("body is not a JSON object: %w", err)
	}
	var text string
	if err := json.Unmarshal(req.SequenceJSON, &text); err != nil || len(req.SequenceJSON) == 0 {
		return sequence{}, "", errors.New("sequenceJson is missing or not a string (the Sequence JSON, stringified)")
	}
	if req.Status != "ENABLED" {
		return sequence{}, "", fmt.Errorf("status %q is not ENABLED", req.Status)
	}
	if req.BehaviorID == "" {
		return sequence{}, "", errors.New("behaviorId is missing (PREVIEW or an automationId)")
	}
	seq, err := parseSequence([]byte(text), false)
	return seq, req.BehaviorID, err
}

// decodeOne decodes a request body holding one JSON object.
func decodeOne(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body) // serveAPI has read it, up to maxBody
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("unexpected data after the JSON value")
	}
	return nil
}

// runSequenceLocked validates seq against the household (devices,
// customer id, the routine behaviorId names), then applies it; s.mu is
// held. Nothing changes when it fails.
func (s *Server) runSequenceLocked(behaviorID string, seq sequence) ([]pendingPush, error) {
	routine, err := s.routineForLocked(behaviorID, seq.id)
	if err != nil {
		return nil, err
	}
	targets := make([][]*Echo, len(seq.ops))
	for i, o := range seq.ops {
		if err := s.checkCustomerLocked(o); err != nil {
			return nil, err
		}
		if targets[i], err = s.resolveLocked(o); err != nil {
			return nil, err
		}
	}
	s.expireDNDLocked()
	run := &sequenceRun{s: s, now: s.opts.Now()}
	if routine != nil {
		run.routine = routine.displayName()
		var on *Echo
		if i := slices.IndexFunc(targets, func(t []*Echo) bool { return len(t) > 0 }); i >= 0 {
			on = targets[i][0]
		}
		run.spoken(on, Spoken{Kind: "routine"})
	}
	for i, o := range seq.ops {
		for _, e := range targets[i] {
			run.apply(o, e)
		}
	}
	return run.pushes, nil
}

// routineForLocked returns the routine behaviorId names (nil for
// PREVIEW); a sequenceId sent with it must be the routine's.
func (s *Server) routineForLocked(behaviorID, sequenceID string) (*Routine, error) {
	if behaviorID == previewBehavior {
		return nil, nil
	}
	i := slices.IndexFunc(s.household.Routines, func(r Routine) bool { return r.ID == behaviorID })
	if i < 0 {
		return nil, fmt.Errorf("behaviorId %q is neither PREVIEW nor an automationId", behaviorID)
	}
	r := &s.household.Routines[i]
	if sequenceID != "" {
		stored, err := parseSequence(r.Sequence, true)
		if err == nil && stored.id != "" && stored.id != sequenceID {
			return nil, fmt.Errorf("sequenceId %q is not the sequence of automation %q", sequenceID, behaviorID)
		}
	}
	return r, nil
}

// checkCustomerLocked checks the node's customerId (and its target's)
// against the signed-in customer, unless customer_id_check is ignore.
func (s *Server) checkCustomerLocked(o op) error {
	if s.app.settings.CustomerIDCheck == customerCheckIgnore || nodeSpecs[o.typ].noCustomer {
		return nil
	}
	if _, ok := o.payload["customerId"]; !ok {
		return fmt.Errorf("%s (%s): customerId is missing", o.path, o.typ)
	}
	ids := []string{o.payload.str("customerId")}
	if t := o.payload.obj("target"); t != nil && t["customerId"] != nil {
		ids = append(ids, t.str("customerId"))
	}
	for _, id := range ids {
		if id != simUserID {
			return fmt.Errorf("%s (%s): customerId %q is not the signed-in customer's (/api/users/me id)", o.path, o.typ, id)
		}
	}
	return nil
}

// resolveLocked finds the Echos a node targets; s.mu is held.
func (s *Server) resolveLocked(o op) ([]*Echo, error) {
	var echos []*Echo
	add := func(e *Echo) {
		if !slices.Contains(echos, e) {
			echos = append(echos, e)
		}
	}
	for _, ref := range o.devices {
		if ref.serial == allDevices && (o.typ == nodeStop || o.typ == nodeDND) {
			for i := range s.household.Echos {
				if s.household.Echos[i].Family != familyGroup {
					add(&s.household.Echos[i])
				}
			}
			continue
		}
		e := s.echoLocked(ref.serial)
		switch {
		case e == nil:
			return nil, fmt.Errorf("%s (%s): %w serial %q", o.path, o.typ, errNoEcho, ref.serial)
		case ref.typ == "":
			return nil, fmt.Errorf("%s (%s): the device type of %q is missing", o.path, o.typ, ref.serial)
		case ref.typ != e.Type:
			return nil, fmt.Errorf("%s (%s): device type %q is not the type of %q (%s)", o.path, o.typ, ref.typ, ref.serial, e.Type)
		}
		add(e)
	}
	return echos, nil
}

// sequenceRun applies one validated sequence; s.mu is held.
type sequenceRun struct {
	s       *Server
	now     time.Time
	routine string
	pushes  []pendingPush
}

// spoken logs an entry for e (none when nil).
func (run *sequenceRun) spoken(e *Echo, entry Spoken) {
	entry.Time, entry.Routine = run.now, run.routine
	if e != nil {
		entry.Device, entry.Serial = e.Name, e.Serial
	}
	run.s.household.Spoken = append(run.s.household.Spoken, entry)
}

// apply makes one node take effect on one of its Echos. Node types
// without an effect here (Wait, weather, mobile push, ...) are accepted
// and not logged.
func (run *sequenceRun) apply(o op, e *Echo) {
	switch o.typ {
	case nodeSpeak:
		run.spoken(e, Spoken{Kind: "speak", Text: o.payload.str("textToSpeak")})
	case nodeAnnouncement:
		a, _ := readAnnouncement(o.payload) // validated
		run.spoken(e, Spoken{Kind: a.kind, Text: a.text, Title: a.title})
	case nodeSound:
		run.spoken(e, Spoken{Kind: "sound", Text: o.payload.str("soundStringId")})
	case nodeTextCommand:
		run.spoken(e, Spoken{Kind: "command", Text: o.payload.str("text")})
	case nodeVolume:
		v, _ := intValue(o.payload["value"]) // validated
		run.spoken(e, Spoken{Kind: "volume", Text: strconv.Itoa(v), Volume: &v})
		run.pushes = append(run.pushes, run.s.setVolumeLocked(e, v))
	case nodeStop:
		run.spoken(e, Spoken{Kind: "stop"})
		if p := run.s.playerLocked(e.Serial); p != nil && p.State == "PLAYING" {
			p.State = "PAUSED"
			run.pushes = append(run.pushes, audioPlayerPush(e, p, "INTERRUPTED"))
		}
	case nodeDND:
		d, _ := readDND(o.payload) // validated
		run.pushes = append(run.pushes, run.s.setDNDLocked(e, d, "sequence"))
	}
}

// volumeChange is the PUSH_VOLUME_CHANGE payload.
type volumeChange struct {
	DestinationUserID string    `json:"destinationUserId"`
	DopplerID         dopplerID `json:"dopplerId"`
	VolumeSetting     int       `json:"volumeSetting"`
	IsMuted           bool      `json:"isMuted"`
}

// setVolumeLocked sets e's volume (and its player's) and returns the push
// that says so; s.mu is held.
func (s *Server) setVolumeLocked(e *Echo, v int) pendingPush {
	e.Volume = &v
	muted := false
	if p := s.playerLocked(e.Serial); p != nil {
		p.Volume = &v
		muted = p.Muted
	}
	return pendingPush{"PUSH_VOLUME_CHANGE", volumeChange{
		DestinationUserID: simCustomerID,
		DopplerID:         doppler(e),
		VolumeSetting:     v,
		IsMuted:           muted,
	}}
}
