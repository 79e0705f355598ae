package web

import (
	"context"
	"net/http"
	"testing"
)

// A configured cookie goes on each request as Header.Set would put it,
// without allocating, and a request's Add never reaches the shared values.
func TestStaticCookieAuthorize(t *testing.T) {
	auth, err := staticSession(" session-id=1; csrf=abc ")
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", "http://x/", nil)
	want := http.Header{}
	want.Set("Cookie", "session-id=1; csrf=abc")
	want.Set("csrf", "abc")
	if allocs := testing.AllocsPerRun(100, func() { _ = auth.Authorize(context.Background(), req) }); allocs != 0 {
		t.Errorf("Authorize: %v allocations, want 0", allocs)
	}
	if req.Header.Get("Cookie") != want.Get("Cookie") || req.Header.Get("csrf") != want.Get("csrf") || len(req.Header) != len(want) {
		t.Fatalf("header %v, want %v", req.Header, want)
	}
	req.Header.Add("Cookie", "more=1")
	if auth.cookie[0] != "session-id=1; csrf=abc" || len(auth.cookie) != 1 {
		t.Fatalf("an Add on a request changed the shared cookie: %q", auth.cookie)
	}
}
