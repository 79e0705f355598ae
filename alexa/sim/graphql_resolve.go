package sim

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// The GraphQL root fields over the household's smart-home devices.

// resolveRoot resolves one root field to a plain JSON value (maps, slices,
// strings, numbers) that project then cuts to the selection.
func (s *Server) resolveRoot(kind string, f *gqlField, vars map[string]any) (any, *gqlError) {
	args, _ := resolveVariables(f.args, vars).(map[string]any)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch f.name {
	case "__typename":
		return upperFirst(kind), nil
	case "endpoints":
		// Pagination arguments are accepted and ignored: one page
		// holds every endpoint.
		return map[string]any{"__typename": "EndpointConnection", "items": s.gqlEndpoints(nil, "")}, nil
	case "endpoint":
		id, _ := args["id"].(string)
		eps := s.gqlEndpoints([]string{id}, "")
		if len(eps) == 0 {
			return nil, &gqlError{Message: fmt.Sprintf("Endpoint %s not found", id),
				Extensions: map[string]any{"errorCode": "NOT_FOUND", "isRetryable": false, "classification": "DataFetchingException"}}
		}
		return eps[0], nil
	case "listEndpoints":
		input, _ := args["listEndpointsInput"].(map[string]any)
		var ids []string
		if list, ok := input["endpointIds"].([]any); ok {
			ids = []string{}
			for _, v := range list {
				if id, ok := v.(string); ok {
					ids = append(ids, id)
				}
			}
		}
		// ALEXA_VOICE_ENABLED (aioamazondevices' Echo query) matches none:
		// the simulator serves no Echo endpoints here.
		category, _ := input["displayCategory"].(string)
		return map[string]any{"__typename": "ListEndpointsResponse", "endpoints": s.gqlEndpoints(ids, category)}, nil
	case "setEndpointFeatures":
		return s.setEndpointFeatures(args)
	}
	// pickOperation rejected every other field.
	return nil, &gqlError{Message: fmt.Sprintf("unknown field %s", f.name)}
}

// gqlEndpoints renders the devices with these endpoint ids (all when ids is
// nil) and this display category (any when empty), in household order;
// s.mu is held.
func (s *Server) gqlEndpoints(ids []string, category string) []any {
	out := []any{}
	for i := range s.household.SmartHome {
		d := &s.household.SmartHome[i]
		if (ids == nil || slices.Contains(ids, EndpointIDPrefix+d.ID)) && (category == "" || category == smartHomeTypes[d.Type]) {
			out = append(out, s.gqlEndpoint(d))
		}
	}
	return toGeneric(out).([]any)
}

// gqlEndpoint is a device as the endpoints query serves it (research §4.1,
// §4.2, §5.3); s.mu is held.
func (s *Server) gqlEndpoint(d *SmartHomeDevice) map[string]any {
	category := smartHomeTypes[d.Type]
	text := func(t string) map[string]any { return map[string]any{"value": map[string]any{"text": t}} }
	return map[string]any{
		"__typename":         "Endpoint",
		"id":                 EndpointIDPrefix + d.ID,
		"endpointId":         EndpointIDPrefix + d.ID,
		"friendlyName":       d.Name,
		"friendlyNameObject": text(d.Name),
		"displayCategories": map[string]any{
			"primary": map[string]any{"value": category},
			"all":     []any{map[string]any{"value": category}},
		},
		"enablement": "ENABLED",
		"legacyIdentifiers": map[string]any{
			"chrsIdentifier": map[string]any{"entityId": d.ID},
			"dmsIdentifier":  nil,
		},
		"serialNumber":    text(d.ID),
		"manufacturer":    text("alexarules"),
		"model":           text("Simulated " + category),
		"features":        s.gqlFeatures(d),
		"legacyAppliance": s.legacyAppliance(d),
	}
}

// gqlFeatures are a device's features with their operations and current
// properties (the value under <property>StateValue, research §5.3); an
// unreachable device's properties carry an error instead. s.mu is held.
func (s *Server) gqlFeatures(d *SmartHomeDevice) []any {
	features := []any{}
	for _, c := range shCapabilities() {
		if c.feature == "" || !c.has(&d.State) {
			continue
		}
		ops := []any{}
		for _, a := range c.actions {
			ops = append(ops, map[string]any{"__typename": "Operation", "name": a})
		}
		prop := map[string]any{
			"__typename":   upperFirst(c.feature),
			"name":         c.property,
			"timeOfSample": s.shSamples[d.ID][c.key].UTC().Format(phoenixStateLayout),
		}
		if d.State.reachable() {
			prop[c.stateField] = c.value(&d.State)
		} else {
			prop["error"] = map[string]any{"type": shUnreachable, "message": d.Name + " is unreachable."}
		}
		features = append(features, map[string]any{
			"__typename": "Feature", "name": c.feature, "operations": ops, "properties": []any{prop},
		})
	}
	return features
}

// legacyAppliance is the legacyAppliance object of a device (research
// §4.1, §4.2 field list); s.mu is held.
func (s *Server) legacyAppliance(d *SmartHomeDevice) map[string]any {
	caps, actions := []any{}, []any{}
	for _, c := range shCapabilities() {
		if !c.has(&d.State) {
			continue
		}
		caps = append(caps, map[string]any{
			"capabilityType": "AVSInterfaceCapability", "type": "AlexaInterface", "version": "3",
			"interfaceName": c.namespace,
			"properties": map[string]any{
				"supported":           []any{map[string]any{"name": c.property}},
				"proactivelyReported": true, "retrievable": true, "readOnly": c.readOnly,
			},
		})
		for _, a := range c.actions {
			actions = append(actions, a)
		}
	}
	aliases := []any{}
	for _, a := range d.Aliases {
		aliases = append(aliases, map[string]any{"friendlyName": a})
	}
	reach := "REACHABLE"
	if !d.State.reachable() {
		reach = "NOT_REACHABLE"
	}
	return map[string]any{
		"applianceId": ApplianceIDPrefix + d.ID, "entityId": d.ID,
		"applianceTypes": []any{smartHomeTypes[d.Type]}, "endpointTypeId": "",
		"friendlyName": d.Name, "friendlyDescription": "alexarules simulated device",
		"manufacturerName": "alexarules", "connectedVia": "", "modelName": "",
		"actions": actions, "mergedApplianceIds": []any{}, "capabilities": caps,
		"applianceNetworkState": map[string]any{
			"reachability": reach, "lastSeenAt": millis(s.shSamples[d.ID]["connectivity"]),
		},
		"version": "0", "isEnabled": true, "customerDefinedDeviceType": "", "customerPreference": nil,
		"alexaDeviceIdentifierList": []any{}, "aliases": aliases,
		"driverIdentity":             map[string]any{"namespace": "AAA", "identifier": "SonarCloudService"},
		"additionalApplianceDetails": map[string]any{"additionalApplianceDetails": map[string]any{}},
		"isConsentRequired":          false, "applianceKey": d.ID,
		"appliancePairs": []any{}, "deduplicatedPairs": []any{}, "entityPairs": []any{},
		"deduplicatedAliasesByEntityId": map[string]any{}, "relations": []any{},
	}
}

// setEndpointFeatures runs the mutation of research §6.3: each feature
// control request on its own, failures as errors[] entries; s.mu is held.
func (s *Server) setEndpointFeatures(args map[string]any) (any, *gqlError) {
	input, _ := args["setEndpointFeaturesInput"].(map[string]any)
	reqs, ok := input["featureControlRequests"].([]any)
	if !ok {
		return nil, &gqlError{Message: "setEndpointFeaturesInput.featureControlRequests must be a list",
			Extensions: map[string]any{"classification": "ValidationError"}}
	}
	responses, errs := []any{}, []any{}
	for i, raw := range reqs {
		req, _ := raw.(map[string]any)
		endpointID, _ := req["endpointId"].(string)
		feature, _ := req["featureName"].(string)
		op, _ := req["featureOperationName"].(string)
		if endpointID == "" || feature == "" || op == "" {
			return nil, &gqlError{Message: fmt.Sprintf("featureControlRequests[%d] needs endpointId, featureName and featureOperationName", i),
				Extensions: map[string]any{"classification": "ValidationError"}}
		}
		payload, _ := req["payload"].(map[string]any)
		if serr := s.controlFeature(endpointID, feature, op, payload); serr != nil {
			errs = append(errs, map[string]any{"__typename": "FeatureControlError",
				"endpointId": endpointID, "featureName": feature, "code": serr.code, "message": serr.message})
			continue
		}
		responses = append(responses, map[string]any{"__typename": "FeatureControlResponse",
			"endpointId": endpointID, "featureName": feature, "featureOperationName": op})
	}
	return map[string]any{"__typename": "SetEndpointFeaturesResponse",
		"featureControlResponses": responses, "errors": errs}, nil
}

// controlFeature applies one feature operation; s.mu is held.
func (s *Server) controlFeature(endpointID, feature, op string, payload map[string]any) *shError {
	id, _ := strings.CutPrefix(endpointID, EndpointIDPrefix)
	d := s.smartHomeDevice(id)
	if d == nil || !strings.HasPrefix(endpointID, EndpointIDPrefix) {
		return &shError{code: "NO_SUCH_ENDPOINT", message: fmt.Sprintf("Endpoint %s not found.", endpointID)}
	}
	caps := shCapabilities()
	i := slices.IndexFunc(caps, func(c shCapability) bool { return c.feature == feature })
	if i < 0 || !slices.Contains(caps[i].actions, op) {
		return &shError{code: shUnsupported, message: fmt.Sprintf("Feature %q has no operation %q.", feature, op)}
	}
	return s.applyAction(d, op, shParams(payload))
}

// toGeneric turns v into plain JSON values (map[string]any, []any, ...).
func toGeneric(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("sim: marshal %T: %v", v, err))
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		panic(fmt.Sprintf("sim: unmarshal %T: %v", v, err))
	}
	return out
}
