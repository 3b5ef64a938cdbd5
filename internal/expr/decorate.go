package expr

import (
	"math"

	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/overloads"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
	"cel.dev/cel-go/interpreter"
)

// decorate is the interpreter decorator applied to every planned node:
//
//   - attribute nodes (variables, field selections, indexes) are wrapped so
//     that a missing value (see values.go) leaves them as types.NullValue;
//   - the calls whose standard implementation refuses null (ordering
//     comparisons, +, in, size and matches) are replaced with null-aware
//     ones, Inngest's semantics (see functions.go).
func decorate(i interpreter.InterpretableV2) (interpreter.InterpretableV2, error) {
	var n interpreter.InterpretableCall
	switch a := i.(type) {
	case *nullAttr:
		return a, nil
	case interpreter.InterpretableAttribute:
		// The planner keeps extending the attribute through AddQualifier, which
		// the embedded value handles (it mutates the attribute in place), so
		// the wrapper stays valid as the path grows.
		return &nullAttr{InterpretableAttribute: a}, nil
	case interpreter.InterpretableCall:
		n = a
	default:
		return i, nil
	}
	args := n.Args()
	var eval func(id int64, function string, l, r ref.Val) ref.Val
	switch fn := n.Function(); {
	case len(args) == 2 && (fn == operators.Less || fn == operators.LessEquals || fn == operators.Greater || fn == operators.GreaterEquals):
		eval = compareNullAware
	case len(args) == 2 && fn == operators.Add:
		eval = addNullAware
	case len(args) == 2 && fn == operators.In:
		eval = inNullAware
	case len(args) == 2 && fn == overloads.Matches:
		eval = matchesNullAware
	case len(args) == 1 && fn == overloads.Size:
		eval = sizeNullAware
	default:
		return i, nil
	}
	return &nullAwareCall{id: n.ID(), function: n.Function(), overload: n.OverloadID(), args: args, eval: eval}, nil
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

// nullAwareCall is a call of one or two strict arguments (an error or
// unknown argument is the result) that eval implements (r is nil for one
// argument). It is charged like the call it replaces.
type nullAwareCall struct {
	id       int64
	function string
	overload string
	args     []interpreter.InterpretableV2
	eval     func(id int64, function string, l, r ref.Val) ref.Val
}

func (c *nullAwareCall) ID() int64 { return c.id }

func (c *nullAwareCall) Function() string { return c.function }

func (c *nullAwareCall) OverloadID() string { return c.overload }

func (c *nullAwareCall) Args() []interpreter.InterpretableV2 { return c.args }

func (c *nullAwareCall) Eval(vars interpreter.Activation) ref.Val {
	return interpreter.EvalActivation(vars, c.Exec)
}

func (c *nullAwareCall) Exec(frame *interpreter.ExecutionFrame) ref.Val {
	l := c.args[0].Exec(frame)
	if types.IsUnknownOrError(l) {
		return l
	}
	var r ref.Val
	if len(c.args) == 2 {
		if r = c.args[1].Exec(frame); types.IsUnknownOrError(r) {
			return r
		}
	}
	res := c.eval(c.id, c.function, l, r)
	if costs := frame.CostTracker(); costs != nil {
		if r == nil {
			costs.EvalUnary(nil, c.id, c, l, res)
		} else {
			costs.EvalBinary(nil, c.id, c, l, r, res)
		}
	}
	return res
}

// addNullAware is +: a string joined with a number, a bool or null (see
// joinText); a number plus null is the number; anything else is the
// standard library's + (the left operand's Add).
func addNullAware(id int64, function string, l, r ref.Val) ref.Val {
	_, lStr := l.(types.String)
	_, rStr := r.(types.String)
	switch {
	case lStr && joinable(r), rStr && joinable(l):
		return types.String(joinText(l) + joinText(r))
	case isNull(r) && isNumber(l):
		return l
	case isNull(l) && isNumber(r):
		return r
	case !l.Type().HasTrait(traits.AdderType):
		return types.NewErrWithNodeID(id, "no such overload: %s", function)
	}
	return l.(traits.Adder).Add(r)
}

func isNumber(v ref.Val) bool {
	switch v.(type) {
	case types.Int, types.Uint, types.Double:
		return true
	}
	return false
}

// joinable reports whether + joins v with a string.
func joinable(v ref.Val) bool {
	_, isBool := v.(types.Bool)
	return isNumber(v) || isBool || isNull(v)
}

// inNullAware is `in`: nothing is in null; otherwise the standard library's
// (the container's Contains).
func inNullAware(id int64, function string, elem, c ref.Val) ref.Val {
	switch {
	case isNull(c):
		return types.False
	case c.Type().HasTrait(traits.ContainerType):
		return c.(traits.Container).Contains(elem)
	}
	return types.NewErrWithNodeID(id, "no such overload: %s", function)
}

// sizeNullAware is size(): 0 for null; otherwise the standard library's.
func sizeNullAware(id int64, function string, v, _ ref.Val) ref.Val {
	switch {
	case isNull(v):
		return types.IntZero
	case v.Type().HasTrait(traits.SizerType):
		return v.(traits.Sizer).Size()
	}
	return types.NewErrWithNodeID(id, "no such overload: %s", function)
}

// matchesNullAware is matches(): a null string matches nothing; otherwise
// the standard library's.
func matchesNullAware(id int64, function string, s, pattern ref.Val) ref.Val {
	switch {
	case isNull(s):
		return types.False
	case s.Type().HasTrait(traits.MatcherType):
		return s.(traits.Matcher).Match(pattern)
	}
	return types.NewErrWithNodeID(id, "no such overload: %s", function)
}

// compareNullAware orders l and r for function (<, <=, > or >=), node id
// naming the call in errors. A null operand (a null literal, a missing or
// null field) is replaced by the zero value of the other operand's type: 0
// for a number, "" for a string. Two nulls, null against any other type, and
// NaN compare false.
func compareNullAware(id int64, function string, l, r ref.Val) ref.Val {
	lNull, rNull := isNull(l), isNull(r)
	switch {
	case lNull && rNull:
		return types.False
	case lNull:
		if l = zeroOf(r); l == nil {
			return types.False
		}
	case rNull:
		if r = zeroOf(l); r == nil {
			return types.False
		}
	}
	if isNaN(l) || isNaN(r) {
		return types.False
	}
	cmp, ok := l.(traits.Comparer)
	if !ok || !l.Type().HasTrait(traits.ComparerType) {
		return types.NewErrWithNodeID(id, "no such overload: %s", function)
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
		return types.NewErrWithNodeID(id, "no such overload: %s", function)
	}
	switch function {
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

// zeroOf returns the zero value that null stands for against v in an
// ordering comparison (Inngest's zeroVal), or nil when there is none.
func zeroOf(v ref.Val) ref.Val {
	switch v.(type) {
	case types.Int:
		return types.IntZero
	case types.Uint:
		return types.Uint(0)
	case types.Double:
		return types.Double(0)
	case types.String:
		return types.String("")
	}
	return nil
}

func isNaN(v ref.Val) bool {
	d, ok := v.(types.Double)
	return ok && math.IsNaN(float64(d))
}
