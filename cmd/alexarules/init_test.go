package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alexarules/alexarules/rules/luadefs"
)

func TestTypesWritesTheDefinitions(t *testing.T) {
	out, errOut, code := runCLI(t, "types")
	if code != exitOK || out != string(luadefs.Generate()) {
		t.Fatalf("types: exit %d, %d bytes\n%s", code, len(out), errOut)
	}
	file := filepath.Join(t.TempDir(), "defs.lua")
	if out, errOut, code := runCLI(t, "types", "--out", file); code != exitOK || out != "" {
		t.Fatalf("types --out: exit %d\n%s%s", code, out, errOut)
	}
	if b, err := os.ReadFile(file); err != nil || !bytes.Equal(b, luadefs.Generate()) {
		t.Fatalf("types --out wrote %d bytes, %v", len(b), err)
	}
	if _, errOut, code := runCLI(t, "types", "--out", filepath.Join(t.TempDir(), "no", "such", "dir.lua")); code != exitFailure || !strings.Contains(errOut, "writing the definitions") {
		t.Fatalf("types --out into a missing folder: exit %d\n%s", code, errOut)
	}
	if _, _, code := runCLI(t, "types", "extra"); code != exitUsage {
		t.Fatalf("types with an argument: exit %d", code)
	}
}

// A newcomer's path: init, check, test, and the example rule running
// against the simulator, turning the lamp on.
func TestInitCreatesAFolderThatChecksAndRuns(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "my-rules")
	out, errOut, code := runCLI(t, "init", dir)
	if code != exitOK {
		t.Fatalf("init: exit %d\n%s%s", code, out, errOut)
	}
	for _, f := range []string{"hello.lua", "hello_test.lua", filepath.Join(".luals", luadefs.FileName), ".luarc.json"} {
		if !strings.Contains(out, "created "+filepath.Join(dir, f)) {
			t.Errorf("init does not say it created %s:\n%s", f, out)
		}
	}
	for _, next := range []string{"alexarules check " + dir, "alexarules test " + dir, "alexarules run --rules " + dir + " --cloud http://127.0.0.1:"} {
		if !strings.Contains(out, next) {
			t.Errorf("init does not print %q:\n%s", next, out)
		}
	}
	if defs, _ := os.ReadFile(filepath.Join(dir, ".luals", luadefs.FileName)); !bytes.Equal(defs, luadefs.Generate()) {
		t.Error("the definitions are not those of `types`")
	}
	luarc, _ := os.ReadFile(filepath.Join(dir, ".luarc.json"))
	if !strings.Contains(string(luarc), `"workspace.library": [".luals"]`) {
		t.Errorf(".luarc.json: %s", luarc)
	}
	// check loads the rule and not the definitions.
	if out, errOut, code := runCLI(t, "check", dir); code != exitOK || out != fmt.Sprintf("ok  hello (%s:9)\n", filepath.Join(dir, "hello.lua")) {
		t.Fatalf("check: exit %d\n%s%s", code, out, errOut)
	}
	// The example's test passes.
	if out, errOut, code := runCLI(t, "test", dir); code != exitOK || out != fmt.Sprintf("ok   %s  1 tests\n", filepath.Join(dir, "hello_test.lua")) {
		t.Fatalf("test: exit %d\n%s%s", code, out, errOut)
	}
	s, url := startSim(t)
	d := startRun(t, dir, filepath.Join(t.TempDir(), "d.db"), "--cloud", url)
	d.post("/api/events", `{"name":"hello","data":{"from":"the test"}}`)
	d.waitFor(func() bool { return len(d.runs("hello")) == 1 }, "the hello run")
	run := d.runs("hello")[0]
	if run["outcome"] != "ok" || fmt.Sprint(run["log"]) != "[info: hello #1 from the test]" {
		t.Fatalf("hello: %v", run)
	}
	if calls := apiCalls(s, "/v2/endpoints/"+bedroomLamp+"/features/power/turnOn"); len(calls) != 1 || calls[0].Status != 200 {
		t.Fatalf("turnOn calls: %+v", calls)
	}
}

// init never overwrites: a folder with files is refused without --force,
// and --force adds only the missing files.
func TestInitNeverOverwrites(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "hello.lua", "-- mine")
	out, errOut, code := runCLI(t, "init", dir)
	if code != exitUsage || !strings.Contains(errOut, "is not empty") || out != "" {
		t.Fatalf("init on a folder with files: exit %d\n%s%s", code, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, ".luarc.json")); !os.IsNotExist(err) {
		t.Fatalf("a refused init wrote files: %v", err)
	}
	out, errOut, code = runCLI(t, "init", "--force", dir)
	if code != exitOK || !strings.Contains(out, "kept    "+filepath.Join(dir, "hello.lua")+" (exists)") ||
		!strings.Contains(out, "created "+filepath.Join(dir, ".luarc.json")) {
		t.Fatalf("init --force: exit %d\n%s%s", code, out, errOut)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "hello.lua")); string(b) != "-- mine" {
		t.Fatalf("init --force overwrote hello.lua: %q", b)
	}
	file := filepath.Join(dir, "hello.lua")
	if _, errOut, code := runCLI(t, "init", file); code != exitUsage || !strings.Contains(errOut, "not a directory") {
		t.Fatalf("init on a file: exit %d\n%s", code, errOut)
	}
	if _, _, code := runCLI(t, "init"); code != exitUsage {
		t.Fatalf("init without DIR: exit %d", code)
	}
}
