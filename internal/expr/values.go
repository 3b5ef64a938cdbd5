package expr

import (
	"fmt"
	"reflect"
	"sort"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
	"cel.dev/cel-go/interpreter"
)

// How missing keys become null.
//
// cel-go resolves a path such as event.data.a.b one qualifier at a time. For
// a value implementing traits.Mapper a missing key is an error, but for a
// value implementing only traits.Indexer (and traits.FieldTester, used by
// has()) the qualifier calls Get. So JSON objects are jsonMap values, which
// implement every map trait except Mapper.Find: Get of an absent (or JSON
// null) key returns missing, an Indexer whose every key is missing too, so
// the rest of the path resolves to missing as well. The interpreter
// decorator (decorate.go) turns a missing attribute value into
// types.NullValue, so missing never reaches functions and operators, and
// `x == null` holds.

// jsonAdapter adapts decoded JSON (map[string]any, []any, float64, string,
// bool, nil) into CEL values, with objects as jsonMap; anything else goes to
// cel-go's default adapter.
type jsonAdapter struct{}

func (a jsonAdapter) NativeToValue(v any) ref.Val {
	switch v := v.(type) {
	case ref.Val:
		return v
	case nil:
		return types.NullValue
	case map[string]any:
		return jsonMap{m: v}
	case []any:
		return types.NewDynamicList(a, v)
	case string:
		return types.String(v)
	case float64:
		return types.Double(v)
	case bool:
		return types.Bool(v)
	}
	return types.DefaultTypeAdapter.NativeToValue(v)
}

// jsonMap is a JSON object as a CEL map(string, dyn) whose absent keys read
// as null. It deliberately lacks traits.Mapper's Find method (see above).
type jsonMap struct {
	m map[string]any
}

var (
	_ traits.Indexer     = jsonMap{}
	_ traits.FieldTester = jsonMap{}
	_ traits.Container   = jsonMap{}
	_ traits.Iterable    = jsonMap{}
	_ traits.Sizer       = jsonMap{}
)

// Get implements traits.Indexer: absent keys, JSON nulls and non-string keys
// are missing.
func (m jsonMap) Get(key ref.Val) ref.Val {
	if types.IsUnknownOrError(key) {
		return key
	}
	k, ok := key.(types.String)
	if !ok {
		return missing
	}
	v, ok := m.m[string(k)]
	if !ok || v == nil {
		return missing
	}
	return jsonAdapter{}.NativeToValue(v)
}

// IsSet implements traits.FieldTester (has()): true when the key is present,
// even with a null value.
func (m jsonMap) IsSet(key ref.Val) ref.Val {
	if types.IsUnknownOrError(key) {
		return key
	}
	k, ok := key.(types.String)
	if !ok {
		return types.False
	}
	_, ok = m.m[string(k)]
	return types.Bool(ok)
}

// Contains implements traits.Container (`"k" in event.data`).
func (m jsonMap) Contains(key ref.Val) ref.Val { return m.IsSet(key) }

// Size implements traits.Sizer.
func (m jsonMap) Size() ref.Val { return types.Int(len(m.m)) }

// Iterator implements traits.Iterable over the keys, in sorted order.
func (m jsonMap) Iterator() traits.Iterator {
	keys := make([]string, 0, len(m.m))
	for k := range m.m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return &keyIterator{keys: keys}
}

// ConvertToNative implements ref.Val.
func (m jsonMap) ConvertToNative(t reflect.Type) (any, error) {
	if reflect.TypeOf(m.m).AssignableTo(t) {
		return m.m, nil
	}
	return types.NewStringInterfaceMap(jsonAdapter{}, m.m).ConvertToNative(t)
}

// ConvertToType implements ref.Val.
func (m jsonMap) ConvertToType(t ref.Type) ref.Val {
	switch t {
	case types.MapType:
		return m
	case types.TypeType:
		return types.MapType
	}
	return types.NewErr("type conversion error from '%s' to '%s'", types.MapType, t)
}

// Equal implements ref.Val: equal to another map with the same keys and
// equal values (CEL equality, so 1 == 1.0).
func (m jsonMap) Equal(other ref.Val) ref.Val {
	var (
		size int64
		get  func(string) (ref.Val, bool)
	)
	switch o := other.(type) {
	case jsonMap:
		size = int64(len(o.m))
		get = func(k string) (ref.Val, bool) {
			v, ok := o.m[k]
			return jsonAdapter{}.NativeToValue(v), ok
		}
	case traits.Mapper:
		n, _ := o.Size().(types.Int)
		size = int64(n)
		get = func(k string) (ref.Val, bool) { return o.Find(types.String(k)) }
	default:
		return types.False
	}
	if size != int64(len(m.m)) {
		return types.False
	}
	for k, v := range m.m {
		ov, ok := get(k)
		if !ok {
			return types.False
		}
		if types.Equal(jsonAdapter{}.NativeToValue(v), ov) != types.True {
			return types.False
		}
	}
	return types.True
}

// Type implements ref.Val.
func (m jsonMap) Type() ref.Type { return types.MapType }

// Value implements ref.Val.
func (m jsonMap) Value() any { return m.m }

func (m jsonMap) String() string { return fmt.Sprint(m.m) }

// missingVal is the value of an absent key. It is null to anyone who looks
// (Type, Equal, conversions) and an Indexer so that paths through it keep
// resolving; the decorator replaces it with types.NullValue wherever an
// attribute's value is produced.
type missingVal struct{}

var missing ref.Val = missingVal{}

var (
	_ traits.Indexer     = missingVal{}
	_ traits.FieldTester = missingVal{}
)

// missingVal is also an interpreter.Qualifier: when a missing value is used
// as an index (event.data[async.data.absent]) cel-go accepts it as a ready
// qualifier, and indexing by a missing key yields missing.
var _ interpreter.Qualifier = missingVal{}

func (missingVal) ID() int64 { return 0 }

func (missingVal) IsOptional() bool { return false }

func (missingVal) Qualify(interpreter.Activation, any) (any, error) { return missing, nil }

func (missingVal) QualifyIfPresent(interpreter.Activation, any, bool) (any, bool, error) {
	return nil, false, nil
}

func (missingVal) Get(key ref.Val) ref.Val {
	if types.IsUnknownOrError(key) {
		return key
	}
	return missing
}

func (missingVal) IsSet(key ref.Val) ref.Val {
	if types.IsUnknownOrError(key) {
		return key
	}
	return types.False
}

func (missingVal) ConvertToNative(t reflect.Type) (any, error) {
	return types.NullValue.ConvertToNative(t)
}

func (missingVal) ConvertToType(t ref.Type) ref.Val { return types.NullValue.ConvertToType(t) }

func (missingVal) Equal(other ref.Val) ref.Val {
	_, isMissing := other.(missingVal)
	return types.Bool(isMissing || other == types.NullValue)
}

func (missingVal) Type() ref.Type { return types.NullType }

func (missingVal) Value() any { return types.NullValue.Value() }

func (missingVal) String() string { return "null" }

// keyIterator iterates over a jsonMap's keys.
type keyIterator struct {
	keys []string
	i    int
}

func (it *keyIterator) HasNext() ref.Val { return types.Bool(it.i < len(it.keys)) }

func (it *keyIterator) Next() ref.Val {
	if it.i >= len(it.keys) {
		return types.NewErr("iterator exhausted")
	}
	k := it.keys[it.i]
	it.i++
	return types.String(k)
}

func (it *keyIterator) ConvertToNative(t reflect.Type) (any, error) {
	return nil, fmt.Errorf("type conversion on iterators not supported")
}

func (it *keyIterator) ConvertToType(ref.Type) ref.Val {
	return types.NewErr("no such overload")
}

func (it *keyIterator) Equal(ref.Val) ref.Val { return types.NewErr("no such overload") }

func (it *keyIterator) Type() ref.Type { return types.IteratorType }

func (it *keyIterator) Value() any { return nil }
