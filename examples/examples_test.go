package examples_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/alexarules/alexarules/ruletest"
)

// TestExampleRules runs every example's *_test.lua, as `alexarules test
// examples/` does, so `go test ./...` (CI) covers them.
func TestExampleRules(t *testing.T) {
	var out bytes.Buffer
	res, err := ruletest.Run(t.Context(), ruletest.Options{Out: &out, TempDir: t.TempDir(), Location: time.UTC}, ".")
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK() || res.Passed == 0 {
		t.Fatalf("%d passed, %d failed", res.Passed, res.Failed)
	}
}
