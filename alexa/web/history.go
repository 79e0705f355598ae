package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/alexarules/alexarules/alexa/internal/request"
)

// The voice history services on www.amazon.{tld} (research
// echo-voice-media-api.md §4): RVH v2, the one alexa-remote2 and alexapy
// use, and RAH v2, aioamazondevices' for "new Alexa" accounts.
const (
	HistoryRVH = "rvh"
	HistoryRAH = "rah"
)

const (
	rvhPath = "/alexa-privacy/apd/rvh/customer-history-records-v2"
	rahPath = "/alexa-privacy/apd/rah/alexa-history-records-v2"
	// csrfPagePath is the activity page whose meta tag carries the
	// anti-csrftoken-a2z the history calls need (alexa-remote2).
	csrfPagePath  = "/alexa-privacy/apd/activity"
	csrfPageQuery = "disableGlobalNav=true&ref=activityHistory"
	// csrfTokenTTL is how long a history token is reused: fetching it
	// more often is throttled (EDOMI v1.12); a refused one is dropped
	// at once.
	csrfTokenTTL = 30 * time.Minute
)

// VoiceRecord is one entry of the voice history: what was said to an
// Echo. Text is the customer's words without the wake word; Reply is
// Alexa's answer.
type VoiceRecord struct {
	ID, Serial, DeviceType, Device, Text, Reply, Person, Intent, UtteranceType string
	Time                                                                       time.Time
}

// Spoken reports whether r is something a person said to an Echo that a
// rule may react to: not a wake word alone, an arbitration between
// Echos, a false wake or a routine's own activity, and not empty.
func (r VoiceRecord) Spoken() bool {
	t := strings.ToUpper(r.UtteranceType)
	switch {
	case t == "WAKE_WORD_ONLY", t == "DEVICE_ARBITRATION", t == "ASR_TIMEOUT", t == "ROUTINES_3P",
		strings.HasPrefix(t, "FALSE_WAKE_WORD"):
		return false
	case r.Serial == "":
		return false // a routine's record without a device
	}
	return strings.IndexFunc(r.Text, isAlnum) >= 0
}

func isAlnum(r rune) bool {
	return r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r > 0x7f
}

// HistoryQuery asks for one page of the voice history between From and
// To. Token is the previous page's VoicePage.Next ("" for the first).
type HistoryQuery struct {
	API      string // HistoryRVH (default) or HistoryRAH
	From, To time.Time
	Token    string
}

// VoicePage is one page of the voice history, newest first. Next is the
// token of the following page, "" at the end.
type VoicePage struct {
	Records []VoiceRecord
	Next    string
}

// historyState is the client's cache for the history services.
type historyState struct {
	mu      sync.Mutex
	token   string    // anti-csrftoken-a2z
	fetched time.Time // of token
	words   map[string]string
	wordsAt time.Time
}

// historyAuth puts the history services' credentials on a request: the
// web session's cookie and csrf, the anti-csrftoken-a2z read from the
// activity page (cached), and for RAH the account's access token.
type historyAuth struct {
	c      *Client
	inner  request.Authorizer
	bearer bool

	mu    sync.Mutex
	renew bool // the access token was refused: ask for a new one
}

func (a *historyAuth) Authorize(ctx context.Context, req *http.Request) error {
	if err := a.inner.Authorize(ctx, req); err != nil {
		return err
	}
	tok, err := a.c.csrfToken(ctx)
	if err != nil {
		return err
	}
	req.Header.Set("anti-csrftoken-a2z", tok)
	req.Header.Set("Referer", a.c.csrfPage())
	if a.bearer {
		if a.c.accessToken == nil {
			return fmt.Errorf("%w: the RAH voice history needs an access token (sign in with `alexarules login`)", ErrInvalid)
		}
		a.mu.Lock()
		renew := a.renew
		a.renew = false
		a.mu.Unlock()
		at, err := a.c.accessToken(ctx, renew)
		if err != nil {
			return fmt.Errorf("access token: %w", err)
		}
		req.Header.Set("Authorization", "Bearer "+at)
	}
	return nil
}

// Refused drops the history token (Amazon answers 403 to a stale one),
// renews the access token for RAH and, on a 401, lets the session renew
// its cookies; the call is then worth one more try.
func (a *historyAuth) Refused(ctx context.Context, req *http.Request, status int) bool {
	a.c.dropCSRFToken()
	a.mu.Lock()
	a.renew = a.bearer
	a.mu.Unlock()
	if status == http.StatusUnauthorized {
		a.inner.Refused(ctx, req, status)
	}
	return true
}

// csrfPage is the URL of the page the history token is read from; it
// is also the Referer of the history calls.
func (c *Client) csrfPage() string { return c.lists + csrfPagePath + "?" + csrfPageQuery }

var csrfMeta = regexp.MustCompile(`<meta\s+name="csrf-token"\s+content="([^"]+)"`)

// csrfToken returns the cached anti-csrftoken-a2z, fetching the activity
// page when there is none or it is older than csrfTokenTTL.
func (c *Client) csrfToken(ctx context.Context) (string, error) {
	c.history.mu.Lock()
	defer c.history.mu.Unlock()
	if c.history.token != "" && c.now().Sub(c.history.fetched) < csrfTokenTTL {
		return c.history.token, nil
	}
	q, _ := url.ParseQuery(csrfPageQuery)
	resp, err := c.rc.Do(ctx, request.Request{Method: "GET", URL: c.lists + csrfPagePath, Query: q, NoRetry: true,
		Header: http.Header{"Accept": {"text/html,application/xhtml+xml"}}})
	if err != nil {
		return "", fmt.Errorf("history token: %w", err)
	}
	m := csrfMeta.FindSubmatch(resp.Body)
	if m == nil {
		return "", badResponse("GET", csrfPagePath, `no <meta name="csrf-token"> on the page`)
	}
	c.history.token, c.history.fetched = string(m[1]), c.now()
	return c.history.token, nil
}

func (c *Client) dropCSRFToken() {
	c.history.mu.Lock()
	c.history.token = ""
	c.history.mu.Unlock()
}

// VoiceHistory reads one page of the voice history. It does not retry:
// a throttled call (429, *Error.Throttled) is the caller's to back off
// from, since the history service throttles hard. Records keep every
// utterance type; VoiceRecord.Spoken tells those a rule reacts to.
// Each Echo's wake word (/api/wake-word, cached) is stripped from the
// text ("alexa" when an Echo has none).
func (c *Client) VoiceHistory(ctx context.Context, q HistoryQuery) (VoicePage, error) {
	if c.lists == "" {
		return VoicePage{}, invalid("no www host (Options.Hosts.Lists) for the voice history")
	}
	api, path, rc := q.API, rvhPath, c.rvh
	switch api {
	case "", HistoryRVH:
	case HistoryRAH:
		path, rc = rahPath, c.rah
	default:
		return VoicePage{}, invalid("voice history %q: want %q or %q", api, HistoryRVH, HistoryRAH)
	}
	query := url.Values{"startTime": {strconv.FormatInt(q.From.UnixMilli(), 10)},
		"endTime": {strconv.FormatInt(q.To.UnixMilli(), 10)}}
	var token any // null on the first page
	if q.Token != "" {
		token = q.Token
	}
	resp, err := rc.Do(ctx, request.Request{Method: "POST", URL: c.lists + path, Query: query, NoRetry: true,
		JSON: map[string]any{"previousRequestToken": token}})
	if err != nil {
		return VoicePage{}, err
	}
	if api == HistoryRAH {
		return parseRAH(resp.Body, c.wakeWords(ctx))
	}
	return parseRVH(resp.Body, c.wakeWords(ctx))
}

// historyItem is one of a record's voiceHistoryRecordItems.
type historyItem struct {
	Type string `json:"recordItemType"`
	Text string `json:"transcriptText"`
}

type historyPerson struct {
	FirstName string `json:"personFirstName"`
}

// rvhRecord is a customerHistoryRecords entry.
type rvhRecord struct {
	RecordKey     string `json:"recordKey"`
	Timestamp     int64  `json:"timestamp"`
	UtteranceType string `json:"utteranceType"`
	Intent        string `json:"intent"`
	Device        struct {
		Name string `json:"deviceName"`
	} `json:"device"`
	Items   []historyItem   `json:"voiceHistoryRecordItems"`
	Persons []historyPerson `json:"personsInfo"`
}

// historyPage reads a history answer: its records under field and the
// next page's token (null or absent at the end) under tokenField.
func historyPage[T any](body []byte, path, field, tokenField string) ([]T, VoicePage, error) {
	var env map[string]json.RawMessage
	if err := decode("POST", path, body, &env); err != nil {
		return nil, VoicePage{}, err
	}
	var recs *[]T
	if err := json.Unmarshal(env[field], &recs); err != nil || recs == nil {
		return nil, VoicePage{}, badResponse("POST", path, fmt.Sprintf("no %q array", field))
	}
	var tok *string
	if json.Unmarshal(env[tokenField], &tok) != nil || tok == nil {
		return *recs, VoicePage{}, nil
	}
	return *recs, VoicePage{Next: *tok}, nil
}

func parseRVH(body []byte, wake map[string]string) (VoicePage, error) {
	recs, out, err := historyPage[rvhRecord](body, rvhPath, "customerHistoryRecords", "encodedRequestToken")
	if err != nil {
		return out, err
	}
	for _, r := range recs {
		rec := VoiceRecord{ID: r.RecordKey, Device: r.Device.Name, Intent: r.Intent, UtteranceType: r.UtteranceType,
			Time: time.UnixMilli(r.Timestamp)}
		rec.DeviceType, rec.Serial = keyDevice(r.RecordKey)
		fillText(&rec, r.Items, r.Persons, wake)
		out.Records = append(out.Records, rec)
	}
	return out, nil
}

// rahRecord is an alexaHistoryRecords entry. deviceInfo is an object
// for utterances, a list for conversations and null for routines.
type rahRecord struct {
	ActivityKey   string          `json:"activityKey"`
	Timestamp     int64           `json:"timestamp"`
	UtteranceType string          `json:"utteranceType"`
	Intent        string          `json:"intent"`
	Title         string          `json:"title"`
	SubTitle      string          `json:"subTitle"`
	DeviceInfo    json.RawMessage `json:"deviceInfo"`
	Items         []historyItem   `json:"voiceHistoryRecordItems"`
	Persons       []historyPerson `json:"personsInfo"`
}

type rahDevice struct {
	Serial string `json:"deviceSerialNumber"`
	Type   string `json:"deviceType"`
	Name   string `json:"deviceName"`
}

func parseRAH(body []byte, wake map[string]string) (VoicePage, error) {
	recs, out, err := historyPage[rahRecord](body, rahPath, "alexaHistoryRecords", "paginationToken")
	if err != nil {
		return out, err
	}
	for _, r := range recs {
		rec := VoiceRecord{ID: r.ActivityKey, Intent: r.Intent, UtteranceType: r.UtteranceType, Time: time.UnixMilli(r.Timestamp)}
		if d, ok := rahDeviceOf(r.DeviceInfo); ok {
			rec.Serial, rec.DeviceType, rec.Device = d.Serial, d.Type, d.Name
		}
		if rec.Serial == "" {
			rec.DeviceType, rec.Serial = keyDevice(r.ActivityKey)
		}
		items := r.Items
		if len(items) == 0 {
			items = []historyItem{{Type: "CUSTOMER_TRANSCRIPT", Text: r.Title}, {Type: "ALEXA_RESPONSE", Text: r.SubTitle}}
		}
		fillText(&rec, items, r.Persons, wake)
		out.Records = append(out.Records, rec)
	}
	return out, nil
}

func rahDeviceOf(raw json.RawMessage) (rahDevice, bool) {
	var d rahDevice
	if json.Unmarshal(raw, &d) == nil && d.Serial != "" {
		return d, true
	}
	var ds []rahDevice
	if json.Unmarshal(raw, &ds) == nil && len(ds) > 0 {
		return ds[0], true
	}
	return d, false
}

// keyDevice reads the device type and serial from a record key,
// customerId#timestampMs#deviceType#serial; empty when it has none.
func keyDevice(key string) (typ, serial string) {
	f := strings.Split(key, "#")
	if len(f) < 4 {
		return "", ""
	}
	return f[2], f[3]
}

// fillText derives Text (the transcript without the wake word), Reply
// and Person as alexa-remote2's _getCustomerHistoryRecords does.
func fillText(rec *VoiceRecord, items []historyItem, persons []historyPerson, wake map[string]string) {
	var said, reply []string
	for _, it := range items {
		t := strings.TrimSpace(it.Text)
		if t == "" {
			continue
		}
		switch it.Type {
		case "CUSTOMER_TRANSCRIPT", "ASR_REPLACEMENT_TEXT":
			said = append(said, t)
		case "ALEXA_RESPONSE", "TTS_REPLACEMENT_TEXT":
			reply = append(reply, t)
		}
	}
	word := wake[rec.Serial]
	if word == "" {
		word = "alexa"
	}
	rec.Text = stripWakeWord(strings.Join(said, ", "), word)
	rec.Reply = strings.Join(reply, ", ")
	if len(persons) > 0 {
		rec.Person = persons[0].FirstName
	}
}

// stripWakeWord removes word (any case) and the punctuation after it
// from the start of text; text that is only the wake word becomes "".
func stripWakeWord(text, word string) string {
	word = strings.ToLower(strings.ReplaceAll(word, "_", " "))
	lower := strings.ToLower(text)
	if !strings.HasPrefix(lower, word) {
		return text
	}
	rest := text[len(word):]
	if rest != "" && !strings.ContainsRune(" \t,.:!?", rune(rest[0])) {
		return text // "alexander", not the wake word
	}
	return strings.TrimLeft(rest, " \t,.:!?")
}

// wakeWordsTTL is how long the wake words are reused.
const wakeWordsTTL = time.Hour

// wakeWords maps each Echo's serial to its active wake word, lower-case
// ("alexa", "computer", ...), read (WakeWords) at most every
// wakeWordsTTL. When that fails the last map (or none: every Echo's is
// "alexa") is used, and it is tried again on the next call.
func (c *Client) wakeWords(ctx context.Context) map[string]string {
	c.history.mu.Lock()
	defer c.history.mu.Unlock()
	if c.history.words != nil && c.now().Sub(c.history.wordsAt) < wakeWordsTTL {
		return c.history.words
	}
	words, err := c.WakeWords(ctx)
	if err != nil {
		c.logger.WarnContext(ctx, "alexa web: wake words unknown; stripping \"alexa\" from the voice history", "err", err)
		return c.history.words
	}
	out := map[string]string{}
	for _, w := range words {
		if w.Active && w.Serial != "" {
			out[w.Serial] = strings.ToLower(w.Word)
		}
	}
	c.history.words, c.history.wordsAt = out, c.now()
	return out
}
