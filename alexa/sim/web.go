package sim

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// The Alexa web API (alexa.amazon.*, www.amazon.* lists,
// alexa-comms-mobile-service, api.amazon.* /auth/token) as the Alexa app
// and alexa-remote2 use it. research/alexa-remote2-interop.md lists what a
// real client needs; docs/SIMULATOR.md what the simulator chose.

// echoSoftwareVersion is the softwareVersion every simulated Echo reports;
// clients put it into the notification-volume path.
const echoSoftwareVersion = "8289072516"

// defaultNotificationVolume is an Echo's alarm volume until a client sets
// one.
const defaultNotificationVolume = 50

// webError is the body of a failed web API call.
type webError struct {
	Message string `json:"message"`
}

func writeWebError(w http.ResponseWriter, status int, format string, args ...any) {
	writeJSON(w, status, webError{Message: fmt.Sprintf(format, args...)})
}

// baseURL is the simulator's own URL as this request reached it; clients
// use it as the host of later calls (GET /api/endpoints).
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func newUUID() string {
	var b [16]byte
	rand.Read(b[:]) // crypto/rand.Read never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// decodeHex decodes hex digits, ignoring white space.
func decodeHex(s string) ([]byte, error) {
	return hex.DecodeString(strings.Join(strings.Fields(s), ""))
}

func millis(t time.Time) int64 { return t.UnixMilli() }

// authentication is the session summary of /api/customer-status (and of
// the former /api/bootstrap, whose shape it keeps).
type authentication struct {
	Authenticated bool   `json:"authenticated"`
	CustomerEmail string `json:"customerEmail"`
	CustomerID    string `json:"customerId"`
	CustomerName  string `json:"customerName"`
}

func (s *Server) handleAccounts(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, []map[string]any{{
		"commsId":      "amzn1.comms.id.person.amzn1~amzn1.account.SIM" + simCustomerID,
		"directedId":   "amzn1.account.SIM" + simCustomerID,
		"firstName":    "Sim",
		"signedInUser": true,
	}})
}

// echoDevice is an Echo as /api/devices-v2/device lists it. The arrays
// must never be null: alexa-remote2 reads them unguarded.
type echoDevice struct {
	AccountName            string   `json:"accountName"`
	AppDeviceList          []any    `json:"appDeviceList"`
	Capabilities           []string `json:"capabilities"`
	ClusterMembers         []string `json:"clusterMembers"`
	DeviceAccountID        string   `json:"deviceAccountId"`
	DeviceFamily           string   `json:"deviceFamily"`
	DeviceOwnerCustomerID  string   `json:"deviceOwnerCustomerId"`
	DeviceType             string   `json:"deviceType"`
	DeviceTypeFriendlyName *string  `json:"deviceTypeFriendlyName"`
	Language               string   `json:"language"`
	Online                 bool     `json:"online"`
	ParentClusters         []string `json:"parentClusters"`
	SerialNumber           string   `json:"serialNumber"`
	SoftwareVersion        string   `json:"softwareVersion"`
}

// echoCapabilities are the capabilities every simulated Echo reports.
var echoCapabilities = []string{
	"AUDIO_PLAYER", "AMAZON_MUSIC", "TUNE_IN", "VOLUME_SETTING", "MICROPHONE",
	"REMINDERS", "TIMERS_AND_ALARMS", "SOUND_SETTINGS", "DREAM_TRAINING", "PERSISTENT_CONNECTION",
}

// groupCapabilities are the capabilities of a speaker group.
var groupCapabilities = []string{"AUDIO_PLAYER", "AMAZON_MUSIC", "TUNE_IN", "VOLUME_SETTING"}

// parentClustersLocked lists the speaker groups serial belongs to; s.mu
// is held.
func (s *Server) parentClustersLocked(serial string) []string {
	groups := []string{}
	for _, g := range s.household.Echos {
		if g.Family == familyGroup && slices.Contains(g.Members, serial) {
			groups = append(groups, g.Serial)
		}
	}
	return groups
}

func (s *Server) handleDevices(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	devices := make([]echoDevice, 0, len(s.household.Echos))
	for _, e := range s.household.Echos {
		d := echoDevice{
			AccountName:           e.Name,
			AppDeviceList:         []any{},
			Capabilities:          append([]string(nil), echoCapabilities...),
			ClusterMembers:        append([]string{}, e.Members...),
			DeviceAccountID:       "A" + strings.ToUpper(e.Serial),
			DeviceFamily:          cmp.Or(e.Family, "ECHO"),
			DeviceOwnerCustomerID: simCustomerID,
			DeviceType:            e.Type,
			Language:              "de-DE",
			Online:                e.Online == nil || *e.Online,
			ParentClusters:        s.parentClustersLocked(e.Serial),
			SerialNumber:          e.Serial,
			SoftwareVersion:       echoSoftwareVersion,
		}
		if e.Family == familyGroup {
			d.Capabilities = append([]string(nil), groupCapabilities...)
		}
		devices = append(devices, d)
	}
	devices = append(devices, s.appDevicesLocked()...)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"devices": devices})
}

type devicePreference struct {
	DeviceSerialNumber string `json:"deviceSerialNumber"`
	DeviceType         string `json:"deviceType"`
	DeviceAccountID    string `json:"deviceAccountId"`
	Locale             string `json:"locale"`
	TimeZoneID         string `json:"timeZoneId"`
	TemperatureScale   string `json:"temperatureScale"`
	DistanceUnits      string `json:"distanceUnits"`
}

func (s *Server) handleDevicePreferences(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	prefs := make([]devicePreference, 0, len(s.household.Echos))
	for _, e := range s.household.Echos {
		prefs = append(prefs, devicePreference{
			DeviceSerialNumber: e.Serial,
			DeviceType:         e.Type,
			DeviceAccountID:    "A" + strings.ToUpper(e.Serial),
			Locale:             "de-DE",
			TimeZoneID:         e.Timezone,
			TemperatureScale:   "CELSIUS",
			DistanceUnits:      "METRIC",
		})
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"devicePreferences": prefs})
}

func (s *Server) handleWakeWords(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	words := make([]map[string]any, 0, len(s.household.Echos))
	for _, e := range s.household.Echos {
		if e.Family == familyGroup {
			continue // a speaker group hears nothing itself
		}
		words = append(words, map[string]any{
			"active": true, "deviceSerialNumber": e.Serial, "deviceType": e.Type, "midFieldState": nil, "wakeWord": "ALEXA",
		})
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"wakeWords": words})
}

// notificationState is an Echo's notification (alarm) volume.
type notificationState struct {
	DeviceSerialNumber string `json:"deviceSerialNumber"`
	DeviceType         string `json:"deviceType"`
	SoftwareVersion    string `json:"softwareVersion"`
	VolumeLevel        int    `json:"volumeLevel"`
}

// notificationStateLocked returns the state of the Echo e; s.mu is held.
func (s *Server) notificationStateLocked(e Echo) notificationState {
	v, ok := s.notificationVolumes[e.Serial]
	if !ok {
		v = defaultNotificationVolume
	}
	return notificationState{DeviceSerialNumber: e.Serial, DeviceType: e.Type, SoftwareVersion: echoSoftwareVersion, VolumeLevel: v}
}

// echoLocked returns the household's Echo with this serial, or nil; s.mu
// is held.
func (s *Server) echoLocked(serial string) *Echo {
	for i := range s.household.Echos {
		if s.household.Echos[i].Serial == serial {
			return &s.household.Echos[i]
		}
	}
	return nil
}

func (s *Server) handleNotificationStates(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	states := make([]notificationState, 0, len(s.household.Echos))
	for _, e := range s.household.Echos {
		states = append(states, s.notificationStateLocked(e))
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"deviceNotificationStates": states})
}

// handleNotificationState serves GET and PUT
// /api/device-notification-state/{deviceType}/{softwareVersion}/{serial}.
// The software version in the path is not checked.
func (s *Server) handleNotificationState(w http.ResponseWriter, r *http.Request) {
	serial, typ := r.PathValue("serial"), r.PathValue("type")
	var body struct {
		VolumeLevel *int `json:"volumeLevel"`
	}
	if r.Method == http.MethodPut {
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.VolumeLevel == nil {
			writeWebError(w, http.StatusBadRequest, "the body must be {\"volumeLevel\":0..100}")
			return
		}
		if v := *body.VolumeLevel; v < 0 || v > 100 {
			writeWebError(w, http.StatusBadRequest, "volumeLevel %d is out of range 0..100", v)
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.echoLocked(serial)
	if e == nil || e.Type != typ {
		writeWebError(w, http.StatusNotFound, "no Echo %s of type %s", serial, typ)
		return
	}
	if body.VolumeLevel != nil {
		s.notificationVolumes[serial] = *body.VolumeLevel
	}
	writeJSON(w, http.StatusOK, s.notificationStateLocked(*e))
}
