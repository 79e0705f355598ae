package features

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
)

// Endpoint is one entry of the Endpoints API list.
type Endpoint struct {
	ID              string
	FriendlyName    string
	Manufacturer    string
	Model           string
	SerialNumber    string
	SoftwareVersion string
	// Features, with expand=all, carry the same properties a feature GET
	// returns; decode them with the FeatureResponse methods.
	Features []*FeatureResponse
}

// Feature returns the named feature of e, or nil.
func (e Endpoint) Feature(name string) *FeatureResponse {
	for _, f := range e.Features {
		if f.Name == name {
			return f
		}
	}
	return nil
}

// textValue is the API's {"value":{"text":...}} wrapper.
type textValue struct {
	Value struct {
		Text string `json:"text"`
	} `json:"value"`
}

type endpointWire struct {
	ID              string             `json:"id"`
	FriendlyName    textValue          `json:"friendlyName"`
	Manufacturer    textValue          `json:"manufacturer"`
	Model           textValue          `json:"model"`
	SerialNumber    textValue          `json:"serialNumber"`
	SoftwareVersion textValue          `json:"softwareVersion"`
	Features        []*FeatureResponse `json:"features"`
}

type endpointPage struct {
	Results           *[]endpointWire `json:"results"`
	PaginationContext struct {
		NextToken string `json:"nextToken"`
	} `json:"paginationContext"`
}

// maxPages stops a server that keeps handing out new tokens.
const maxPages = 1000

// Endpoints lists the caller's endpoints
// (GET /v2/endpoints?owner=~caller&expand=all), following
// paginationContext.nextToken to the end.
func (c *Client) Endpoints(ctx context.Context) ([]Endpoint, error) {
	const path = "/v2/endpoints"
	var all []Endpoint
	seen := map[string]bool{}
	next := ""
	for page := 1; ; page++ {
		q := url.Values{"owner": {"~caller"}, "expand": {"all"}}
		if next != "" {
			q.Set("nextToken", next)
		}
		body, err := c.send(ctx, http.MethodGet, path, q, nil)
		if err != nil {
			return nil, err
		}
		fail := func(reason string, err error) error {
			return &DecodeError{Method: http.MethodGet, Path: path, Reason: "page " + strconv.Itoa(page) + ": " + reason, Err: err}
		}
		var p endpointPage
		if err := decodeObject(body, &p); err != nil {
			return nil, fail("endpoint list", err)
		}
		if p.Results == nil {
			return nil, fail("no results", nil)
		}
		for i, w := range *p.Results {
			if w.ID == "" {
				return nil, fail(fmt.Sprintf("results[%d] has no id", i), nil)
			}
			e := Endpoint{
				ID:              w.ID,
				FriendlyName:    w.FriendlyName.Value.Text,
				Manufacturer:    w.Manufacturer.Value.Text,
				Model:           w.Model.Value.Text,
				SerialNumber:    w.SerialNumber.Value.Text,
				SoftwareVersion: w.SoftwareVersion.Value.Text,
				Features:        w.Features,
			}
			for _, f := range e.Features {
				if f == nil {
					return nil, fail(fmt.Sprintf("results[%d] has a null feature", i), nil)
				}
				f.endpoint, f.path = e.ID, path
			}
			all = append(all, e)
		}
		next = p.PaginationContext.NextToken
		if next == "" {
			return all, nil
		}
		if seen[next] {
			return nil, fail("nextToken "+strconv.Quote(next)+" repeats", nil)
		}
		if page >= maxPages {
			return nil, fail("more than "+strconv.Itoa(maxPages)+" pages", nil)
		}
		seen[next] = true
	}
}
