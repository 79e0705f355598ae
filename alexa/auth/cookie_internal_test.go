package auth

import (
	"net/http"
	"testing"
)

func TestCookiesFromAmazon(t *testing.T) {
	got := fromWire([]wireCookie{
		{Name: "session-token", Value: `"quoted+value=="`},
		{Name: "at-acbde", Value: "Atza|abc"},
		{Name: "bad", Value: "a;b"},
		{Name: "", Value: "x"},
		{Name: "x-acbde", Value: `"`},
	})
	want := []Cookie{{Name: "session-token", Value: "quoted+value=="}, {Name: "at-acbde", Value: "Atza|abc"}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("fromWire = %v", got)
	}
	merged := mergeCookies(fromHTTP([]*http.Cookie{{Name: "frc", Value: "f"}, {Name: "session-id", Value: "old"}, nil}),
		[]Cookie{{Name: "session-id", Value: "new"}, {Name: "csrf", Value: "-1"}})
	if h := cookieHeader(merged); h != "frc=f; session-id=new; csrf=-1" {
		t.Fatalf("merged header %q", h)
	}
}
