package rules_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/alexarules/alexarules/ruletest"
)

// The features' rule tests (testdata/ruletest: shadow runs, per-key modes,
// check_first, revert_after) pass through `alexarules test`'s runner.
func TestFeatureRuleTestsPass(t *testing.T) {
	var out bytes.Buffer
	res, err := ruletest.Run(context.Background(), ruletest.Options{Out: &out, TempDir: t.TempDir(), Location: time.UTC},
		"testdata/ruletest")
	if err != nil || !res.OK() || res.Passed < 5 {
		t.Fatalf("%+v %v\n%s", res, err, out.String())
	}
}
