package sim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/alexarules/alexarules/alexa/smarthome/colors"
)

// The /api/phoenix routes of the Alexa app's smart-home API (research
// household-smarthome-api.md §4.4, §4.5, §5.1, §6.1).

// phoenixStateLayout is timeOfSample in capabilityStates: RFC 3339 UTC
// with milliseconds ("2025-11-21T08:42:18.031Z", research §5.1).
const phoenixStateLayout = "2006-01-02T15:04:05.000Z"

// Entity types of phoenix requests.
const (
	entityEntity    = "ENTITY"
	entityAppliance = "APPLIANCE"
	entityGroup     = "GROUP"
)

// phoenixEntity names what a state or control request targets.
type phoenixEntity struct {
	EntityID   string `json:"entityId"`
	EntityType string `json:"entityType"`
}

// phoenixError is one errors[] entry, in the verbatim shape of research
// §5.1/§6.1 (data and message null unless there is something to say).
type phoenixError struct {
	Code    string        `json:"code"`
	Data    any           `json:"data"`
	Entity  phoenixEntity `json:"entity"`
	Message *string       `json:"message"`
}

func newPhoenixError(e *shError, entity phoenixEntity) phoenixError {
	pe := phoenixError{Code: e.code, Entity: entity}
	if e.code == shUnreachable {
		// Amazon's unreachable entries carry no message and an empty type.
		pe.Entity.EntityType = ""
	} else if e.message != "" {
		pe.Message = &e.message
	}
	return pe
}

// resolveEntity returns the devices an entity names; s.mu is held.
// ENTITY takes the entityId, APPLIANCE the applianceId (and, when lenient,
// the entityId too: controls accept it, state reads do not), GROUP the
// short group id (its members), and an empty type either id form.
func (s *Server) resolveEntity(e phoenixEntity, lenient bool) ([]*SmartHomeDevice, *shError) {
	byAppliance := func() *SmartHomeDevice {
		if id, ok := strings.CutPrefix(e.EntityID, ApplianceIDPrefix); ok {
			return s.smartHomeDevice(id)
		}
		return nil
	}
	var d *SmartHomeDevice
	switch e.EntityType {
	case entityEntity:
		d = s.smartHomeDevice(e.EntityID)
	case entityAppliance:
		d = byAppliance()
		if d == nil && lenient {
			d = s.smartHomeDevice(e.EntityID)
		}
	case "":
		if d = byAppliance(); d == nil {
			d = s.smartHomeDevice(e.EntityID)
		}
	case entityGroup:
		g := s.smartHomeGroup(e.EntityID)
		if g == nil {
			return nil, notFoundError()
		}
		members := make([]*SmartHomeDevice, 0, len(g.Members))
		for _, id := range g.Members {
			members = append(members, s.smartHomeDevice(id))
		}
		return members, nil
	}
	if d == nil {
		return nil, notFoundError()
	}
	return []*SmartHomeDevice{d}, nil
}

// answerEntity is how an answer names device d of the request for e: as
// e, or, when e is a GROUP, as the member's entityId (type ENTITY).
func (e phoenixEntity) answerEntity(d *SmartHomeDevice) phoenixEntity {
	if e.EntityType == entityGroup {
		return phoenixEntity{EntityID: d.ID, EntityType: entityEntity}
	}
	return e
}

// checkEntity validates one entity of a request body.
func checkEntity(where string, e phoenixEntity) error {
	if e.EntityID == "" {
		return fmt.Errorf("%s: entityId is missing", where)
	}
	switch e.EntityType {
	case entityEntity, entityAppliance, entityGroup, "":
		return nil
	}
	return fmt.Errorf("%s: entityType %q is not one of ENTITY, APPLIANCE, GROUP", where, e.EntityType)
}

// stateRequest is one stateRequests[] entry.
type stateRequest struct {
	phoenixEntity
	// Properties, when given, limit the answer to these properties.
	Properties []stateProperty `json:"properties"`
}

// stateProperty names one property a state request asks for.
type stateProperty struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

func (q stateRequest) wants(c shCapability) bool {
	if len(q.Properties) == 0 {
		return true
	}
	return slices.Contains(q.Properties, stateProperty{Namespace: c.namespace, Name: c.property})
}

// deviceState is one deviceStates[] entry: capabilityStates are JSON
// strings (every client JSON.parses each).
type deviceState struct {
	Entity           phoenixEntity `json:"entity"`
	CapabilityStates []string      `json:"capabilityStates"`
}

// capabilityState is the JSON inside a capabilityStates string.
type capabilityState struct {
	Namespace                 string `json:"namespace"`
	Name                      string `json:"name"`
	Value                     any    `json:"value"`
	TimeOfSample              string `json:"timeOfSample"`
	UncertaintyInMilliseconds int    `json:"uncertaintyInMilliseconds"`
}

// handlePhoenixState serves POST /api/phoenix/state: one deviceStates
// entry per device read, errors[] for ids not found and unreachable
// devices. A GROUP reads every member (their entityIds, type ENTITY).
func (s *Server) handlePhoenixState(w http.ResponseWriter, r *http.Request) {
	var body struct {
		StateRequests []stateRequest `json:"stateRequests"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.StateRequests == nil {
		writeWebError(w, http.StatusBadRequest, "the body must be {\"stateRequests\":[{\"entityId\",\"entityType\"}]}")
		return
	}
	for i, q := range body.StateRequests {
		if err := checkEntity(fmt.Sprintf("stateRequests[%d]", i), q.phoenixEntity); err != nil {
			writeWebError(w, http.StatusBadRequest, "%v", err)
			return
		}
	}
	out := struct {
		DeviceStates []deviceState  `json:"deviceStates"`
		Errors       []phoenixError `json:"errors"`
	}{DeviceStates: []deviceState{}, Errors: []phoenixError{}}
	s.mu.Lock()
	for _, q := range body.StateRequests {
		devices, serr := s.resolveEntity(q.phoenixEntity, false)
		if serr != nil {
			out.Errors = append(out.Errors, newPhoenixError(serr, q.phoenixEntity))
			continue
		}
		for _, d := range devices {
			entity := q.answerEntity(d)
			if !d.State.reachable() {
				out.Errors = append(out.Errors, newPhoenixError(&shError{code: shUnreachable}, entity))
				continue
			}
			out.DeviceStates = append(out.DeviceStates, deviceState{Entity: entity, CapabilityStates: s.capabilityStates(d, q)})
		}
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

// capabilityStates renders the states of d that q asks for; s.mu is held.
func (s *Server) capabilityStates(d *SmartHomeDevice, q stateRequest) []string {
	states := []string{}
	for _, c := range shCapabilities() {
		if !c.has(&d.State) || !q.wants(c) {
			continue
		}
		b, err := json.Marshal(capabilityState{
			Namespace:    c.namespace,
			Name:         c.property,
			Value:        c.value(&d.State),
			TimeOfSample: s.shSamples[d.ID][c.key].UTC().Format(phoenixStateLayout),
		})
		if err != nil {
			// Every state value marshals; a failure here is a bug.
			panic(fmt.Sprintf("sim: marshal capability state: %v", err))
		}
		states = append(states, string(b))
	}
	return states
}

// controlRequest is one controlRequests[] entry.
type controlRequest struct {
	phoenixEntity
	Parameters shParams `json:"parameters"`
}

// controlResponse is one controlResponses[] entry.
type controlResponse struct {
	EntityID string `json:"entityId"`
	Code     string `json:"code"`
}

// handlePhoenixControl serves PUT /api/phoenix/state: each request is
// applied on its own (a failure does not undo the others); a GROUP applies
// to every member and succeeds if no member failed, each failed member
// giving an errors[] entry with its entityId.
func (s *Server) handlePhoenixControl(w http.ResponseWriter, r *http.Request) {
	var body struct {
		ControlRequests []controlRequest `json:"controlRequests"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.ControlRequests == nil {
		writeWebError(w, http.StatusBadRequest, "the body must be {\"controlRequests\":[{\"entityId\",\"entityType\",\"parameters\":{\"action\"}}]}")
		return
	}
	for i, q := range body.ControlRequests {
		where := fmt.Sprintf("controlRequests[%d]", i)
		err := checkEntity(where, q.phoenixEntity)
		if action, _ := q.Parameters["action"].(string); err == nil && action == "" {
			err = fmt.Errorf("%s: parameters.action is missing", where)
		}
		if err != nil {
			writeWebError(w, http.StatusBadRequest, "%v", err)
			return
		}
	}
	out := struct {
		ControlResponses []controlResponse `json:"controlResponses"`
		Errors           []phoenixError    `json:"errors"`
	}{ControlResponses: []controlResponse{}, Errors: []phoenixError{}}
	s.mu.Lock()
	for _, q := range body.ControlRequests {
		devices, serr := s.resolveEntity(q.phoenixEntity, true)
		if serr != nil {
			out.Errors = append(out.Errors, newPhoenixError(serr, q.phoenixEntity))
			continue
		}
		action := q.Parameters["action"].(string)
		failed := false
		for _, d := range devices {
			if serr := s.applyAction(d, action, q.Parameters); serr != nil {
				out.Errors = append(out.Errors, newPhoenixError(serr, q.answerEntity(d)))
				failed = true
			}
		}
		if !failed {
			out.ControlResponses = append(out.ControlResponses, controlResponse{EntityID: q.EntityID, Code: "SUCCESS"})
		}
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

// handlePhoenixRetired serves GET /api/phoenix, retired on 2025-07-05:
// HTTP 299 with an empty JSON-typed body (research §4.4).
func (s *Server) handlePhoenixRetired(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(299)
}

// handlePhoenixGroups serves GET /api/phoenix/group (research §4.5).
func (s *Server) handlePhoenixGroups(w http.ResponseWriter, r *http.Request) {
	type applianceGroup struct {
		GroupID      string   `json:"groupId"`
		Name         string   `json:"name"`
		ApplianceIDs []string `json:"applianceIds"`
	}
	s.mu.Lock()
	groups := make([]applianceGroup, 0, len(s.household.Groups))
	for _, g := range s.household.Groups {
		ids := make([]string, 0, len(g.Members))
		for _, m := range g.Members {
			ids = append(ids, ApplianceIDPrefix+m)
		}
		groups = append(groups, applianceGroup{GroupID: groupIDPrefix + "." + g.ID, Name: g.Name, ApplianceIDs: ids})
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"applianceGroups": groups})
}

// smartHomeSkillID is the skill of Amazon's own smart-home actions.
const smartHomeSkillID = "amzn1.ask.1p.smarthome"

// handleActionDefinitions serves GET /api/behaviors/actionDefinitions
// (research §4.5): the actions of the smart-home skill with the colour
// and colour-temperature names as options; any other skill has none.
func (s *Server) handleActionDefinitions(w http.ResponseWriter, r *http.Request) {
	type option struct {
		Data        string `json:"data"`
		DisplayName string `json:"displayName"`
	}
	type parameter struct {
		Name       string `json:"name"`
		Constraint *struct {
			Options []option `json:"options"`
		} `json:"constraint,omitempty"`
	}
	type definition struct {
		ID         string      `json:"id"`
		Parameters []parameter `json:"parameters"`
	}
	withOptions := func(name string, names []string) parameter {
		p := parameter{Name: name, Constraint: &struct {
			Options []option `json:"options"`
		}{}}
		for _, n := range names {
			p.Constraint.Options = append(p.Constraint.Options, option{Data: n, DisplayName: displayName(n)})
		}
		return p
	}
	defs := []definition{}
	if r.URL.Query().Get("skillId") == smartHomeSkillID {
		var colorNames, whiteNames []string
		for _, c := range colors.Names {
			colorNames = append(colorNames, c.Name)
		}
		for _, c := range colors.WhiteNames {
			whiteNames = append(whiteNames, c.Name)
		}
		defs = []definition{
			{ID: "turnOn", Parameters: []parameter{}},
			{ID: "turnOff", Parameters: []parameter{}},
			{ID: "setBrightness", Parameters: []parameter{{Name: "brightness"}}},
			{ID: "setColor", Parameters: []parameter{withOptions("colorName", colorNames)}},
			{ID: "setColorTemperature", Parameters: []parameter{withOptions("colorTemperatureName", whiteNames)}},
		}
	}
	writeJSON(w, http.StatusOK, defs)
}

// upperFirst returns s with its first byte in upper case (GraphQL type
// names from field names: "query" → "Query").
func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// displayName turns a snake_case name into words with capitals
// ("light_sea_green" → "Light Sea Green").
func displayName(name string) string {
	words := strings.Split(name, "_")
	for i, w := range words {
		words[i] = upperFirst(w)
	}
	return strings.Join(words, " ")
}
