// Package ruletest runs rule tests: *_test.lua files beside rule files,
// each test(name, function(t) ... end) against a fresh engine on a
// virtual clock and a simulated household (docs/RULES.md §7). The
// alexarules test command and the examples' Go test call Run.
package ruletest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// Options tune a Run.
type Options struct {
	// Filter, when set, runs only the tests whose name it matches (-run).
	Filter *regexp.Regexp
	// Verbose prints "=== RUN" and "--- PASS" lines too (-v).
	Verbose bool
	// Out receives the report (go test's format).
	Out io.Writer
	// TempDir holds the tests' data files; required.
	TempDir string
	// Location is the rules' time zone (t.clock, schedules); nil: local.
	Location *time.Location
	// Log receives the engines' logs (nil: discarded).
	Log *slog.Logger
}

// UsageError is a Run that could not start: no test file at a path, a
// path that does not exist. The command exits 2 on it.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// Result counts what a Run did.
type Result struct {
	Files, Passed, Failed int
}

// OK reports whether every test passed.
func (r Result) OK() bool { return r.Failed == 0 }

// Run runs the test files at paths (files, or directories searched with
// their subdirectories) and writes the report to o.Out.
func Run(ctx context.Context, o Options, paths ...string) (Result, error) {
	var res Result
	if o.Location == nil {
		o.Location = time.Local
	}
	files, err := testFiles(paths)
	if err != nil {
		return res, &UsageError{err}
	}
	for _, f := range files {
		passed, failed, err := runFile(ctx, o, f)
		if err != nil {
			return res, err
		}
		res.Files++
		res.Passed += passed
		res.Failed += failed
		if failed == 0 {
			fmt.Fprintf(o.Out, "ok   %s  %d tests\n", f, passed)
		} else {
			fmt.Fprintf(o.Out, "FAIL %s  %d of %d tests failed\n", f, failed, passed+failed)
		}
	}
	return res, nil
}

// testFiles finds the *_test.lua files of paths, sorted.
func testFiles(paths []string) ([]string, error) {
	if len(paths) == 0 {
		return nil, errors.New("no path given: name test files or directories")
	}
	var out []string
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			if !strings.HasSuffix(p, "_test.lua") {
				return nil, fmt.Errorf("%s: not a test file (*_test.lua)", p)
			}
			out = append(out, p)
			continue
		}
		var found []string
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && path != p && (d.Name() == "lib" || strings.HasPrefix(d.Name(), ".")) {
				return filepath.SkipDir
			}
			if !d.IsDir() && strings.HasSuffix(path, "_test.lua") {
				found = append(found, path)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("%s: no test files (*_test.lua)", p)
		}
		slices.Sort(found)
		out = append(out, found...)
	}
	return out, nil
}

// ruleFiles are the rule files beside a test file: the directory's *.lua
// files that are not tests.
func ruleFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		n := e.Name()
		if !e.IsDir() && strings.HasSuffix(n, ".lua") && !strings.HasSuffix(n, "_test.lua") {
			out = append(out, filepath.Join(dir, n))
		}
	}
	return out, nil
}

// declared is one test(name, fn) of a file.
type declared struct {
	name string
	fn   *lua.LFunction
	line int
}

// runFile runs the tests of one file; err is for what stops the whole
// run (none so far: a broken file is one failed test).
func runFile(ctx context.Context, o Options, file string) (passed, failed int, err error) {
	L := newTestState()
	defer L.Close()
	var tests []declared
	L.SetGlobal("test", L.NewFunction(func(L *lua.LState) int {
		name := L.CheckString(1)
		fn := L.CheckFunction(2)
		tests = append(tests, declared{name: name, fn: fn, line: callerLine(L)})
		return 0
	}))
	src, err := os.ReadFile(file)
	if err != nil {
		return 0, 0, &UsageError{err}
	}
	if err := doString(L, string(src), file); err != nil {
		reportFail(o.Out, file, file, nil, err)
		return 0, 1, nil
	}
	rules, err := ruleFiles(filepath.Dir(file))
	if err != nil {
		return 0, 0, &UsageError{err}
	}
	for i, t := range tests {
		if o.Filter != nil && !o.Filter.MatchString(t.name) {
			continue
		}
		if o.Verbose {
			fmt.Fprintf(o.Out, "=== RUN   %s\n", t.name)
		}
		start := time.Now()
		data := filepath.Join(o.TempDir, fmt.Sprintf("%s-%d.db", strings.ReplaceAll(file, string(filepath.Separator), "_"), i))
		f := runTest(ctx, o, L, t, file, rules, data)
		if f != nil {
			failed++
			reportFail(o.Out, t.name, f.where, f, nil)
			continue
		}
		passed++
		if o.Verbose {
			fmt.Fprintf(o.Out, "--- PASS: %s (%.2fs)\n", t.name, time.Since(start).Seconds())
		}
	}
	return passed, failed, nil
}

// reportFail writes one failure: the header, then what was expected and
// what happened (or the error).
func reportFail(w io.Writer, name, where string, f *failure, err error) {
	fmt.Fprintf(w, "--- FAIL: %s (%s)\n", name, where)
	if f == nil {
		fmt.Fprintf(w, "    error: %v\n", err)
		return
	}
	if f.err != "" {
		fmt.Fprintf(w, "    error: %s\n", f.err)
		return
	}
	fmt.Fprintf(w, "    expected: %s\n", f.expected)
	fmt.Fprintf(w, "    got:      %s\n", f.got)
}

// doString runs src as the chunk named file.
func doString(L *lua.LState, src, file string) error {
	fn, err := L.Load(strings.NewReader(src), file)
	if err != nil {
		return err
	}
	L.Push(fn)
	return L.PCall(0, 0, nil)
}

// newTestState is the Lua state of a test file: the safe standard
// libraries (no io, no os but time and date), like rules have.
func newTestState() *lua.LState {
	L := lua.NewState(lua.Options{SkipOpenLibs: true})
	for _, lib := range []struct {
		name string
		fn   lua.LGFunction
	}{{lua.BaseLibName, lua.OpenBase}, {lua.TabLibName, lua.OpenTable}, {lua.StringLibName, lua.OpenString},
		{lua.MathLibName, lua.OpenMath}} {
		L.Push(L.NewFunction(lib.fn))
		L.Push(lua.LString(lib.name))
		L.Call(1, 0)
	}
	for _, name := range []string{"dofile", "loadfile", "load", "loadstring", "collectgarbage"} {
		L.SetGlobal(name, lua.LNil)
	}
	return L
}

// callerLine is the line of the Lua code calling the current Go function.
func callerLine(L *lua.LState) int {
	if dbg, ok := L.GetStack(1); ok {
		if _, err := L.GetInfo("l", dbg, lua.LNil); err == nil {
			return dbg.CurrentLine
		}
	}
	return 0
}
