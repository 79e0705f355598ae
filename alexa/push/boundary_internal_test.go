package push

import "testing"

func TestMultipartBoundaryOfAmazonsContentType(t *testing.T) {
	for ct, want := range map[string]string{
		"multipart/related; boundary=------abcde123; type=application/json": "------abcde123",
		`multipart/related; boundary="b1"`:                                  "b1",
		"multipart/related; type=application/json":                          "",
		"application/json": "",
	} {
		got, ok := multipartBoundary(ct)
		if got != want || ok != (want != "") {
			t.Errorf("%q: got %q, %v; want %q", ct, got, ok, want)
		}
	}
}
