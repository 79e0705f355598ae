package sim

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// VoiceRequest is the body of POST /_sim/voice: an utterance spoken to an
// Echo. Type is its utteranceType: GENERAL (default), WAKE_WORD_ONLY,
// DEVICE_ARBITRATION, FALSE_WAKE_WORD_1P, or ROUTINES_3P (a routine's
// record, with no device and no push).
type VoiceRequest struct {
	Device  string `json:"device"` // name (any case) or serial
	Text    string `json:"text"`
	Reply   string `json:"reply"`
	Person  string `json:"person"`
	DelayMS *int   `json:"delay_ms"` // until the history serves it; default 1000
	Type    string `json:"type"`
}

// VoiceAnswer is the answer of POST /_sim/voice.
type VoiceAnswer struct {
	Record  string    `json:"record"` // the recordKey / activityKey
	Time    time.Time `json:"time"`
	Visible time.Time `json:"visible"`
	Clients int       `json:"clients"` // push clients that got the burst
}

var voiceTypes = []string{"GENERAL", "WAKE_WORD_ONLY", "DEVICE_ARBITRATION", "FALSE_WAKE_WORD_1P", "ROUTINES_3P"}

// Voice puts an utterance into the voice history and sends the push
// burst a real Echo sends when it hears its wake word: PUSH_VOLUME_CHANGE
// with the volume unchanged, then PUSH_EQUALIZER_STATE_CHANGE.
func (s *Server) Voice(req VoiceRequest) (VoiceAnswer, error) {
	if req.Type == "" {
		req.Type = "GENERAL"
	}
	req.Type = strings.ToUpper(req.Type)
	if !slices.Contains(voiceTypes, req.Type) {
		return VoiceAnswer{}, fmt.Errorf("type %q: want one of %s", req.Type, strings.Join(voiceTypes, ", "))
	}
	delay := DefaultVoiceDelay
	if req.DelayMS != nil {
		if *req.DelayMS < 0 {
			return VoiceAnswer{}, fmt.Errorf("delay_ms %d: must not be negative", *req.DelayMS)
		}
		delay = time.Duration(*req.DelayMS) * time.Millisecond
	}
	if strings.TrimSpace(req.Text) == "" && req.Type != "WAKE_WORD_ONLY" {
		return VoiceAnswer{}, fmt.Errorf("text is required")
	}
	rec, volume, err := s.addVoiceRecord(req, delay)
	if err != nil {
		return VoiceAnswer{}, err
	}
	ans := VoiceAnswer{Record: rec.Key, Time: rec.Time, Visible: rec.Visible}
	if rec.Serial != "" {
		doppler := dopplerID{DeviceSerialNumber: rec.Serial, DeviceType: rec.Type}
		ans.Clients = s.pushJSON("PUSH_VOLUME_CHANGE", volumeChange{DestinationUserID: simCustomerID,
			DopplerID: doppler, VolumeSetting: volume})
		s.pushJSON("PUSH_EQUALIZER_STATE_CHANGE", map[string]any{"destinationUserId": simCustomerID,
			"dopplerId": doppler, "bass": 0, "midrange": 0, "treble": 0})
	}
	return ans, nil
}

// addVoiceRecord stores the record of req and returns it with the Echo's
// volume. Records of one Echo get distinct milliseconds, so their keys
// differ even when the clock stands still.
func (s *Server) addVoiceRecord(req VoiceRequest, delay time.Duration) (voiceRecord, int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := &s.voice
	rec := voiceRecord{Text: normalizeSpace(req.Text), Reply: req.Reply, Person: req.Person, Kind: req.Type}
	var e Echo
	if req.Type != "ROUTINES_3P" || req.Device != "" {
		var ok bool
		if e, ok = s.household.findEcho(req.Device); !ok {
			return rec, 0, fmt.Errorf("device %q: no such Echo in the household", req.Device)
		}
		rec.Serial, rec.Type, rec.Device = e.Serial, e.Type, e.Name
	}
	now := s.opts.HistoryNow()
	at := now.Truncate(time.Millisecond)
	for _, old := range v.records {
		if old.Serial == rec.Serial && !old.Time.Before(at) {
			at = old.Time.Add(time.Millisecond)
		}
	}
	rec.Time, rec.Visible = at, now.Add(delay)
	rec.Key = fmt.Sprintf("%s#%d#%s#%s", simCustomerID, at.UnixMilli(), rec.Type, rec.Serial)
	v.records = append(v.records, &rec)
	return rec, echoVolume(e), nil
}

func (s *Server) handleSimVoice(w http.ResponseWriter, r *http.Request) {
	var req VoiceRequest
	if err := decodeStrict(http.MaxBytesReader(w, r.Body, maxBody), &req); err != nil {
		writeControlError(w, http.StatusBadRequest, fmt.Errorf("decode voice: %w", err))
		return
	}
	ans, err := s.Voice(req)
	if err != nil {
		writeControlError(w, http.StatusBadRequest, fmt.Errorf("voice: %w", err))
		return
	}
	writeJSON(w, http.StatusOK, ans)
}

// handleGetVoice answers the history's records (oldest first) and
// settings.
func (s *Server) handleGetVoice(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	v := &s.voice
	recs := make([]voiceRecord, 0, len(v.records))
	for _, rec := range v.records {
		recs = append(recs, *rec)
	}
	set := v.settings
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"records": recs, "settings": set})
}

func (s *Server) handlePutVoiceSettings(w http.ResponseWriter, r *http.Request) {
	var set VoiceSettings
	if err := decodeStrict(http.MaxBytesReader(w, r.Body, maxBody), &set); err != nil {
		writeControlError(w, http.StatusBadRequest, fmt.Errorf("decode voice settings: %w", err))
		return
	}
	if set.Era != "" && set.Era != EraCurrent && set.Era != EraLegacy {
		writeControlError(w, http.StatusBadRequest, fmt.Errorf("era %q: want %q or %q", set.Era, EraCurrent, EraLegacy))
		return
	}
	set = set.withDefaults()
	s.mu.Lock()
	s.voice.settings = set
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, set)
}

// handleExpireVoiceTokens makes every issued history token stale.
func (s *Server) handleExpireVoiceTokens(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	v := &s.voice
	n := len(v.tokens)
	for tok := range v.tokens {
		v.tokens[tok] = time.Time{}
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]int{"expired": n})
}
