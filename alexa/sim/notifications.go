package sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// Notification types and statuses /api/notifications uses.
var (
	notificationTypes    = []string{"Alarm", "MusicAlarm", "Reminder", "Timer"}
	notificationStatuses = []string{"ON", "OFF", "SNOOZED", "PAUSED", "INSTANCE_CANCELED"}
)

// Event types of PUSH_NOTIFICATION_CHANGE. Amazon's UPDATE is observed;
// CREATE and DELETE are the simulator's guess for the other changes.
const (
	eventCreate = "CREATE"
	eventUpdate = "UPDATE"
	eventDelete = "DELETE"
)

// notification is a /api/notifications object, decoded with numbers kept
// as written.
type notification map[string]any

func decodeNotification(b []byte) (notification, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var n notification
	if err := dec.Decode(&n); err != nil {
		return nil, err
	}
	if n == nil {
		return nil, errors.New("not a JSON object")
	}
	return n, nil
}

func (n notification) str(key string) string {
	s, _ := n[key].(string)
	return s
}

// version reads "version", a string such as "3" in Amazon's answers (a
// number is accepted too); absent or unreadable counts as 1.
func (n notification) version() int {
	var v int
	var err error
	switch x := n["version"].(type) {
	case string:
		v, err = strconv.Atoi(x)
	case json.Number:
		v, err = strconv.Atoi(x.String())
	default:
		return 1
	}
	if err != nil {
		return 1
	}
	return v
}

func (n notification) setVersion(v int) { n["version"] = strconv.Itoa(v) }

// notificationInfo is what a PUSH_NOTIFICATION_CHANGE says about a
// notification.
type notificationInfo struct {
	index      string
	serial     string
	deviceType string
	version    int
}

// index is the notificationIndex: the field, else the end of an id of
// Amazon's form {deviceType}-{serial}-{index}, else the whole id.
func (n notification) index() string {
	if idx := n.str("notificationIndex"); idx != "" {
		return idx
	}
	id := n.str("id")
	if idx, ok := strings.CutPrefix(id, n.str("deviceType")+"-"+n.str("deviceSerialNumber")+"-"); ok && idx != "" {
		return idx
	}
	return id
}

// info returns the push view of n: the observed pushes carry the bare
// notificationIndex (a UUID) as notificationId, so that is sent.
func (n notification) info() notificationInfo {
	return notificationInfo{index: n.index(), serial: n.str("deviceSerialNumber"), deviceType: n.str("deviceType"), version: n.version()}
}

// validate checks what the simulator needs of a notification: a known
// type and status, the device, and the time fields its type fires by.
func (n notification) validate() error {
	var errs []error
	typ := n.str("type")
	if !slices.Contains(notificationTypes, typ) {
		errs = append(errs, fmt.Errorf("type %q is not one of %v", typ, notificationTypes))
	}
	if st, ok := n["status"]; ok {
		if s, _ := st.(string); !slices.Contains(notificationStatuses, s) {
			errs = append(errs, fmt.Errorf("status %v is not one of %v", st, notificationStatuses))
		}
	}
	if n.str("deviceSerialNumber") == "" {
		errs = append(errs, errors.New("deviceSerialNumber is missing"))
	}
	isNumber := func(key string) bool { _, ok := n[key].(json.Number); return ok }
	switch typ {
	case "Reminder":
		if !isNumber("alarmTime") {
			errs = append(errs, errors.New("a Reminder needs alarmTime (epoch ms)"))
		}
	case "Alarm", "MusicAlarm":
		if n.str("originalDate") == "" || n.str("originalTime") == "" {
			errs = append(errs, fmt.Errorf("an %s needs originalDate and originalTime", typ))
		}
	case "Timer":
		if !isNumber("remainingTime") && !isNumber("triggerTime") {
			errs = append(errs, errors.New("a Timer needs remainingTime or triggerTime (ms)"))
		}
	}
	return errors.Join(errs...)
}

func (n notification) marshal() json.RawMessage {
	b, err := json.Marshal(n)
	if err != nil {
		panic(fmt.Sprintf("sim: marshal notification: %v", err))
	}
	return b
}

// notificationLocked finds the stored notification with this id; s.mu is
// held.
func (s *Server) notificationLocked(id string) (int, notification) {
	for i, raw := range s.household.Notifications {
		n, err := decodeNotification(raw)
		if err == nil && n.str("id") == id {
			return i, n
		}
	}
	return -1, nil
}

// completeNewLocked gives a notification created on an Echo its id,
// index, device type, version and dates; s.mu is held.
func (s *Server) completeNewLocked(n notification) error {
	e := s.echoLocked(n.str("deviceSerialNumber"))
	if e == nil {
		return fmt.Errorf("no Echo with serial %q", n.str("deviceSerialNumber"))
	}
	if n.str("deviceType") == "" {
		n["deviceType"] = e.Type
	}
	now := s.opts.Now().UnixMilli()
	if n.str("id") == "" || n.str("id") == "createReminder" {
		idx := newUUID()
		n["notificationIndex"] = idx
		n["id"] = fmt.Sprintf("%s-%s-%s", n.str("deviceType"), e.Serial, idx)
	}
	if _, ok := n["status"]; !ok {
		n["status"] = "ON"
	}
	if _, ok := n["createdDate"]; !ok {
		n["createdDate"] = now
	}
	n["lastUpdatedDate"] = now
	// A client-side flag of the Alexa app, not part of what Amazon stores.
	delete(n, "isSaveInFlight")
	return nil
}

func (s *Server) handleGetNotifications(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	list := slices.Clone(s.household.Notifications)
	s.mu.Unlock()
	if list == nil {
		list = []json.RawMessage{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"notifications": list})
}

// readNotification decodes and validates a request body; on failure it has
// written the answer.
func readNotification(w http.ResponseWriter, r *http.Request, write func(http.ResponseWriter, int, error)) (notification, bool) {
	var raw json.RawMessage
	if err := decodeStrict(http.MaxBytesReader(w, r.Body, maxBody), &raw); err != nil {
		write(w, http.StatusBadRequest, fmt.Errorf("body: %w", err))
		return nil, false
	}
	n, err := decodeNotification(raw)
	if err != nil {
		write(w, http.StatusBadRequest, fmt.Errorf("body: %w", err))
		return nil, false
	}
	return n, true
}

func writeWebErr(w http.ResponseWriter, status int, err error) { writeWebError(w, status, "%v", err) }

// handleCreateNotification serves PUT /api/notifications/createReminder
// (openHAB) and PUT /api/notifications/null (alexa-remote2): a new
// notification from the body, with a fresh id, version "1".
func (s *Server) handleCreateNotification(w http.ResponseWriter, r *http.Request) {
	n, ok := readNotification(w, r, writeWebErr)
	if !ok {
		return
	}
	delete(n, "id") // "createReminder" or null: the server assigns it
	if err := n.validate(); err != nil {
		writeWebErr(w, http.StatusBadRequest, err)
		return
	}
	s.mu.Lock()
	if err := s.completeNewLocked(n); err != nil {
		s.mu.Unlock()
		writeWebErr(w, http.StatusBadRequest, err)
		return
	}
	n.setVersion(1)
	s.household.Notifications = append(s.household.Notifications, n.marshal())
	s.mu.Unlock()
	s.pushNotificationChange(n.info(), eventCreate)
	writeJSON(w, http.StatusOK, n)
}

// handleUpdateNotification serves PUT /api/notifications/{id}: the body's
// fields replace the stored ones (alexa-remote2 leaves out the times of a
// reminder it edits), id and device stay, and the version grows by 2 (an
// edit; +1 reads as a dismissal to clients, research §4.3).
func (s *Server) handleUpdateNotification(w http.ResponseWriter, r *http.Request) {
	patch, ok := readNotification(w, r, writeWebErr)
	if !ok {
		return
	}
	id := r.PathValue("id")
	s.mu.Lock()
	i, n := s.notificationLocked(id)
	if i < 0 {
		s.mu.Unlock()
		writeWebError(w, http.StatusNotFound, "no notification %q", id)
		return
	}
	version := n.version()
	for k, v := range patch {
		switch k {
		case "id", "notificationIndex", "deviceSerialNumber", "deviceType", "version":
		default:
			n[k] = v
		}
	}
	delete(n, "isSaveInFlight")
	if err := n.validate(); err != nil {
		s.mu.Unlock()
		writeWebErr(w, http.StatusBadRequest, err)
		return
	}
	n.setVersion(version + 2)
	n["lastUpdatedDate"] = s.opts.Now().UnixMilli()
	s.household.Notifications[i] = n.marshal()
	s.mu.Unlock()
	s.pushNotificationChange(n.info(), eventUpdate)
	writeJSON(w, http.StatusOK, n)
}

// handleDeleteNotification serves DELETE /api/notifications/{id}. Its body
// (alexa-remote2 sends the notification, unframed) is ignored.
func (s *Server) handleDeleteNotification(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	i, n := s.notificationLocked(id)
	if i < 0 {
		s.mu.Unlock()
		writeWebError(w, http.StatusNotFound, "no notification %q", id)
		return
	}
	s.household.Notifications = slices.Delete(s.household.Notifications, i, i+1)
	s.mu.Unlock()
	info := n.info()
	info.version++
	s.pushNotificationChange(info, eventDelete)
	// Amazon's answer, as alexa-remote's comments record it.
	writeJSON(w, http.StatusOK, map[string]any{"Message": nil})
}

// simNotificationAnswer is the answer of POST /_sim/notifications.
type simNotificationAnswer struct {
	Notification notification `json:"notification"`
	Clients      int          `json:"clients"`
}

// handleSimNotification adds or replaces (by id) a notification as if it
// was set, changed, or went off on an Echo, and pushes
// PUSH_NOTIFICATION_CHANGE. A version in the body is kept; otherwise a new
// notification gets "1" and a replaced one its old version + 1.
func (s *Server) handleSimNotification(w http.ResponseWriter, r *http.Request) {
	n, ok := readNotification(w, r, writeControlError)
	if !ok {
		return
	}
	if err := n.validate(); err != nil {
		writeControlError(w, http.StatusBadRequest, err)
		return
	}
	_, hasVersion := n["version"]
	s.mu.Lock()
	i, old := -1, notification(nil)
	if id := n.str("id"); id != "" {
		i, old = s.notificationLocked(id)
	}
	if err := s.completeNewLocked(n); err != nil {
		s.mu.Unlock()
		writeControlError(w, http.StatusBadRequest, err)
		return
	}
	n["notificationIndex"] = n.index()
	event := eventCreate
	switch {
	case i >= 0:
		event = eventUpdate
		if !hasVersion {
			n.setVersion(old.version() + 1)
		}
		s.household.Notifications[i] = n.marshal()
	default:
		if !hasVersion {
			n.setVersion(1)
		}
		s.household.Notifications = append(s.household.Notifications, n.marshal())
	}
	s.mu.Unlock()
	clients := s.pushNotificationChange(n.info(), event)
	writeJSON(w, http.StatusOK, simNotificationAnswer{Notification: n, Clients: clients})
}
