package expr

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/cost"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/overloads"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/parser"
)

// Inngest's additions to CEL (inngest/inngest pkg/expressions: the
// overloads in exprenv and the unknown decorator), declared as overloads so
// that the type checker accepts what Inngest accepts (`null > 0`) and cel-go
// dispatches on the runtime types:
//
//   - null in an ordering comparison stands for the zero value of the other
//     side's type: 0 for numbers, "" for strings (`event.data.int >
//     event.data.missing` is true for {"int": 2}; `null > 0` is false). Two
//     nulls, or null against any other type, compare false.
//   - size(null) is 0, `x in null` is false, contains, startsWith,
//     endsWith and matches on a null string are false, and a comprehension
//     over null (all, exists, exists_one, map, filter) iterates over nothing:
//     `event.data.tags.exists(t, t == "a")` is false when there are no tags.
//   - + joins a string with a number, a bool or null (the text of the value,
//     nothing for null: `"a-" + 1.5` is "a-1.5"); a number plus null is the
//     number.
//   - lowercase(s), uppercase(s), b64decode(s), json_parse(s), date(v),
//     now(), now_plus(d) and now_minus(d).
//
// Where this package differs from Inngest, on purpose:
//
//   - A missing field is null here, as a JSON null is (see values.go).
//     Inngest calls a missing field "unknown" and orders it apart from null:
//     an unknown left operand of < or <= is always true, of > or >= always
//     false, and the other way round on the right, so `-1 >
//     event.data.missing` is true there and false here. One rule for both is
//     easier to predict, and agrees with Inngest whenever the other side is
//     not negative.
//   - Inngest answers false for any other function called with an unknown
//     argument (`int(event.data.missing)` is false there); here those calls
//     remain errors, which Program.Bool reports as false with the error, so
//     that a condition that can never work is seen.
//   - Inngest's + joins any two values of different types as text (number +
//     number of different types, such as `event.data.n + 1` for {"n": 3},
//     gives "31" there); here only a string joins, and number + number of
//     different types stays an error.
//   - b64decode and json_parse of text that is not base64 or JSON are errors
//     here; Inngest returns an empty string or map. json_parse here returns
//     any JSON value (Inngest only objects), with the events' semantics.
//   - Only the variables event and async are declared: Inngest's others
//     (steps, actions, action, user, response) name data that riverflow's
//     expressions never see, so an expression using one is refused when the
//     function is created rather than being silently always false.

// numberTypes are the types that null orders against as 0; joinTypes the
// types that + joins with a string.
var (
	numberTypes = []*cel.Type{cel.IntType, cel.UintType, cel.DoubleType}
	joinTypes   = []*cel.Type{cel.IntType, cel.UintType, cel.DoubleType, cel.BoolType, cel.NullType}
)

// functionOptions returns the environment options that declare Inngest's
// additions.
func functionOptions() []cel.EnvOption {
	opts := []cel.EnvOption{
		orderingWithNull(operators.Less, "less"),
		orderingWithNull(operators.LessEquals, "less_equals"),
		orderingWithNull(operators.Greater, "greater"),
		orderingWithNull(operators.GreaterEquals, "greater_equals"),
		addJoins(),
		// size, in, + and matches have one binding for all their overloads
		// in the standard library: these declarations have none, and the
		// decorator implements them (see decorate.go).
		cel.Function(overloads.Size,
			cel.Overload("size_null", []*cel.Type{cel.NullType}, cel.IntType),
			cel.MemberOverload("null_size", []*cel.Type{cel.NullType}, cel.IntType)),
		cel.Function(operators.In,
			cel.Overload("in_null", []*cel.Type{cel.DynType, cel.NullType}, cel.BoolType)),
		cel.Function(overloads.Matches,
			cel.Overload("matches_null_string", []*cel.Type{cel.NullType, cel.StringType}, cel.BoolType),
			cel.MemberOverload("null_matches_string", []*cel.Type{cel.NullType, cel.StringType}, cel.BoolType)),
	}
	for _, fn := range []string{overloads.Contains, overloads.StartsWith, overloads.EndsWith} {
		opts = append(opts, cel.Function(fn,
			cel.MemberOverload("null_"+fn+"_string", []*cel.Type{cel.NullType, cel.StringType}, cel.BoolType, cel.BinaryBinding(alwaysFalse))))
	}
	return append(opts,
		cel.Function(rangeFunction, cel.Overload("flow_range", []*cel.Type{cel.TypeParamType("A")}, cel.TypeParamType("A"),
			cel.UnaryBinding(nullAsEmptyList))),
		cel.Macros(
			cel.ReceiverMacro(operators.All, 2, rangeMacro(parser.MakeAll)),
			cel.ReceiverMacro(operators.Exists, 2, rangeMacro(parser.MakeExists)),
			cel.ReceiverMacro(operators.ExistsOne, 2, rangeMacro(parser.MakeExistsOne)),
			cel.ReceiverMacro("existsOne", 2, rangeMacro(parser.MakeExistsOne)),
			cel.ReceiverMacro(operators.Map, 2, rangeMacro(parser.MakeMap)),
			cel.ReceiverMacro(operators.Map, 3, rangeMacro(parser.MakeMap)),
			cel.ReceiverMacro(operators.Filter, 2, rangeMacro(parser.MakeFilter))),
		cel.Function("lowercase", cel.Overload("lowercase", []*cel.Type{cel.StringType}, cel.StringType, cel.UnaryBinding(stringFunc(strings.ToLower)))),
		cel.Function("uppercase", cel.Overload("uppercase", []*cel.Type{cel.StringType}, cel.StringType, cel.UnaryBinding(stringFunc(strings.ToUpper)))),
		cel.Function("b64decode", cel.Overload("b64decode", []*cel.Type{cel.StringType}, cel.StringType, cel.UnaryBinding(b64decode))),
		cel.Function("json_parse", cel.Overload("json_parse", []*cel.Type{cel.StringType}, cel.DynType, cel.UnaryBinding(jsonParse))),
		cel.Function("date", cel.Overload("date", []*cel.Type{cel.DynType}, cel.TimestampType, cel.UnaryBinding(toDate))),
		cel.Function("now", cel.Overload("now", nil, cel.TimestampType, cel.FunctionBinding(func(...ref.Val) ref.Val {
			return types.Timestamp{Time: time.Now()}
		}))),
		cel.Function("now_plus", cel.Overload("now_plus", []*cel.Type{cel.StringType}, cel.TimestampType, cel.UnaryBinding(nowPlus(1)))),
		cel.Function("now_minus", cel.Overload("now_minus", []*cel.Type{cel.StringType}, cel.TimestampType, cel.UnaryBinding(nowPlus(-1)))),
	)
}

// rangeFunction is the function that comprehension macros call on their
// range. Its name is not an identifier, so expressions cannot call it.
const rangeFunction = "@flow_range"

// rangeMacro is expand (a standard comprehension macro) with its range
// passed through rangeFunction, so that a null range is an empty list. A
// list or map literal, never null, is left as it is.
func rangeMacro(expand cel.MacroFactory) cel.MacroFactory {
	return func(eh cel.MacroExprFactory, target ast.Expr, args []ast.Expr) (ast.Expr, *cel.Error) {
		switch target.Kind() {
		case ast.ListKind, ast.MapKind:
		default:
			target = eh.NewCall(rangeFunction, target)
		}
		return expand(eh, target, args)
	}
}

// nullAsEmptyList is rangeFunction: null is an empty list, any other value
// itself.
func nullAsEmptyList(v ref.Val) ref.Val {
	if isNull(v) {
		return types.NewDynamicList(jsonAdapter{}, []any{})
	}
	return v
}

// costOptions charges the functions that read a whole string as the
// standard string functions are charged: one unit, plus one per ten bytes.
func costOptions() []cost.TrackerOption {
	byLength := func(args []ref.Val, _ ref.Val) *uint64 {
		c := uint64(1)
		if len(args) > 0 {
			if s, ok := args[0].(types.String); ok {
				c += uint64(len(s)) / 10
			}
		}
		return &c
	}
	var opts []cost.TrackerOption
	for _, id := range []string{"lowercase", "uppercase", "b64decode", "json_parse", "date"} {
		opts = append(opts, cost.OverloadTracker(id, byLength))
	}
	return opts
}

// orderingWithNull declares op (<, <=, >, >=) between null and each number
// type, string and null, both ways round, for the type checker. They have
// no bindings of their own (the standard library's ordering functions have
// one binding for all their overloads): the decorator replaces every
// ordering call with nullCompare.
func orderingWithNull(op, name string) cel.EnvOption {
	others := append(append([]*cel.Type{}, numberTypes...), cel.StringType)
	decls := []cel.FunctionOpt{cel.Overload(name+"_null_null", []*cel.Type{cel.NullType, cel.NullType}, cel.BoolType)}
	for _, t := range others {
		decls = append(decls,
			cel.Overload(name+"_null_"+t.String(), []*cel.Type{cel.NullType, t}, cel.BoolType),
			cel.Overload(name+"_"+t.String()+"_null", []*cel.Type{t, cel.NullType}, cel.BoolType))
	}
	return cel.Function(op, decls...)
}

// addJoins declares + between a string and a number, a bool or null (the
// string joined with the value's text), and between a number and null (the
// number). The decorator implements them (addNullAware).
func addJoins() cel.EnvOption {
	var decls []cel.FunctionOpt
	for _, t := range joinTypes {
		decls = append(decls,
			cel.Overload("add_string_"+t.String(), []*cel.Type{cel.StringType, t}, cel.StringType),
			cel.Overload("add_"+t.String()+"_string", []*cel.Type{t, cel.StringType}, cel.StringType))
	}
	for _, t := range numberTypes {
		decls = append(decls,
			cel.Overload("add_"+t.String()+"_null", []*cel.Type{t, cel.NullType}, t),
			cel.Overload("add_null_"+t.String(), []*cel.Type{cel.NullType, t}, t))
	}
	return cel.Function(operators.Add, decls...)
}

// joinText is a value's text when + joins it with a string: numbers as Go
// prints them (9.1, 8, 1e+21), true or false, and nothing for null.
func joinText(v ref.Val) string {
	switch v := v.(type) {
	case types.String:
		return string(v)
	case types.Double:
		return strconv.FormatFloat(float64(v), 'g', -1, 64)
	case types.Int:
		return strconv.FormatInt(int64(v), 10)
	case types.Uint:
		return strconv.FormatUint(uint64(v), 10)
	case types.Bool:
		return strconv.FormatBool(bool(v))
	}
	if isNull(v) {
		return ""
	}
	return fmt.Sprint(v.Value())
}

func alwaysFalse(_, _ ref.Val) ref.Val { return types.False }

func stringFunc(f func(string) string) func(ref.Val) ref.Val {
	return func(v ref.Val) ref.Val {
		s, ok := v.(types.String)
		if !ok {
			return types.MaybeNoSuchOverloadErr(v)
		}
		return types.String(f(string(s)))
	}
}

// b64decode decodes standard base64 (padded or not) into a string.
func b64decode(v ref.Val) ref.Val {
	s, ok := v.(types.String)
	if !ok {
		return types.MaybeNoSuchOverloadErr(v)
	}
	b, err := base64.StdEncoding.DecodeString(string(s))
	if err != nil {
		if b, err = base64.RawStdEncoding.DecodeString(string(s)); err != nil {
			return types.NewErr("b64decode: %v", err)
		}
	}
	return types.String(b)
}

// jsonParse decodes a JSON text into a value with the events' semantics
// (objects read missing keys as null).
func jsonParse(v ref.Val) ref.Val {
	s, ok := v.(types.String)
	if !ok {
		return types.MaybeNoSuchOverloadErr(v)
	}
	var out any
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		return types.NewErr("json_parse: %v", err)
	}
	return jsonAdapter{}.NativeToValue(out)
}

// dateLayouts are the text forms date() reads, Inngest's (pkg/dateutil).
var dateLayouts = []string{
	time.RFC3339, "2006-01-02T15:04:05", time.RFC1123, time.RFC822, time.RFC822Z, time.RFC850,
	time.RubyDate, time.UnixDate, time.ANSIC, time.Stamp, time.StampMilli, "2006-01-02",
}

// toDate reads a date from text in one of dateLayouts, or from a number of
// Unix seconds, milliseconds or nanoseconds (told apart by size, as Inngest
// does; dates before 2000 are refused).
func toDate(v ref.Val) ref.Val {
	switch v := v.(type) {
	case types.Timestamp:
		return v
	case types.String:
		for _, layout := range dateLayouts {
			if t, err := time.Parse(layout, string(v)); err == nil {
				return types.Timestamp{Time: t}
			}
		}
		return types.NewErr("date: unknown date format %q", string(v))
	case types.Int:
		return unixDate(int64(v))
	case types.Uint:
		if uint64(v) <= math.MaxInt64 {
			return unixDate(int64(v))
		}
	case types.Double:
		if f := float64(v); f == math.Trunc(f) && f >= math.MinInt64 && f < math.MaxInt64 {
			return unixDate(int64(f))
		}
	}
	return types.NewErr("date: cannot read a date from %s", v.Type().TypeName())
}

func unixDate(n int64) ref.Val {
	switch {
	case n < 946_684_800:
		return types.NewErr("date: %d is before 2000", n)
	case n < 9_999_999_999:
		return types.Timestamp{Time: time.Unix(n, 0).UTC()}
	case n < 9_999_999_999_999:
		return types.Timestamp{Time: time.UnixMilli(n).UTC()}
	}
	return types.Timestamp{Time: time.Unix(0, n).UTC()}
}

// nowPlus returns now_plus (sign 1) or now_minus (sign -1): the time now
// moved by a duration such as "1h30m", "2d" or "1w" (Go's units, plus d for
// days and w for weeks).
func nowPlus(sign time.Duration) func(ref.Val) ref.Val {
	return func(v ref.Val) ref.Val {
		s, ok := v.(types.String)
		if !ok {
			return types.MaybeNoSuchOverloadErr(v)
		}
		d, err := parseLongDuration(string(s))
		if err != nil {
			return types.NewErr("%v", err)
		}
		return types.Timestamp{Time: time.Now().Add(sign * d)}
	}
}

// parseLongDuration is time.ParseDuration that also reads w (weeks) and d
// (days) at the front: "1w2d3h".
func parseLongDuration(s string) (time.Duration, error) {
	var total time.Duration
	rest := s
	for _, u := range []struct {
		suffix string
		d      time.Duration
	}{{"w", 7 * 24 * time.Hour}, {"d", 24 * time.Hour}} {
		i := strings.Index(rest, u.suffix)
		if i <= 0 {
			continue
		}
		n, err := strconv.ParseUint(rest[:i], 10, 16)
		if err != nil {
			continue
		}
		total += time.Duration(n) * u.d
		rest = rest[i+1:]
	}
	if rest == "" {
		if total == 0 && s != "0" {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		return total, nil
	}
	d, err := time.ParseDuration(rest)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q", s)
	}
	return total + d, nil
}

// isNull reports whether v is null: a null literal, or a missing or null
// field.
func isNull(v ref.Val) bool {
	switch v.(type) {
	case types.Null, missingVal:
		return true
	}
	return false
}
