package expr

import (
	"encoding/json"
	"errors"
	"sync"

	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"
)

// Key evaluates the expression as a flow-control key over event (a run's
// triggering event) and returns its result as [Program.Value] does, with one
// difference that Inngest's keys depend on: when the expression is a path
// into the event (event.data.user, event.data["user"]) that the event lacks,
// missing is true, where Value reports null. A field whose JSON value is null
// is null (nil), not missing.
//
// Inngest evaluates a key with every attribute the event lacks as unknown,
// and an unknown result as false (pkg/expressions: Data.Partial, eval), so
// its options see a missing key as the value false.
//
// A path through a value that has no fields (event.data.name.first, where
// name is a string) is missing too, not an error.
func (p *Program) Key(event []byte) (v any, missing bool, err error) {
	v, err = p.Value(event, nil)
	if (err == nil && v != nil) || errors.Is(err, ErrCostLimit) {
		return v, false, err
	}
	path := keyPath(p.src)
	if path == nil || pathExists(event, path) {
		return v, false, err
	}
	return nil, true, nil
}

// keyPaths caches keyPath by expression.
var keyPaths sync.Map // string -> []string (empty: not a path)

// keyPath returns the fields of the event that src selects, as in
// event.data.user → [data user], if src is such a path of constant field
// names; nil otherwise.
func keyPath(src string) []string {
	if v, ok := keyPaths.Load(src); ok {
		return v.([]string)
	}
	var path []string
	if e, err := celEnv(); err == nil {
		if parsed, iss := e.Parse(src); iss.Err() == nil {
			path = eventPath(parsed.NativeRep().Expr())
		}
	}
	keyPaths.Store(src, path)
	return path
}

// eventPath returns the fields of a path rooted at the variable event
// (selections and indexes by string constants), or nil.
func eventPath(e ast.Expr) []string {
	var rev []string
	for {
		switch e.Kind() {
		case ast.IdentKind:
			if e.AsIdent() != "event" || len(rev) == 0 {
				return nil
			}
			path := make([]string, len(rev))
			for i, f := range rev {
				path[len(rev)-1-i] = f
			}
			return path
		case ast.SelectKind:
			s := e.AsSelect()
			if s.IsTestOnly() {
				return nil
			}
			rev = append(rev, s.FieldName())
			e = s.Operand()
		case ast.CallKind:
			c := e.AsCall()
			if c.FunctionName() != operators.Index || len(c.Args()) != 2 || c.Args()[1].Kind() != ast.LiteralKind {
				return nil
			}
			field, ok := c.Args()[1].AsLiteral().(types.String)
			if !ok {
				return nil
			}
			rev = append(rev, string(field))
			e = c.Args()[0]
		default:
			return nil
		}
	}
}

// pathExists reports whether the event's JSON has a value (null included)
// at path.
func pathExists(event []byte, path []string) bool {
	var v any
	if err := json.Unmarshal(event, &v); err != nil {
		return false
	}
	for _, field := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return false
		}
		if v, ok = m[field]; !ok {
			return false
		}
	}
	return true
}
