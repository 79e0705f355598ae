package web_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexarules/alexarules/alexa"
	"github.com/alexarules/alexarules/alexa/web"
)

func TestNewRejects(t *testing.T) {
	hosts, err := alexa.HostsFor("US", "")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		o    web.Options
		want string
	}{
		{"no web host", web.Options{Cookie: web.SimCookie}, "no web API host"},
		{"no cookie", web.Options{Hosts: hosts}, "no cookie"},
		{"blank cookie", web.Options{Hosts: hosts, Cookie: "  "}, "no cookie"},
		{"no csrf", web.Options{Hosts: hosts, Cookie: "session-id=1; ubid-main=2"}, "no csrf= value"},
		{"csrf only as a suffix", web.Options{Hosts: hosts, Cookie: "session-id=1; xcsrf=2"}, "no csrf= value"},
		{"two lines", web.Options{Hosts: hosts, Cookie: "csrf=1\r\nX-Evil: 1"}, "one line"},
		{"unknown lists API", web.Options{Hosts: hosts, Cookie: web.SimCookie, Lists: "v3"}, `lists API "v3"`},
		{"v2 without lists host", web.Options{Hosts: alexa.Hosts{Web: hosts.Web}, Cookie: web.SimCookie}, "no lists host"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := web.New(tt.o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New = %v, %v; want error containing %q", c, err, tt.want)
			}
		})
	}
	// Legacy lists need no lists host.
	if _, err := web.New(web.Options{Hosts: alexa.Hosts{Web: hosts.Web}, Cookie: web.SimCookie, Lists: web.ListsLegacy}); err != nil {
		t.Fatalf("legacy without lists host: %v", err)
	}
}

func TestSessionHeadersFromOptions(t *testing.T) {
	f := newFake(t, map[string]http.HandlerFunc{
		"GET /api/notifications": reply(200, `{"notifications":[]}`),
	})
	tests := []struct {
		name                string
		edit                func(*web.Options)
		csrf, ua, language  string
		cookieSentUnchanged bool
	}{
		{"csrf among other cookies", func(o *web.Options) { o.Cookie = `a=1; csrf="-123"; b=2` }, "-123", web.DefaultUserAgent, "de-DE", true},
		{"own user agent and language", func(o *web.Options) {
			o.UserAgent, o.AcceptLanguage = "Test/1.0", "fr-FR"
		}, "135792468", "Test/1.0", "fr-FR", true},
		{"country language", func(o *web.Options) { o.Hosts.Country = "IN" }, "135792468", web.DefaultUserAgent, "en-IN", true},
		{"unknown country", func(o *web.Options) { o.Hosts.Country = "" }, "135792468", web.DefaultUserAgent, "en-US", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cookie string
			c, _ := newClient(t, f, func(o *web.Options) { tt.edit(o); cookie = o.Cookie })
			before := len(f.requests())
			if _, err := c.Notifications(context.Background()); err != nil {
				t.Fatal(err)
			}
			r := f.requests()[before]
			for k, v := range map[string]string{"Cookie": cookie, "Csrf": tt.csrf, "User-Agent": tt.ua, "Accept-Language": tt.language} {
				if got := r.Header.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

// sessionAuth is an app session's Authorizer: its cookie changes each
// time Amazon refuses it, as a Keeper's cookie exchange would.
type sessionAuth struct {
	mu      sync.Mutex
	n       int
	refused []int
}

func (a *sessionAuth) Authorize(_ context.Context, req *http.Request) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	req.Header.Set("Cookie", fmt.Sprintf("at-main=Atza|%d; csrf=%d", a.n, a.n))
	req.Header.Set("csrf", strconv.Itoa(a.n))
	return nil
}

func (a *sessionAuth) Refused(_ context.Context, _ *http.Request, status int) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.refused = append(a.refused, status)
	a.n++
	return true
}

// With Options.Auth no cookie is configured: every request carries what
// the Authorizer puts on it, and a 401 is answered with renewed
// credentials once; a static cookie is never sent again after a 401.
func TestAuthorizerRenewsTheSession(t *testing.T) {
	f := newFake(t, map[string]http.HandlerFunc{
		"GET /api/notifications": func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("csrf") != "1" {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			reply(200, `{"notifications":[]}`)(w, r)
		},
	})
	auth := &sessionAuth{}
	c, _ := newClient(t, f, func(o *web.Options) { o.Cookie, o.Auth = "", auth })
	if _, err := c.Notifications(context.Background()); err != nil {
		t.Fatal(err)
	}
	reqs := f.requests()
	if len(reqs) != 2 || reqs[0].Header.Get("Cookie") != "at-main=Atza|0; csrf=0" ||
		reqs[1].Header.Get("Cookie") != "at-main=Atza|1; csrf=1" || !reflect.DeepEqual(auth.refused, []int{401}) {
		t.Fatalf("requests %+v, refused %v", reqs, auth.refused)
	}
	if reqs[1].Header.Get("User-Agent") != web.DefaultUserAgent || reqs[1].Header.Get("Accept-Language") != "de-DE" {
		t.Fatalf("the session headers are missing: %v", reqs[1].Header)
	}

	static, _ := newClient(t, f, nil)
	_, err := static.Notifications(context.Background())
	if !errors.Is(err, web.ErrAuth) || len(f.requests()) != 3 {
		t.Fatalf("static cookie: err %v after %d requests, want ErrAuth after 1", err, len(f.requests())-2)
	}
}

// TestRoutes checks every call's method, host, path, query, headers and
// exact body.
func TestRoutes(t *testing.T) {
	lists := newFake(t, map[string]http.HandlerFunc{
		"POST /alexashoppinglists/api/v2/lists/fetch": reply(200, `{"listInfoList":[
			{"listId":"L-SHOP","listName":null,"listType":"SHOP"},
			{"listId":"L-TODO","listName":"Aufgaben","listType":"TODO"},
			{"listId":"L%2F3","listName":"Baumarkt","listType":"CUSTOM"}]}`),
		"POST /alexashoppinglists/api/v2/lists/L-SHOP/items/fetch": reply(200, `{"itemInfoList":[
			{"itemId":"i1","listId":"L-SHOP","itemName":"milk","itemStatus":"ACTIVE","version":1},
			{"itemId":"i2","listId":"L-SHOP","itemName":"eggs","itemStatus":"COMPLETE","version":3}]}`),
		"POST /alexashoppinglists/api/v2/lists/L-SHOP/items": reply(200, `{"itemInfoList":[
			{"itemId":"i9","listId":"L-SHOP","itemName":"bread","itemStatus":"ACTIVE","version":1}]}`),
		"PUT /alexashoppinglists/api/v2/lists/L-SHOP/items/i1":    reply(200, `{"itemInfoList":[]}`),
		"DELETE /alexashoppinglists/api/v2/lists/L-SHOP/items/i2": reply(200, `{}`),
		"POST /alexashoppinglists/api/v2/lists/a%2Fb/items/fetch": reply(200, `{"itemInfoList":[]}`),
	})
	webAPI := newFake(t, map[string]http.HandlerFunc{
		"GET /api/notifications":                reply(200, `{"notifications":[{"id":"n1","type":"Alarm"},{"id":"n2","type":"Timer"}]}`),
		"PUT /api/notifications/createReminder": reply(200, `{"id":"A3S5BH2HU6VAYF-G090LF09643202VS-x","type":"Reminder","version":"1"}`),
		"GET /api/device-notification-state/A3S5BH2HU6VAYF/649649820/G090LF09643202VS": reply(200,
			`{"deviceSerialNumber":"G090LF09643202VS","deviceType":"A3S5BH2HU6VAYF","softwareVersion":"649649820","volumeLevel":38}`),
		"PUT /api/device-notification-state/A3S5BH2HU6VAYF/649649820/G090LF09643202VS": reply(200, `{}`),
		"GET /api/namedLists": reply(200, `{"lists":[
			{"itemId":"N-SHOP","name":null,"type":"SHOPPING_ITEM","defaultList":true},
			{"itemId":"N-TASK","name":"Zu erledigen","type":"TASK"},
			{"itemId":"N-3","name":"Garden","type":"CUSTOM"}]}`),
		"GET /api/namedLists/N-SHOP/items": reply(200, `{"list":[
			{"id":"j1","listId":"N-SHOP","value":"milk","completed":false,"version":1},
			{"id":"j2","listId":"N-SHOP","value":"eggs","completed":true,"version":"2"}]}`),
		"POST /api/namedLists/N-SHOP/item":      reply(200, `{"id":"j9","listId":"N-SHOP","value":"bread","completed":false,"version":1}`),
		"PUT /api/namedLists/N-SHOP/item/j1":    reply(200, `{}`),
		"DELETE /api/namedLists/N-SHOP/item/j2": reply(200, `{}`),
	})
	hosts := alexa.Hosts{Country: "DE", Web: webAPI.srv.URL, Lists: lists.srv.URL}
	client := func(t *testing.T, listsAPI string) *web.Client {
		c, err := web.New(web.Options{Hosts: hosts, Cookie: web.SimCookie, Lists: listsAPI, Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	v2, legacy := client(t, ""), client(t, web.ListsLegacy)
	ctx := context.Background()
	milk := web.Item{ID: "i1", Text: "milk", Version: 1}
	eggs := web.Item{ID: "i2", Text: "eggs", Completed: true, Version: 3}

	tests := []struct {
		name   string
		call   func() (any, error)
		server *fake
		method string
		path   string
		query  string
		body   string
		want   any
	}{
		{
			name: "notifications", server: webAPI,
			call:   func() (any, error) { n, err := v2.Notifications(ctx); return rawStrings(n), err },
			method: "GET", path: "/api/notifications", query: "_=" + nowMS + "&cached=true",
			want: []string{`{"id":"n1","type":"Alarm"}`, `{"id":"n2","type":"Timer"}`},
		},
		{
			name: "create reminder", server: webAPI,
			call: func() (any, error) {
				return v2.CreateReminder(ctx, web.ReminderRequest{Echo: berlinEcho, Text: "Take out the trash", At: time.Date(2026, 3, 21, 7, 30, 0, 0, time.UTC)})
			},
			method: "PUT", path: "/api/notifications/createReminder",
			body: `{"type":"Reminder","status":"ON","alarmTime":1774078200000,"originalTime":"08:30:00.000","originalDate":"2026-03-21",` +
				`"timeZoneId":null,"reminderIndex":null,"skillInfo":null,"sound":null,"deviceSerialNumber":"G090LF09643202VS",` +
				`"deviceType":"A3S5BH2HU6VAYF","recurringPattern":null,"reminderLabel":"Take out the trash","isSaveInFlight":true,` +
				`"id":"createReminder","isRecurring":false,"createdDate":1774000800000}`,
			want: "A3S5BH2HU6VAYF-G090LF09643202VS-x",
		},
		{
			name: "notification volume", server: webAPI,
			call:   func() (any, error) { return v2.NotificationVolume(ctx, berlinEcho) },
			method: "GET", path: "/api/device-notification-state/A3S5BH2HU6VAYF/649649820/G090LF09643202VS",
			want: 38,
		},
		{
			name: "set notification volume", server: webAPI,
			call:   func() (any, error) { return nil, v2.SetNotificationVolume(ctx, berlinEcho, 55) },
			method: "PUT", path: "/api/device-notification-state/A3S5BH2HU6VAYF/649649820/G090LF09643202VS",
			body: `{"deviceSerialNumber":"G090LF09643202VS","deviceType":"A3S5BH2HU6VAYF","softwareVersion":"649649820","volumeLevel":55}`,
		},
		{
			name: "v2 lists", server: lists,
			call:   func() (any, error) { return v2.Lists(ctx) },
			method: "POST", path: "/alexashoppinglists/api/v2/lists/fetch",
			body: `{"listAttributesToAggregate":[{"type":"totalActiveItemsCount"}],"listOwnershipType":null}`,
			want: []web.List{{ID: "L-SHOP", Name: "Shopping"}, {ID: "L-TODO", Name: "To-do"}, {ID: "L%2F3", Name: "Baumarkt"}},
		},
		{
			name: "v2 items", server: lists,
			call:   func() (any, error) { return v2.Items(ctx, "L-SHOP") },
			method: "POST", path: "/alexashoppinglists/api/v2/lists/L-SHOP/items/fetch", query: "limit=100",
			body: `{"itemAttributesToProject":["quantity","note"]}`,
			want: []web.Item{milk, eggs},
		},
		{
			name: "v2 items of an id needing escapes", server: lists,
			call:   func() (any, error) { return v2.Items(ctx, "a/b") },
			method: "POST", path: "/alexashoppinglists/api/v2/lists/a%2Fb/items/fetch", query: "limit=100",
			body: `{"itemAttributesToProject":["quantity","note"]}`,
			want: []web.Item{},
		},
		{
			name: "v2 item", server: lists,
			call:   func() (any, error) { return v2.Item(ctx, "L-SHOP", "i2") },
			method: "POST", path: "/alexashoppinglists/api/v2/lists/L-SHOP/items/fetch", query: "limit=100",
			body: `{"itemAttributesToProject":["quantity","note"]}`,
			want: eggs,
		},
		{
			name: "v2 add item", server: lists,
			call:   func() (any, error) { return v2.AddItem(ctx, "L-SHOP", " bread ") },
			method: "POST", path: "/alexashoppinglists/api/v2/lists/L-SHOP/items",
			body: `{"items":[{"itemType":"KEYWORD","itemName":"bread"}]}`,
			want: web.Item{ID: "i9", Text: "bread", Version: 1},
		},
		{
			name: "v2 check item", server: lists,
			call:   func() (any, error) { return nil, v2.CheckItem(ctx, "L-SHOP", milk, true) },
			method: "PUT", path: "/alexashoppinglists/api/v2/lists/L-SHOP/items/i1", query: "version=1",
			body: `{"itemAttributesToUpdate":[{"type":"itemName","value":"milk"},{"type":"itemStatus","value":"COMPLETE"}],"itemAttributesToRemove":[]}`,
		},
		{
			name: "v2 uncheck item without text", server: lists,
			call:   func() (any, error) { return nil, v2.CheckItem(ctx, "L-SHOP", web.Item{ID: "i1", Version: 4}, false) },
			method: "PUT", path: "/alexashoppinglists/api/v2/lists/L-SHOP/items/i1", query: "version=4",
			body: `{"itemAttributesToUpdate":[{"type":"itemStatus","value":"ACTIVE"}],"itemAttributesToRemove":[]}`,
		},
		{
			name: "v2 remove item", server: lists,
			call:   func() (any, error) { return nil, v2.RemoveItem(ctx, "L-SHOP", eggs) },
			method: "DELETE", path: "/alexashoppinglists/api/v2/lists/L-SHOP/items/i2", query: "version=3",
		},
		{
			name: "legacy lists", server: webAPI,
			call:   func() (any, error) { return legacy.Lists(ctx) },
			method: "GET", path: "/api/namedLists", query: "_=" + nowMS,
			want: []web.List{{ID: "N-SHOP", Name: "Shopping"}, {ID: "N-TASK", Name: "To-do"}, {ID: "N-3", Name: "Garden"}},
		},
		{
			name: "legacy items", server: webAPI,
			call:   func() (any, error) { return legacy.Items(ctx, "N-SHOP") },
			method: "GET", path: "/api/namedLists/N-SHOP/items", query: "completed=&endTime=&listIds=N-SHOP&startTime=",
			want: []web.Item{{ID: "j1", Text: "milk", Version: 1}, {ID: "j2", Text: "eggs", Completed: true, Version: 2}},
		},
		{
			name: "legacy item", server: webAPI,
			call:   func() (any, error) { return legacy.Item(ctx, "N-SHOP", "j1") },
			method: "GET", path: "/api/namedLists/N-SHOP/items", query: "completed=&endTime=&listIds=N-SHOP&startTime=",
			want: web.Item{ID: "j1", Text: "milk", Version: 1},
		},
		{
			name: "legacy add item", server: webAPI,
			call:   func() (any, error) { return legacy.AddItem(ctx, "N-SHOP", "bread") },
			method: "POST", path: "/api/namedLists/N-SHOP/item",
			body: `{"listId":"N-SHOP","createdDateTime":1774000800000,"completed":false,"value":"bread"}`,
			want: web.Item{ID: "j9", Text: "bread", Version: 1},
		},
		{
			name: "legacy check item", server: webAPI,
			call: func() (any, error) {
				return nil, legacy.CheckItem(ctx, "N-SHOP", web.Item{ID: "j1", Text: "milk", Version: 1}, true)
			},
			method: "PUT", path: "/api/namedLists/N-SHOP/item/j1",
			body: `{"completed":true,"id":"j1","listId":"N-SHOP","value":"milk","version":1,"lastLocalUpdatedDate":1774000800000}`,
		},
		{
			name: "legacy remove item", server: webAPI,
			call: func() (any, error) {
				return nil, legacy.RemoveItem(ctx, "N-SHOP", web.Item{ID: "j2", Text: "eggs", Completed: true, Version: 2})
			},
			method: "DELETE", path: "/api/namedLists/N-SHOP/item/j2",
			body: `{"id":"j2","listId":"N-SHOP","value":"eggs"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wb, lb := len(webAPI.requests()), len(lists.requests())
			got, err := tt.call()
			if err != nil {
				t.Fatal(err)
			}
			if tt.want != nil {
				assertEqual(t, got, tt.want)
			}
			other, otherBefore := lists, lb
			before := wb
			if tt.server == lists {
				other, otherBefore, before = webAPI, wb, lb
			}
			if n := len(other.requests()); n != otherBefore {
				t.Errorf("%d requests went to the other host", n-otherBefore)
			}
			reqs := tt.server.requests()[before:]
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			r := reqs[0]
			if r.Method != tt.method || r.Path != tt.path || r.Query != tt.query {
				t.Errorf("request %s %s?%s, want %s %s?%s", r.Method, r.Path, r.Query, tt.method, tt.path, tt.query)
			}
			if r.Body != tt.body {
				t.Errorf("body\n got %s\nwant %s", r.Body, tt.body)
			}
			if r.Body != "" && r.ContentLength != int64(len(r.Body)) {
				t.Errorf("Content-Length %d, want %d (bodies must be framed)", r.ContentLength, len(r.Body))
			}
			checkSession(t, r, webAPI.srv.URL)
		})
	}
}

func TestErrors(t *testing.T) {
	throttledHeader := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("x-amzn-ErrorType", "ThrottlingException:http://internal.amazon.com/coral/com.amazon.coral.availability/")
		reply(400, `{"message":"Rate exceeded"}`)(w, r)
	}
	throttledBody := reply(400, `{"__type":"com.amazon.coral.availability#ThrottlingException","message":"Rate exceeded"}`)
	ok := reply(200, `{"notifications":[]}`)
	retryAfter := func(s string, status int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", s)
			reply(status, `{"message":"slow down"}`)(w, r)
		}
	}
	tests := []struct {
		name      string
		handler   http.HandlerFunc
		requests  int
		sleeps    []time.Duration
		status    int // 0: success
		throttled bool
		auth      bool
		message   string
	}{
		{name: "throttled by header then success", handler: sequence(throttledHeader, ok), requests: 2, sleeps: []time.Duration{time.Second}},
		{name: "throttled by body then success", handler: sequence(throttledBody, throttledBody, ok), requests: 3, sleeps: []time.Duration{time.Second, 2 * time.Second}},
		{name: "429 with Retry-After then success", handler: sequence(retryAfter("7", 429), ok), requests: 2, sleeps: []time.Duration{7 * time.Second}},
		{name: "503 then success", handler: sequence(reply(503, ``), ok), requests: 2, sleeps: []time.Duration{time.Second}},
		{
			name: "throttled until attempts run out", handler: throttledHeader, requests: 4,
			sleeps: []time.Duration{time.Second, 2 * time.Second, 4 * time.Second},
			status: 400, throttled: true, message: "ThrottlingException: Rate exceeded (after 4 attempts)",
		},
		{
			name: "Retry-After beyond the limit fails at once", handler: retryAfter("3600", 429), requests: 1,
			status: 429, throttled: true, message: "429 Too Many Requests: slow down",
		},
		{
			name: "401 is an auth error and not retried", handler: reply(401, `{"message":null}`), requests: 1,
			status: 401, auth: true, message: "401 Unauthorized: the Alexa web session expired: update the cookie",
		},
		{
			name: "other 400 is not retried", handler: reply(400, `{"message":"bad request"}`), requests: 1,
			status: 400, message: "400 Bad Request: bad request",
		},
		{
			name: "500 with an HTML body is not retried", handler: reply(500, `<html>oops</html>`), requests: 1,
			status: 500, message: "500 Internal Server Error: <html>oops</html>",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, map[string]http.HandlerFunc{"GET /api/notifications": tt.handler})
			c, s := newClient(t, f, nil)
			_, err := c.Notifications(context.Background())
			if n := len(f.requests()); n != tt.requests {
				t.Errorf("%d requests, want %d", n, tt.requests)
			}
			assertEqual(t, s.all(), tt.sleeps)
			if tt.status == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			e, ok := errors.AsType[*web.Error](err)
			if !ok {
				t.Fatalf("err = %v (%T), want *web.Error", err, err)
			}
			if e.Status != tt.status || e.Throttled != tt.throttled || e.Method != "GET" || e.Path != "/api/notifications" {
				t.Errorf("error %+v", e)
			}
			if errors.Is(err, web.ErrAuth) != tt.auth {
				t.Errorf("errors.Is(ErrAuth) = %v, want %v", !tt.auth, tt.auth)
			}
			if !strings.Contains(err.Error(), tt.message) || !strings.HasPrefix(err.Error(), "alexa web: GET /api/notifications: ") {
				t.Errorf("message %q, want it to contain %q", err, tt.message)
			}
			if strings.Contains(err.Error(), "135792468") {
				t.Errorf("the error leaks the csrf token: %v", err)
			}
		})
	}
}

func TestRetryStopsWithContext(t *testing.T) {
	f := newFake(t, map[string]http.HandlerFunc{"GET /api/notifications": reply(429, `{}`)})
	ctx, cancel := context.WithCancel(context.Background())
	c, _ := newClient(t, f, func(o *web.Options) {
		o.Sleep = func(context.Context, time.Duration) error { cancel(); return context.Canceled }
	})
	_, err := c.Notifications(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if e, ok := errors.AsType[*web.Error](err); !ok || !e.Throttled {
		t.Fatalf("err = %v, want it to carry the throttling *Error", err)
	}
	if n := len(f.requests()); n != 1 {
		t.Fatalf("%d requests, want 1", n)
	}
}

func TestRetryRespectsDeadline(t *testing.T) {
	f := newFake(t, map[string]http.HandlerFunc{"GET /api/notifications": reply(429, `{}`)})
	c, s := newClient(t, f, func(o *web.Options) {
		o.BaseBackoff, o.MaxBackoff, o.MaxRetryAfter = time.Hour, time.Hour, 2*time.Hour
		o.Now = time.Now // the deadline is on the wall clock
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := c.Notifications(ctx)
	if e, ok := errors.AsType[*web.Error](err); !ok || e.Status != 429 {
		t.Fatalf("err = %v, want the 429", err)
	}
	if len(s.all()) != 0 {
		t.Fatalf("slept %v past the deadline", s.all())
	}
}

// TestMalformed feeds every reading call bodies it cannot use.
func TestMalformed(t *testing.T) {
	calls := []struct {
		name  string
		route string
		call  func(*web.Client) error
		bad   []string
	}{
		{"devices", "GET /api/devices-v2/device", func(c *web.Client) error { _, err := c.Echos(context.Background()); return err },
			[]string{`{"devices":[{"serialNumber":5}]}`, `{"devices":{}}`, `{"devices":null}`}},
		{"notifications", "GET /api/notifications", func(c *web.Client) error { _, err := c.Notifications(context.Background()); return err },
			[]string{`{"notifications":null}`, `{"notifications":[1,"x"]}`, `{"notifications":{}}`}},
		{"create reminder", "PUT /api/notifications/createReminder", func(c *web.Client) error {
			_, err := c.CreateReminder(context.Background(), web.ReminderRequest{Echo: berlinEcho, Text: "x", At: now.Add(time.Hour)})
			return err
		}, []string{`{"id":""}`, `{"id":7}`, `{"id":null}`, `{"id":"a",}`, `{"id":"a"}x`, `{"ID":7}`, `{"id":"a","x":01}`,
			`{"id":"a","x":"\q"}`, `{"x":[1,2}`}},
		{"notification volume", "GET /api/device-notification-state/A3S5BH2HU6VAYF/649649820/G090LF09643202VS", func(c *web.Client) error {
			_, err := c.NotificationVolume(context.Background(), berlinEcho)
			return err
		}, []string{`{"volumeLevel":"loud"}`}},
		{"v2 lists", "POST /alexashoppinglists/api/v2/lists/fetch", func(c *web.Client) error { _, err := c.Lists(context.Background()); return err },
			[]string{`{"listInfoList":[{"listName":"x"}]}`, `{"listInfoList":"x"}`}},
		{"v2 items", "POST /alexashoppinglists/api/v2/lists/L/items/fetch", func(c *web.Client) error { _, err := c.Items(context.Background(), "L"); return err },
			[]string{`{"itemInfoList":[{"itemName":"x"}]}`, `{"itemInfoList":[{"itemId":"x","version":"v1"}]}`}},
		{"v2 add", "POST /alexashoppinglists/api/v2/lists/L/items", func(c *web.Client) error { _, err := c.AddItem(context.Background(), "L", "x"); return err },
			[]string{`{"itemInfoList":[]}`, `{"itemInfoList":[{"itemName":"x"}]}`}},
	}
	common := []string{``, `not json`, `[]`, `null`, `{}`, `{"truncated":`}
	for _, tc := range calls {
		for _, body := range append(common, tc.bad...) {
			t.Run(tc.name+"/"+body, func(t *testing.T) {
				routes := map[string]http.HandlerFunc{tc.route: reply(200, body)}
				if tc.route == "GET /api/devices-v2/device" {
					routes["GET /api/device-preferences"] = reply(200, `{"devicePreferences":[]}`)
				}
				f := newFake(t, routes)
				c, _ := newClient(t, f, nil)
				err := tc.call(c)
				if !errors.Is(err, web.ErrBadResponse) {
					t.Fatalf("err = %v, want ErrBadResponse", err)
				}
				method, path, _ := strings.Cut(tc.route, " ")
				if !strings.Contains(err.Error(), method+" "+path) {
					t.Errorf("err = %v, want it to name the request", err)
				}
			})
		}
	}
}

// CookieAuth puts a configured cookie and its csrf on a request of another
// API family, and refuses what New refuses.
func TestCookieAuth(t *testing.T) {
	a, err := web.CookieAuth(web.SimCookie)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1/api/phoenix/state", nil)
	if err := a.Authorize(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if req.Header.Get("Cookie") != web.SimCookie || req.Header.Get("csrf") != "135792468" {
		t.Errorf("headers %v", req.Header)
	}
	if a.Refused(context.Background(), req, http.StatusUnauthorized) {
		t.Error("a configured cookie cannot be renewed")
	}
	if _, err := web.CookieAuth("session-id=1"); err == nil || !strings.Contains(err.Error(), "no csrf= value") {
		t.Errorf("a cookie without csrf: %v", err)
	}
}
