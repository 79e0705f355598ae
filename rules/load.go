// Package rules discovers rule files, loads and validates them, and turns
// them into engine rules whose instances run in sandboxed Lua states.
package rules

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/engine/schedule"
	"github.com/alexarules/alexarules/scripting"
	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/ast"
	"github.com/yuin/gopher-lua/parse"
)

// LoadError is one problem with one rule file, with its position.
type LoadError struct {
	File string
	Line int
	Msg  string
}

func (e *LoadError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// Options configure loading.
type Options struct {
	Clock    engine.Clock
	Location *time.Location // default zone of schedules and time.*
	// Place is where sunrise and sunset are computed; nil: sun schedules
	// are refused with an error that says how to configure it.
	Place *schedule.Place
	// Bind installs the bound API (device(), alexa.echo, ...) into a state.
	// It is called for every state, at load and for each instance; run is
	// nil while the file loads.
	Bind func(L *lua.LState, run scripting.RunContext)
	// Print receives print() output of a rule file while it loads.
	Print func(file, msg string)
	// Limits is the budget of each run (log lines, trace size, state size,
	// heap growth); zero fields take scripting.DefaultLimits.
	Limits scripting.Limits
	// Guard stops runs that go over the heap budget; Load makes one from
	// Limits when nil. Share one between loads (reloads) of a process.
	Guard *scripting.HeapGuard
	// LoadTimeout bounds running a rule file's top level, at load and for
	// each new instance, so that an endless loop there cannot hang a reload
	// or a rule's runner; DefaultLoadTimeout when zero.
	LoadTimeout time.Duration
	// SpareStates is how many blank sandboxed states are kept built ahead
	// of need, so that a run whose rule's state was released (or that is
	// its rule's first) does not build one: DefaultSpareStates when zero,
	// none when negative.
	SpareStates int

	catalogue []ctorSpec   // the trigger constructors, built once by Load
	funcs     *stateFuncs  // the rule API's other functions, made once by Load
	spares    *spareStates // blank states for new instances, made by Load
	// libs is the load's lib modules, read once by Load: a state rebuilt
	// later runs them as loaded, whatever the files say by then.
	libs *scripting.LibCache
}

// Loaded is one valid rule, compiled.
type Loaded struct {
	Def   *Def
	proto *lua.FunctionProto
	opts  *Options
	dir   string
}

// Set is the result of loading a directory: the valid rules and every
// error, so that a broken file never stops the others.
type Set struct {
	Rules  []*Loaded
	Errors []error
}

// Files lists the rule files under the paths given: files as they are,
// directories' *.lua files (not *_test.lua, not lib/), sorted.
func Files(paths ...string) ([]string, error) {
	return luaFiles(paths, func(path string) bool { return !strings.HasSuffix(path, "_test.lua") })
}

// TestFiles lists the rule tests under the paths given: files as they
// are, directories' *_test.lua files (not in lib/), sorted.
func TestFiles(paths ...string) ([]string, error) {
	return luaFiles(paths, func(path string) bool { return strings.HasSuffix(path, "_test.lua") })
}

// luaFiles lists the files given and the *.lua files keep accepts under
// the directories given (not lib/, not hidden ones), sorted.
func luaFiles(paths []string, keep func(path string) bool) ([]string, error) {
	var out []string
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			out = append(out, p)
			continue
		}
		err = filepath.WalkDir(p, func(path string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if path != p && (d.Name() == "lib" || strings.HasPrefix(d.Name(), ".")) {
					return filepath.SkipDir
				}
				return nil
			}
			if strings.HasSuffix(path, ".lua") && keep(path) {
				out = append(out, path)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	sort.Strings(out)
	return out, nil
}

// Load loads every rule file under paths; lib/ of each directory holds the
// modules `require` may load. The lib modules are read with the rules: a
// state built later, for a run or after its state was released, runs the
// modules and rule files as this load read them; a new Load reads them
// again.
func Load(opts Options, paths ...string) (*Set, error) {
	files, err := Files(paths...)
	if err != nil {
		return nil, err
	}
	if opts.Location == nil {
		opts.Location = time.Local
	}
	opts.libs = captureLibs(files)
	opts.Limits = opts.Limits.WithDefaults()
	if opts.Guard == nil {
		opts.Guard = scripting.NewHeapGuard(opts.Limits)
	}
	if opts.LoadTimeout <= 0 {
		opts.LoadTimeout = DefaultLoadTimeout
	}
	opts.catalogue = withFuncs(triggerCatalogue(), opts.Location, opts.Place, opts.libs)
	opts.funcs = newStateFuncs(opts.libs)
	opts.spares = newSpareStates(&opts)
	results := make([]fileResult, len(files))
	parallel(len(files), func(i int) { results[i] = loadFile(&opts, files[i]) })
	set := &Set{}
	seen := map[string]*Loaded{}
	for _, r := range results {
		set.Errors = append(set.Errors, r.errs...)
		for _, l := range r.rules {
			if prev := seen[l.Def.ID]; prev != nil {
				set.Errors = append(set.Errors, &LoadError{File: l.Def.File, Line: l.Def.Line,
					Msg: fmt.Sprintf("rule %q is already defined at %s:%d", l.Def.ID, prev.Def.File, prev.Def.Line)})
				continue
			}
			seen[l.Def.ID] = l
			set.Rules = append(set.Rules, l)
		}
	}
	return set, nil
}

// captureLibs reads the lib modules of the directories of files, each
// directory's once, for a new load.
func captureLibs(files []string) *scripting.LibCache {
	libs := scripting.NewLibCache()
	seen := map[string]bool{}
	for _, f := range files {
		if dir := filepath.Dir(f); !seen[dir] {
			seen[dir] = true
			libs.Capture(libDir(dir))
		}
	}
	return libs
}

type fileResult struct {
	rules []*Loaded
	errs  []error
}

func loadFile(opts *Options, file string) fileResult {
	src, err := os.ReadFile(file)
	if err != nil {
		return fileResult{errs: []error{&LoadError{File: file, Msg: err.Error()}}}
	}
	proto, err := scripting.Compile(file, src)
	if err != nil {
		return fileResult{errs: []error{scriptLoadError(file, err)}}
	}
	dir := filepath.Dir(file)
	L := newRuleState(opts, dir, file, nil)
	defer L.Close()
	defs, err := runChunk(L, proto, file, opts)
	if err != nil {
		return fileResult{errs: explain(file, src, err)}
	}
	out := fileResult{}
	for _, d := range defs {
		// The table belongs to L, which closes here; keeping it would keep
		// the whole state alive (about 70 KB per rule). Instances run the
		// file again and use their own table.
		d.table = nil
		out.rules = append(out.rules, &Loaded{Def: d, proto: proto, opts: opts, dir: dir})
	}
	return out
}

// newRuleState returns a sandboxed state with the rule API installed, for
// loading file (run is nil) or for an instance's run.
func newRuleState(opts *Options, dir, file string, run *Run) *lua.LState {
	L := blankState(opts, stateOptions(opts, dir, file, run), run)
	installRule(L, file, opts.funcs)
	return L
}

// blankState returns a sandboxed state with the rule API installed but
// for `rule`, whose definitions name their file (installRule).
func blankState(opts *Options, so scripting.StateOptions, run *Run) *lua.LState {
	L := scripting.NewState(so)
	installTriggers(L, opts.catalogue, opts.funcs)
	installHelpers(L, opts.funcs)
	if opts.Bind != nil {
		var rc scripting.RunContext // a nil *Run must be a nil interface
		if run != nil {
			rc = run
		}
		opts.Bind(L, rc)
	}
	return L
}

// stateOptions are the sandbox options of a rule state: print goes to the
// run's log, or while file loads to opts.Print.
func stateOptions(opts *Options, dir, file string, run *Run) scripting.StateOptions {
	so := scripting.StateOptions{Clock: opts.Clock, Location: opts.Location,
		LibDir: libDir(dir), Libs: opts.libs}
	switch {
	case run != nil:
		so.Print = func(msg string) { run.logLine("info", msg) }
		so.Muted, so.Dropped = run.logs.Full, run.logs.Drop
	case opts.Print != nil:
		// Loading has the log budget of a run, too.
		logs := scripting.NewRunLog(opts.Limits)
		so.Print = func(msg string) {
			if line, ok := logs.Add(msg); ok {
				opts.Print(file, line)
			}
		}
		so.Muted = logs.Full
		so.Dropped = func() {
			if logs.Dropped() == 0 {
				opts.Print(file, fmt.Sprintf("... further print output dropped (budget %d lines, %d bytes)",
					opts.Limits.LogLines, opts.Limits.LogBytes))
			}
			logs.Drop()
		}
	}
	return so
}

// libDir is where require finds the modules of the rules in dir.
func libDir(dir string) string { return filepath.Join(dir, "lib") }

// DefaultLoadTimeout is the default of Options.LoadTimeout.
const DefaultLoadTimeout = 5 * time.Second

// runChunk runs a compiled rule file, within the load timeout and the heap
// guard, and collects the rules it returns.
func runChunk(L *lua.LState, proto *lua.FunctionProto, file string, opts *Options) ([]*Def, error) {
	ctx, cancel := context.WithTimeout(context.Background(), opts.LoadTimeout)
	defer cancel()
	guarded := opts.Guard.Watch(ctx, nil)
	defer guarded.Stop()
	ctx = guarded.Context()
	L.SetContext(guarded.VM())
	L.Push(L.NewFunctionFromProto(proto))
	err := L.PCall(0, 1, nil)
	L.RemoveContext()
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, scripting.ErrMemoryBudget):
		return nil, &LoadError{File: file, Msg: "loading the file: " + cause.Error()}
	case errors.Is(cause, context.DeadlineExceeded):
		return nil, &LoadError{File: file, Msg: fmt.Sprintf("loading the file took longer than %s (an endless loop outside run?)", opts.LoadTimeout)}
	case err != nil:
		return nil, err
	}
	ret := L.Get(-1)
	L.Pop(1)
	asDef := func(v lua.LValue) (*Def, bool) {
		ud, ok := v.(*lua.LUserData)
		if !ok {
			return nil, false
		}
		d, ok := ud.Value.(*Def)
		return d, ok
	}
	if d, ok := asDef(ret); ok {
		return []*Def{d}, nil
	}
	tbl, ok := ret.(*lua.LTable)
	if !ok || tbl.Len() == 0 {
		return nil, &LoadError{File: file, Msg: fmt.Sprintf("a rule file must return rule \"id\" { ... } or a list of rules, got %s", ret.Type())}
	}
	var defs []*Def
	for i := 1; i <= tbl.Len(); i++ {
		d, ok := asDef(tbl.RawGetInt(i))
		if !ok {
			return nil, &LoadError{File: file, Msg: fmt.Sprintf("item %d of the returned list is not a rule (got %s)", i, tbl.RawGetInt(i).Type())}
		}
		defs = append(defs, d)
	}
	return defs, nil
}

// explain turns a failure to run a rule file into load errors with lines:
// field errors get the line of the field, found in the file's syntax tree.
func explain(file string, src []byte, err error) []error {
	var le *LoadError
	if errors.As(err, &le) {
		return []error{le}
	}
	var api *lua.ApiError
	if errors.As(err, &api) {
		if ud, ok := api.Object.(*lua.LUserData); ok {
			if fe, ok := ud.Value.(fieldErrors); ok {
				chunk, _ := parse.Parse(bytes.NewReader(src), file)
				out := make([]error, 0, len(fe))
				for _, f := range fe {
					line := fieldLine(chunk, f.Rule, f.Field)
					if line == 0 { // an id made at run time (rules.each): the rule call's line
						line = f.Line
					}
					out = append(out, &LoadError{File: file, Line: line, Msg: f.Error()})
				}
				return out
			}
		}
	}
	le = scriptLoadError(file, err).(*LoadError)
	if strings.Contains(le.Msg, "attempt to call a non-function object") {
		chunk, _ := parse.Parse(bytes.NewReader(src), file)
		if hint := unknownCallee(chunk, le.Line); hint != "" {
			le.Msg = hint
		}
	}
	return []error{le}
}

// Names a rule file may call, for "did you mean" on a misspelt one.
var (
	knownGlobals = []string{"rule", "rules", "cron", "schedule", "event", "startup", "reading", "reachable",
		"unreachable", "device", "print", "require", "tostring", "tonumber", "pairs", "ipairs", "error",
		"assert", "pcall", "type", "select", "unpack"}
	knownAlexa = []string{"alarm", "timer", "reminder", "list", "volume", "echo", "remind"}
)

// unknownCallee explains a call of something that is not a function at
// line: a misspelt trigger constructor or function name.
func unknownCallee(chunk []ast.Stmt, line int) string {
	hint := ""
	walkAST(reflect.ValueOf(chunk), func(call *ast.FuncCallExpr) {
		if hint != "" || call.Line() != line {
			return
		}
		switch fn := call.Func.(type) {
		case *ast.IdentExpr:
			if !slices.Contains(knownGlobals, fn.Value) {
				hint = fmt.Sprintf("%q is not a function%s", fn.Value, didYouMean(fn.Value, knownGlobals))
			}
		case *ast.AttrGetExpr:
			obj, ok1 := fn.Object.(*ast.IdentExpr)
			key, ok2 := fn.Key.(*ast.StringExpr)
			if ok1 && ok2 && obj.Value == "alexa" && !slices.Contains(knownAlexa, key.Value) {
				hint = fmt.Sprintf("alexa.%s is not a function%s", key.Value, didYouMean(key.Value, knownAlexa))
			}
		}
	})
	return hint
}

func scriptLoadError(file string, err error) error {
	se := scripting.AsScriptError(err)
	if se == nil {
		return &LoadError{File: file, Msg: err.Error()}
	}
	f := se.File
	if f == "" {
		f = file
	}
	return &LoadError{File: f, Line: se.Line, Msg: se.Msg}
}

// fieldLine finds the line of `field` in `rule "id" { field = ... }`, or
// the line of the rule call when the field is absent.
func fieldLine(chunk []ast.Stmt, rule, field string) int {
	line := 0
	walkAST(reflect.ValueOf(chunk), func(call *ast.FuncCallExpr) {
		inner, ok := call.Func.(*ast.FuncCallExpr)
		if !ok || len(inner.Args) != 1 || len(call.Args) != 1 {
			return
		}
		if fn, ok := inner.Func.(*ast.IdentExpr); !ok || fn.Value != "rule" {
			return
		}
		if id, ok := inner.Args[0].(*ast.StringExpr); !ok || id.Value != rule {
			return
		}
		tbl, ok := call.Args[0].(*ast.TableExpr)
		if !ok {
			return
		}
		line = inner.Line()
		for _, f := range tbl.Fields {
			if k, ok := f.Key.(*ast.StringExpr); ok && k.Value == field {
				line = k.Line()
				if v, ok := f.Value.(ast.PositionHolder); ok && v.Line() > 0 {
					line = v.Line()
				}
			}
		}
	})
	return line
}

var funcCallType = reflect.TypeFor[*ast.FuncCallExpr]()

// walkAST calls fn for every function call in the tree. The gopher-lua AST
// has many node types; reflection walks them all without a case for each.
func walkAST(v reflect.Value, fn func(*ast.FuncCallExpr)) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return
		}
		if v.Type() == funcCallType {
			fn(v.Interface().(*ast.FuncCallExpr))
		}
		walkAST(v.Elem(), fn)
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				walkAST(v.Field(i), fn)
			}
		}
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			walkAST(v.Index(i), fn)
		}
	}
}
