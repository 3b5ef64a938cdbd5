package expr

import (
	"math"

	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
	"cel.dev/cel-go/interpreter"
)

// decorate is the interpreter decorator applied to every planned node:
//
//   - attribute nodes (variables, field selections, indexes) are wrapped so
//     that a missing value (see values.go) leaves them as types.NullValue;
//   - ordering comparisons are replaced by null-aware ones (false when either
//     side is null).
func decorate(i interpreter.InterpretableV2) (interpreter.InterpretableV2, error) {
	switch n := i.(type) {
	case *nullAttr:
		return n, nil
	case interpreter.InterpretableAttribute:
		// The planner keeps extending the attribute through AddQualifier, which
		// the embedded value handles (it mutates the attribute in place), so
		// the wrapper stays valid as the path grows.
		return &nullAttr{InterpretableAttribute: n}, nil
	case interpreter.InterpretableCall:
		args := n.Args()
		if len(args) != 2 {
			return i, nil
		}
		switch n.Function() {
		case operators.Less, operators.LessEquals, operators.Greater, operators.GreaterEquals:
			return &nullCompare{
				id:       n.ID(),
				function: n.Function(),
				overload: n.OverloadID(),
				lhs:      args[0],
				rhs:      args[1],
			}, nil
		}
	}
	return i, nil
}

// nullAttr resolves an attribute, reporting a missing value as null.
type nullAttr struct {
	interpreter.InterpretableAttribute
}

func (a *nullAttr) Exec(frame *interpreter.ExecutionFrame) ref.Val {
	v := a.InterpretableAttribute.Exec(frame)
	if _, ok := v.(missingVal); ok {
		return types.NullValue
	}
	return v
}

func (a *nullAttr) Eval(vars interpreter.Activation) ref.Val {
	return interpreter.EvalActivation(vars, a.Exec)
}

// nullCompare is <, <=, > or >= where a null operand makes the result false
// (instead of a "no such overload" error); otherwise it behaves like the
// standard library's implementation, including cross-type numeric ordering.
type nullCompare struct {
	id       int64
	function string
	overload string
	lhs, rhs interpreter.InterpretableV2
}

func (c *nullCompare) ID() int64 { return c.id }

func (c *nullCompare) Function() string { return c.function }

func (c *nullCompare) OverloadID() string { return c.overload }

func (c *nullCompare) Args() []interpreter.InterpretableV2 {
	return []interpreter.InterpretableV2{c.lhs, c.rhs}
}

func (c *nullCompare) Eval(vars interpreter.Activation) ref.Val {
	return interpreter.EvalActivation(vars, c.Exec)
}

func (c *nullCompare) Exec(frame *interpreter.ExecutionFrame) ref.Val {
	l := c.lhs.Exec(frame)
	if types.IsUnknownOrError(l) {
		return l
	}
	r := c.rhs.Exec(frame)
	if types.IsUnknownOrError(r) {
		return r
	}
	res := c.compare(l, r)
	if costs := frame.CostTracker(); costs != nil {
		costs.EvalBinary(nil, c.id, c, l, r, res) // as the call it replaces
	}
	return res
}

func (c *nullCompare) compare(l, r ref.Val) ref.Val {
	if l == types.NullValue || r == types.NullValue || isNaN(l) || isNaN(r) {
		return types.False
	}
	cmp, ok := l.(traits.Comparer)
	if !ok || !l.Type().HasTrait(traits.ComparerType) {
		return types.NewErrWithNodeID(c.id, "no such overload: %s", c.function)
	}
	res := cmp.Compare(r)
	var lt, eq, gt bool
	switch res {
	case types.IntNegOne:
		lt = true
	case types.IntZero:
		eq = true
	case types.IntOne:
		gt = true
	default:
		if types.IsError(res) {
			return res
		}
		return types.NewErrWithNodeID(c.id, "no such overload: %s", c.function)
	}
	switch c.function {
	case operators.Less:
		return types.Bool(lt)
	case operators.LessEquals:
		return types.Bool(lt || eq)
	case operators.Greater:
		return types.Bool(gt)
	default: // operators.GreaterEquals
		return types.Bool(gt || eq)
	}
}

func isNaN(v ref.Val) bool {
	d, ok := v.(types.Double)
	return ok && math.IsNaN(float64(d))
}
