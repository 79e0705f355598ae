package sim

import (
	"fmt"
	"net/http"
	"time"
)

// Do Not Disturb (research/echo-voice-media-api.md §5): the status list,
// the untimed PUT /api/dnd/status, and the state both it and the
// DoNotDisturb sequence node change, pushed as PUSH_DND_STATE_CHANGE.

// dndStateChange is the PUSH_DND_STATE_CHANGE payload.
type dndStateChange struct {
	DestinationUserID string    `json:"destinationUserId"`
	DopplerID         dopplerID `json:"dopplerId"`
	Enabled           bool      `json:"enabled"`
}

// dndStatus is one Echo's entry of the status list, and the body of PUT
// /api/dnd/status.
type dndStatus struct {
	DeviceSerialNumber string `json:"deviceSerialNumber"`
	DeviceType         string `json:"deviceType"`
	Enabled            *bool  `json:"enabled"`
}

// setDNDLocked applies d to e, logs the change and returns its push; s.mu
// is held.
func (s *Server) setDNDLocked(e *Echo, d dndSetting, via string) pendingPush {
	now := s.opts.Now()
	e.DND, e.DNDUntil = d.enable, nil
	if d.enable {
		switch {
		case d.duration > 0:
			until := now.Add(d.duration)
			e.DNDUntil = &until
		case d.until != "":
			until := nextClockTime(now, d.until, zoneOf(d.zone, e.Timezone))
			e.DNDUntil = &until
		}
	}
	s.household.DND = append(s.household.DND, DNDChange{
		Time: now, Device: e.Name, Serial: e.Serial, Enabled: d.enable, Duration: d.iso, Until: d.until, Via: via,
	})
	return pendingPush{"PUSH_DND_STATE_CHANGE", dndStateChange{
		DestinationUserID: simCustomerID,
		DopplerID:         doppler(e),
		Enabled:           d.enable,
	}}
}

// zoneOf returns the first of the names that is a time zone this machine
// knows, else UTC.
func zoneOf(names ...string) *time.Location {
	for _, n := range names {
		if n == "" {
			continue
		}
		if loc, err := time.LoadLocation(n); err == nil {
			return loc
		}
	}
	return time.UTC
}

// nextClockTime is the next time after now that the clock in loc shows
// hhmm ("22:00", validated).
func nextClockTime(now time.Time, hhmm string, loc *time.Location) time.Time {
	var h, m int
	fmt.Sscanf(hhmm, "%d:%d", &h, &m)
	local := now.In(loc)
	t := time.Date(local.Year(), local.Month(), local.Day(), h, m, 0, 0, loc)
	if !t.After(now) {
		t = time.Date(local.Year(), local.Month(), local.Day()+1, h, m, 0, 0, loc)
	}
	return t
}

// expireDNDLocked ends the timed Do Not Disturbs whose time has come,
// logging each at its end time (no push: the simulator has no timer of
// its own); s.mu is held.
func (s *Server) expireDNDLocked() {
	now := s.opts.Now()
	for i := range s.household.Echos {
		e := &s.household.Echos[i]
		if e.DNDUntil == nil || now.Before(*e.DNDUntil) {
			continue
		}
		s.household.DND = append(s.household.DND, DNDChange{
			Time: *e.DNDUntil, Device: e.Name, Serial: e.Serial, Enabled: false, Via: "expiry",
		})
		e.DND, e.DNDUntil = false, nil
	}
}

// handleDNDStatusList is GET /api/dnd/device-status-list: every Echo but
// the speaker groups.
func (s *Server) handleDNDStatusList(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.expireDNDLocked()
	list := []dndStatus{}
	for _, e := range s.household.Echos {
		if e.Family == familyGroup {
			continue
		}
		list = append(list, dndStatus{DeviceSerialNumber: e.Serial, DeviceType: e.Type, Enabled: &e.DND})
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"doNotDisturbDeviceStatusList": list})
}

// handleDNDStatus is PUT /api/dnd/status: untimed on or off for one Echo;
// the answer echoes the body (alexapy compares them).
func (s *Server) handleDNDStatus(w http.ResponseWriter, r *http.Request) {
	var req dndStatus
	if err := decodeOne(r, &req); err != nil {
		writeWebError(w, http.StatusBadRequest, "body is not a JSON object: %v", err)
		return
	}
	if req.Enabled == nil {
		writeWebError(w, http.StatusBadRequest, "enabled is missing or not a boolean")
		return
	}
	set := func() ([]pendingPush, error) {
		s.expireDNDLocked()
		e := s.echoLocked(req.DeviceSerialNumber)
		if e == nil || e.Type != req.DeviceType || e.Family == familyGroup {
			return nil, fmt.Errorf("no Echo %q of type %q", req.DeviceSerialNumber, req.DeviceType)
		}
		return []pendingPush{s.setDNDLocked(e, dndSetting{enable: *req.Enabled}, "status")}, nil
	}
	if s.changeAndPush(w, set) {
		writeJSON(w, http.StatusOK, req)
	}
}
