package sim_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/alexarules/alexarules/alexa/sim"
)

const v2Lists = "/alexashoppinglists/api/v2/lists"

// v2Item is an item of the v2 shopping-list API.
type v2Item struct {
	ItemID     string `json:"itemId"`
	ListID     string `json:"listId"`
	ItemName   string `json:"itemName"`
	ItemStatus string `json:"itemStatus"`
	Version    int    `json:"version"`
}

// v2Items fetches a list's items as alexa-remote2's getListItemsV2 does.
func (e *env) v2Items(listID string) []v2Item {
	e.t.Helper()
	var a struct {
		ItemInfoList []v2Item `json:"itemInfoList"`
		ListInfo     struct {
			ListID string `json:"listId"`
		} `json:"listInfo"`
	}
	e.web(http.MethodPost, v2Lists+"/"+listID+"/items/fetch?limit=100", `{"itemAttributesToProject":["quantity","note"]}`).
		decode(e.t, http.StatusOK, &a)
	if a.ListInfo.ListID != listID {
		e.t.Errorf("listInfo %+v", a.ListInfo)
	}
	return a.ItemInfoList
}

func TestV2Lists(t *testing.T) {
	h := sim.DemoHousehold()
	h.Lists = append(h.Lists, sim.List{ID: "l-custom", Name: "Hardware Store", Items: []sim.ListItem{}})
	e := newEnv(t, h, sim.Options{})

	var lists struct {
		ListInfoList []struct {
			ListID, ListName, ListType string
			TotalActiveItemsCount      string
		} `json:"listInfoList"`
	}
	e.web(http.MethodPost, v2Lists+"/fetch", `{"listAttributesToAggregate":[{"type":"totalActiveItemsCount"}],"listOwnershipType":null}`).
		decode(t, http.StatusOK, &lists)
	got := fmt.Sprint(lists.ListInfoList)
	want := fmt.Sprint([]struct{ ListID, ListName, ListType, TotalActiveItemsCount string }{
		{shoppingList, "Shopping", "SHOP", `{"count":3}`},
		{todoList, "To-Do", "TODO", `{"count":2}`},
		{"l-custom", "Hardware Store", "CUSTOM", `{"count":0}`},
	})
	if got != want {
		t.Errorf("lists\n got %s\nwant %s", got, want)
	}

	items := e.v2Items(shoppingList)
	if len(items) != 3 || items[0] != (v2Item{"sim-item-milk", shoppingList, "milk", "ACTIVE", 1}) {
		t.Fatalf("items %+v", items)
	}
	if todo := e.v2Items(todoList); todo[1].ItemStatus != "COMPLETE" {
		t.Errorf("completed item %+v", todo[1])
	}
	var limited struct {
		ItemInfoList []v2Item `json:"itemInfoList"`
	}
	e.web(http.MethodPost, v2Lists+"/"+shoppingList+"/items/fetch?limit=2", `{}`).decode(t, http.StatusOK, &limited)
	if len(limited.ItemInfoList) != 2 {
		t.Errorf("limit 2 gave %d items", len(limited.ItemInfoList))
	}

	// Add, as alexa-remote2's addListItem.
	var added struct {
		ItemInfoList []v2Item `json:"itemInfoList"`
	}
	e.web(http.MethodPost, v2Lists+"/"+shoppingList+"/items", `{"items":[{"itemType":"KEYWORD","itemName":"butter"}]}`).
		decode(t, http.StatusOK, &added)
	if len(added.ItemInfoList) != 1 || added.ItemInfoList[0].ItemName != "butter" || added.ItemInfoList[0].Version != 1 || added.ItemInfoList[0].ItemStatus != "ACTIVE" {
		t.Fatalf("added %+v", added)
	}
	butter := added.ItemInfoList[0]
	if items := e.v2Items(shoppingList); items[len(items)-1] != butter {
		t.Errorf("added item not fetched: %+v", items)
	}

	// Update: rename and complete, with the current version.
	var updated struct {
		ItemInfoList []v2Item `json:"itemInfoList"`
	}
	e.web(http.MethodPut, v2Lists+"/"+shoppingList+"/items/"+butter.ItemID+"?version=1",
		`{"itemAttributesToUpdate":[{"type":"itemName","value":"salted butter"},{"type":"itemStatus","value":"COMPLETE"}],"itemAttributesToRemove":[]}`).
		decode(t, http.StatusOK, &updated)
	if u := updated.ItemInfoList[0]; u.ItemName != "salted butter" || u.ItemStatus != "COMPLETE" || u.Version != 2 {
		t.Errorf("updated %+v", u)
	}
	hItems := e.household().Lists[0].Items
	if last := hItems[len(hItems)-1]; last.Text != "salted butter" || !last.Completed {
		t.Errorf("household item %+v", last)
	}

	errs := []struct {
		name, method, path, body string
		want                     int
	}{
		{"stale version", http.MethodPut, "/" + shoppingList + "/items/" + butter.ItemID + "?version=1", `{"itemAttributesToUpdate":[{"type":"itemStatus","value":"ACTIVE"}]}`, http.StatusConflict},
		{"no version", http.MethodPut, "/" + shoppingList + "/items/" + butter.ItemID, `{"itemAttributesToUpdate":[]}`, http.StatusBadRequest},
		{"bad status", http.MethodPut, "/" + shoppingList + "/items/" + butter.ItemID + "?version=2", `{"itemAttributesToUpdate":[{"type":"itemStatus","value":"DONE"}]}`, http.StatusBadRequest},
		{"unknown attribute", http.MethodPut, "/" + shoppingList + "/items/" + butter.ItemID + "?version=2", `{"itemAttributesToUpdate":[{"type":"colour","value":"red"}]}`, http.StatusBadRequest},
		{"unknown item", http.MethodPut, "/" + shoppingList + "/items/nope?version=1", `{"itemAttributesToUpdate":[]}`, http.StatusNotFound},
		{"unknown list", http.MethodPost, "/nope/items/fetch", `{}`, http.StatusNotFound},
		{"empty name", http.MethodPost, "/" + shoppingList + "/items", `{"items":[{"itemType":"KEYWORD","itemName":" "}]}`, http.StatusBadRequest},
		{"no items", http.MethodPost, "/" + shoppingList + "/items", `{"items":[]}`, http.StatusBadRequest},
		{"bad limit", http.MethodPost, "/" + shoppingList + "/items/fetch?limit=101", `{}`, http.StatusBadRequest},
		{"stale delete", http.MethodDelete, "/" + shoppingList + "/items/" + butter.ItemID + "?version=1", ``, http.StatusConflict},
	}
	for _, tt := range errs {
		if r := e.web(tt.method, v2Lists+tt.path, tt.body); r.status != tt.want {
			t.Errorf("%s: %d, want %d: %s", tt.name, r.status, tt.want, r.raw)
		}
	}

	// Delete with the current version, answered with Connection: close.
	r := e.web(http.MethodDelete, v2Lists+"/"+shoppingList+"/items/"+butter.ItemID+"?version=2", nil)
	if r.status != http.StatusOK || !r.close {
		t.Errorf("delete: %d close %v %s", r.status, r.close, r.raw)
	}
	if items := e.v2Items(shoppingList); len(items) != 3 {
		t.Errorf("after delete %+v", items)
	}
}

func TestLegacyNamedLists(t *testing.T) {
	e := newEnv(t, sim.DemoHousehold(), sim.Options{})
	var lists struct {
		Lists []struct {
			ItemID, Name, Type string
			DefaultList        bool
		} `json:"lists"`
	}
	e.web(http.MethodGet, "/api/namedLists?_=1", nil).decode(t, http.StatusOK, &lists)
	if fmt.Sprint(lists.Lists) != fmt.Sprint([]struct {
		ItemID, Name, Type string
		DefaultList        bool
	}{{shoppingList, "Shopping", "SHOPPING_LIST", true}, {todoList, "To-Do", "TO_DO", true}}) {
		t.Errorf("lists %+v", lists)
	}
	var one struct{ ItemID, Type string }
	e.web(http.MethodGet, "/api/namedLists/"+todoList, nil).decode(t, http.StatusOK, &one)
	if one.ItemID != todoList || one.Type != "TO_DO" {
		t.Errorf("list %+v", one)
	}

	type item struct {
		ID, ListID, Value string
		Completed         bool
		Version           int
	}
	items := func(query string) []item {
		var a struct{ List []item }
		e.web(http.MethodGet, "/api/namedLists/"+todoList+"/items"+query, nil).decode(t, http.StatusOK, &a)
		return a.List
	}
	if all := items("?startTime=&endTime=&completed=&listIds=" + todoList); len(all) != 3 {
		t.Errorf("all items %+v", all)
	}
	if done := items("?completed=true"); len(done) != 1 || done[0].Value != "call the dentist" {
		t.Errorf("completed items %+v", done)
	}

	var added item
	e.web(http.MethodPost, "/api/namedLists/"+todoList+"/item", `{"value":"fix the bike","completed":false}`).decode(t, http.StatusOK, &added)
	if added.ID == "" || added.ListID != todoList || added.Value != "fix the bike" || added.Version != 1 {
		t.Errorf("added %+v", added)
	}
	var changed item
	e.web(http.MethodPut, "/api/namedLists/"+todoList+"/item/"+added.ID, `{"id":"`+added.ID+`","value":"fix the bike","completed":true,"version":1}`).
		decode(t, http.StatusOK, &changed)
	if !changed.Completed || changed.Version != 2 {
		t.Errorf("changed %+v", changed)
	}
	if active := items("?completed=false"); len(active) != 2 {
		t.Errorf("active items %+v", active)
	}
	r := e.web(http.MethodDelete, "/api/namedLists/"+todoList+"/item/"+added.ID, `{"id":"`+added.ID+`"}`)
	if r.status != http.StatusOK || !r.close {
		t.Errorf("delete %d close %v", r.status, r.close)
	}
	if len(e.household().Lists[1].Items) != 3 {
		t.Errorf("household after delete %+v", e.household().Lists[1])
	}
	for _, tt := range []struct {
		name, method, path, body string
		want                     int
	}{
		{"unknown list", http.MethodGet, "/api/namedLists/nope", ``, http.StatusNotFound},
		{"unknown list items", http.MethodGet, "/api/namedLists/nope/items", ``, http.StatusNotFound},
		{"bad filter", http.MethodGet, "/api/namedLists/" + todoList + "/items?completed=maybe", ``, http.StatusBadRequest},
		{"empty value", http.MethodPost, "/api/namedLists/" + todoList + "/item", `{"value":""}`, http.StatusBadRequest},
		{"unknown item", http.MethodPut, "/api/namedLists/" + todoList + "/item/nope", `{"completed":true}`, http.StatusNotFound},
		{"delete unknown", http.MethodDelete, "/api/namedLists/" + todoList + "/item/nope", ``, http.StatusNotFound},
	} {
		if r := e.web(tt.method, tt.path, tt.body); r.status != tt.want {
			t.Errorf("%s: %d, want %d: %s", tt.name, r.status, tt.want, r.raw)
		}
	}
}
