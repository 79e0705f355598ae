package web_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/alexarules/alexarules/alexa/web"
)

func TestV2ItemsPages(t *testing.T) {
	f := newFake(t, map[string]http.HandlerFunc{
		"POST /alexashoppinglists/api/v2/lists/L/items/fetch": sequence(
			reply(200, `{"itemInfoList":[{"itemId":"a","itemName":"A","itemStatus":"ACTIVE","version":1}],"nextToken":"p2"}`),
			reply(200, `{"itemInfoList":[{"itemId":"b","itemName":"B","itemStatus":"COMPLETE","version":2}],"nextToken":"p3"}`),
			reply(200, `{"itemInfoList":[],"nextToken":null}`),
		),
	})
	c, _ := newClient(t, f, nil)
	items, err := c.Items(context.Background(), "L")
	if err != nil {
		t.Fatal(err)
	}
	assertEqual(t, items, []web.Item{{ID: "a", Text: "A", Version: 1}, {ID: "b", Text: "B", Completed: true, Version: 2}})
	var bodies []string
	for _, r := range f.requests() {
		bodies = append(bodies, r.Body)
	}
	assertEqual(t, bodies, []string{
		`{"itemAttributesToProject":["quantity","note"]}`,
		`{"itemAttributesToProject":["quantity","note"],"nextToken":"p2"}`,
		`{"itemAttributesToProject":["quantity","note"],"nextToken":"p3"}`,
	})
}

func TestV2ItemsStopsOnARepeatedToken(t *testing.T) {
	f := newFake(t, map[string]http.HandlerFunc{
		"POST /alexashoppinglists/api/v2/lists/L/items/fetch": reply(200, `{"itemInfoList":[{"itemId":"a","version":1}],"nextToken":"same"}`),
	})
	c, _ := newClient(t, f, nil)
	items, err := c.Items(context.Background(), "L")
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 2 || len(f.requests()) != 2 {
		t.Fatalf("%d items from %d requests, want 2 from 2", len(items), len(f.requests()))
	}
}

func TestItemNotFound(t *testing.T) {
	for _, api := range []string{web.ListsV2, web.ListsLegacy} {
		t.Run(api, func(t *testing.T) {
			f := newFake(t, map[string]http.HandlerFunc{
				"POST /alexashoppinglists/api/v2/lists/L/items/fetch": reply(200, `{"itemInfoList":[{"itemId":"a","version":1}]}`),
				"GET /api/namedLists/L/items":                         reply(200, `{"list":[{"id":"a","version":1}]}`),
			})
			c, _ := newClient(t, f, func(o *web.Options) { o.Lists = api })
			_, err := c.Item(context.Background(), "L", "zz")
			if !errors.Is(err, web.ErrNotFound) || err.Error() != "alexa web: list L: item zz: not found" {
				t.Fatalf("err = %v, want ErrNotFound", err)
			}
		})
	}
}

func TestListCallsReject(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		call func(*web.Client) error
		want string
	}{
		{"items of no list", func(c *web.Client) error { _, err := c.Items(ctx, " "); return err }, "list id is empty"},
		{"item without id", func(c *web.Client) error { _, err := c.Item(ctx, "L", ""); return err }, "item id is empty"},
		{"add without text", func(c *web.Client) error { _, err := c.AddItem(ctx, "L", " \t"); return err }, "item text is empty"},
		{"add to no list", func(c *web.Client) error { _, err := c.AddItem(ctx, "", "x"); return err }, "list id is empty"},
		{"check without version", func(c *web.Client) error { return c.CheckItem(ctx, "L", web.Item{ID: "a"}, true) }, "item a: version 0"},
		{"check without id", func(c *web.Client) error { return c.CheckItem(ctx, "L", web.Item{Version: 1}, true) }, "item id is empty"},
		{"remove without version", func(c *web.Client) error { return c.RemoveItem(ctx, "L", web.Item{ID: "a", Version: -1}) }, "item a: version -1"},
		{"remove from no list", func(c *web.Client) error { return c.RemoveItem(ctx, "", web.Item{ID: "a", Version: 1}) }, "list id is empty"},
	}
	for _, api := range []string{web.ListsV2, web.ListsLegacy} {
		for _, tt := range tests {
			t.Run(api+"/"+tt.name, func(t *testing.T) {
				f := newFake(t, nil)
				c, _ := newClient(t, f, func(o *web.Options) { o.Lists = api })
				err := tt.call(c)
				if !errors.Is(err, web.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("err = %v, want ErrInvalid containing %q", err, tt.want)
				}
				if n := len(f.requests()); n != 0 {
					t.Fatalf("%d requests sent", n)
				}
			})
		}
	}
}

func TestListErrors(t *testing.T) {
	tests := []struct {
		name, api, route string
		handler          http.HandlerFunc
		call             func(*web.Client) error
		check            func(error) bool
	}{
		{"v2 session expired", web.ListsV2, "POST /alexashoppinglists/api/v2/lists/fetch", reply(401, ``),
			func(c *web.Client) error { _, err := c.Lists(context.Background()); return err },
			func(err error) bool { return errors.Is(err, web.ErrAuth) }},
		{"v2 stale version", web.ListsV2, "DELETE /alexashoppinglists/api/v2/lists/L/items/a", reply(409, `{"message":"version mismatch"}`),
			func(c *web.Client) error {
				return c.RemoveItem(context.Background(), "L", web.Item{ID: "a", Version: 1})
			},
			func(err error) bool {
				e, ok := errors.AsType[*web.Error](err)
				return ok && e.Status == 409 && e.Message == "version mismatch" && e.Method == "DELETE"
			}},
		{"legacy lists gone", web.ListsLegacy, "GET /api/namedLists", reply(404, `{"message":null}`),
			func(c *web.Client) error { _, err := c.Lists(context.Background()); return err },
			func(err error) bool { e, ok := errors.AsType[*web.Error](err); return ok && e.Status == 404 }},
		{"legacy list without id", web.ListsLegacy, "GET /api/namedLists", reply(200, `{"lists":[{"name":"x","type":"CUSTOM"}]}`),
			func(c *web.Client) error { _, err := c.Lists(context.Background()); return err },
			func(err error) bool { return errors.Is(err, web.ErrBadResponse) }},
		{"legacy items without list", web.ListsLegacy, "GET /api/namedLists/L/items", reply(200, `{"items":[]}`),
			func(c *web.Client) error { _, err := c.Items(context.Background(), "L"); return err },
			func(err error) bool { return errors.Is(err, web.ErrBadResponse) }},
		{"legacy item without id", web.ListsLegacy, "GET /api/namedLists/L/items", reply(200, `{"list":[{"value":"x"}]}`),
			func(c *web.Client) error { _, err := c.Items(context.Background(), "L"); return err },
			func(err error) bool { return errors.Is(err, web.ErrBadResponse) }},
		{"legacy add answered without id", web.ListsLegacy, "POST /api/namedLists/L/item", reply(200, `{"value":"x"}`),
			func(c *web.Client) error { _, err := c.AddItem(context.Background(), "L", "x"); return err },
			func(err error) bool { return errors.Is(err, web.ErrBadResponse) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, map[string]http.HandlerFunc{tt.route: tt.handler})
			c, _ := newClient(t, f, func(o *web.Options) { o.Lists = tt.api })
			if err := tt.call(c); !tt.check(err) {
				t.Fatalf("err = %v (%T)", err, err)
			}
		})
	}
}

func TestListNames(t *testing.T) {
	f := newFake(t, map[string]http.HandlerFunc{
		"POST /alexashoppinglists/api/v2/lists/fetch": reply(200, `{"listInfoList":[
			{"listId":"1","listName":"Einkaufsliste","listType":"SHOP"},
			{"listId":"2","listType":"TODO"},
			{"listId":"3","listName":"","listType":"CUSTOM"},
			{"listId":"4","listName":"Shopping","listType":"CUSTOM"}]}`),
	})
	c, _ := newClient(t, f, nil)
	lists, err := c.Lists(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	assertEqual(t, lists, []web.List{{"1", "Shopping"}, {"2", "To-do"}, {"3", "CUSTOM"}, {"4", "Shopping"}})
}
