package scripting

import (
	"bytes"
	"reflect"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"
)

// Compile parses and compiles a Lua chunk once; every concatenation calls
// ConcatName (a state from NewState defines it). name is the path used in
// every later message ("rules/porch.lua"). The returned proto is compacted
// and read-only: share it between states with L.NewFunctionFromProto, never
// share the *lua.LFunction built from it. A syntax or compile error is a
// *ScriptError with File and Line.
func Compile(name string, src []byte) (*lua.FunctionProto, error) {
	chunk, err := parse.Parse(bytes.NewReader(src), name)
	if err != nil {
		se := AsScriptError(err)
		if se.Line == 0 {
			// "unexpected end of file": point at the last line.
			se.Line = bytes.Count(bytes.TrimRight(src, "\n"), []byte("\n")) + 1
		}
		return nil, se
	}
	guardConcat(reflect.ValueOf(chunk))
	proto, err := lua.Compile(chunk, name)
	if err != nil {
		return nil, AsScriptError(err)
	}
	compactProto(proto)
	return proto, nil
}

// compactProto copies every slice of p and its nested protos down to its
// length. gopher-lua's compiler leaves 1024-slot Code and position slices
// (and 128-slot call tables) behind each function, which made a compiled
// 50-line rule retain about 206 KB instead of 18 KB (research/perf-baseline.md).
// The contents are unchanged, so positions and call names in errors stay
// exact.
func compactProto(p *lua.FunctionProto) {
	p.Code = shrink(p.Code)
	p.Constants = shrink(p.Constants)
	p.FunctionPrototypes = shrink(p.FunctionPrototypes)
	p.DbgSourcePositions = shrink(p.DbgSourcePositions)
	p.DbgLocals = shrink(p.DbgLocals)
	p.DbgCalls = shrink(p.DbgCalls)
	p.DbgUpvalues = shrink(p.DbgUpvalues)
	for _, child := range p.FunctionPrototypes {
		compactProto(child)
	}
}

// shrink returns a copy of s with no spare capacity. An empty slice becomes
// nil: a zero-length slice into the old array would keep the array alive.
func shrink[S ~[]E, E any](s S) S {
	if len(s) == 0 {
		return nil
	}
	out := make(S, len(s))
	copy(out, s)
	return out
}
