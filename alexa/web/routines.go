package web

import (
	"bytes"
	"context"
	"encoding/json"
	"net/url"
	"strings"
)

const automationsPath = "/api/behaviors/v2/automations"

// Routine is an enabled Alexa routine (an Automation with a sequence).
type Routine struct {
	ID         string          // automationId
	Name       string          // its name, else its first utterance, else its id
	Utterances []string        // what starts it by voice (CustomUtterance triggers)
	Sequence   json.RawMessage // the Sequence to replay, placeholders still in it
}

// automation is the part of Amazon's Automation object a Routine needs.
type automation struct {
	Type     string          `json:"@type"`
	ID       string          `json:"automationId"`
	Name     *string         `json:"name"`
	Status   string          `json:"status"`
	Sequence json.RawMessage `json:"sequence"`
	Triggers []struct {
		Type    string `json:"type"`
		Payload *struct {
			Utterance  *string  `json:"utterance"`
			Utterances []string `json:"utterances"`
		} `json:"payload"`
	} `json:"triggers"`
}

// Routines lists the account's enabled routines (GET
// /api/behaviors/v2/automations?limit=2000, a bare array). Disabled ones,
// and entries without a sequence or of another @type, are left out.
func (c *Client) Routines(ctx context.Context) ([]Routine, error) {
	body, err := c.send(ctx, "GET", c.web, automationsPath, url.Values{"limit": {"2000"}}, nil)
	if err != nil {
		return nil, err
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '[' {
		return nil, badResponse("GET", automationsPath, "not a JSON array")
	}
	var autos []automation
	if err := json.Unmarshal(trimmed, &autos); err != nil {
		return nil, badResponse("GET", automationsPath, err.Error())
	}
	out := make([]Routine, 0, len(autos))
	for _, a := range autos {
		seq := bytes.TrimSpace(a.Sequence)
		if a.Status != "ENABLED" || len(seq) == 0 || seq[0] != '{' ||
			(a.Type != "" && a.Type != modelPrefix+"Automation") {
			continue
		}
		out = append(out, a.routine())
	}
	return out, nil
}

func (a automation) routine() Routine {
	r := Routine{ID: a.ID, Sequence: a.Sequence}
	for _, t := range a.Triggers {
		if t.Type != "CustomUtterance" || t.Payload == nil {
			continue
		}
		us := t.Payload.Utterances
		if len(us) == 0 && t.Payload.Utterance != nil {
			us = []string{*t.Payload.Utterance}
		}
		for _, u := range us {
			if u = cleanText(u); u != "" {
				r.Utterances = append(r.Utterances, u)
			}
		}
	}
	switch {
	case a.Name != nil && cleanText(*a.Name) != "":
		r.Name = cleanText(*a.Name)
	case len(r.Utterances) > 0:
		r.Name = r.Utterances[0]
	default:
		r.Name = a.ID
	}
	return r
}

// FindRoutine picks the routine called q: by name, else by one of its
// utterances, else by id; case and runs of white space do not matter.
func FindRoutine(rs []Routine, q string) (Routine, bool) {
	key := strings.ToLower(cleanText(q))
	for _, r := range rs {
		if strings.ToLower(r.Name) == key {
			return r, true
		}
	}
	for _, r := range rs {
		for _, u := range r.Utterances {
			if strings.ToLower(u) == key {
				return r, true
			}
		}
	}
	for _, r := range rs {
		if r.ID == q {
			return r, true
		}
	}
	return Routine{}, false
}

// RunRoutine runs r on the Echo on: its sequence through
// behaviors/preview with behaviorId = automationId, after replacing the
// placeholders ALEXA_CURRENT_DSN, ALEXA_CURRENT_DEVICE_TYPE,
// ALEXA_CUSTOMER_ID and ALEXA_CURRENT_LOCALE with on's serial and type,
// the signed-in customer id and the account's language.
func (c *Client) RunRoutine(ctx context.Context, r Routine, on Echo) error {
	if r.ID == "" || len(bytes.TrimSpace(r.Sequence)) == 0 {
		return invalid("routine %q has no id or sequence (take routines from Client.Routines)", r.Name)
	}
	if err := checkEcho(on); err != nil {
		return err
	}
	customer, err := c.CustomerID(ctx)
	if err != nil {
		return err
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, r.Sequence); err != nil {
		return invalid("routine %q: sequence: %v", r.Name, err)
	}
	// Whole JSON strings only, as alexa-remote: a placeholder inside a
	// longer text is Amazon's business.
	quote := func(s string) string {
		b, _ := json.Marshal(s) // a string always encodes
		return string(b)
	}
	seq := strings.NewReplacer(
		`"ALEXA_CURRENT_DSN"`, quote(on.Serial),
		`"ALEXA_CURRENT_DEVICE_TYPE"`, quote(on.Type),
		`"ALEXA_CUSTOMER_ID"`, quote(customer),
		`"ALEXA_CURRENT_LOCALE"`, quote(c.locale),
	).Replace(compact.String())
	return c.previewJSON(ctx, r.ID, seq)
}
