package smarthome

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/alexarules/alexarules/alexa"
)

// Entity is one device or group as discovery found it.
type Entity struct {
	// ID is what rules and the other methods use: the entityId (a UUID)
	// of a device, "group:<short group id>" of a group. A device without
	// an entityId (not seen, but the API does not promise one) has its
	// applianceId.
	ID string
	// Name is the first alias (where the Alexa app keeps renames), else
	// FriendlyName.
	Name               string
	FriendlyName       string
	Aliases            []string
	ApplianceID        string   // e.g. AAA_SonarCloudService_…; "" for a group
	MergedApplianceIDs []string // further applianceIds of the same device
	EndpointID         string   // amzn1.alexa.endpoint.<entityId>; "" for a group
	GroupID            string   // a group's full groupId
	Types              []string // applianceTypes (LIGHT, SMARTPLUG, ...); [GROUP] for a group
	// Capabilities are the Alexa interfaces the device lists (e.g.
	// Alexa.PowerController); a group has its members'.
	Capabilities []string
	Members      []string // a group's member ids, in the group's order
}

// IsGroup reports whether e is a group.
func (e Entity) IsGroup() bool { return strings.HasPrefix(e.ID, groupPrefix) }

const (
	groupPrefix    = "group:"
	endpointPrefix = "amzn1.alexa.endpoint."
	graphqlPath    = "/nexus/v1/graphql"
	groupPath      = "/api/phoenix/group"
)

// discoveryQuery is alexapy's and aioamazondevices' CustomerSmartHome
// query (research §4.2): pagination disabled, so that a large household
// is not cut short (alexa-remote2's query Endpoints leaves that open,
// §9.5), plus mergedApplianceIds and the endpoint's id, name, category
// and features, which §8 suggests. Fields some accounts reject
// (isEnabled, enablement) are not asked for.
const discoveryQuery = "query CustomerSmartHome { endpoints(endpointsQueryParams: { paginationParams: { disablePagination: true } }) " +
	"{ items { id friendlyName displayCategories { primary { value } } features { name operations { name } } " +
	"legacyAppliance { applianceId applianceTypes friendlyName friendlyDescription manufacturerName connectedVia " +
	"modelName entityId aliases capabilities customerDefinedDeviceType alexaDeviceIdentifierList driverIdentity " +
	"mergedApplianceIds } } } }"

// Devices discovers the account's devices and groups (a GraphQL query
// and the groups list) and returns them for an alexa.Directory: ids as
// Entity.ID, names as Entity.Name. It always asks Amazon; the Directory
// caches.
func (c *Client) Devices(ctx context.Context) ([]alexa.Device, error) {
	inv, err := c.discover(ctx)
	if err != nil {
		return nil, describe(err)
	}
	devices := make([]alexa.Device, len(inv.list))
	for i, d := range inv.list {
		devices[i] = alexa.Device{ID: d.ID, FriendlyName: d.Name}
	}
	return devices, nil
}

// Entities returns the devices and groups of the last discovery,
// discovering first when there was none.
func (c *Client) Entities(ctx context.Context) ([]Entity, error) {
	inv, err := c.current(ctx)
	if err != nil {
		return nil, describe(err)
	}
	out := make([]Entity, len(inv.list))
	for i, d := range inv.list {
		out[i] = d.Entity
	}
	return out, nil
}

// inventory is one discovery's result; it is never changed once built.
type inventory struct {
	list []*device
	byID map[string]*device
}

// device is an Entity with what requests need.
type device struct {
	Entity
	caps    caps      // what it can do; 0 with known false: unknown, let Amazon decide
	known   bool      // capabilities or features were listed
	members []*device // a group's members
}

// current returns the inventory, discovering when there is none.
func (c *Client) current(ctx context.Context) (*inventory, error) {
	c.mu.Lock()
	inv := c.inventory
	c.mu.Unlock()
	if inv != nil {
		return inv, nil
	}
	return c.discover(ctx)
}

// lookup finds id in the inventory. An id it lacks starts one discovery
// (at most once per MinRediscover) before it is an *EntityError NOT_FOUND.
func (c *Client) lookup(ctx context.Context, id string) (*device, error) {
	inv, err := c.current(ctx)
	if err != nil {
		return nil, err
	}
	if d := inv.byID[id]; d != nil {
		return d, nil
	}
	if inv, err = c.rediscover(ctx); err != nil {
		return nil, err
	}
	if d := inv.byID[id]; d != nil {
		return d, nil
	}
	return nil, &EntityError{ID: id, Code: codeNotFound, Message: "no smart-home device or group has this id"}
}

// rediscover discovers again unless the last discovery is less than
// MinRediscover old; it returns the current inventory either way.
func (c *Client) rediscover(ctx context.Context) (*inventory, error) {
	c.mu.Lock()
	recent := !c.discovered.IsZero() && c.clock.Now().Sub(c.discovered) < c.minRediscover
	inv := c.inventory
	c.mu.Unlock()
	if recent && inv != nil {
		return inv, nil
	}
	return c.discover(ctx)
}

// discover fetches the device list and the groups and replaces the
// inventory; on failure the previous inventory stays. Concurrent calls
// share one discovery: a caller that waited for another's gets its
// result.
func (c *Client) discover(ctx context.Context) (*inventory, error) {
	c.mu.Lock()
	seen := c.discoveries
	c.mu.Unlock()
	select {
	case c.discovering <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-c.discovering }()
	c.mu.Lock()
	if c.discoveries != seen {
		inv, err := c.inventory, c.lastErr
		c.mu.Unlock()
		if err != nil {
			return nil, err
		}
		return inv, nil
	}
	c.discovered = c.clock.Now()
	prev := c.inventory
	c.mu.Unlock()
	inv, err := c.fetchInventory(ctx, prev)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.discoveries++
	c.lastErr = err
	if err != nil {
		return nil, err
	}
	c.inventory = inv
	return inv, nil
}

// fetchInventory asks for the devices and the groups.
func (c *Client) fetchInventory(ctx context.Context, prev *inventory) (*inventory, error) {
	devices, err := c.fetchDevices(ctx)
	if err != nil {
		return nil, err
	}
	if len(devices) == 0 && prev != nil && len(prev.list) > 0 {
		// A known silent failure (research §7.1, 2026): keep the list.
		return nil, badResponse(http.MethodPost, graphqlPath, "discovery returned no devices; keeping the previous list", nil)
	}
	groups, err := c.fetchGroups(ctx)
	if err != nil {
		return nil, err
	}
	c.logger.Debug("alexa smarthome: discovered", "devices", len(devices), "groups", len(groups))
	return build(devices, groups), nil
}

// build indexes the devices and resolves the groups' members (by
// applianceId, merged applianceId or entityId; unknown members are left
// out).
func build(devices []*device, groups []*device) *inventory {
	inv := &inventory{byID: map[string]*device{}}
	byAppliance := map[string]*device{}
	for _, d := range devices {
		if inv.byID[d.ID] != nil {
			continue // the same device listed twice
		}
		inv.list = append(inv.list, d)
		inv.byID[d.ID] = d
		for _, a := range append([]string{d.ApplianceID}, d.MergedApplianceIDs...) {
			if a != "" {
				byAppliance[a] = d
			}
		}
	}
	for _, g := range groups {
		if inv.byID[g.ID] != nil {
			continue
		}
		var ids []string
		for _, m := range g.Members {
			d := byAppliance[m]
			if d == nil {
				d = inv.byID[m]
			}
			if d == nil || slices.Contains(g.members, d) {
				continue
			}
			g.members = append(g.members, d)
			ids = append(ids, d.ID)
			g.known = g.known || d.known
			g.caps |= d.caps
		}
		g.Members = ids
		g.Capabilities = g.caps.interfaces()
		inv.list = append(inv.list, g)
		inv.byID[g.ID] = g
	}
	return inv
}

// flex decodes raw into v, also when raw is a JSON string holding the
// JSON (research §4.2: some fields may come as strings). Null and
// absent leave v alone.
func flex(raw json.RawMessage, v any) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return err
		}
		if strings.TrimSpace(s) == "" {
			return nil
		}
		raw = []byte(s)
	}
	return json.Unmarshal(raw, v)
}

type itemWire struct {
	ID              string          `json:"id"`
	FriendlyName    json.RawMessage `json:"friendlyName"`
	Features        json.RawMessage `json:"features"`
	LegacyAppliance json.RawMessage `json:"legacyAppliance"`
}

type applianceWire struct {
	ApplianceID        string          `json:"applianceId"`
	EntityID           string          `json:"entityId"`
	FriendlyName       string          `json:"friendlyName"`
	ApplianceTypes     json.RawMessage `json:"applianceTypes"`
	Aliases            json.RawMessage `json:"aliases"`
	Capabilities       json.RawMessage `json:"capabilities"`
	MergedApplianceIDs json.RawMessage `json:"mergedApplianceIds"`
}

// fetchDevices runs the discovery query (research §4.2).
func (c *Client) fetchDevices(ctx context.Context) ([]*device, error) {
	body, err := c.call(ctx, http.MethodPost, graphqlPath, nil,
		map[string]string{"query": discoveryQuery, "operationName": "CustomerSmartHome"})
	if err != nil {
		return nil, err
	}
	var resp struct {
		Data *struct {
			Endpoints *struct {
				Items []json.RawMessage `json:"items"`
			} `json:"endpoints"`
		} `json:"data"`
		Errors []gqlError `json:"errors"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, badResponse(http.MethodPost, graphqlPath, "discovery", err)
	}
	if resp.Data == nil || resp.Data.Endpoints == nil || resp.Data.Endpoints.Items == nil {
		reason := "no data.endpoints.items"
		if len(resp.Errors) > 0 {
			e := resp.Errors[0]
			reason = strings.TrimSpace(e.Extensions.ErrorCode + " " + e.Message)
		}
		return nil, badResponse(http.MethodPost, graphqlPath, "discovery: "+reason, nil)
	}
	var out []*device
	for i, raw := range resp.Data.Endpoints.Items {
		d, err := parseItem(raw)
		if err != nil {
			c.logger.Warn("alexa smarthome: discovery: skipping an item", "item", i, "err", err)
			continue
		}
		if d != nil {
			out = append(out, d)
		}
	}
	return out, nil
}

// parseItem reads one endpoints item; items without a legacyAppliance
// are not smart-home devices (alexapy skips them) and give nil.
func parseItem(raw json.RawMessage) (*device, error) {
	var it itemWire
	if err := json.Unmarshal(raw, &it); err != nil {
		return nil, err
	}
	var la applianceWire
	if err := flex(it.LegacyAppliance, &la); err != nil {
		return nil, fmt.Errorf("legacyAppliance: %w", err)
	}
	if la.EntityID == "" && la.ApplianceID == "" {
		return nil, nil
	}
	d := &device{Entity: Entity{ID: la.EntityID, ApplianceID: la.ApplianceID, FriendlyName: la.FriendlyName}}
	if d.ID == "" {
		d.ID = la.ApplianceID
	} else {
		d.EndpointID = endpointPrefix + la.EntityID
	}
	if strings.HasPrefix(it.ID, endpointPrefix) {
		d.EndpointID = it.ID
	}
	if d.FriendlyName == "" {
		var name string
		if flex(it.FriendlyName, &name) == nil {
			d.FriendlyName = name
		}
	}
	// Optional fields: a malformed one is left out, not the device.
	_ = flex(la.ApplianceTypes, &d.Types)
	_ = flex(la.MergedApplianceIDs, &d.MergedApplianceIDs)
	var aliases []struct {
		FriendlyName string `json:"friendlyName"`
	}
	_ = flex(la.Aliases, &aliases)
	for _, a := range aliases {
		if a.FriendlyName != "" {
			d.Aliases = append(d.Aliases, a.FriendlyName)
		}
	}
	d.Name = d.FriendlyName
	if len(d.Aliases) > 0 {
		d.Name = d.Aliases[0]
	}
	if d.Name == "" {
		d.Name = d.ID
	}
	d.caps, d.known = parseCaps(la.Capabilities, it.Features)
	d.Capabilities = d.caps.interfaces()
	return d, nil
}

// fetchGroups reads GET /api/phoenix/group (research §4.5): groups as
// devices with their members' applianceIds in Members.
func (c *Client) fetchGroups(ctx context.Context) ([]*device, error) {
	q := url.Values{"_": {strconv.FormatInt(c.clock.Now().UnixMilli(), 10)}}
	body, err := c.call(ctx, http.MethodGet, groupPath, q, nil)
	if err != nil {
		return nil, err
	}
	var resp struct {
		Groups json.RawMessage `json:"applianceGroups"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, badResponse(http.MethodGet, groupPath, "groups", err)
	}
	type groupWire struct {
		GroupID      string   `json:"groupId"`
		Name         string   `json:"name"`
		ApplianceIDs []string `json:"applianceIds"`
	}
	var list []groupWire
	if err := flex(resp.Groups, &list); err != nil {
		// The legacy network detail kept groups in an object by id.
		var byID map[string]groupWire
		if flex(resp.Groups, &byID) != nil {
			return nil, badResponse(http.MethodGet, groupPath, "applianceGroups", err)
		}
		for _, id := range slices.Sorted(maps.Keys(byID)) {
			list = append(list, byID[id])
		}
	}
	var out []*device
	for _, g := range list {
		if g.GroupID == "" {
			continue
		}
		short := g.GroupID[strings.LastIndex(g.GroupID, ".")+1:]
		name := g.Name
		if name == "" {
			name = short
		}
		out = append(out, &device{Entity: Entity{ID: groupPrefix + short, Name: name, FriendlyName: g.Name,
			GroupID: g.GroupID, Types: []string{"GROUP"}, Members: g.ApplianceIDs}})
	}
	return out, nil
}
