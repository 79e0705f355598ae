package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// POST /nexus/v1/graphql, the Alexa app's GraphQL API (research
// household-smarthome-api.md §4.1–4.3, §5.3, §6.3): discovery through the
// endpoints, endpoint and listEndpoints queries, control through the
// setEndpointFeatures mutation. Answers hold exactly the fields the query
// selects; fields the simulator does not know come back null.

// gqlRequest is one GraphQL operation request.
type gqlRequest struct {
	Query         string         `json:"query"`
	Variables     map[string]any `json:"variables"`
	OperationName string         `json:"operationName"`
}

// gqlError is a GraphQL error (graphql-java's shape, which Amazon's
// errors follow).
type gqlError struct {
	Message    string         `json:"message"`
	Locations  []gqlLocation  `json:"locations,omitempty"`
	Path       []string       `json:"path,omitempty"`
	Extensions map[string]any `json:"extensions,omitempty"`
}

type gqlLocation struct {
	Line   int `json:"line"`
	Column int `json:"column"`
}

// gqlResult is a GraphQL response. Data is absent when the request failed
// before execution (syntax or validation errors).
type gqlResult struct {
	Errors     []gqlError      `json:"errors,omitempty"`
	Data       json.RawMessage `json:"data,omitempty"`
	Extensions map[string]any  `json:"extensions"`
}

// gqlObject is a JSON object whose keys keep the query's order.
type gqlObject []gqlPair

type gqlPair struct {
	key   string
	value any
}

func (o gqlObject) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, p := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(p.key) // a string always marshals
		v, err := json.Marshal(p.value)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// project keeps of v what sel selects: objects get the selected fields
// (null when absent), lists are projected element by element, and a field
// without a sub-selection keeps its whole value (Amazon serves
// capabilities and similar as JSON scalars).
func project(v any, sel []*gqlField) any {
	if len(sel) == 0 {
		return v
	}
	switch x := v.(type) {
	case map[string]any:
		obj := make(gqlObject, 0, len(sel))
		for _, f := range sel {
			obj = append(obj, gqlPair{f.key(), project(x[f.name], f.sel)})
		}
		return obj
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = project(e, sel)
		}
		return out
	}
	return v
}

// handleGraphQL serves one operation (a JSON object) or a batch (a JSON
// array, answered by an array).
func (s *Server) handleGraphQL(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r)
	if err != nil {
		writeGraphQLError(w, "the request body could not be read")
		return
	}
	if t := bytes.TrimSpace(body); len(t) > 0 && t[0] == '[' {
		var batch []json.RawMessage
		if err := json.Unmarshal(t, &batch); err != nil || len(batch) == 0 {
			writeGraphQLError(w, "the body must be a GraphQL request object or a non-empty array of them")
			return
		}
		out := make([]gqlResult, len(batch))
		for i, raw := range batch {
			req, err := decodeGraphQLRequest(raw)
			if err != nil {
				out[i] = gqlResult{Errors: []gqlError{{Message: err.Error()}}, Extensions: s.gqlExtensions()}
				continue
			}
			out[i] = s.execGraphQL(req)
		}
		writeJSON(w, http.StatusOK, out)
		return
	}
	req, err := decodeGraphQLRequest(body)
	if err != nil {
		writeGraphQLError(w, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, s.execGraphQL(req))
}

func decodeGraphQLRequest(raw []byte) (gqlRequest, error) {
	var req gqlRequest
	if err := json.Unmarshal(raw, &req); err != nil {
		return gqlRequest{}, fmt.Errorf("the request is not a GraphQL request object: %v", err)
	}
	if strings.TrimSpace(req.Query) == "" {
		return gqlRequest{}, fmt.Errorf("the request has no query")
	}
	return req, nil
}

// writeGraphQLError answers a request that is not GraphQL at all: 400.
func writeGraphQLError(w http.ResponseWriter, msg string) {
	writeJSON(w, http.StatusBadRequest, gqlResult{Errors: []gqlError{{Message: msg}}})
}

// gqlExtensions are the response extensions Amazon adds.
func (s *Server) gqlExtensions() map[string]any {
	return map[string]any{"requestID": strings.ToUpper(randomHex(10)), "duration": 1}
}

// gqlRoots are the root fields the simulator serves, per operation type.
var gqlRoots = map[string][]string{
	"query":    {"endpoints", "endpoint", "listEndpoints", "__typename"},
	"mutation": {"setEndpointFeatures", "__typename"},
}

// execGraphQL runs one request: parse, pick the operation, check its root
// fields, then resolve them.
func (s *Server) execGraphQL(req gqlRequest) gqlResult {
	res := gqlResult{Extensions: s.gqlExtensions()}
	doc, err := parseGraphQL(req.Query)
	if err != nil {
		ge := gqlError{Message: err.Error(), Extensions: map[string]any{"classification": "InvalidSyntax"}}
		if se, ok := err.(*gqlSyntaxError); ok {
			ge.Locations = []gqlLocation{{se.line, se.col}}
		}
		res.Errors = []gqlError{ge}
		return res
	}
	op, fields, errs := pickOperation(doc, req.OperationName)
	if len(errs) > 0 {
		res.Errors = errs
		return res
	}
	data := make(gqlObject, 0, len(fields))
	for _, f := range fields {
		v, gerr := s.resolveRoot(op.kind, f, req.Variables)
		if gerr != nil {
			gerr.Path = []string{f.key()}
			gerr.Locations = []gqlLocation{{f.line, f.col}}
			res.Errors = append(res.Errors, *gerr)
		}
		data = append(data, gqlPair{f.key(), project(v, f.sel)})
	}
	b, err := json.Marshal(data)
	if err != nil {
		// The resolvers build plain JSON values; a failure here is a bug.
		panic(fmt.Sprintf("sim: marshal GraphQL data: %v", err))
	}
	res.Data = b
	return res
}

// pickOperation finds the operation to run and validates its root fields.
func pickOperation(doc *gqlDocument, name string) (gqlOperation, []*gqlField, []gqlError) {
	validation := func(msg string) []gqlError {
		return []gqlError{{Message: msg, Extensions: map[string]any{"classification": "ValidationError"}}}
	}
	var op gqlOperation
	switch i := slices.IndexFunc(doc.operations, func(o gqlOperation) bool { return o.name == name }); {
	case name == "" && len(doc.operations) == 1:
		op = doc.operations[0]
	case name == "":
		return op, nil, validation("Must provide operation name if query contains multiple operations.")
	case i < 0:
		return op, nil, validation(fmt.Sprintf("Unknown operation named '%s'.", name))
	default:
		op = doc.operations[i]
	}
	fields, err := doc.fields(op.sel)
	if err != nil {
		return op, nil, validation(err.Error())
	}
	roots, ok := gqlRoots[op.kind]
	if !ok {
		return op, nil, validation(fmt.Sprintf("The simulator serves no %s operations.", op.kind))
	}
	var errs []gqlError
	typ := upperFirst(op.kind)
	for _, f := range fields {
		if !slices.Contains(roots, f.name) {
			errs = append(errs, gqlError{
				Message:    fmt.Sprintf("Validation error (FieldUndefined@[%s]) : Field '%s' in type '%s' is undefined", f.name, f.name, typ),
				Locations:  []gqlLocation{{f.line, f.col}},
				Extensions: map[string]any{"classification": "ValidationError"},
			})
		}
	}
	return op, fields, errs
}
