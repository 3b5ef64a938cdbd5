package expr

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// testLimit is the cost limit of the package's tests: the library's default.
const testLimit = 1_000_000

// listEvent is an event whose data.l is a list of n zeros.
func listEvent(t testing.TB, n int) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"data": map[string]any{"l": make([]int, n)}})
	require.NoError(t, err)
	return b
}

func TestCostLimitStopsQuadraticExpression(t *testing.T) {
	t.Parallel()
	// 3,000 items: 9 million inner steps, about 63 million cost units.
	p := mustCompile(t, `event.data.l.all(x, event.data.l.all(y, x + y >= 0))`)
	ok, err := p.Bool(listEvent(t, 3000), nil)
	require.False(t, ok)
	require.ErrorIs(t, err, ErrCostLimit)
	require.Contains(t, err.Error(), "limit 1000000")
	require.Contains(t, err.Error(), `event.data.l.all(x`)

	_, err = p.Value(listEvent(t, 3000), nil)
	require.ErrorIs(t, err, ErrCostLimit)
}

func TestCostLimitLetsOrdinaryExpressionsPass(t *testing.T) {
	t.Parallel()
	event := listEvent(t, 100_000) // about 200 KB of JSON
	for _, src := range []string{
		`event.data.l.all(x, x >= 0)`,
		`event.data.l.exists(x, x == 1) == false`,
		`size(event.data.l) == 100000`,
		`0 in event.data.l`,
		`event.data.l[99999] == 0`,
	} {
		ok, err := mustCompile(t, src).Bool(event, nil)
		require.NoError(t, err, src)
		require.True(t, ok, src)
	}
	big, err := json.Marshal(map[string]any{"data": map[string]any{"s": strings.Repeat("ab", 250_000)}})
	require.NoError(t, err)
	for _, src := range []string{
		`event.data.s.contains("abab") && event.data.s.startsWith("ab") && size(event.data.s) == 500000`,
		`event.data.s.matches("^(ab)+$")`,
	} {
		ok, err := mustCompile(t, src).Bool(big, nil)
		require.NoError(t, err, src)
		require.True(t, ok, src)
	}
}

func TestCostLimitCountsNullAwareComparisons(t *testing.T) {
	t.Parallel()
	// The ordering comparisons the package replaces are charged like the
	// calls they replace: a loop of them still hits the limit.
	p, err := Compile(`event.data.l.all(x, x >= 0 && x <= 0 && x > -1 && x < 1)`, 1000)
	require.NoError(t, err)
	_, err = p.Bool(listEvent(t, 100), nil)
	require.ErrorIs(t, err, ErrCostLimit)
	require.Equal(t, uint64(1000), p.Limit())
}

func TestCheckBool(t *testing.T) {
	t.Parallel()
	for src, typ := range map[string]string{
		`event.data.x + "a"`: "string",
		`event`:              "map(string, dyn)",
		`1 + 2`:              "int",
		`null`:               "null_type",
		`[true]`:             "list(bool)",
	} {
		p := mustCompile(t, src)
		err := p.CheckBool()
		require.ErrorIs(t, err, ErrNotBool, src)
		require.Contains(t, err.Error(), "its type is "+typ, src)
		require.Equal(t, typ, p.Type())
	}
	for _, src := range []string{`event.data.x`, `event.data.x == 1`, `has(event.data.x)`, `true`, `event.data.l.exists(x, x)`} {
		require.NoError(t, mustCompile(t, src).CheckBool(), src)
	}
	// A dyn condition must still be a bool when evaluated.
	_, err := mustCompile(t, `event.data.x`).Bool([]byte(`{"data":{"x":"yes"}}`), nil)
	require.ErrorIs(t, err, ErrNotBool)
	require.True(t, errors.Is(err, ErrNotBool))
}

func BenchmarkCostLimitQuadratic(b *testing.B) {
	p, err := Compile(`event.data.l.all(x, event.data.l.all(y, x + y >= 0))`, testLimit)
	require.NoError(b, err)
	event := listEvent(b, 3000)
	for b.Loop() {
		if _, err := p.Bool(event, nil); !errors.Is(err, ErrCostLimit) {
			b.Fatal(err)
		}
	}
}

func TestCostLimitChargesStringFunctionsByLength(t *testing.T) {
	t.Parallel()
	// Inngest's functions that read a whole string are charged one unit per
	// ten bytes, as the standard string functions are: a loop of them over
	// a long string hits the limit.
	long := strings.Repeat("a", 10_000)
	event := []byte(`{"data":{"s":"` + long + `","j":"\"` + long + `\"","l":[1,2,3,4,5,6,7,8,9,10]}}`)
	for _, src := range []string{
		`event.data.l.all(x, lowercase(event.data.s) != "")`,
		`event.data.l.all(x, uppercase(event.data.s) != "")`,
		`event.data.l.all(x, b64decode(event.data.s) != "x")`,
		`event.data.l.all(x, json_parse(event.data.j) != "")`,
	} {
		p, err := Compile(src, 5000)
		require.NoError(t, err, src)
		_, err = p.Bool(event, nil)
		require.ErrorIs(t, err, ErrCostLimit, src)
	}
}
