package ruletest_test

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/alexarules/alexarules/ruletest"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func run(t *testing.T, o ruletest.Options, paths ...string) (string, ruletest.Result, error) {
	t.Helper()
	var out bytes.Buffer
	o.Out, o.TempDir = &out, t.TempDir()
	if o.Location == nil {
		o.Location = time.UTC
	}
	res, err := ruletest.Run(t.Context(), o, paths...)
	return out.String(), res, err
}

// timings are the only part of the output that changes between runs.
var timings = regexp.MustCompile(`\(\d+\.\d+s\)`)

func golden(t *testing.T, name, got string) {
	t.Helper()
	got = timings.ReplaceAllString(got, "(T)")
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("output:\n%s\nwant (%s):\n%s", got, path, want)
	}
}

func TestPassingTestsIncludingAWeekAndRestarts(t *testing.T) {
	out, res, err := run(t, ruletest.Options{Verbose: true}, "testdata/pass")
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK() || res.Passed != 4 {
		t.Errorf("%+v", res)
	}
	golden(t, "pass.golden", out)
}

func TestFailuresNameFileLineExpectedAndGot(t *testing.T) {
	out, res, err := run(t, ruletest.Options{}, "testdata/fail")
	if err != nil {
		t.Fatal(err)
	}
	if res.OK() || res.Failed != 6 || res.Passed != 1 {
		t.Errorf("%+v", res)
	}
	golden(t, "fail.golden", out)
}

func TestRunFiltersTestNames(t *testing.T) {
	out, res, err := run(t, ruletest.Options{Filter: regexp.MustCompile("^wrong (value|state)$"), Verbose: true}, "testdata/fail/lamp_test.lua")
	if err != nil {
		t.Fatal(err)
	}
	if res.Failed != 2 || res.Passed != 0 {
		t.Errorf("%+v\n%s", res, out)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, p := range []string{"testdata/missing", "testdata/fail/lamp.lua", "testdata/empty"} {
		_, _, err := run(t, ruletest.Options{}, p)
		var ue *ruletest.UsageError
		if !errors.As(err, &ue) {
			t.Errorf("%s: %v, want a usage error", p, err)
		}
	}
}

// TestTheContractsExamplePasses: the test of RULES.md §7, as written
// there (the first of examples/wake-lights_test.lua), passes against the
// rule of §1 (a lamp given only power= can be
// dimmed: test endpoints default to a dimmable colour light).
func TestTheContractsExamplePasses(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	// In UTC, and in a zone of its own: the alarm rings at the rules'
	// 07:00 although the Echo names no time zone (the engine reads its
	// alarms in UTC then).
	for _, loc := range []*time.Location{time.UTC, berlin} {
		out, res, err := run(t, ruletest.Options{Location: loc}, "../examples/wake-lights_test.lua")
		if err != nil || !res.OK() || res.Passed == 0 {
			t.Errorf("%s: %+v %v\n%s", loc, res, err, out)
		}
	}
}
