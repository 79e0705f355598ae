package scripting

import (
	"reflect"
	"strconv"
	"strings"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/ast"
)

// ConcatName is the global through which compiled chunks concatenate:
// Compile turns every a .. b .. c into ConcatName(a, b, c), so that one
// concatenation, like string.rep, cannot build a string past
// MaxStringSize. The VM's own concatenation cannot be wrapped, and a
// string doubled with .. reached a gibibyte in a few instructions, faster
// than any heap check.
const ConcatName = "__concat"

var (
	exprType   = reflect.TypeFor[ast.Expr]()
	concatType = reflect.TypeFor[*ast.StringConcatOpExpr]()
)

// guardConcat replaces every concatenation in the tree with a call of
// ConcatName, in place, keeping its line for error positions.
func guardConcat(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			guardConcat(v.Elem())
		}
	case reflect.Interface:
		if v.IsNil() {
			return
		}
		if v.Type() == exprType && v.Elem().Type() == concatType {
			v.Set(reflect.ValueOf(concatCall(v.Interface().(*ast.StringConcatOpExpr))))
		}
		guardConcat(v.Elem())
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				guardConcat(v.Field(i))
			}
		}
	case reflect.Slice:
		for i := range v.Len() {
			guardConcat(v.Index(i))
		}
	}
}

func concatCall(c *ast.StringConcatOpExpr) ast.Expr {
	fn := &ast.IdentExpr{Value: ConcatName}
	fn.SetLine(c.Line())
	fn.SetLastLine(c.LastLine())
	call := &ast.FuncCallExpr{Func: fn, Args: concatOperands(c, nil)}
	call.SetLine(c.Line())
	call.SetLastLine(c.LastLine())
	return call
}

// concatOperands flattens a .. (b .. c) into a, b, c.
func concatOperands(e ast.Expr, out []ast.Expr) []ast.Expr {
	if c, ok := e.(*ast.StringConcatOpExpr); ok {
		return concatOperands(c.Rhs, concatOperands(c.Lhs, out))
	}
	return append(out, e)
}

// luaConcat is ConcatName(...): the concatenation of its arguments as the
// VM does it (strings and numbers; __concat metamethods from the right),
// refused past MaxStringSize.
func luaConcat(L *lua.LState) int {
	n := L.GetTop()
	size, plain := 0, true
	for i := 1; i <= n; i++ {
		switch v := L.Get(i).(type) {
		case lua.LString:
			size += len(v)
		case lua.LNumber:
			var buf [24]byte
			size += len(appendNumber(buf[:0], v))
		default:
			plain = false
		}
	}
	if plain {
		checkConcat(L, size)
		var b strings.Builder
		b.Grow(size)
		for i := 1; i <= n; i++ {
			switch v := L.Get(i).(type) {
			case lua.LString:
				b.WriteString(string(v))
			case lua.LNumber:
				var buf [24]byte
				b.Write(appendNumber(buf[:0], v))
			}
		}
		L.Push(lua.LString(b.String()))
		return 1
	}
	acc := L.Get(n)
	for i := n - 1; i >= 1; i-- {
		acc = concat2(L, L.Get(i), acc)
	}
	L.Push(acc)
	return 1
}

// appendNumber appends n as the VM converts it to a string (LNumber.String:
// an integer in decimal, else fmt's %v), an integer without fmt's
// allocations ("Lamp " .. i in a rule).
func appendNumber(b []byte, n lua.LNumber) []byte {
	if float64(n) == float64(int64(n)) {
		return strconv.AppendInt(b, int64(n), 10)
	}
	return append(b, n.String()...)
}

func concat2(L *lua.LState, a, b lua.LValue) lua.LValue {
	if lua.LVCanConvToString(a) && lua.LVCanConvToString(b) {
		sa, sb := lua.LVAsString(a), lua.LVAsString(b)
		checkConcat(L, len(sa)+len(sb))
		return lua.LString(sa + sb)
	}
	mm := L.GetMetaField(a, "__concat")
	if mm == lua.LNil {
		mm = L.GetMetaField(b, "__concat")
	}
	if mm.Type() != lua.LTFunction {
		L.RaiseError("cannot perform concat operation between %v and %v", a.Type().String(), b.Type().String())
	}
	L.Push(mm)
	L.Push(a)
	L.Push(b)
	L.Call(2, 1)
	v := L.Get(-1)
	L.Pop(1)
	return v
}

func checkConcat(L *lua.LState, size int) {
	if size > MaxStringSize {
		L.RaiseError("string concatenation too large (%d bytes, limit %d)", size, MaxStringSize)
	}
}
