package sim

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// GET /api/behaviors/v2/automations (research/echo-voice-media-api.md §3):
// the household's routines as Amazon's Automation objects, a bare array
// served as application/octet-stream. Running one is a behaviors/preview
// call with behaviorId = automationId (behaviors.go).

// automation is one entry of the automations array.
type automation struct {
	Type          string          `json:"@type"`
	AutomationID  string          `json:"automationId"`
	Name          *string         `json:"name"`
	Triggers      []trigger       `json:"triggers"`
	Sequence      json.RawMessage `json:"sequence"`
	Owner         map[string]any  `json:"owner"`
	ClientAlias   any             `json:"clientAlias"`
	Condition     any             `json:"condition"`
	Status        string          `json:"status"`
	CreationTime  int64           `json:"creationTimeEpochMillis"`
	LastUpdatedAt int64           `json:"lastUpdatedTimeEpochMillis"`
}

type trigger struct {
	ID      string         `json:"id"`
	Type    string         `json:"type"`
	SkillID string         `json:"skillId"`
	Payload triggerPayload `json:"payload"`
}

// triggerPayload is a CustomUtterance trigger's payload: utterance is the
// first phrase; utterances lists them all when there are several (clients
// read payload.utterances || [payload.utterance]).
type triggerPayload struct {
	Customer   map[string]string `json:"customer"`
	Locale     string            `json:"locale"`
	Utterance  string            `json:"utterance"`
	Utterances []string          `json:"utterances,omitempty"`
}

// automationLocked builds r's Automation object; s.mu is held.
func (s *Server) automationLocked(r Routine) automation {
	a := automation{
		Type:          "com.amazon.alexa.behaviors.model.Automation",
		AutomationID:  r.ID,
		Triggers:      []trigger{},
		Sequence:      r.Sequence,
		Owner:         map[string]any{"@type": "OwnerId", "ownerType": "CUSTOMER", "id": simCustomerID},
		Status:        "ENABLED",
		CreationTime:  s.loadedAt.UnixMilli(),
		LastUpdatedAt: s.loadedAt.UnixMilli(),
	}
	if r.Name != "" {
		a.Name = &r.Name
	}
	if !r.enabled() {
		a.Status = "DISABLED"
	}
	if len(r.Utterances) > 0 {
		p := triggerPayload{
			Customer:  map[string]string{"@id": simCustomerID, "@type": "ac:Person"},
			Locale:    marketplaces[s.app.settings.Marketplace].locale,
			Utterance: r.Utterances[0],
		}
		if len(r.Utterances) > 1 {
			p.Utterances = r.Utterances
		}
		a.Triggers = append(a.Triggers, trigger{
			ID: "amzn1.alexa.trigger." + nameID(r.displayName()), Type: "CustomUtterance",
			SkillID: "amzn1.ask.1p.customutterance", Payload: p,
		})
	}
	return a
}

// handleAutomations is GET /api/behaviors/v2/automations[?limit=N].
func (s *Server) handleAutomations(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	list := make([]automation, 0, len(s.household.Routines))
	for _, rt := range s.household.Routines {
		list = append(list, s.automationLocked(rt))
	}
	s.mu.Unlock()
	if n, err := strconv.Atoi(r.URL.Query().Get("limit")); err == nil && n >= 0 && n < len(list) {
		list = list[:n]
	}
	b, err := json.Marshal(list)
	if err != nil {
		writeWebErr(w, http.StatusInternalServerError, err)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Write(b)
}
