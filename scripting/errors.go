package scripting

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"
)

// ScriptError is every Lua failure (syntax, compile, runtime, argument
// error raised by a bound Go function) with the position it happened at, so
// rule authors always see "file:line: message".
type ScriptError struct {
	File      string // chunk name given to Compile, e.g. "rules/porch.lua"; empty when unknown
	Line      int    // 1-based; 0 when unknown
	Msg       string // the message without the position prefix
	Traceback string // Lua stack traceback when the VM produced one
	Err       error  // the underlying gopher-lua error, if any
}

// Error returns "file:line: msg", "file: msg" without a line, or just msg
// when the position is unknown.
func (e *ScriptError) Error() string {
	switch {
	case e.File == "":
		return e.Msg
	case e.Line <= 0:
		return e.File + ": " + e.Msg
	}
	return e.File + ":" + strconv.Itoa(e.Line) + ": " + e.Msg
}

// Unwrap returns the underlying gopher-lua error.
func (e *ScriptError) Unwrap() error { return e.Err }

// LineIn returns the line of the innermost frame of the traceback that is
// in file, 0 when none is: where a rule file called into the module that
// failed.
func (e *ScriptError) LineIn(file string) int {
	for _, m := range tracebackFrame.FindAllStringSubmatch(e.Traceback, -1) {
		if m[1] == file {
			n, _ := strconv.Atoi(m[2])
			return n
		}
	}
	return 0
}

// positionPrefix matches the "file:line: " gopher-lua puts in front of
// runtime and argument errors. The file part is non-greedy so a message that
// itself contains "x:1: " keeps it. It is matched against the head of the
// message only (prefixScan bytes): a rule may raise a 1 MiB error.
var positionPrefix = regexp.MustCompile(`^([^\n]+?):(\d+): `)

const prefixScan = 4096

// tracebackFrame matches one Lua frame of a gopher-lua traceback
// ("\trules/porch.lua:3: in main chunk"); Go frames ("[G]: ...") have no line.
var tracebackFrame = regexp.MustCompile(`(?m)^\t([^\n]+?):(\d+):`)

// AsScriptError turns any error from compiling or running Lua into a
// *ScriptError. It understands *ScriptError (returned as is), *lua.ApiError
// (runtime and argument errors: the position is the "file:line:" prefix of
// the message, else the first Lua frame of the traceback), *parse.Error and
// *lua.CompileError. Anything else becomes a ScriptError without a position.
// It returns nil for a nil error.
func AsScriptError(err error) *ScriptError {
	if err == nil {
		return nil
	}
	if se, ok := errors.AsType[*ScriptError](err); ok {
		return se
	}
	if pe, ok := errors.AsType[*parse.Error](err); ok {
		return fromParseError(pe, err)
	}
	if ce, ok := errors.AsType[*lua.CompileError](err); ok {
		return fromCompileError(ce, err)
	}
	if ae, ok := errors.AsType[*lua.ApiError](err); ok {
		return fromAPIError(ae, err)
	}
	return &ScriptError{Msg: err.Error(), Err: err}
}

func fromParseError(pe *parse.Error, err error) *ScriptError {
	msg := strings.TrimSpace(pe.Message)
	line := pe.Pos.Line
	if line == parse.EOF {
		line = 0
		msg += " at end of file"
	} else if pe.Token != "" {
		msg = fmt.Sprintf("%s near '%s'", msg, pe.Token)
	}
	return &ScriptError{File: pe.Pos.Source, Line: line, Msg: msg, Err: err}
}

func fromCompileError(ce *lua.CompileError, err error) *ScriptError {
	// The chunk name is only reachable through Error():
	// "compile error near line(N) NAME: MESSAGE".
	s := ce.Error()
	name := strings.TrimPrefix(s, fmt.Sprintf("compile error near line(%d) ", ce.Line))
	name = strings.TrimSuffix(name, ": "+ce.Message)
	if name == s {
		name = ""
	}
	return &ScriptError{File: name, Line: ce.Line, Msg: ce.Message, Err: err}
}

func fromAPIError(ae *lua.ApiError, err error) *ScriptError {
	if ae.Cause != nil {
		// Syntax errors from L.DoString/LoadString carry the parse error.
		se := AsScriptError(ae.Cause)
		return &ScriptError{File: se.File, Line: se.Line, Msg: se.Msg, Err: err}
	}
	se := &ScriptError{Traceback: ae.StackTrace, Err: err}
	switch obj := ae.Object.(type) {
	case nil:
		se.Msg = "unknown error"
	case *lua.LTable:
		// error({ message = ... }) and the API's error tables.
		se.Msg = obj.String()
		for _, field := range []string{"message", "msg"} {
			if m, ok := obj.RawGetString(field).(lua.LString); ok {
				se.Msg = string(m)
				break
			}
		}
	default:
		se.Msg = obj.String()
	}
	if _, isString := ae.Object.(lua.LString); isString {
		if m := positionPrefix.FindStringSubmatch(se.Msg[:min(len(se.Msg), prefixScan)]); m != nil {
			if n, convErr := strconv.Atoi(m[2]); convErr == nil && n > 0 {
				se.File, se.Line, se.Msg = m[1], n, se.Msg[len(m[0]):]
				return se
			}
		}
	}
	// error({...}) or error("msg", 0): take the innermost Lua frame.
	if m := tracebackFrame.FindStringSubmatch(ae.StackTrace); m != nil {
		if n, convErr := strconv.Atoi(m[2]); convErr == nil && n > 0 {
			se.File, se.Line = m[1], n
		}
	}
	return se
}
