// Package scripting hosts rule code: sandboxed gopher-lua states built from
// an allow-list, compile-once protos shared between states, ScriptError with
// file:line, Go↔Lua conversion of plain data, the time library, and the
// bound modules (device()) that rules use to act. An LState never crosses
// goroutines; only compiled protos are shared.
package scripting
