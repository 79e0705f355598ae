package sim

import (
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The voice history (research echo-voice-media-api.md §4, §11.3–11.6):
// POST /_sim/voice puts an utterance into it with the push burst a real
// Echo sends; RVH v2 and RAH v2 serve it after the utterance's delay,
// behind the anti-csrftoken-a2z the activity page carries, with their own
// token buckets. The retired /api/activities and GET v1 RVH answer 404
// unless the era is "legacy".

// History service paths.
const (
	rvhV2Path       = "/alexa-privacy/apd/rvh/customer-history-records-v2"
	rvhV1Path       = "/alexa-privacy/apd/rvh/customer-history-records"
	rahV2Path       = "/alexa-privacy/apd/rah/alexa-history-records-v2"
	activityPage    = "/alexa-privacy/apd/activity"
	rvhPage         = "/alexa-privacy/apd/rvh"
	csrfTokenPath   = "/alexa-privacy/apd/csrf-token"
	activitiesPath  = "/api/activities"
	csrfTokenHeader = "anti-csrftoken-a2z"
)

// Era values of VoiceSettings.
const (
	EraCurrent = "current" // /api/activities and GET v1 RVH are gone (404)
	EraLegacy  = "legacy"  // they still answer, as before 2023-10
)

// Defaults of VoiceSettings.
const (
	DefaultVoiceDelay  = time.Second
	defaultCSRFTTL     = time.Hour
	defaultHistoryPage = 10
)

// Token buckets of the history routes (throttle.go's, merged into
// defaultLimits): tight, as Amazon's are (research §11.5), yet roomy
// enough for the engine's own budget of 6 calls a minute.
var (
	historyLimit = Limit{PerSecond: 0.5, Burst: 10}
	csrfLimit    = Limit{PerSecond: 0.1, Burst: 5}
)

// VoiceSettings are the voice history's knobs (GET /_sim/voice, PUT
// /_sim/voice/settings); zero fields take the defaults. PUT /_sim/throttle
// sets the history routes' token buckets.
type VoiceSettings struct {
	Era            string `json:"era"`
	CSRFTTLSeconds int    `json:"csrf_ttl_s"` // lifetime of an issued anti-csrftoken-a2z
	PageSize       int    `json:"page_size"`  // records per history page
}

func (v VoiceSettings) withDefaults() VoiceSettings {
	if v.Era == "" {
		v.Era = EraCurrent
	}
	if v.CSRFTTLSeconds <= 0 {
		v.CSRFTTLSeconds = int(defaultCSRFTTL / time.Second)
	}
	if v.PageSize <= 0 {
		v.PageSize = defaultHistoryPage
	}
	return v
}

// voiceState is the voice history of the account.
type voiceState struct {
	settings VoiceSettings
	records  []*voiceRecord       // oldest first
	tokens   map[string]time.Time // issued anti-csrftoken-a2z → expiry
}

// voiceRecord is one utterance in the history.
type voiceRecord struct {
	Key     string    `json:"record"`
	Time    time.Time `json:"time"`
	Visible time.Time `json:"visible"` // when the history starts serving it
	Serial  string    `json:"serial"`
	Type    string    `json:"device_type"`
	Device  string    `json:"device"`
	Text    string    `json:"text"`
	Reply   string    `json:"reply"`
	Person  string    `json:"person"`
	Kind    string    `json:"type"` // utteranceType
}

// newVoiceState is an empty history with the default settings.
func newVoiceState() voiceState {
	return voiceState{settings: VoiceSettings{}.withDefaults(), tokens: map[string]time.Time{}}
}

func (s *Server) voiceSettings() VoiceSettings {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.voice.settings
}

// issueHistoryToken makes a new anti-csrftoken-a2z.
func (s *Server) issueHistoryToken() string {
	set := s.voiceSettings()
	tok := "hT" + strings.ReplaceAll(newUUID(), "-", "")
	s.mu.Lock()
	s.voice.tokens[tok] = s.opts.HistoryNow().Add(time.Duration(set.CSRFTTLSeconds) * time.Second)
	s.mu.Unlock()
	return tok
}

// handleCSRFPage serves the activity and rvh pages: HTML whose meta tag
// carries a fresh history token.
func (s *Server) handleCSRFPage(w http.ResponseWriter, r *http.Request) {
	tok := s.issueHistoryToken()
	w.Header().Set("Content-Type", "text/html;charset=UTF-8")
	fmt.Fprintf(w, "<!DOCTYPE html><html><head><meta charset=\"utf-8\">\n<meta name=\"csrf-token\" content=\"%s\">\n"+
		"<title>Alexa Privacy</title></head><body><div id=\"activity\"></div></body></html>\n", html.EscapeString(tok))
}

// handleCSRFToken serves the token as plain text (EDOMI's route).
func (s *Server) handleCSRFToken(w http.ResponseWriter, r *http.Request) {
	tok := s.issueHistoryToken()
	w.Header().Set("Content-Type", "text/plain;charset=UTF-8")
	fmt.Fprint(w, tok)
}

// historyTokenValid reports whether r carries a live history token.
func (s *Server) historyTokenValid(r *http.Request) bool {
	tok := r.Header.Get(csrfTokenHeader)
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.voice.tokens[tok]
	return ok && s.opts.HistoryNow().Before(exp)
}

// historyWindow reads startTime and endTime (epoch ms) and the page
// token of a history call.
func historyWindow(r *http.Request) (from, to time.Time, offset int, err error) {
	q := r.URL.Query()
	start, err1 := strconv.ParseInt(q.Get("startTime"), 10, 64)
	end, err2 := strconv.ParseInt(q.Get("endTime"), 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return from, to, 0, fmt.Errorf("startTime and endTime must be epoch milliseconds: %w", err)
	}
	var body struct {
		Token *string `json:"previousRequestToken"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil && r.ContentLength != 0 {
		return from, to, 0, fmt.Errorf("body: %w", err)
	}
	if body.Token != nil && *body.Token != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(*body.Token, "page-"))
		if err != nil || n < 0 {
			return from, to, 0, fmt.Errorf("previousRequestToken %q is not one this service issued", *body.Token)
		}
		offset = n
	}
	return time.UnixMilli(start), time.UnixMilli(end), offset, nil
}

// historyPage guards a history call (token, window) and returns
// one page of the visible records in the window, newest first, and the
// next page's token (nil at the end). ok is false when it answered.
func (s *Server) historyPage(w http.ResponseWriter, r *http.Request) (page []voiceRecord, next *string, ok bool) {
	set := s.voiceSettings()
	if !s.historyTokenValid(r) {
		writeWebError(w, http.StatusForbidden, "missing or expired %s header: read it from %s", csrfTokenHeader, activityPage)
		return nil, nil, false
	}
	from, to, offset, err := historyWindow(r)
	if err != nil {
		writeWebError(w, http.StatusBadRequest, "%v", err)
		return nil, nil, false
	}
	all := s.visibleRecords(from, to)
	end := min(len(all), offset+set.PageSize)
	if offset < end {
		page = all[offset:end]
	}
	if end < len(all) {
		tok := "page-" + strconv.Itoa(end)
		next = &tok
	}
	return page, next, true
}

// visibleRecords are the records the history shows now whose time is
// within [from, to], newest first.
func (s *Server) visibleRecords(from, to time.Time) []voiceRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.HistoryNow()
	var out []voiceRecord
	for _, rec := range slices.Backward(s.voice.records) {
		if !rec.Visible.After(now) && !rec.Time.Before(from) && !rec.Time.After(to) {
			out = append(out, *rec)
		}
	}
	return out
}

// historyItems are a record's voiceHistoryRecordItems: the transcript
// starts with the wake word, as Amazon's do.
func historyItems(rec voiceRecord) []map[string]string {
	said := "alexa"
	if rec.Text != "" && rec.Kind != "WAKE_WORD_ONLY" {
		said += " " + rec.Text
	}
	items := []map[string]string{{"recordItemType": "CUSTOMER_TRANSCRIPT", "transcriptText": said}}
	if rec.Reply != "" {
		items = append(items, map[string]string{"recordItemType": "ALEXA_RESPONSE", "transcriptText": rec.Reply})
	}
	return items
}

func personsInfo(rec voiceRecord) []map[string]string {
	if rec.Person == "" {
		return []map[string]string{}
	}
	return []map[string]string{{"personId": "amzn1.actor.person.oid.SIM" + strings.ToUpper(rec.Person),
		"personFirstName": rec.Person, "personType": "ADULT"}}
}

// rvhRecord renders a record as RVH's customerHistoryRecords entry.
func rvhRecord(rec voiceRecord) map[string]any {
	return map[string]any{
		"recordKey": rec.Key, "recordType": "VOICE_HISTORY", "timestamp": rec.Time.UnixMilli(),
		"customerId": simCustomerID, "utteranceType": rec.Kind, "domain": "Unknown", "intent": "Unknown",
		"skillName": nil, "device": map[string]any{"deviceName": rec.Device},
		"voiceHistoryRecordItems": historyItems(rec), "personsInfo": personsInfo(rec),
	}
}

// rahRecord renders a record as RAH's alexaHistoryRecords entry; a
// routine's record has no deviceInfo.
func rahRecord(rec voiceRecord) map[string]any {
	var device any
	if rec.Serial != "" {
		device = map[string]string{"deviceSerialNumber": rec.Serial, "deviceType": rec.Type, "deviceName": rec.Device}
	}
	title := rec.Text
	if rec.Kind == "ROUTINES_3P" {
		title = "Initiated by routine"
	}
	return map[string]any{
		"activityKey": rec.Key, "recordType": "utterance", "timestamp": rec.Time.UnixMilli(),
		"utteranceType": rec.Kind, "intent": "Unknown", "title": title, "subTitle": rec.Reply,
		"deviceInfo": device, "voiceHistoryRecordItems": historyItems(rec), "personsInfo": personsInfo(rec),
	}
}

func (s *Server) handleRVH(w http.ResponseWriter, r *http.Request) {
	page, next, ok := s.historyPage(w, r)
	if !ok {
		return
	}
	recs := render(page, rvhRecord)
	writeJSON(w, http.StatusOK, map[string]any{"customerHistoryRecords": recs, "encodedRequestToken": next,
		"noDataFoundWithinTimeLimit": len(recs) == 0, "lastRecordTimestamp": nil, "voiceProfileAssociatedWithPerson": false})
}

func (s *Server) handleRAH(w http.ResponseWriter, r *http.Request) {
	if e := s.checkBearer(r); e != nil {
		status := http.StatusForbidden // a token, but not a live one
		if bearerToken(r) == "" {
			status = http.StatusUnauthorized
		}
		writeWebError(w, status, "%s", e.Message)
		return
	}
	page, next, ok := s.historyPage(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"alexaHistoryRecords": render(page, rahRecord), "paginationToken": next})
}

// render renders records as one of the services does; never null.
func render(recs []voiceRecord, as func(voiceRecord) map[string]any) []map[string]any {
	out := make([]map[string]any, 0, len(recs))
	for _, rec := range recs {
		out = append(out, as(rec))
	}
	return out
}

// handleRetired serves /api/activities and GET v1 RVH: 404 in the
// current era, the records in the legacy one.
func (s *Server) handleRetired(w http.ResponseWriter, r *http.Request) {
	if s.voiceSettings().Era != EraLegacy {
		writeWebError(w, http.StatusNotFound, "%s was retired", r.URL.Path)
		return
	}
	recs := render(s.visibleRecords(time.UnixMilli(0), time.UnixMilli(math.MaxInt64)), rvhRecord)
	if r.URL.Path == activitiesPath {
		writeJSON(w, http.StatusOK, map[string]any{"activities": recs})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"customerHistoryRecords": recs})
}
