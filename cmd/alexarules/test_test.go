package main

import (
	"strings"
	"testing"
)

func TestRuleTestsExitCodesAndOutput(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "count.lua", `return rule "count" { when = event "tick", state = { n = 0 },
  run = function(ctx) ctx.state.n = ctx.state.n + 1 end }`)
	write(t, dir, "count_test.lua", `
test("counts", function(t)
  t.event("tick")
  t.expect_state("count", "n", 1)
end)
test("counts wrong", function(t)
  t.event("tick")
  t.expect_state("count", "n", 2)
end)`)
	out, errOut, code := runHere(t, "test", dir, "-run", "^counts$", "-v")
	if code != exitOK || !strings.Contains(out, "--- PASS: counts (") || !strings.Contains(out, "ok   "+dir+"/count_test.lua  1 tests") {
		t.Errorf("-run ^counts$: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = runHere(t, "test", dir)
	want := "--- FAIL: counts wrong (" + dir + "/count_test.lua:8)\n    expected: state n of rule count = 2\n    got:      1\n"
	if code != exitFailure || !strings.Contains(out, want) {
		t.Errorf("exit %d, want %d and\n%s\ngot:\n%s%s", code, exitFailure, want, out, errOut)
	}
	for _, args := range [][]string{{"test"}, {"test", dir, "-run", "("}, {"test", dir + "/missing"}, {"test", dir, "-bogus"}} {
		if _, errOut, code := runHere(t, args...); code != exitUsage {
			t.Errorf("%q: exit %d, want %d\n%s", args, code, exitUsage, errOut)
		}
	}
}
