package push

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// DecodeDirective decodes the body of one downchannel part:
//
//	{"directive":{"header":{"namespace":"DeeAppMessagingGateway","name":"ProcessNotification","messageId":"…"},
//	  "payload":{"renderingUpdates":[{"route":"DeeAppMessage","resourceId":"PUSH_…",
//	    "resourceMetadata":"{\"command\":\"PUSH_…\",\"payload\":\"{…}\",\"timeStamp\":…}"}]}}}
//
// resourceMetadata is a JSON string whose payload is again a JSON string
// (three levels of decoding); both may also arrive as objects. A directive
// without renderingUpdates (another namespace) yields no pushes and no
// error. Updates that do not decode are skipped: their errors are joined and
// returned together with the pushes that did decode.
func DecodeDirective(part []byte) ([]Push, error) {
	var d struct {
		Directive *struct {
			Header struct {
				Namespace string `json:"namespace"`
				Name      string `json:"name"`
				MessageID string `json:"messageId"`
			} `json:"header"`
			Payload struct {
				RenderingUpdates []struct {
					ResourceID       string          `json:"resourceId"`
					ResourceMetadata json.RawMessage `json:"resourceMetadata"`
				} `json:"renderingUpdates"`
			} `json:"payload"`
		} `json:"directive"`
	}
	if err := json.Unmarshal(part, &d); err != nil {
		return nil, fmt.Errorf("push: directive: %w: %w", ErrMalformed, err)
	}
	if d.Directive == nil {
		return nil, fmt.Errorf("push: directive: %w: no directive object", ErrMalformed)
	}
	var pushes []Push
	var errs []error
	for i, u := range d.Directive.Payload.RenderingUpdates {
		p, err := decodeUpdate(u.ResourceMetadata, u.ResourceID)
		if err != nil {
			errs = append(errs, fmt.Errorf("push: directive %s update %d: %w", d.Directive.Header.MessageID, i, err))
			continue
		}
		if p.Key == "" && d.Directive.Header.MessageID != "" {
			// A redelivered directive keeps its messageId.
			p.Key = "message|" + d.Directive.Header.MessageID + "|" + strconv.Itoa(i)
		}
		pushes = append(pushes, p)
	}
	return pushes, errors.Join(errs...)
}

// decodeUpdate decodes one resourceMetadata: a JSON string holding the
// command envelope, or the envelope object itself. resourceID names the
// command when the envelope does not (aioamazondevices reads it that way).
func decodeUpdate(meta json.RawMessage, resourceID string) (Push, error) {
	meta = bytes.TrimSpace(meta)
	if len(meta) > 0 && meta[0] == '"' {
		var s string
		if err := json.Unmarshal(meta, &s); err != nil {
			return Push{}, fmt.Errorf("resourceMetadata: %w: %w", ErrMalformed, err)
		}
		meta = bytes.TrimSpace([]byte(s))
	}
	if len(meta) == 0 || meta[0] != '{' {
		return Push{}, fmt.Errorf("resourceMetadata: %w: not an object", ErrMalformed)
	}
	return decodeCommand(meta, resourceID)
}
