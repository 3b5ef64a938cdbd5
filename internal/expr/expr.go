// Package expr compiles and evaluates the CEL expressions used by flow
// (trigger and batch `if`, concurrency/throttle/debounce/idempotency keys,
// priority, waitForEvent and cancel conditions) with Inngest's semantics.
//
// Two variables are declared, both as map(string, dyn):
//
//   - event: the run's triggering event (the first event of a batch);
//   - async: an incoming candidate event (waits and cancellations only; it is
//     null when the caller passes no async event).
//
// Each is the JSON of an event, e.g. {"id": ..., "name": ..., "data": {...}, "ts": ...}.
//
// Deviations from stock CEL, all taken from Inngest:
//
//   - A missing key anywhere along a path is null, not an error:
//     `event.data.a.b.c == null` is true when data has no "a", and
//     `event.data.x == async.data.x` is true when both lack "x". A key whose
//     JSON value is null behaves the same way, so `event.data.n.m` is null
//     when data is {"n": null}. has() still reports key presence:
//     `has(event.data.x)` is false when "x" is absent (true when present,
//     even with a null value). Indexing with a missing key
//     (`event.data[async.data.absent]`) is null too.
//   - In an ordering comparison (<, <=, >, >=) null stands for the zero value
//     of the other side's type: 0 for a number, "" for a string. So
//     `event.data.int > event.data.missing` is true for {"int": 2}, `null >
//     0` compiles and is false, and `event.data.missing < 3` is true. Two
//     nulls, or null against any other type, compare false.
//   - size(null) is 0, `x in null` is false, contains, startsWith, endsWith
//     and matches on null are false, and a comprehension over null (all,
//     exists, exists_one, map, filter) iterates over nothing.
//   - + joins a string with a number, a bool or null (`"a-" + 1.5` is
//     "a-1.5"; null adds nothing), and a number plus null is the number.
//   - Inngest's functions: lowercase, uppercase, b64decode, json_parse, date
//     (text in common layouts, or Unix seconds, milliseconds or
//     nanoseconds), now, now_plus and now_minus ("1h30m", "2d", "1w").
//   - JSON numbers decode as double, and comparisons between int, uint and
//     double work both ways: `event.data.n == 3` and `event.data.n > 2` are
//     true for {"n": 3}. The type checker still rejects == and != between
//     values it knows to be of different numeric types (`int(event.data.n)
//     == 4.0` does not compile; write 4), and arithmetic between numbers is
//     not coerced: write `event.data.n + 1.0` or `int(event.data.n) + 1`.
//
// functions.go lists where this differs from Inngest, and why.
//
// Every evaluation is bounded by the cost limit given to [Compile] (cel-go's
// runtime cost tracking; the null-aware calls are charged like the calls
// they replace, and the functions that read a whole string one unit per ten
// bytes): past it, the evaluation stops with an error wrapping
// [ErrCostLimit]. Decoding the events' JSON is not counted; its size is
// bounded by the events' size limit.
//
// Paths into values that are neither maps nor null (e.g. `event.data.name.x`
// where name is a string), list indexes out of range and calls with the wrong
// argument types remain evaluation errors; [Program.Bool] treats them as false
// and returns the error.
package expr

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"sync"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
	"cel.dev/cel-go/interpreter"
)

// Program is a compiled expression. It is safe for concurrent use.
type Program struct {
	src   string
	prg   cel.Program
	out   *cel.Type // the checked type of the result
	limit uint64    // the cost limit of one evaluation
}

// ErrCostLimit is wrapped by the errors of evaluations stopped because their
// cost went over the program's limit (see [Compile]).
var ErrCostLimit = errors.New("cost limit exceeded")

// ErrNotBool is wrapped by [Program.Bool]'s error when the result is neither
// a bool nor null, and by [Program.CheckBool]'s.
var ErrNotBool = errors.New("result is not a bool")

var (
	envOnce sync.Once
	env     *cel.Env
	envErr  error
)

func celEnv() (*cel.Env, error) {
	envOnce.Do(func() {
		obj := cel.MapType(cel.StringType, cel.DynType)
		opts := append([]cel.EnvOption{
			cel.Variable("event", obj),
			cel.Variable("async", obj),
			cel.CustomTypeAdapter(jsonAdapter{}),
			cel.CrossTypeNumericComparisons(true),
		}, functionOptions()...)
		env, envErr = cel.NewEnv(opts...)
		if envErr != nil {
			envErr = fmt.Errorf("expr: building CEL environment: %w", envErr)
			return
		}
		// Work around a data race in cel-go v0.33.2: the shared checker
		// environment builds its symbol catalog (used for "did you mean"
		// hints on undeclared references) lazily under a sync.Once, while
		// checking a comprehension copies that field without
		// synchronisation. Compiling an undeclared reference once, before
		// the environment is published, builds the catalog up front.
		_, _ = env.Compile("flow_expr_warmup_undeclared")
	})
	return env, envErr
}

// Compile parses and type-checks src. The error, prefixed `expr: "<src>": `,
// carries cel-go's message, which names the position (e.g.
// `ERROR: <input>:1:15: Syntax error: ...`) followed by the offending line and
// a caret.
//
// limit bounds the cost of each evaluation, in cel-go's cost units (about one
// per variable or field access, operator, function call and comprehension
// step; a string or list operation costs a tenth of its length): an
// evaluation that goes over it stops at once with an error wrapping
// [ErrCostLimit]. A few million units take a few tens of milliseconds.
func Compile(src string, limit uint64) (*Program, error) {
	e, err := celEnv()
	if err != nil {
		return nil, err
	}
	ast, iss := e.Compile(src)
	if err := iss.Err(); err != nil {
		return nil, fmt.Errorf("expr: %q: %w", src, err)
	}
	prg, err := e.Program(ast, cel.CustomDecoratorV2(decorate), cel.CostLimit(limit), cel.CostTrackerOptions(costOptions()...))
	if err != nil {
		return nil, fmt.Errorf("expr: %q: %w", src, err)
	}
	return &Program{src: src, prg: prg, out: ast.OutputType(), limit: limit}, nil
}

// String returns the expression's source.
func (p *Program) String() string { return p.src }

// Limit returns the cost limit of one evaluation.
func (p *Program) Limit() uint64 { return p.limit }

// Type names the checked type of the expression's result, such as "bool",
// "string" or "dyn" (a value from the events' JSON, known only when
// evaluated).
func (p *Program) Type() string { return p.out.String() }

// CheckBool reports, wrapping [ErrNotBool], an expression that can never be
// a condition: its checked type is neither bool nor dyn (which may be a bool
// when evaluated), as in `event.data.x + "a"` (string).
func (p *Program) CheckBool() error {
	if p.out.IsExactType(cel.BoolType) || p.out.IsExactType(cel.DynType) {
		return nil
	}
	return fmt.Errorf("expr: %q: %w: its type is %s", p.src, ErrNotBool, p.Type())
}

// Bool evaluates the expression against the JSON of the triggering event and
// of the incoming event (async may be nil or empty: async is then null).
//
// The result is true only when the expression evaluates to true. A null
// result (e.g. `event.data.missing`) is false with no error. An evaluation
// error, an undecodable event or any other non-boolean result is false with
// an error describing it.
func (p *Program) Bool(event, async []byte) (bool, error) {
	v, err := p.eval(event, async)
	if err != nil {
		return false, err
	}
	switch v := v.(type) {
	case types.Bool:
		return bool(v), nil
	case types.Null, missingVal:
		return false, nil
	}
	return false, fmt.Errorf("expr: %q: %w: it is %s", p.src, ErrNotBool, v.Type().TypeName())
}

// Value evaluates the expression (see [Program.Bool] for the arguments) and
// returns its result as a Go value: nil, bool, int64, uint64, float64 (every
// JSON number), string, []byte, time.Time, time.Duration, []any or
// map[string]any. A missing field yields nil with no error.
func (p *Program) Value(event, async []byte) (any, error) {
	v, err := p.eval(event, async)
	if err != nil {
		return nil, err
	}
	out, err := toGo(v)
	if err != nil {
		return nil, fmt.Errorf("expr: %q: %w", p.src, err)
	}
	return out, nil
}

// Int evaluates the expression (see [Program.Bool] for the arguments) and
// returns its result as an integer, for priorities. Ints, uints that fit and
// doubles with no fractional part (JSON numbers) are accepted; anything else,
// null included, is an error.
func (p *Program) Int(event, async []byte) (int64, error) {
	v, err := p.eval(event, async)
	if err != nil {
		return 0, err
	}
	switch v := v.(type) {
	case types.Int:
		return int64(v), nil
	case types.Uint:
		if uint64(v) <= math.MaxInt64 {
			return int64(v), nil
		}
	case types.Double:
		f := float64(v)
		if f == math.Trunc(f) && f >= math.MinInt64 && f < math.MaxInt64 {
			return int64(f), nil
		}
		return 0, fmt.Errorf("expr: %q: result %v is not an integer", p.src, f)
	}
	return 0, fmt.Errorf("expr: %q: result is %s, not an integer", p.src, v.Type().TypeName())
}

func (p *Program) eval(event, async []byte) (ref.Val, error) {
	v, _, err := p.evalCost(event, async)
	return v, err
}

// evalCost is eval that also returns the evaluation's cost.
func (p *Program) evalCost(event, async []byte) (ref.Val, uint64, error) {
	v, det, err := p.evalDetails(event, async)
	var cost uint64
	if c := det.ActualCost(); c != nil {
		cost = *c
	}
	return v, cost, err
}

func (p *Program) evalDetails(event, async []byte) (ref.Val, *cel.EvalDetails, error) {
	ev, err := decode(event)
	if err != nil {
		return nil, nil, fmt.Errorf("expr: %q: decoding event: %w", p.src, err)
	}
	as, err := decode(async)
	if err != nil {
		return nil, nil, fmt.Errorf("expr: %q: decoding async event: %w", p.src, err)
	}
	out, det, err := p.prg.Eval(&activation{event: ev, async: as})
	if err != nil {
		var cancelled interpreter.EvalCancelledError
		if errors.As(err, &cancelled) && cancelled.Cause == interpreter.CostLimitExceeded {
			return nil, det, fmt.Errorf("expr: %q: %w (limit %d)", p.src, ErrCostLimit, p.limit)
		}
		return nil, det, fmt.Errorf("expr: %q: %w", p.src, err)
	}
	if types.IsUnknown(out) {
		return nil, det, fmt.Errorf("expr: %q: result is unknown", p.src)
	}
	return out, det, nil
}

// decode turns an event's JSON into a CEL value; empty input or JSON null is
// the missing value (null).
func decode(b []byte) (ref.Val, error) {
	if len(b) == 0 {
		return missing, nil
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, err
	}
	if v == nil {
		return missing, nil
	}
	return jsonAdapter{}.NativeToValue(v), nil
}

// activation binds the two variables without allocating a map.
type activation struct {
	event, async ref.Val
}

func (a *activation) ResolveName(name string) (any, bool) {
	switch name {
	case "event":
		return a.event, true
	case "async":
		return a.async, true
	}
	return nil, false
}

func (a *activation) Parent() interpreter.Activation { return nil }

// MatchSugar expands a waitForEvent/cancelOn `match` such as "data.userId"
// into `event.data.userId == async.data.userId`.
func MatchSugar(path string) string {
	path = strings.TrimSpace(path)
	return "event." + path + " == async." + path
}

var errNotConvertible = errors.New("result cannot be converted to a Go value")

// toGo converts a CEL result into plain Go values.
func toGo(v ref.Val) (any, error) {
	switch v := v.(type) {
	case types.Null, missingVal:
		return nil, nil
	case types.Bool:
		return bool(v), nil
	case types.Int:
		return int64(v), nil
	case types.Uint:
		return uint64(v), nil
	case types.Double:
		return float64(v), nil
	case types.String:
		return string(v), nil
	case types.Bytes:
		return []byte(v), nil
	case types.Timestamp:
		return v.Time, nil
	case types.Duration:
		return v.Duration, nil
	case jsonMap:
		return v.m, nil
	case traits.Lister:
		n, _ := v.Size().(types.Int)
		out := make([]any, 0, int(n))
		for it := v.Iterator(); it.HasNext() == types.True; {
			e, err := toGo(it.Next())
			if err != nil {
				return nil, err
			}
			out = append(out, e)
		}
		return out, nil
	case traits.Mapper:
		out := make(map[string]any)
		for it := v.Iterator(); it.HasNext() == types.True; {
			k := it.Next()
			ks, ok := k.ConvertToType(types.StringType).(types.String)
			if !ok {
				return nil, fmt.Errorf("%w: map key of type %s", errNotConvertible, k.Type().TypeName())
			}
			e, err := toGo(v.Get(k))
			if err != nil {
				return nil, err
			}
			out[string(ks)] = e
		}
		return out, nil
	}
	if out, err := v.ConvertToNative(reflect.TypeFor[any]()); err == nil {
		return out, nil
	}
	return nil, fmt.Errorf("%w: %s", errNotConvertible, v.Type().TypeName())
}
