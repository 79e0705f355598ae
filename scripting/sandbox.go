package scripting

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/pm"

	"github.com/alexarules/alexarules/engine"
)

// Sandbox limits. The call stack bounds recursion (a "stack overflow" Lua
// error, never a crash); the data stack starts as small as gopher-lua
// allows (128 slots: a warm instance of a small rule keeps about 23 KB,
// and 256 slots made it 2.5 KB more) and grows in steps of RegistryGrowStep
// up to RegistryMaxSize slots (16 bytes each) before "registry overflow".
const (
	CallStackSize    = 200
	RegistrySize     = 128
	RegistryGrowStep = 256
	RegistryMaxSize  = 64 * 1024
	// MaxStringSize caps strings built in one Go call (string.rep,
	// string.format, table.concat): each of them allocates in a single step
	// that the run deadline cannot interrupt.
	MaxStringSize = 1 << 20
)

// StateOptions configures a sandboxed state.
type StateOptions struct {
	// Clock is what os.time, os.clock, os.date and time.* read; the real
	// clock when nil.
	Clock engine.Clock
	// Location is the wall-clock zone of os.date and time.*; time.Local
	// when nil.
	Location *time.Location
	// LibDir is the rules directory's lib folder: require "x" loads
	// LibDir/x.lua and require "a.b" loads LibDir/a/b.lua, nothing else.
	// Empty means no modules.
	LibDir string
	// Libs holds the lib modules (read and compiled once, then fixed) and
	// the shared libraries of the load the state belongs to; may be nil
	// (the state then has a cache of its own).
	Libs *LibCache
	// Print receives each print() line; print is silent when nil.
	Print func(msg string)
	// Muted, when set, reports that the run's log budget is spent: print
	// then builds nothing and calls Dropped instead of Print.
	Muted   func() bool
	Dropped func()
}

// NewState returns a sandboxed state (RULES.md §6): base without dofile,
// loadfile, load, loadstring, collectgarbage, getfenv, setfenv, module,
// newproxy; string (rep, format capped), table (concat capped) and math;
// package with require restricted to LibDir; an os table with time, clock,
// date and difftime on the engine clock; the time table
// (timeLib.timeTable); print to o.Print. No io, os.execute/exit/getenv,
// coroutine, channel or debug.
// With o.Libs, string, table and math are the cache's, shared read-only
// (sharedLibs), and so are os and time while the cache's states read one
// clock in one zone (sharedTime). The state belongs to one goroutine; close
// it with L.Close.
func NewState(o StateOptions) *lua.LState {
	L := lua.NewState(lua.Options{
		SkipOpenLibs:        true,
		CallStackSize:       CallStackSize,
		RegistrySize:        RegistrySize,
		RegistryMaxSize:     RegistryMaxSize,
		RegistryGrowStep:    RegistryGrowStep,
		MinimizeStackMemory: true,
	})
	// gopher-lua sizes the globals for 64 entries and the registry for 32
	// (4 and 2 KB of map); a rule state has about 35 and 5. Nothing refers
	// to them yet: replace them with tables sized for what they hold.
	L.G.Global = L.CreateTable(0, globalsSize)
	L.Env = L.G.Global
	L.G.Registry = L.CreateTable(0, registrySize)
	openPackage(L) // first: the others register in package.loaded
	if o.Libs != nil {
		o.Libs.shared().install(L)
	} else { // a state of its own: nothing to share with
		openLibs(L, []lib{{lua.BaseLibName, lua.OpenBase}, {lua.TabLibName, lua.OpenTable},
			{lua.StringLibName, lua.OpenString}, {lua.MathLibName, lua.OpenMath}})
		capStrings(L)
		removeUnsafe(L)
	}
	SetLibDir(L, o.LibDir, o.Libs)
	L.SetGlobal(ConcatName, L.NewFunction(luaConcat))
	L.SetGlobal("assert", L.NewFunction(luaAssert))

	printFn := o.Print
	L.SetGlobal("print", L.NewFunction(func(L *lua.LState) int {
		if o.Muted != nil && o.Muted() {
			if o.Dropped != nil {
				o.Dropped()
			}
			return 0
		}
		parts := make([]string, L.GetTop())
		for i := range parts {
			parts[i] = L.ToStringMeta(L.Get(i + 1)).String()
		}
		if printFn != nil {
			printFn(strings.Join(parts, "\t"))
		}
		return 0
	}))

	installTime(L, o)
	return L
}

// installTime gives L its os and time tables: views of the ones o.Libs
// shares (sharedTime) when they read o's clock in o's zone, else its own.
func installTime(L *lua.LState, o StateOptions) {
	var st *sharedTime
	if o.Libs != nil {
		st = o.Libs.sharedTime(o.Clock, o.Location)
	}
	if st == nil {
		tl := newTimeLib(o.Clock, o.Location)
		L.SetGlobal("os", tl.osTable(L))
		L.SetGlobal("time", tl.timeTable(L))
		tl.markStart(L)
		return
	}
	L.SetGlobal("os", view(L, st.os))
	L.SetGlobal("time", view(L, st.time))
	st.tl.markStart(L)
}

// Table sizes of a new state (NewState): what its globals and registry
// hold once the rule API is installed, with room for a few more.
const (
	globalsSize  = 48
	registrySize = 8
)

// removeUnsafe removes the base functions the sandbox does not have.
func removeUnsafe(L *lua.LState) {
	for _, name := range []string{
		"dofile", "loadfile", "load", "loadstring", // read files or compile arbitrary code
		"collectgarbage",     // runs the GC of the whole process
		"_printregs",         // writes to stdout
		"module",             // needs setfenv
		"newproxy",           // userdata factory, nothing needs it
		"getfenv", "setfenv", // reach and replace other functions' environments
	} {
		L.SetGlobal(name, lua.LNil)
	}
}

// packageConfig is package.config as gopher-lua sets it.
var packageConfig = lua.LString(lua.LuaDirSep + "\n" + lua.LuaPathSep + "\n" + lua.LuaPathMark + "\n" +
	lua.LuaExecDir + "\n" + lua.LuaIgMark + "\n")

// openPackage installs the sandbox's package table: loaded and preload
// (for modules the engine registers in Go), no path, no loadlib or seeall,
// and no loaders (the built-in require walks them; ours does not, but
// nothing should find the disk searcher through them either). The tables
// are sized for what they hold: lua.OpenPackage reserves 32+32 slots for
// each (about 7 KB of a state).
func openPackage(L *lua.LState) {
	loaded, loaders := L.CreateTable(0, 8), L.CreateTable(0, 0)
	pkg := L.CreateTable(0, 6)
	pkg.RawSetString("preload", L.CreateTable(0, 0))
	pkg.RawSetString("loaders", loaders)
	pkg.RawSetString("loaded", loaded)
	pkg.RawSetString("path", lua.LString(""))
	pkg.RawSetString("cpath", lua.LString(""))
	pkg.RawSetString("config", packageConfig)
	reg := L.Get(lua.RegistryIndex).(*lua.LTable)
	reg.RawSetString("_LOADED", loaded)
	reg.RawSetString("_LOADERS", loaders)
	L.SetGlobal(lua.LoadLibName, pkg)
}

type lib struct {
	name string
	open lua.LGFunction
}

// openLibs opens gopher-lua libraries in L, through the VM: calling
// lua.OpenBase(L) directly leaves its table on the stack.
func openLibs(L *lua.LState, libs []lib) {
	for _, lib := range libs {
		L.Push(L.NewFunction(lib.open))
		L.Push(lua.LString(lib.name))
		L.Call(1, 0)
	}
}

// sharedLibs are the string, table and math libraries (with the sandbox's
// caps), built once in a state of their own and shared read-only by every
// sandboxed state made with the same LibCache: they are most of what a
// state costs to build and to keep (about 40% of the time). A state sees
// each through an empty table of its own whose metatable (shared) reads
// through to the library; an assignment (string.trim = ...) lands in the
// state's own table. The metatable's __metatable field hides the shared
// tables from getmetatable and refuses setmetatable, so no rule can write
// to them; their Go functions run on the calling state.
type sharedLibs struct {
	proto *lua.LState // holds the tables; never runs code
	metas map[string]*lua.LTable
	// base are the base library's values (removeUnsafe applied), by
	// name: every state's globals hold the same function values (Lua
	// cannot change a function, and a Go function runs on its caller).
	base []baseValue
}

type baseValue struct {
	name  string
	value lua.LValue
}

func newSharedLibs() *sharedLibs {
	L := lua.NewState(lua.Options{SkipOpenLibs: true, CallStackSize: CallStackSize, RegistrySize: RegistrySize,
		MinimizeStackMemory: true})
	openLibs(L, []lib{{lua.LoadLibName, lua.OpenPackage}, {lua.TabLibName, lua.OpenTable},
		{lua.StringLibName, lua.OpenString}, {lua.MathLibName, lua.OpenMath}})
	capStrings(L)
	s := &sharedLibs{proto: L, metas: map[string]*lua.LTable{}}
	for _, name := range []string{lua.TabLibName, lua.StringLibName, lua.MathLibName} {
		s.metas[name] = viewMeta(L, L.GetGlobal(name).(*lua.LTable))
	}
	// The base library last, in globals of its own: what it adds is base.
	L.G.Global = L.CreateTable(0, globalsSize)
	L.Env = L.G.Global
	openLibs(L, []lib{{lua.BaseLibName, lua.OpenBase}})
	removeUnsafe(L)
	L.G.Global.ForEach(func(k, v lua.LValue) {
		if k.String() != "_G" {
			s.base = append(s.base, baseValue{k.String(), v})
		}
	})
	slices.SortFunc(s.base, func(a, b baseValue) int { return strings.Compare(a.name, b.name) })
	return s
}

// viewMeta returns the metatable of the states' views of a shared table:
// reads go through to lib; __metatable hides lib from getmetatable and
// refuses setmetatable.
func viewMeta(L *lua.LState, lib *lua.LTable) *lua.LTable {
	mt := L.CreateTable(0, 2)
	mt.RawSetString("__index", lib)
	mt.RawSetString("__metatable", lua.LFalse)
	return mt
}

// typeMetatable is L.NewTypeMetatable(typ) sized for n fields: the
// registered metatable of typ, made on first use (NewTypeMetatable
// reserves 32 array and 32 hash slots, about 3 KB, in every state that
// makes one).
func typeMetatable(L *lua.LState, typ string, n int) *lua.LTable {
	reg := L.Get(lua.RegistryIndex).(*lua.LTable)
	if mt, ok := reg.RawGetString(typ).(*lua.LTable); ok {
		return mt
	}
	mt := L.CreateTable(0, n)
	reg.RawSetString(typ, mt)
	return mt
}

// view returns a state's own view of a shared table (viewMeta): empty,
// so that what the state assigns to it stays in the state.
func view(L *lua.LState, meta *lua.LTable) *lua.LTable {
	t := L.CreateTable(0, 0)
	t.Metatable = meta
	return t
}

// sharedTime is the os and time tables shared by the states of one
// LibCache that read one clock in one zone, read-only like sharedLibs:
// their functions read the clock and the zone of the load, and os.clock
// counts from the calling state's creation (timeLib.markStart).
type sharedTime struct {
	tl       *timeLib
	os, time *lua.LTable // the views' metatables (viewMeta)
}

func newSharedTime(proto *lua.LState, clock engine.Clock, loc *time.Location) *sharedTime {
	tl := newTimeLib(clock, loc)
	return &sharedTime{tl: tl, os: viewMeta(proto, tl.osTable(proto)), time: viewMeta(proto, tl.timeTable(proto))}
}

// install gives L its own view of the shared libraries: the globals, their
// package.loaded entries, and the string metatable (its own, whose
// __index is its own string table, so that tampering with
// getmetatable("") stays in L).
func (s *sharedLibs) install(L *lua.LState) {
	loaded := L.GetField(L.Get(lua.RegistryIndex), "_LOADED").(*lua.LTable)
	globals := L.G.Global
	globals.RawSetString("_G", globals)
	for _, b := range s.base {
		globals.RawSetString(b.name, b.value)
	}
	loaded.RawSetString("_G", globals)
	for name, mt := range s.metas {
		t := view(L, mt)
		L.SetGlobal(name, t)
		loaded.RawSetString(name, t)
		if name == lua.StringLibName {
			smt := L.CreateTable(0, 1)
			smt.RawSetString("__index", t)
			L.SetMetatable(lua.LString(""), smt)
		}
	}
}

// SetLibDir makes require in L, a state from NewState that has run no
// code yet, load modules from libDir (StateOptions.LibDir) through libs: a
// state prepared before its rule was known learns its rule's directory
// when it is given to the rule.
func SetLibDir(L *lua.LState, libDir string, libs *LibCache) {
	if libs == nil {
		libs = NewLibCache()
	}
	r := &requirer{dir: libDir, libs: libs, loading: L.NewUserData()}
	L.SetGlobal("require", L.NewFunction(r.require))
}

// moduleName is what require accepts: dot-separated plain names, so no
// "..", no absolute path, no separators of any OS.
var moduleName = regexp.MustCompile(`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$`)

type requirer struct {
	dir     string
	libs    *LibCache
	loading *lua.LUserData // marks a module being loaded, to catch cycles
}

// require is require(name): package.loaded, then package.preload, then
// LibDir/name.lua.
func (r *requirer) require(L *lua.LState) int {
	name := L.CheckString(1)
	loaded := L.GetField(L.Get(lua.RegistryIndex), "_LOADED").(*lua.LTable)
	if v := loaded.RawGetString(name); v != lua.LNil && v != lua.LFalse {
		if v == r.loading {
			L.RaiseError("module %q requires itself (loop or previous error loading it)", name)
		}
		L.Push(v)
		return 1
	}

	var fn lua.LValue
	if pkg, ok := L.GetGlobal(lua.LoadLibName).(*lua.LTable); ok {
		if pre, ok := pkg.RawGetString("preload").(*lua.LTable); ok {
			fn = pre.RawGetString(name)
		}
	}
	if fn == nil || fn == lua.LNil {
		proto, err := r.find(name)
		if err != nil {
			L.RaiseError("%s", err.Error())
		}
		fn = L.NewFunctionFromProto(proto)
	}

	loaded.RawSetString(name, r.loading)
	L.Push(fn)
	L.Push(lua.LString(name))
	if err := L.PCall(1, 1, nil); err != nil {
		loaded.RawSetString(name, lua.LNil) // a later require reports the error again
		if ae, ok := errors.AsType[*lua.ApiError](err); ok {
			L.Error(ae.Object, 0)
		}
		L.RaiseError("%s", err.Error())
	}
	ret := L.Get(-1)
	L.Pop(1)
	switch cur := loaded.RawGetString(name); {
	case ret != lua.LNil && cur == r.loading:
		loaded.RawSetString(name, ret)
	case cur == r.loading:
		loaded.RawSetString(name, lua.LTrue)
	}
	L.Push(loaded.RawGetString(name))
	return 1
}

// find returns the compiled proto of module name from the lib dir.
func (r *requirer) find(name string) (*lua.FunctionProto, error) {
	if r.dir == "" {
		return nil, fmt.Errorf("module %q not found (no lib directory)", name)
	}
	if !moduleName.MatchString(name) {
		return nil, fmt.Errorf("module %q not found: module names are plain names like \"util\" or \"util.time\", loaded from %s", name, r.dir)
	}
	rel := strings.ReplaceAll(name, ".", "/") + ".lua"
	return r.libs.load(r.dir, rel, name)
}

// LibCache holds the lib modules of one load of the rules (rules.Load
// makes one per load) and the libraries its states share. A module file is
// read and compiled once, and every state of the cache runs that code from
// then on, a state rebuilt after its release included: an edit on disk
// reaches the rules through the next load, which checks it and names its
// errors, never through a rebuild. One compiled proto per module is shared
// by all states. It is safe for concurrent use.
//
// Capture reads a lib directory's modules ahead of their first require and
// fixes which modules it has: a file added there later (or the directory,
// if it was missing) is not found until the next load, without a look at
// the disk. The sources of modules no rule requires stay in memory for the
// cache's life (bounded by MaxModuleSize each). A directory the cache has
// not captured (NewLibCache used alone, as by tests and tools) is read a
// module at a time, at each module's first require, and kept from then on.
type LibCache struct {
	mu       sync.Mutex
	entries  map[string]*libEntry    // by cleaned file path
	dirs     map[string]*capturedDir // by cleaned lib directory, from Capture
	compiles int

	libsOnce sync.Once
	libs     *sharedLibs

	timeMu sync.Mutex
	time   *sharedTime // for the clock and zone of the first state that asked
}

// shared returns the libraries every state of the cache shares, built on
// first use.
func (c *LibCache) shared() *sharedLibs {
	c.libsOnce.Do(func() { c.libs = newSharedLibs() })
	return c.libs
}

// Func returns a value of the Go function fn that every state of the
// cache may hold: a Go function keeps nothing of a state (it runs on the
// state that calls it) and Lua cannot change a function value, so one
// value serves them all, as the shared libraries' functions do. For the
// functions of an API that every state has.
func (c *LibCache) Func(fn lua.LGFunction) *lua.LFunction {
	return c.shared().proto.NewFunction(fn)
}

// sharedTime returns the os and time tables the cache's states share when
// they read clock in loc: the states of one load all do (rules.Options);
// nil for a state with another clock or zone, which builds its own.
func (c *LibCache) sharedTime(clock engine.Clock, loc *time.Location) *sharedTime {
	libs := c.shared()
	c.timeMu.Lock()
	defer c.timeMu.Unlock()
	if c.time == nil {
		c.time = newSharedTime(libs.proto, clock, loc)
	}
	if !c.time.tl.reads(clock, loc) {
		return nil
	}
	return c.time
}

// libEntry is one module file as the cache read it: its source until it
// is compiled on first require, or why it could not be read.
type libEntry struct {
	src   []byte
	read  error // os.ErrNotExist: there was no such file
	once  sync.Once
	proto *lua.FunctionProto
	err   error
}

// capturedDir is what Capture found of a lib directory besides its module
// files.
type capturedDir struct {
	open error // why the directory could not be opened (os.ErrNotExist: there was none)
	// lazy are the slash paths of its symlinked sub-directories, which the
	// walk does not follow, and of those it could not list ("." for the
	// directory itself): their files are read at their first require.
	lazy []string
}

// errNotCaptured is why a captured lib directory has no module file: it
// had none when it was captured.
var errNotCaptured = errors.New("no such module file when the lib directory was captured")

// missing returns why the directory has no captured file at rel, or nil
// when rel is to be read from the disk at its first require.
func (d *capturedDir) missing(rel string) error {
	if d.open != nil && !errors.Is(d.open, os.ErrNotExist) {
		return d.open
	}
	for _, p := range d.lazy {
		if p == "." || strings.HasPrefix(rel, p+"/") {
			return nil
		}
	}
	return errNotCaptured
}

// NewLibCache returns an empty cache.
func NewLibCache() *LibCache {
	return &LibCache{entries: map[string]*libEntry{}, dirs: map[string]*capturedDir{}}
}

// Compiles reports how many module files the cache has compiled.
func (c *LibCache) Compiles() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.compiles
}

// Capture reads every module file under libDir now, so that a module a
// rule first requires in a run, or in a state rebuilt later, is the one
// read with the rules, and a module added later waits for the next load.
// A file under a symlinked directory (which the walk does not follow) is
// read at its first require and kept from then on. A missing libDir
// captures no module: require says so. A named pipe, device or socket
// named like a module is never opened: require names it.
func (c *LibCache) Capture(libDir string) {
	dir := &capturedDir{}
	if root, err := os.OpenRoot(libDir); err != nil {
		dir.open = err
	} else {
		dir.lazy = c.walk(libDir, root)
		root.Close()
	}
	c.mu.Lock()
	c.dirs[filepath.Clean(libDir)] = dir
	c.mu.Unlock()
}

// walk reads the module files under root (libDir) into the cache and
// returns the directories whose files are read at their first require
// (capturedDir.lazy).
func (c *LibCache) walk(libDir string, root *os.Root) []string {
	var lazy []string
	_ = fs.WalkDir(root.FS(), ".", func(rel string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			lazy = append(lazy, rel) // require reads the files itself and reports why not
		case d.IsDir() && isModuleFile(rel): // a directory x.lua
			c.keep(libDir, rel, nil, notRegular(libDir, rel, d.Type()))
			return fs.SkipDir
		case d.IsDir() && rel != "." && !moduleName.MatchString(d.Name()):
			return fs.SkipDir // no module name reaches it (hidden, dotted)
		case d.Type()&fs.ModeSymlink != 0 && !isModuleFile(rel):
			lazy = append(lazy, rel) // perhaps a directory, which WalkDir does not follow
		case d.IsDir() || !isModuleFile(rel):
		case d.Type().IsRegular() || d.Type()&fs.ModeSymlink != 0:
			src, err := readFrom(root, libDir, rel)
			c.keep(libDir, rel, src, err)
		default: // opening a named pipe would wait for a writer
			c.keep(libDir, rel, nil, notRegular(libDir, rel, d.Type()))
		}
		return nil
	})
	return lazy
}

// isModuleFile reports whether require can name the lib file at rel
// ("a/b.lua" is "a.b").
func isModuleFile(rel string) bool {
	name, ok := strings.CutSuffix(rel, ".lua")
	return ok && !strings.Contains(name, ".") && moduleName.MatchString(strings.ReplaceAll(name, "/", "."))
}

// entry returns the cache's entry of dir/rel: the captured one, not-found
// when Capture walked dir and found no such file, else the file as read now
// (without leaving dir) and kept from then on.
func (c *LibCache) entry(dir, rel string) *libEntry {
	path := filepath.Join(dir, filepath.FromSlash(rel))
	c.mu.Lock()
	e := c.entries[path]
	if d := c.dirs[filepath.Clean(dir)]; e == nil && d != nil {
		if err := d.missing(rel); err != nil {
			e = &libEntry{read: err}
			c.entries[path] = e
		}
	}
	c.mu.Unlock()
	if e != nil {
		return e
	}
	src, err := readInRoot(dir, rel)
	return c.keep(dir, rel, src, err)
}

// keep stores the read of dir/rel unless the cache has one already, and
// returns the cache's entry: the first read is kept.
func (c *LibCache) keep(dir, rel string, src []byte, err error) *libEntry {
	path := filepath.Join(dir, filepath.FromSlash(rel))
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev := c.entries[path]; prev != nil {
		return prev // read meanwhile by another state
	}
	e := &libEntry{src: src, read: err}
	c.entries[path] = e
	return e
}

// load returns the compiled proto of dir/rel, module name, as the cache
// first read it.
func (c *LibCache) load(dir, rel, name string) (*lua.FunctionProto, error) {
	e := c.entry(dir, rel)
	switch {
	case errors.Is(e.read, errNotCaptured):
		return nil, fmt.Errorf("module %q not found: no file %s in %s as read with the rules (a module added since is read at the next reload)", name, rel, dir)
	case errors.Is(e.read, os.ErrNotExist):
		return nil, fmt.Errorf("module %q not found: no file %s in %s", name, rel, dir)
	case e.read != nil:
		return nil, fmt.Errorf("module %q: %w", name, e.read)
	}
	e.once.Do(func() {
		e.proto, e.err = Compile(filepath.Join(dir, filepath.FromSlash(rel)), e.src)
		e.src = nil // the proto is what states run
		c.mu.Lock()
		c.compiles++
		c.mu.Unlock()
	})
	return e.proto, e.err
}

// readInRoot reads dir/rel without leaving dir (os.Root also refuses
// symlinks that point outside), up to MaxModuleSize.
func readInRoot(dir, rel string) ([]byte, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	return readFrom(root, dir, rel)
}

// readFrom reads the module file rel of root (dir), refusing anything but
// a regular file before it opens it: opening a named pipe waits for a
// writer. The open does not wait either (O_NONBLOCK, which reading a
// regular file ignores), should the file become a pipe after the Stat.
func readFrom(root *os.Root, dir, rel string) ([]byte, error) {
	st, err := root.Stat(rel)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, notRegular(dir, rel, st.Mode())
	}
	f, err := root.OpenFile(rel, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err = f.Stat(); err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, notRegular(dir, rel, st.Mode())
	}
	if st.Size() > MaxModuleSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", rel, MaxModuleSize)
	}
	return io.ReadAll(io.LimitReader(f, MaxModuleSize+1))
}

// notRegular is the error for a module file dir/rel of the given mode
// that is not a regular file.
func notRegular(dir, rel string, mode fs.FileMode) error {
	kind := "mode " + mode.Type().String()
	switch {
	case mode.IsDir():
		kind = "a directory"
	case mode&fs.ModeNamedPipe != 0:
		kind = "a named pipe"
	case mode&fs.ModeSocket != 0:
		kind = "a socket"
	case mode&fs.ModeDevice != 0:
		kind = "a device"
	}
	return fmt.Errorf("%s is not a regular file (%s)", filepath.Join(dir, filepath.FromSlash(rel)), kind)
}

// MaxModuleSize bounds a lib module file.
const MaxModuleSize = 4 << 20

// capStrings wraps the library functions that build one large string in a
// single Go call, which the run deadline cannot interrupt.
func capStrings(L *lua.LState) {
	str := L.GetGlobal(lua.StringLibName).(*lua.LTable)
	str.RawSetString("dump", lua.LNil) // only raises "not supported"

	rep := str.RawGetString("rep").(*lua.LFunction)
	str.RawSetString("rep", L.NewFunction(func(L *lua.LState) int {
		s := L.CheckString(1)
		n := L.CheckInt(2)
		if n > 0 && len(s) > 0 && len(s) > MaxStringSize/n {
			L.RaiseError("string.rep result too large (%d × %d bytes, limit %d)", n, len(s), MaxStringSize)
		}
		return callOriginal(L, rep)
	}))

	format := str.RawGetString("format").(*lua.LFunction)
	str.RawSetString("format", L.NewFunction(func(L *lua.LState) int {
		if n := formatBound(L); n > MaxStringSize {
			L.RaiseError("string.format result too large (up to %d bytes, limit %d)", n, MaxStringSize)
		}
		if s, ok := fastFormat(L); ok {
			L.Push(s)
			return 1
		}
		return callOriginal(L, format)
	}))

	gsub := str.RawGetString("gsub").(*lua.LFunction)
	str.RawSetString("gsub", L.NewFunction(func(L *lua.LState) int {
		matches := checkGsub(L)
		switch repl := L.Get(3).(type) {
		case *lua.LFunction, *lua.LTable:
			L.Replace(3, boundedRepl(L, repl, matches, len(L.CheckString(1))))
		}
		return callOriginal(L, gsub)
	}))

	tab := L.GetGlobal(lua.TabLibName).(*lua.LTable)
	tab.RawSetString("concat", L.NewFunction(tableConcat))
}

// MaxGsubWork bounds the bytes gopher-lua's gsub copies in one call: it
// copies the whole string again for every match, which the run deadline
// cannot interrupt (s:gsub(".", "x") on 1 MiB copied 1 TiB).
const MaxGsubWork = 256 << 20

// checkGsub refuses a string.gsub call with a string replacement whose
// result would pass MaxStringSize or whose copying would pass
// MaxGsubWork, and returns the number of matches. It finds the matches as
// gsub will (the pattern matching itself is linear for the patterns rules
// use).
func checkGsub(L *lua.LState) int {
	str := L.CheckString(1)
	pat := L.CheckString(2)
	limit := L.OptInt(4, -1)
	// Past MaxGsubWork/len matches the call is too costly whatever the
	// replacement: stop looking there (a match per byte of 1 MiB made a
	// million match records).
	most := MaxGsubWork/max(len(str), 1) + 1
	if limit < 0 || limit > most {
		limit = most
	}
	mds, err := pm.Find(pat, []byte(str), 0, limit)
	if err != nil || len(mds) == 0 {
		return 0 // the original reports a bad pattern
	}
	if len(mds) == most {
		checkGsubSize(L, len(str), most)
	}
	repl, ok := L.Get(3).(lua.LString)
	if !ok {
		return len(mds)
	}
	longest := 0
	for _, m := range mds {
		longest = max(longest, m.Capture(1)-m.Capture(0))
	}
	size := len(str) + len(mds)*(len(repl)+strings.Count(string(repl), "%")*longest)
	checkGsubSize(L, size, len(mds))
	return len(mds)
}

func checkGsubSize(L *lua.LState, size, matches int) {
	switch {
	case size > MaxStringSize:
		L.RaiseError("string.gsub result too large (%d bytes or more, limit %d)", size, MaxStringSize)
	case matches > 1 && matches*size > MaxGsubWork:
		L.RaiseError("string.gsub too costly (%d matches in a result of %d bytes: gsub copies the string once per match, limit %d bytes)",
			matches, size, MaxGsubWork)
	}
}

// boundedRepl wraps a gsub replacement function or table in a function
// that adds up the replacements and stops the call before gsub builds a
// result past MaxStringSize or MaxGsubWork. gsub gives a table the first
// capture (or the match), as it gives it to a function first.
func boundedRepl(L *lua.LState, repl lua.LValue, matches, size int) *lua.LFunction {
	return L.NewFunction(func(L *lua.LState) int {
		if fn, ok := repl.(*lua.LFunction); ok {
			L.Insert(fn, 1)
			L.Call(L.GetTop()-1, 1)
		} else {
			v := L.GetTable(repl, L.Get(1))
			L.SetTop(0)
			L.Push(v)
		}
		if v := L.Get(-1); !lua.LVIsFalse(v) {
			size += len(lua.LVAsString(v))
			checkGsubSize(L, size, matches)
		}
		return 1
	})
}

// callOriginal calls a wrapped library function with the current arguments
// and returns its results.
func callOriginal(L *lua.LState, fn *lua.LFunction) int {
	top := L.GetTop()
	L.Insert(fn, 1)
	L.Call(top, lua.MultRet)
	return L.GetTop()
}

// fastFormat is string.format for the formats rules write most: text
// with %d and %s directives without flags, width or precision, a number
// for each %d, a string or number for each %s. It reports false for any
// other call, which gopher-lua's string.format makes. The output is the
// same: gopher-lua formats through fmt.Sprintf and its values' Format
// methods, which for these directives come down to int64(n) in decimal,
// the string, and LNumber.String (test compares) at a tenth of the cost
// (a fmt format string rebuilt per argument: 3% of the e2e engine's CPU).
// Arguments past the directives are ignored, as gopher-lua does.
func fastFormat(L *lua.LState) (lua.LString, bool) {
	format := L.CheckString(1)
	top := L.GetTop()
	var buf [128]byte
	b := buf[:0]
	arg := 2
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			b = append(b, format[i])
			continue
		}
		if i++; i == len(format) || arg > top {
			return "", false
		}
		v := L.Get(arg)
		arg++
		n, isNumber := v.(lua.LNumber)
		str, isString := v.(lua.LString)
		switch {
		case format[i] == 'd' && isNumber:
			b = strconv.AppendInt(b, int64(n), 10)
		case format[i] == 's' && isNumber:
			b = appendNumber(b, n)
		case format[i] == 's' && isString:
			b = append(b, str...)
		default:
			return "", false
		}
	}
	return lua.LString(b), true
}

// formatBound is an upper bound of string.format's output: the format text,
// every argument, and each directive's width or precision (fmt itself caps
// them at 10^6 but a format may repeat them).
func formatBound(L *lua.LState) int {
	format := L.CheckString(1)
	total := len(format)
	for i := 2; i <= L.GetTop(); i++ {
		if s, ok := L.Get(i).(lua.LString); ok {
			total += len(s)
		}
	}
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			continue
		}
		i++
		for i < len(format) && strings.IndexByte("-+ #0", format[i]) >= 0 {
			i++
		}
		width, precision := 0, 0
		start := i
		for i < len(format) && format[i] >= '0' && format[i] <= '9' {
			i++
		}
		width = atoiOrZero(format[start:i])
		if i < len(format) && format[i] == '.' {
			i++
			start = i
			for i < len(format) && format[i] >= '0' && format[i] <= '9' {
				i++
			}
			precision = atoiOrZero(format[start:i])
		}
		// 330: the longest %f of a float64 without width.
		total += max(width, precision) + 330
		if total > MaxStringSize {
			return total
		}
	}
	return total
}

// atoiOrZero is strconv.Atoi's value for a run of digits, 0 for none
// without the error Atoi would allocate for "" (string.format runs per
// event: "%d" has no width).
func atoiOrZero(digits string) int {
	if digits == "" {
		return 0
	}
	n, _ := strconv.Atoi(digits)
	return n
}

// tableConcat is table.concat(t [, sep [, i [, j]]]) built in Go: the
// built-in pushes every element on the data stack (a "registry overflow"
// past RegistryMaxSize) and has no size limit. Indexes are clamped to the
// table's length as gopher-lua does.
func tableConcat(L *lua.LState) int {
	t := L.CheckTable(1)
	sep := L.OptString(2, "")
	n := t.Len()
	i := L.OptInt(3, 1)
	j := L.OptInt(4, n)
	if L.GetTop() == 3 && (i > n || i < 1) {
		L.Push(lua.LString(""))
		return 1
	}
	i, j = max(min(i, n), 1), min(j, n)
	if i > j {
		L.Push(lua.LString(""))
		return 1
	}
	size := 0
	for k := i; k <= j; k++ {
		switch v := t.RawGetInt(k).(type) {
		case lua.LString:
			size += len(v)
		case lua.LNumber:
			size += len(v.String())
		default:
			L.RaiseError("invalid value (%s) at index %d in table for concat", v.Type(), k)
		}
		if k < j {
			size += len(sep)
		}
		if size > MaxStringSize {
			L.RaiseError("table.concat result too large (limit %d bytes)", MaxStringSize)
		}
	}
	var b strings.Builder
	b.Grow(size)
	for k := i; k <= j; k++ {
		b.WriteString(t.RawGetInt(k).String())
		if k < j {
			b.WriteString(sep)
		}
	}
	L.Push(lua.LString(b.String()))
	return 1
}

// luaAssert is Lua's assert taking any message value, as Lua 5.3 does.
// The bound API returns nil, err with err an error table, so
// assert(device("Lamp"):on()) must raise that error (as its __tostring
// text, at the rule's line) instead of complaining that it is no string,
// which is what gopher-lua's Lua 5.1 assert does.
func luaAssert(L *lua.LState) int {
	if lua.LVAsBool(L.Get(1)) {
		return L.GetTop()
	}
	if msg := L.Get(2); msg != lua.LNil {
		L.RaiseError("%s", L.ToStringMeta(msg).String())
	}
	L.RaiseError("assertion failed!")
	return 0
}
