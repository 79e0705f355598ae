package sim

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// A small GraphQL document parser: enough of the language (operations,
// variables, arguments with literal and variable values, aliases, inline
// fragments, fragment definitions and spreads, directives skipped) to
// answer the queries the smart-home clients send with exactly the fields
// they select. It is not a validator: the schema is the simulator's data.

// gqlToken is one lexical token.
type gqlToken struct {
	kind      byte // 'n' name, '#' number, 's' string, 'p' punctuator, 0 end
	text      string
	line, col int
}

// gqlSyntaxError is an "Invalid Syntax" GraphQL error.
type gqlSyntaxError struct {
	msg       string
	line, col int
}

func (e *gqlSyntaxError) Error() string {
	return fmt.Sprintf("Invalid Syntax : %s at line %d column %d", e.msg, e.line, e.col)
}

// lexGraphQL splits src into tokens, skipping white space, commas and
// comments.
func lexGraphQL(src string) ([]gqlToken, error) {
	var toks []gqlToken
	line, lineStart := 1, 0
	for i := 0; i < len(src); {
		c := src[i]
		col := i - lineStart + 1
		switch {
		case c == '\n':
			line, lineStart = line+1, i+1
			i++
		case c == ' ' || c == '\t' || c == '\r' || c == ',':
			i++
		case strings.HasPrefix(src[i:], "\ufeff"): // a byte order mark
			i += len("\ufeff")
		case c == '#':
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case c == '.':
			if !strings.HasPrefix(src[i:], "...") {
				return nil, &gqlSyntaxError{"offending token '.'", line, col}
			}
			toks = append(toks, gqlToken{'p', "...", line, col})
			i += 3
		case strings.IndexByte("!$()[]{}:=@|&", c) >= 0:
			toks = append(toks, gqlToken{'p', string(c), line, col})
			i++
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			j := i + 1
			for j < len(src) && (src[j] == '_' || src[j] >= 'a' && src[j] <= 'z' || src[j] >= 'A' && src[j] <= 'Z' || src[j] >= '0' && src[j] <= '9') {
				j++
			}
			toks = append(toks, gqlToken{'n', src[i:j], line, col})
			i = j
		case c == '-' || c >= '0' && c <= '9':
			j := i + 1
			for j < len(src) && strings.IndexByte("0123456789.eE+-", src[j]) >= 0 {
				j++
			}
			toks = append(toks, gqlToken{'#', src[i:j], line, col})
			i = j
		case c == '"':
			j, err := stringEnd(src, i)
			if err != nil {
				return nil, &gqlSyntaxError{err.Error(), line, col}
			}
			toks = append(toks, gqlToken{'s', src[i:j], line, col})
			i = j
		default:
			return nil, &gqlSyntaxError{fmt.Sprintf("offending token '%c'", c), line, col}
		}
	}
	return append(toks, gqlToken{kind: 0, text: "<EOF>", line: line, col: len(src) - lineStart + 1}), nil
}

// stringEnd returns the index after the string starting at src[i].
func stringEnd(src string, i int) (int, error) {
	if strings.HasPrefix(src[i:], `"""`) {
		end := strings.Index(src[i+3:], `"""`)
		if end < 0 {
			return 0, fmt.Errorf("unterminated block string")
		}
		return i + 3 + end + 3, nil
	}
	for j := i + 1; j < len(src); j++ {
		switch src[j] {
		case '\\':
			j++
		case '"':
			return j + 1, nil
		case '\n':
			return 0, fmt.Errorf("unterminated string")
		}
	}
	return 0, fmt.Errorf("unterminated string")
}

// gqlField is one selected field, fragments already merged in.
type gqlField struct {
	alias, name string
	args        map[string]any // values; variables as gqlVariable
	sel         []*gqlField
	line, col   int
}

func (f *gqlField) key() string {
	if f.alias != "" {
		return f.alias
	}
	return f.name
}

// gqlVariable is a $name reference in an argument value.
type gqlVariable string

// gqlSelection is a selection before fragments are merged: a field, a
// fragment spread or an inline fragment.
type gqlSelection struct {
	field  *gqlField
	sel    []gqlSelection // field's sub-selection, or the inline fragment's
	spread string
	inline bool
}

// gqlOperation is an operation definition.
type gqlOperation struct {
	kind, name string
	sel        []gqlSelection
}

// gqlDocument is a parsed document.
type gqlDocument struct {
	operations []gqlOperation
	fragments  map[string][]gqlSelection
	// budget is how many more selections (fields, spreads, inline
	// fragments) expanding fragments may visit: it stops a few fragments
	// spreading each other twice from exploding.
	budget int
}

// maxSelectedFields caps the fields one document expands to.
const maxSelectedFields = 100000

type gqlParser struct {
	toks []gqlToken
	pos  int
	// depth is how deeply nested the parser is in selection sets and
	// values.
	depth int
}

// maxNesting caps the nesting of selection sets and values.
const maxNesting = 100

// enter goes one level deeper, failing beyond maxNesting; leave undoes it.
func (p *gqlParser) enter() error {
	if p.depth++; p.depth > maxNesting {
		t := p.peek()
		return &gqlSyntaxError{fmt.Sprintf("nested more than %d levels", maxNesting), t.line, t.col}
	}
	return nil
}

func (p *gqlParser) leave() { p.depth-- }

func (p *gqlParser) peek() gqlToken { return p.toks[p.pos] }

func (p *gqlParser) next() gqlToken {
	t := p.toks[p.pos]
	if t.kind != 0 {
		p.pos++
	}
	return t
}

func (p *gqlParser) fail(t gqlToken) error {
	return &gqlSyntaxError{fmt.Sprintf("offending token '%s'", t.text), t.line, t.col}
}

// expect consumes punctuator text or fails.
func (p *gqlParser) expect(text string) error {
	if t := p.next(); t.kind != 'p' || t.text != text {
		return p.fail(t)
	}
	return nil
}

func (p *gqlParser) is(text string) bool {
	t := p.peek()
	return t.kind == 'p' && t.text == text
}

func (p *gqlParser) name() (gqlToken, error) {
	t := p.next()
	if t.kind != 'n' {
		return t, p.fail(t)
	}
	return t, nil
}

// parseGraphQL parses a document.
func parseGraphQL(src string) (*gqlDocument, error) {
	toks, err := lexGraphQL(src)
	if err != nil {
		return nil, err
	}
	p := &gqlParser{toks: toks}
	doc := &gqlDocument{fragments: map[string][]gqlSelection{}, budget: maxSelectedFields}
	for p.peek().kind != 0 {
		if err := p.definition(doc); err != nil {
			return nil, err
		}
	}
	if len(doc.operations) == 0 {
		return nil, &gqlSyntaxError{"no operation", 1, 1}
	}
	return doc, nil
}

func (p *gqlParser) definition(doc *gqlDocument) error {
	op := gqlOperation{kind: "query"}
	if t := p.peek(); t.kind == 'n' {
		p.next()
		switch t.text {
		case "query", "mutation", "subscription":
			op.kind = t.text
		case "fragment":
			return p.fragment(doc)
		default:
			return p.fail(t)
		}
		if p.peek().kind == 'n' {
			op.name = p.next().text
		}
		if p.is("(") {
			if err := p.skipBalanced("(", ")"); err != nil {
				return err
			}
		}
	}
	sel, err := p.body()
	if err != nil {
		return err
	}
	op.sel = sel
	doc.operations = append(doc.operations, op)
	return nil
}

// body parses the directives and the selection set that end a definition.
func (p *gqlParser) body() ([]gqlSelection, error) {
	if err := p.directives(); err != nil {
		return nil, err
	}
	return p.selectionSet()
}

func (p *gqlParser) fragment(doc *gqlDocument) error {
	name, err := p.name()
	if err != nil {
		return err
	}
	if on, err := p.name(); err != nil || on.text != "on" {
		return p.fail(on)
	}
	if _, err := p.name(); err != nil {
		return err
	}
	sel, err := p.body()
	if err != nil {
		return err
	}
	doc.fragments[name.text] = sel
	return nil
}

// skipBalanced skips from an open to its matching close punctuator
// (variable definitions, whose types the simulator does not check).
func (p *gqlParser) skipBalanced(open, close string) error {
	depth := 0
	for {
		t := p.next()
		switch {
		case t.kind == 0:
			return p.fail(t)
		case t.kind == 'p' && t.text == open:
			depth++
		case t.kind == 'p' && t.text == close:
			if depth--; depth == 0 {
				return nil
			}
		}
	}
}

// directives skips @name(args) directives.
func (p *gqlParser) directives() error {
	for p.is("@") {
		p.next()
		if _, err := p.name(); err != nil {
			return err
		}
		if p.is("(") {
			if _, err := p.arguments(); err != nil {
				return err
			}
		}
	}
	return nil
}

func (p *gqlParser) selectionSet() ([]gqlSelection, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	if err := p.expect("{"); err != nil {
		return nil, err
	}
	var sel []gqlSelection
	for !p.is("}") {
		s, err := p.selection()
		if err != nil {
			return nil, err
		}
		sel = append(sel, s)
	}
	p.next()
	return sel, nil
}

func (p *gqlParser) selection() (gqlSelection, error) {
	if p.is("...") {
		p.next()
		if t := p.peek(); t.kind == 'n' && t.text != "on" {
			p.next()
			return gqlSelection{spread: t.text}, p.directives()
		}
		if t := p.peek(); t.kind == 'n' {
			p.next()
			if _, err := p.name(); err != nil {
				return gqlSelection{}, err
			}
		}
		sel, err := p.body()
		return gqlSelection{inline: true, sel: sel}, err
	}
	t, err := p.name()
	if err != nil {
		return gqlSelection{}, err
	}
	f := &gqlField{name: t.text, line: t.line, col: t.col}
	if p.is(":") {
		p.next()
		n, err := p.name()
		if err != nil {
			return gqlSelection{}, err
		}
		f.alias, f.name = f.name, n.text
	}
	if p.is("(") {
		if f.args, err = p.arguments(); err != nil {
			return gqlSelection{}, err
		}
	}
	if err := p.directives(); err != nil {
		return gqlSelection{}, err
	}
	s := gqlSelection{field: f}
	if p.is("{") {
		s.sel, err = p.selectionSet()
	}
	return s, err
}

func (p *gqlParser) arguments() (map[string]any, error) {
	p.next() // (
	return p.pairs(")")
}

// pairs parses name: value pairs up to close (arguments, object values).
func (p *gqlParser) pairs(close string) (map[string]any, error) {
	obj := map[string]any{}
	for !p.is(close) {
		n, err := p.name()
		if err != nil {
			return nil, err
		}
		if err := p.expect(":"); err != nil {
			return nil, err
		}
		if obj[n.text], err = p.value(); err != nil {
			return nil, err
		}
	}
	p.next()
	return obj, nil
}

// value parses a literal or variable into the JSON form the simulator
// works on: float64, string, bool, nil, []any, map[string]any, or
// gqlVariable.
func (p *gqlParser) value() (any, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	t := p.next()
	switch {
	case t.kind == 'p' && t.text == "$":
		n, err := p.name()
		return gqlVariable(n.text), err
	case t.kind == '#':
		v, err := strconv.ParseFloat(t.text, 64)
		if err != nil {
			return nil, p.fail(t)
		}
		return v, nil
	case t.kind == 's':
		if strings.HasPrefix(t.text, `"""`) {
			return t.text[3 : len(t.text)-3], nil
		}
		var s string
		if err := json.Unmarshal([]byte(t.text), &s); err != nil {
			return nil, p.fail(t)
		}
		return s, nil
	case t.kind == 'n':
		switch t.text {
		case "true", "false":
			return t.text == "true", nil
		case "null":
			return nil, nil
		}
		return t.text, nil // an enum value
	case t.kind == 'p' && t.text == "[":
		list := []any{}
		for !p.is("]") {
			v, err := p.value()
			if err != nil {
				return nil, err
			}
			list = append(list, v)
		}
		p.next()
		return list, nil
	case t.kind == 'p' && t.text == "{":
		return p.pairs("}")
	}
	return nil, p.fail(t)
}

// fields merges fragments into sel: spreads and inline fragments add their
// fields (type conditions are not checked: the simulator's objects have
// the fields of one type), and fields with one response key merge their
// sub-selections.
func (doc *gqlDocument) fields(sel []gqlSelection) ([]*gqlField, error) {
	var flat []gqlSelection
	if err := doc.flatten(sel, &flat, 0); err != nil {
		return nil, err
	}
	var out []*gqlField
	subs := map[string][]gqlSelection{}
	for _, s := range flat {
		k := s.field.key()
		if _, ok := subs[k]; !ok {
			f := *s.field
			out = append(out, &f)
		}
		subs[k] = append(subs[k], s.sel...)
	}
	for _, f := range out {
		sub, err := doc.fields(subs[f.key()])
		if err != nil {
			return nil, err
		}
		f.sel = sub
	}
	return out, nil
}

// flatten appends the field selections of sel to flat, expanding
// fragments.
func (doc *gqlDocument) flatten(sel []gqlSelection, flat *[]gqlSelection, depth int) error {
	if depth > 32 {
		return fmt.Errorf("fragments nest too deep (a cycle?)")
	}
	for _, s := range sel {
		if doc.budget--; doc.budget < 0 {
			return fmt.Errorf("the query selects more than %d fields", maxSelectedFields)
		}
		switch {
		case s.field != nil:
			*flat = append(*flat, s)
		case s.inline:
			if err := doc.flatten(s.sel, flat, depth+1); err != nil {
				return err
			}
		default:
			frag, ok := doc.fragments[s.spread]
			if !ok {
				return fmt.Errorf("undefined fragment %s", s.spread)
			}
			if err := doc.flatten(frag, flat, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

// resolveVariables replaces variable references in v by their values
// (null when not given).
func resolveVariables(v any, vars map[string]any) any {
	switch x := v.(type) {
	case gqlVariable:
		return vars[string(x)]
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = resolveVariables(e, vars)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = resolveVariables(e, vars)
		}
		return out
	}
	return v
}
