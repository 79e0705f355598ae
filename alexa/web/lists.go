package web

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// List is an Alexa list. The built-in lists are named "Shopping" and
// "To-do" whatever their localized name; custom lists keep their name.
type List struct {
	ID   string
	Name string
}

// The names of the built-in lists.
const (
	ShoppingList = "Shopping"
	TodoList     = "To-do"
)

// Item is one entry of a list. Version is the server's revision, which
// updates and deletes must quote.
type Item struct {
	ID        string
	Text      string
	Completed bool
	Version   int
}

// listAPI is one of the two list APIs Options.Lists chooses between.
type listAPI interface {
	lists(ctx context.Context) ([]List, error)
	items(ctx context.Context, listID string) ([]Item, error)
	add(ctx context.Context, listID, text string) (Item, error)
	check(ctx context.Context, listID string, item Item, completed bool) error
	remove(ctx context.Context, listID string, item Item) error
}

// Lists returns the household's lists.
func (c *Client) Lists(ctx context.Context) ([]List, error) { return c.listAPI.lists(ctx) }

// Items returns every item of a list, completed ones included.
func (c *Client) Items(ctx context.Context, listID string) ([]Item, error) {
	if err := checkID("list id", listID); err != nil {
		return nil, err
	}
	return c.listAPI.items(ctx, listID)
}

// Item returns one item of a list, e.g. to learn the text of an item a
// PUSH_LIST_ITEM_CHANGE names by id only. Neither API serves a single
// item, so it reads the list; a missing item wraps ErrNotFound.
func (c *Client) Item(ctx context.Context, listID, itemID string) (Item, error) {
	if err := checkID("item id", itemID); err != nil {
		return Item{}, err
	}
	items, err := c.Items(ctx, listID)
	if err != nil {
		return Item{}, err
	}
	for _, it := range items {
		if it.ID == itemID {
			return it, nil
		}
	}
	return Item{}, fmt.Errorf("alexa web: list %s: item %s: %w", listID, itemID, ErrNotFound)
}

// AddItem adds an active item and returns it as the server stored it.
func (c *Client) AddItem(ctx context.Context, listID, text string) (Item, error) {
	if err := checkID("list id", listID); err != nil {
		return Item{}, err
	}
	text = strings.TrimSpace(text)
	if text == "" {
		return Item{}, invalid("item text is empty")
	}
	return c.listAPI.add(ctx, listID, text)
}

// CheckItem marks an item completed (or active again). item must carry the
// ID, Text and Version the server last returned.
func (c *Client) CheckItem(ctx context.Context, listID string, item Item, completed bool) error {
	if err := checkItem(listID, item); err != nil {
		return err
	}
	return c.listAPI.check(ctx, listID, item, completed)
}

// RemoveItem deletes an item. item must carry the ID and Version the
// server last returned.
func (c *Client) RemoveItem(ctx context.Context, listID string, item Item) error {
	if err := checkItem(listID, item); err != nil {
		return err
	}
	return c.listAPI.remove(ctx, listID, item)
}

func checkID(what, id string) error {
	if strings.TrimSpace(id) == "" {
		return invalid("%s is empty", what)
	}
	return nil
}

func checkItem(listID string, item Item) error {
	if err := checkID("list id", listID); err != nil {
		return err
	}
	if err := checkID("item id", item.ID); err != nil {
		return err
	}
	if item.Version < 1 {
		// Both APIs reject updates that do not quote the current version.
		return invalid("item %s: version %d: take the item from Items or Item", item.ID, item.Version)
	}
	return nil
}

// listName normalizes the built-in lists' names.
func listName(typ, name string) string {
	switch typ {
	case "SHOP", "SHOPPING_ITEM":
		return ShoppingList
	case "TODO", "TASK":
		return TodoList
	}
	if name == "" {
		return typ
	}
	return name
}

// version is a revision number that Amazon sends as a number or a string.
type version int

func (v *version) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "null" || s == "" {
		*v = 0
		return nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return fmt.Errorf("version %s: not a number", b)
	}
	*v = version(n)
	return nil
}

// v2Lists is the shopping-list API on www.amazon.{tld}.
type v2Lists struct{ c *Client }

const v2Path = "/alexashoppinglists/api/v2/lists"

// v2Item is an entry of itemInfoList.
type v2Item struct {
	ItemID     string  `json:"itemId"`
	ItemName   string  `json:"itemName"`
	ItemStatus string  `json:"itemStatus"` // ACTIVE or COMPLETE
	Version    version `json:"version"`
}

func (it v2Item) item() Item {
	return Item{ID: it.ItemID, Text: it.ItemName, Completed: it.ItemStatus == "COMPLETE", Version: int(it.Version)}
}

type v2Attr struct {
	Type  string `json:"type"`
	Value string `json:"value,omitempty"`
}

func (l v2Lists) lists(ctx context.Context) ([]List, error) {
	path := v2Path + "/fetch"
	body := struct {
		Aggregate []v2Attr `json:"listAttributesToAggregate"`
		Ownership *string  `json:"listOwnershipType"`
	}{Aggregate: []v2Attr{{Type: "totalActiveItemsCount"}}}
	resp, err := l.c.send(ctx, "POST", l.c.lists, path, nil, body)
	if err != nil {
		return nil, err
	}
	var out struct {
		ListInfoList *[]struct {
			ListID   string `json:"listId"`
			ListName string `json:"listName"`
			ListType string `json:"listType"`
		} `json:"listInfoList"`
	}
	if err := decode("POST", path, resp, &out); err != nil {
		return nil, err
	}
	if out.ListInfoList == nil {
		return nil, badResponse("POST", path, `no "listInfoList" array`)
	}
	lists := make([]List, 0, len(*out.ListInfoList))
	for i, li := range *out.ListInfoList {
		if li.ListID == "" {
			return nil, badResponse("POST", path, "list "+strconv.Itoa(i)+" has no listId")
		}
		lists = append(lists, List{ID: li.ListID, Name: listName(li.ListType, li.ListName)})
	}
	return lists, nil
}

// maxPages bounds the item pages read for one list.
const maxPages = 100

func (l v2Lists) items(ctx context.Context, listID string) ([]Item, error) {
	path := v2Path + "/" + segment(listID) + "/items/fetch"
	items := []Item{}
	next := ""
	for range maxPages {
		body := struct {
			Project   []string `json:"itemAttributesToProject"`
			NextToken string   `json:"nextToken,omitempty"`
		}{Project: []string{"quantity", "note"}, NextToken: next}
		resp, err := l.c.send(ctx, "POST", l.c.lists, path, url.Values{"limit": {"100"}}, body)
		if err != nil {
			return nil, err
		}
		var out struct {
			ItemInfoList *[]v2Item `json:"itemInfoList"`
			NextToken    string    `json:"nextToken"`
		}
		if err := decode("POST", path, resp, &out); err != nil {
			return nil, err
		}
		if out.ItemInfoList == nil {
			return nil, badResponse("POST", path, `no "itemInfoList" array`)
		}
		for i, it := range *out.ItemInfoList {
			if it.ItemID == "" {
				return nil, badResponse("POST", path, "item "+strconv.Itoa(i)+" has no itemId")
			}
			items = append(items, it.item())
		}
		if out.NextToken == "" || out.NextToken == next {
			return items, nil
		}
		next = out.NextToken
	}
	return nil, badResponse("POST", path, "more than "+strconv.Itoa(maxPages)+" pages of items")
}

func (l v2Lists) add(ctx context.Context, listID, text string) (Item, error) {
	path := v2Path + "/" + segment(listID) + "/items"
	type newItem struct {
		ItemType string `json:"itemType"`
		ItemName string `json:"itemName"`
	}
	body := struct {
		Items []newItem `json:"items"`
	}{Items: []newItem{{ItemType: "KEYWORD", ItemName: text}}}
	resp, err := l.c.send(ctx, "POST", l.c.lists, path, nil, body)
	if err != nil {
		return Item{}, err
	}
	var out struct {
		ItemInfoList []v2Item `json:"itemInfoList"`
	}
	if err := decode("POST", path, resp, &out); err != nil {
		return Item{}, err
	}
	if len(out.ItemInfoList) == 0 || out.ItemInfoList[0].ItemID == "" {
		return Item{}, badResponse("POST", path, `no new item with an "itemId" in "itemInfoList"`)
	}
	return out.ItemInfoList[0].item(), nil
}

func (l v2Lists) itemPath(listID string, item Item) (string, url.Values) {
	return v2Path + "/" + segment(listID) + "/items/" + segment(item.ID), url.Values{"version": {strconv.Itoa(item.Version)}}
}

func (l v2Lists) check(ctx context.Context, listID string, item Item, completed bool) error {
	path, q := l.itemPath(listID, item)
	status := "ACTIVE"
	if completed {
		status = "COMPLETE"
	}
	// The web app sends the name with every update; an empty one would
	// clear it, so it is left out when unknown.
	var update []v2Attr
	if item.Text != "" {
		update = append(update, v2Attr{Type: "itemName", Value: item.Text})
	}
	update = append(update, v2Attr{Type: "itemStatus", Value: status})
	body := struct {
		Update []v2Attr `json:"itemAttributesToUpdate"`
		Remove []v2Attr `json:"itemAttributesToRemove"`
	}{Update: update, Remove: []v2Attr{}}
	_, err := l.c.send(ctx, "PUT", l.c.lists, path, q, body)
	return err
}

func (l v2Lists) remove(ctx context.Context, listID string, item Item) error {
	path, q := l.itemPath(listID, item)
	_, err := l.c.send(ctx, "DELETE", l.c.lists, path, q, nil)
	return err
}

// legacyLists is /api/namedLists on the web API host.
type legacyLists struct{ c *Client }

const legacyPath = "/api/namedLists"

// legacyItem is an item of /api/namedLists/{listId}/items.
type legacyItem struct {
	ID        string  `json:"id"`
	Value     string  `json:"value"`
	Completed bool    `json:"completed"`
	Version   version `json:"version"`
}

func (it legacyItem) item() Item {
	return Item{ID: it.ID, Text: it.Value, Completed: it.Completed, Version: int(it.Version)}
}

func (l legacyLists) lists(ctx context.Context) ([]List, error) {
	resp, err := l.c.send(ctx, "GET", l.c.web, legacyPath, url.Values{"_": {l.c.cacheBuster()}}, nil)
	if err != nil {
		return nil, err
	}
	var out struct {
		Lists *[]struct {
			ItemID string `json:"itemId"` // the list's id
			Name   string `json:"name"`
			Type   string `json:"type"` // SHOPPING_ITEM, TASK, ...
		} `json:"lists"`
	}
	if err := decode("GET", legacyPath, resp, &out); err != nil {
		return nil, err
	}
	if out.Lists == nil {
		return nil, badResponse("GET", legacyPath, `no "lists" array`)
	}
	lists := make([]List, 0, len(*out.Lists))
	for i, li := range *out.Lists {
		if li.ItemID == "" {
			return nil, badResponse("GET", legacyPath, "list "+strconv.Itoa(i)+" has no itemId")
		}
		lists = append(lists, List{ID: li.ItemID, Name: listName(li.Type, li.Name)})
	}
	return lists, nil
}

func (l legacyLists) items(ctx context.Context, listID string) ([]Item, error) {
	path := legacyPath + "/" + segment(listID) + "/items"
	q := url.Values{"startTime": {""}, "endTime": {""}, "completed": {""}, "listIds": {listID}}
	resp, err := l.c.send(ctx, "GET", l.c.web, path, q, nil)
	if err != nil {
		return nil, err
	}
	var out struct {
		List *[]legacyItem `json:"list"`
	}
	if err := decode("GET", path, resp, &out); err != nil {
		return nil, err
	}
	if out.List == nil {
		return nil, badResponse("GET", path, `no "list" array`)
	}
	items := make([]Item, 0, len(*out.List))
	for i, it := range *out.List {
		if it.ID == "" {
			return nil, badResponse("GET", path, "item "+strconv.Itoa(i)+" has no id")
		}
		items = append(items, it.item())
	}
	return items, nil
}

func (l legacyLists) add(ctx context.Context, listID, text string) (Item, error) {
	path := legacyPath + "/" + segment(listID) + "/item"
	body := struct {
		ListID    string `json:"listId"`
		Created   int64  `json:"createdDateTime"`
		Completed bool   `json:"completed"`
		Value     string `json:"value"`
	}{ListID: listID, Created: l.c.now().UnixMilli(), Value: text}
	resp, err := l.c.send(ctx, "POST", l.c.web, path, nil, body)
	if err != nil {
		return Item{}, err
	}
	var it legacyItem
	if err := decode("POST", path, resp, &it); err != nil {
		return Item{}, err
	}
	if it.ID == "" {
		return Item{}, badResponse("POST", path, `no "id" in the new item`)
	}
	return it.item(), nil
}

func (l legacyLists) itemPath(listID string, item Item) string {
	return legacyPath + "/" + segment(listID) + "/item/" + segment(item.ID)
}

func (l legacyLists) check(ctx context.Context, listID string, item Item, completed bool) error {
	// The reference: PUT the item object with lastLocalUpdatedDate added.
	body := struct {
		Completed bool   `json:"completed"`
		ID        string `json:"id"`
		ListID    string `json:"listId"`
		Value     string `json:"value"`
		Version   int    `json:"version"`
		Updated   int64  `json:"lastLocalUpdatedDate"`
	}{completed, item.ID, listID, item.Text, item.Version, l.c.now().UnixMilli()}
	_, err := l.c.send(ctx, "PUT", l.c.web, l.itemPath(listID, item), nil, body)
	return err
}

func (l legacyLists) remove(ctx context.Context, listID string, item Item) error {
	// The reference sends the item's id, list and value with the DELETE;
	// send frames it with a Content-Length.
	body := struct {
		ID     string `json:"id"`
		ListID string `json:"listId"`
		Value  string `json:"value"`
	}{item.ID, listID, item.Text}
	_, err := l.c.send(ctx, "DELETE", l.c.web, l.itemPath(listID, item), nil, body)
	return err
}
