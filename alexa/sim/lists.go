package sim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// itemKey names one list item.
type itemKey struct{ list, item string }

// itemMeta is what the list APIs know about an item beyond the household:
// its version (bumped by every change, checked by the v2 API) and times.
type itemMeta struct {
	version int
	created time.Time
	updated time.Time
}

// Item events of PUSH_LIST_ITEM_CHANGE.
const (
	itemCreated = "itemCreated"
	itemUpdated = "itemUpdated"
	itemDeleted = "itemDeleted"
)

// listType is the v2 list type, derived from the list's name: "Shopping"
// or "Shopping List" → SHOP, "To-Do", "Todo", "To-do List" → TODO, any
// other name → CUSTOM.
func listType(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		if unicode.IsLetter(r) {
			b.WriteRune(r)
		}
	}
	switch strings.TrimSuffix(b.String(), "list") {
	case "shopping":
		return "SHOP"
	case "todo", "todos":
		return "TODO"
	default:
		return "CUSTOM"
	}
}

// legacyListType is the /api/namedLists type for a v2 type.
func legacyListType(v2 string) string {
	switch v2 {
	case "SHOP":
		return "SHOPPING_LIST"
	case "TODO":
		return "TO_DO"
	default:
		return "CUSTOM"
	}
}

// listLocked returns the household's list with this id; s.mu is held.
func (s *Server) listLocked(id string) *List {
	for i := range s.household.Lists {
		if s.household.Lists[i].ID == id {
			return &s.household.Lists[i]
		}
	}
	return nil
}

// itemIndex returns the index of item id in l, or -1.
func itemIndex(l *List, id string) int {
	for i := range l.Items {
		if l.Items[i].ID == id {
			return i
		}
	}
	return -1
}

// metaLocked returns the metadata of an item, created on first use for
// items that came with the household; s.mu is held.
func (s *Server) metaLocked(list, item string) *itemMeta {
	k := itemKey{list, item}
	m := s.itemMetas[k]
	if m == nil {
		m = &itemMeta{version: 1, created: s.loadedAt, updated: s.loadedAt}
		s.itemMetas[k] = m
	}
	return m
}

// addItemLocked appends a new active item to l and returns it; s.mu is
// held.
func (s *Server) addItemLocked(l *List, text string) ListItem {
	it := ListItem{ID: newUUID(), Text: text}
	l.Items = append(l.Items, it)
	now := s.opts.Now()
	s.itemMetas[itemKey{l.ID, it.ID}] = &itemMeta{version: 1, created: now, updated: now}
	return it
}

// touchLocked bumps an item's version after a change; s.mu is held.
func (s *Server) touchLocked(list, item string) *itemMeta {
	m := s.metaLocked(list, item)
	m.version++
	m.updated = s.opts.Now()
	return m
}

// v2ListInfo is a list as the v2 shopping-list API describes it.
type v2ListInfo struct {
	ListID     string `json:"listId"`
	ListName   string `json:"listName"`
	ListType   string `json:"listType"`
	CustomerID string `json:"customerId"`
	CreateAt   int64  `json:"createAt"`
	UpdateAt   int64  `json:"updateAt"`
	// TotalActiveItemsCount is a JSON string ({"count":N}), as
	// alexa-remote2 parses it.
	TotalActiveItemsCount string `json:"totalActiveItemsCount"`
}

// v2Item is an item as the v2 shopping-list API describes it.
type v2Item struct {
	ItemID     string `json:"itemId"`
	ListID     string `json:"listId"`
	ItemName   string `json:"itemName"`
	ItemStatus string `json:"itemStatus"`
	ItemType   string `json:"itemType"`
	Version    int    `json:"version"`
	CustomerID string `json:"customerId"`
	CreateAt   int64  `json:"createAt"`
	UpdateAt   int64  `json:"updateAt"`
}

func (s *Server) v2InfoLocked(l *List) v2ListInfo {
	active := 0
	for _, it := range l.Items {
		if !it.Completed {
			active++
		}
	}
	return v2ListInfo{
		ListID: l.ID, ListName: l.Name, ListType: listType(l.Name), CustomerID: simCustomerID,
		CreateAt: millis(s.loadedAt), UpdateAt: millis(s.loadedAt),
		TotalActiveItemsCount: fmt.Sprintf(`{"count":%d}`, active),
	}
}

func (s *Server) v2ItemLocked(l *List, it ListItem) v2Item {
	m := s.metaLocked(l.ID, it.ID)
	status := "ACTIVE"
	if it.Completed {
		status = "COMPLETE"
	}
	return v2Item{
		ItemID: it.ID, ListID: l.ID, ItemName: it.Text, ItemStatus: status, ItemType: "KEYWORD",
		Version: m.version, CustomerID: simCustomerID, CreateAt: millis(m.created), UpdateAt: millis(m.updated),
	}
}

// decodeBody decodes an optional JSON body into v; an empty body leaves v
// alone.
func decodeBody(r *http.Request, v any) error {
	err := json.NewDecoder(r.Body).Decode(v)
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

// handleV2Lists serves POST /alexashoppinglists/api/v2/lists/fetch; the
// body (aggregation options) is read but does not change the answer.
func (s *Server) handleV2Lists(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	if err := decodeBody(r, &body); err != nil {
		writeWebError(w, http.StatusBadRequest, "body: %v", err)
		return
	}
	s.mu.Lock()
	infos := make([]v2ListInfo, 0, len(s.household.Lists))
	for i := range s.household.Lists {
		infos = append(infos, s.v2InfoLocked(&s.household.Lists[i]))
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"listInfoList": infos})
}

// maxItemsLimit is the most items one v2 fetch returns (aioamazondevices:
// "100 which is the maximum allowed by the API").
const maxItemsLimit = 100

// handleV2Items serves POST …/lists/{listId}/items/fetch?limit=N: the
// first N items (all when fewer), completed ones included.
func (s *Server) handleV2Items(w http.ResponseWriter, r *http.Request) {
	limit := maxItemsLimit
	if q := r.URL.Query().Get("limit"); q != "" {
		n, err := strconv.Atoi(q)
		if err != nil || n < 1 || n > maxItemsLimit {
			writeWebError(w, http.StatusBadRequest, "limit %q must be 1..%d", q, maxItemsLimit)
			return
		}
		limit = n
	}
	var body map[string]any
	if err := decodeBody(r, &body); err != nil {
		writeWebError(w, http.StatusBadRequest, "body: %v", err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.pathListLocked(w, r)
	if l == nil {
		return
	}
	items := make([]v2Item, 0, min(limit, len(l.Items)))
	for _, it := range l.Items[:min(limit, len(l.Items))] {
		items = append(items, s.v2ItemLocked(l, it))
	}
	writeJSON(w, http.StatusOK, map[string]any{"itemInfoList": items, "listInfo": s.v2InfoLocked(l)})
}

// handleV2AddItems serves POST …/lists/{listId}/items with
// {"items":[{"itemType":"KEYWORD","itemName":"…"}]}.
func (s *Server) handleV2AddItems(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Items []struct {
			ItemType string `json:"itemType"`
			ItemName string `json:"itemName"`
		} `json:"items"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || len(body.Items) == 0 {
		writeWebError(w, http.StatusBadRequest, "the body must be {\"items\":[{\"itemType\":\"KEYWORD\",\"itemName\":\"…\"}]}")
		return
	}
	for i, it := range body.Items {
		if strings.TrimSpace(it.ItemName) == "" {
			writeWebError(w, http.StatusBadRequest, "items[%d]: itemName is empty", i)
			return
		}
	}
	s.mu.Lock()
	l := s.pathListLocked(w, r)
	if l == nil {
		s.mu.Unlock()
		return
	}
	added := make([]v2Item, 0, len(body.Items))
	for _, it := range body.Items {
		added = append(added, s.v2ItemLocked(l, s.addItemLocked(l, it.ItemName)))
	}
	s.mu.Unlock()
	for _, it := range added {
		s.pushListItemChange(it.ListID, it.ItemID, it.Version, itemCreated)
	}
	writeJSON(w, http.StatusOK, map[string]any{"itemInfoList": added})
}

// pathListLocked finds the list the path's listId names; s.mu is held. It
// answers 404 and returns nil when there is none.
func (s *Server) pathListLocked(w http.ResponseWriter, r *http.Request) *List {
	l := s.listLocked(r.PathValue("listId"))
	if l == nil {
		writeWebError(w, http.StatusNotFound, "no list %q", r.PathValue("listId"))
	}
	return l
}

// itemLocked finds the item the path's listId and itemId name; s.mu is
// held. On failure it has written the answer. The legacy API changes an
// item with no more than this.
func (s *Server) itemLocked(w http.ResponseWriter, r *http.Request) (*List, int, bool) {
	l := s.pathListLocked(w, r)
	if l == nil {
		return nil, 0, false
	}
	itemID := r.PathValue("itemId")
	i := itemIndex(l, itemID)
	if i < 0 {
		writeWebError(w, http.StatusNotFound, "no item %q in list %q", itemID, l.ID)
		return nil, 0, false
	}
	return l, i, true
}

// itemForChangeLocked is itemLocked for the v2 API's PUT and DELETE, which
// also check the version query parameter against the item's version; s.mu
// is held. On failure it has written the answer.
func (s *Server) itemForChangeLocked(w http.ResponseWriter, r *http.Request) (*List, int, bool) {
	l, i, ok := s.itemLocked(w, r)
	if !ok {
		return nil, 0, false
	}
	q := r.URL.Query().Get("version")
	v, err := strconv.Atoi(q)
	if err != nil {
		writeWebError(w, http.StatusBadRequest, "the version query parameter is required (got %q)", q)
		return nil, 0, false
	}
	if cur := s.metaLocked(l.ID, l.Items[i].ID).version; v != cur {
		writeWebError(w, http.StatusConflict, "version %d is not the item's current version %d", v, cur)
		return nil, 0, false
	}
	return l, i, true
}

// changeItemLocked sets the text and completion of item i of l where they
// are given and bumps its version; s.mu is held.
func (s *Server) changeItemLocked(l *List, i int, text *string, completed *bool) {
	if text != nil {
		l.Items[i].Text = *text
	}
	if completed != nil {
		l.Items[i].Completed = *completed
	}
	s.touchLocked(l.ID, l.Items[i].ID)
}

// deleteItem serves the DELETE of either list API; find is the API's
// lookup (itemForChangeLocked or itemLocked).
func (s *Server) deleteItem(w http.ResponseWriter, r *http.Request, find func(http.ResponseWriter, *http.Request) (*List, int, bool)) {
	s.mu.Lock()
	l, i, ok := find(w, r)
	if !ok {
		s.mu.Unlock()
		return
	}
	listID, itemID := l.ID, l.Items[i].ID
	version := s.touchLocked(listID, itemID).version
	l.Items = append(l.Items[:i:i], l.Items[i+1:]...)
	delete(s.itemMetas, itemKey{listID, itemID})
	s.mu.Unlock()
	s.pushListItemChange(listID, itemID, version, itemDeleted)
	writeJSON(w, http.StatusOK, map[string]any{})
}

// handleV2UpdateItem serves PUT …/items/{itemId}?version=N with
// itemAttributesToUpdate (itemName, itemStatus; note and quantity are
// accepted and not kept).
func (s *Server) handleV2UpdateItem(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Update []struct {
			Type  string `json:"type"`
			Value any    `json:"value"`
		} `json:"itemAttributesToUpdate"`
		Remove []json.RawMessage `json:"itemAttributesToRemove"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		writeWebError(w, http.StatusBadRequest, "body: %v", err)
		return
	}
	var name *string
	var completed *bool
	for _, a := range body.Update {
		str, _ := a.Value.(string)
		switch a.Type {
		case "itemName":
			if strings.TrimSpace(str) == "" {
				writeWebError(w, http.StatusBadRequest, "itemName must be a non-empty string")
				return
			}
			name = &str
		case "itemStatus":
			if str != "ACTIVE" && str != "COMPLETE" {
				writeWebError(w, http.StatusBadRequest, "itemStatus %v is not ACTIVE or COMPLETE", a.Value)
				return
			}
			completed = new(str == "COMPLETE")
		case "note", "quantity":
		default:
			writeWebError(w, http.StatusBadRequest, "unknown attribute type %q", a.Type)
			return
		}
	}
	s.mu.Lock()
	l, i, ok := s.itemForChangeLocked(w, r)
	if !ok {
		s.mu.Unlock()
		return
	}
	s.changeItemLocked(l, i, name, completed)
	it := s.v2ItemLocked(l, l.Items[i])
	s.mu.Unlock()
	s.pushListItemChange(it.ListID, it.ItemID, it.Version, itemUpdated)
	writeJSON(w, http.StatusOK, map[string]any{"itemInfoList": []v2Item{it}})
}

// handleV2DeleteItem serves DELETE …/items/{itemId}?version=N.
func (s *Server) handleV2DeleteItem(w http.ResponseWriter, r *http.Request) {
	s.deleteItem(w, r, s.itemForChangeLocked)
}

// legacyListInfo is a list as /api/namedLists describes it.
type legacyListInfo struct {
	ItemID             string   `json:"itemId"`
	ListIDs            []string `json:"listIds"`
	Name               string   `json:"name"`
	Type               string   `json:"type"`
	DefaultList        bool     `json:"defaultList"`
	Archived           bool     `json:"archived"`
	Version            int      `json:"version"`
	CustomerID         string   `json:"customerId"`
	CreatedDate        int64    `json:"createdDate"`
	UpdatedDate        int64    `json:"updatedDate"`
	ListReorderVersion any      `json:"listReorderVersion"`
	OriginalAudioID    any      `json:"originalAudioId"`
	NbestItems         any      `json:"nbestItems"`
}

// legacyItem is an item as /api/namedLists describes it.
type legacyItem struct {
	ID               string `json:"id"`
	ListID           string `json:"listId"`
	Value            string `json:"value"`
	Completed        bool   `json:"completed"`
	Version          int    `json:"version"`
	CustomerID       string `json:"customerId"`
	ShoppingListItem bool   `json:"shoppingListItem"`
	CreatedDateTime  int64  `json:"createdDateTime"`
	UpdatedDateTime  int64  `json:"updatedDateTime"`
}

func (s *Server) legacyInfoLocked(l *List) legacyListInfo {
	typ := listType(l.Name)
	return legacyListInfo{
		ItemID: l.ID, ListIDs: []string{l.ID}, Name: l.Name, Type: legacyListType(typ),
		DefaultList: typ != "CUSTOM", Version: 1, CustomerID: simCustomerID,
		CreatedDate: millis(s.loadedAt), UpdatedDate: millis(s.loadedAt),
	}
}

func (s *Server) legacyItemLocked(l *List, it ListItem) legacyItem {
	m := s.metaLocked(l.ID, it.ID)
	return legacyItem{
		ID: it.ID, ListID: l.ID, Value: it.Text, Completed: it.Completed, Version: m.version,
		CustomerID: simCustomerID, ShoppingListItem: listType(l.Name) == "SHOP",
		CreatedDateTime: millis(m.created), UpdatedDateTime: millis(m.updated),
	}
}

func (s *Server) handleLegacyLists(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	infos := make([]legacyListInfo, 0, len(s.household.Lists))
	for i := range s.household.Lists {
		infos = append(infos, s.legacyInfoLocked(&s.household.Lists[i]))
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"lists": infos})
}

func (s *Server) handleLegacyList(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.pathListLocked(w, r)
	if l == nil {
		return
	}
	writeJSON(w, http.StatusOK, s.legacyInfoLocked(l))
}

// handleLegacyItems serves GET /api/namedLists/{listId}/items; completed=true
// or false filters, empty means all.
func (s *Server) handleLegacyItems(w http.ResponseWriter, r *http.Request) {
	filter := r.URL.Query().Get("completed")
	if filter != "" && filter != "true" && filter != "false" {
		writeWebError(w, http.StatusBadRequest, "completed %q is not true or false", filter)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.pathListLocked(w, r)
	if l == nil {
		return
	}
	items := []legacyItem{}
	for _, it := range l.Items {
		if filter == "" || strconv.FormatBool(it.Completed) == filter {
			items = append(items, s.legacyItemLocked(l, it))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"list": items})
}

// legacyItemBody is what clients send to create or change a legacy item.
type legacyItemBody struct {
	Value     *string `json:"value"`
	Completed *bool   `json:"completed"`
}

func (s *Server) handleLegacyAddItem(w http.ResponseWriter, r *http.Request) {
	var body legacyItemBody
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Value == nil || strings.TrimSpace(*body.Value) == "" {
		writeWebError(w, http.StatusBadRequest, "the body must hold a non-empty \"value\"")
		return
	}
	s.mu.Lock()
	l := s.pathListLocked(w, r)
	if l == nil {
		s.mu.Unlock()
		return
	}
	it := s.addItemLocked(l, *body.Value)
	if body.Completed != nil && *body.Completed {
		l.Items[len(l.Items)-1].Completed = true
		it.Completed = true
	}
	out := s.legacyItemLocked(l, it)
	s.mu.Unlock()
	s.pushListItemChange(out.ListID, out.ID, out.Version, itemCreated)
	writeJSON(w, http.StatusOK, out)
}

// handleLegacyUpdateItem serves PUT /api/namedLists/{listId}/item/{itemId}
// with the item object; value and completed are applied.
func (s *Server) handleLegacyUpdateItem(w http.ResponseWriter, r *http.Request) {
	var body legacyItemBody
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		writeWebError(w, http.StatusBadRequest, "body: %v", err)
		return
	}
	if body.Value != nil && strings.TrimSpace(*body.Value) == "" {
		writeWebError(w, http.StatusBadRequest, "value is empty")
		return
	}
	s.mu.Lock()
	l, i, ok := s.itemLocked(w, r)
	if !ok {
		s.mu.Unlock()
		return
	}
	s.changeItemLocked(l, i, body.Value, body.Completed)
	out := s.legacyItemLocked(l, l.Items[i])
	s.mu.Unlock()
	s.pushListItemChange(out.ListID, out.ID, out.Version, itemUpdated)
	writeJSON(w, http.StatusOK, out)
}

// handleLegacyDeleteItem serves DELETE /api/namedLists/{listId}/item/{itemId}.
func (s *Server) handleLegacyDeleteItem(w http.ResponseWriter, r *http.Request) {
	s.deleteItem(w, r, s.itemLocked)
}

// simItemAnswer is the answer of POST /_sim/lists/{listId}/items.
type simItemAnswer struct {
	Item    ListItem `json:"item"`
	Clients int      `json:"clients"`
}

// handleSimAddItem adds an item as if spoken to an Echo and pushes
// PUSH_LIST_ITEM_CHANGE (ids only, like Amazon).
func (s *Server) handleSimAddItem(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Text string `json:"text"`
	}
	if err := decodeStrict(http.MaxBytesReader(w, r.Body, maxBody), &body); err != nil {
		writeControlError(w, http.StatusBadRequest, fmt.Errorf("decode item: %w", err))
		return
	}
	if strings.TrimSpace(body.Text) == "" {
		writeControlError(w, http.StatusBadRequest, errors.New("text is empty"))
		return
	}
	s.mu.Lock()
	l := s.listLocked(r.PathValue("listId"))
	if l == nil {
		s.mu.Unlock()
		writeControlError(w, http.StatusNotFound, fmt.Errorf("no list %q", r.PathValue("listId")))
		return
	}
	it := s.addItemLocked(l, body.Text)
	listID := l.ID
	s.mu.Unlock()
	n := s.pushListItemChange(listID, it.ID, 1, itemCreated)
	writeJSON(w, http.StatusOK, simItemAnswer{Item: it, Clients: n})
}
