package expr

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

const (
	testEvent = `{"id":"01H","name":"app/user.signup","ts":1700000000000,
		"data":{"userId":"u1","n":3,"price":9.5,"plan":"pro","tags":["a","b"],"ids":[1,2,3],
		"nested":{"deep":{"x":1}},"nothing":null,"email":"bob@example.com","items":[{"sku":"k1"}]}}`
	testAsync = `{"id":"01J","name":"app/user.paid","data":{"userId":"u1","amount":250,"other":"u2"}}`
)

func mustCompile(t *testing.T, src string) *Program {
	t.Helper()
	p, err := Compile(src, testLimit)
	require.NoError(t, err, src)
	return p
}

func evalBool(t *testing.T, src, event, async string) bool {
	t.Helper()
	var as []byte
	if async != "" {
		as = []byte(async)
	}
	ok, err := mustCompile(t, src).Bool([]byte(event), as)
	require.NoError(t, err, src)
	return ok
}

func TestBoolSemantics(t *testing.T) {
	t.Parallel()
	cases := []struct {
		src  string
		want bool
	}{
		// Plain field access and equality.
		{`event.name == "app/user.signup"`, true},
		{`event.data.userId == async.data.userId`, true},
		{`event.data.userId == async.data.other`, false},
		{`event.data.userId == async.data.userId && async.data.amount > 100`, true},
		{`event.data.userId == async.data.userId && async.data.amount > 300`, false},

		// Missing fields are null, anywhere along the path.
		{`event.data.missing == null`, true},
		{`event.data.missing != null`, false},
		{`event.data.a.b.c == null`, true},
		{`event.data.a.b.c == async.data.x`, true},
		{`async.data.x.y == event.data.a.b`, true},
		{`event.data.missing == "u1"`, false},
		{`event.data.missing != "u1"`, true},
		{`event.missing.data.userId == null`, true},
		{`event.data.nested.deep.x == 1`, true},
		{`event.data.nested.deep.missing == null`, true},
		{`event.data.nested.nope.x == null`, true},
		{`event.data.items[0].sku == "k1"`, true},
		{`event.data.missing[0].sku == null`, true},
		{`event.data["userId"] == "u1"`, true},
		{`event.data["nested"]["deep"].x == 1`, true},
		{`event.data["missing"]["x"] == null`, true},
		{`event.data[async.data.key] == null`, true},
		{`has(event.data.nested) && event.data.nested[async.data.key].x == null`, true},
		{`event.data[event.data.plan == "pro" ? "userId" : "plan"] == "u1"`, true},
		{`event.data.ids[1] == 2`, true},
		// A JSON null behaves like a missing key along a path.
		{`event.data.nothing == null`, true},
		{`event.data.nothing.x.y == null`, true},
		{`null == event.data.missing`, true},

		// In ordering comparisons null stands for the other side's zero
		// value, as in Inngest: 0 or "". Two nulls, or null against another
		// type, compare false. Never an error.
		{`event.data.missing > 3`, false},
		{`event.data.missing < 3`, true},
		{`event.data.missing >= 3`, false},
		{`event.data.missing <= 3`, true},
		{`3 < event.data.missing`, false},
		{`-1 < event.data.missing`, true},
		{`event.data.missing >= 0`, true},
		{`event.data.missing > 0`, false},
		{`event.data.nothing <= 0.0`, true},
		{`event.data.missing < "a"`, true},
		{`event.data.missing > ""`, false},
		{`event.data.a.b > async.data.c`, false},
		{`event.data.a.b >= async.data.c`, false},
		{`event.data.missing > true`, false},
		{`event.data.missing < timestamp("2020-01-01T00:00:00Z")`, false},
		{`!(event.data.missing > 3) && event.data.n > 2`, true},
		{`null > 0`, false},
		{`null >= 0`, true},
		{`null < 1u`, true},

		// JSON numbers (doubles) against int literals.
		{`event.data.n == 3`, true},
		{`event.data.n == 3.0`, true},
		{`3 == event.data.n`, true},
		{`event.data.n != 4`, true},
		{`event.data.n > 2`, true},
		{`event.data.n >= 3`, true},
		{`event.data.n < 3`, false},
		{`event.data.n <= 3`, true},
		{`event.data.price > 9`, true},
		{`event.data.price < 10`, true},
		{`2 < event.data.n`, true},
		{`1.5 < 2`, true},
		{`event.ts > 1600000000000`, true},
		{`event.data.n + 1.0 == 4.0`, true},
		{`event.data.n + 1.0 > 3`, true},
		{`event.data.price * 2.0 == 19.0`, true},
		{`4u == event.data.n`, false},
		{`3u == event.data.n`, true},
		{`int(event.data.n) + 1 == 4`, true},
		{`event.data.userId > "a"`, true},

		// has().
		{`has(event.data.userId)`, true},
		{`has(event.data.missing)`, false},
		{`has(event.data.nothing)`, true},
		{`has(event.data.nested.deep)`, true},
		{`has(event.data.nested.deep.nope)`, false},
		{`has(event.data.missing.deeper)`, false},
		{`has(async.data)`, true},
		{`!has(event.data.missing) && has(event.data.plan)`, true},

		// String functions.
		{`event.data.email.startsWith("bob@")`, true},
		{`event.data.email.endsWith("@example.com")`, true},
		{`event.data.email.contains("example")`, true},
		{`event.data.email.startsWith("alice@")`, false},
		{`event.data.email.matches("^[a-z]+@")`, true},
		{`event.data.userId + ":" + event.data.plan == "u1:pro"`, true},
		{`size(event.data.email) == 15`, true},
		{`event.data.missing.startsWith("a")`, false},
		{`event.data.missing.endsWith("a")`, false},
		{`event.data.missing.contains("a")`, false},
		{`event.data.missing.matches("a")`, false},
		{`matches(event.data.missing, "a")`, false},
		{`lowercase(event.data.email) == "bob@example.com"`, true},
		{`uppercase(event.data.plan) == "PRO"`, true},

		// + joins a string with a number, a bool or null (nothing), as in
		// Inngest; a number plus null is the number.
		{`event.data.userId + 1 == "u11"`, true},
		{`event.data.userId + "-" + event.data.price == "u1-9.5"`, true},
		{`event.data.n + "x" == "3x"`, true},
		{`"is " + (event.data.n > 2) == "is true"`, true},
		{`event.data.userId + event.data.missing == "u1"`, true},
		{`event.data.missing + event.data.userId == "u1"`, true},
		{`event.data.n + event.data.missing == 3`, true},
		{`event.data.missing + 2 == 2`, true},
		{`event.data.n + 1.0 == 4`, true},
		{`event.data.tags + ["c"] == ["a", "b", "c"]`, true},

		// in on lists and maps.
		{`event.data.plan in ["pro", "team"]`, true},
		{`event.data.plan in ["free"]`, false},
		{`"b" in event.data.tags`, true},
		{`"z" in event.data.tags`, false},
		{`2 in event.data.ids`, true},
		{`"userId" in event.data`, true},
		{`"missing" in event.data`, false},
		{`event.data.missing in ["pro"]`, false},
		{`"a" in event.data.missing`, false},
		{`"a" in event.data.nothing`, false},

		// Macros, sizes, ternaries.
		{`size(event.data.tags) == 2`, true},
		{`size(event.data) == 10`, true},
		{`event.data.ids.exists(i, i > 2)`, true},
		{`event.data.ids.all(i, i > 0)`, true},
		{`event.data.items.exists(it, it.sku == "k1" && it.missing == null)`, true},
		{`event.data.exists(k, k == "plan")`, true},
		// Comprehensions over null iterate over nothing, as in Inngest.
		{`event.data.missing.exists(x, x == "a")`, false},
		{`event.data.nothing.all(x, x == "a")`, true},
		{`size(event.data.missing.map(x, x)) == 0`, true},
		{`size(event.data.missing.filter(x, true)) == 0`, true},
		{`event.data.missing.exists_one(x, true)`, false},
		{`size(event.data.missing) == 0`, true},
		{`event.data.missing.size() == 0`, true},
		{`(event.data.plan == "pro" ? 10 : 1) == 10`, true},
		{`(event.data.missing == null ? "none" : "some") == "none"`, true},
		{`(event.data.n > 5 ? event.data.missing : event.data.plan) == "pro"`, true},
		{`(event.data.n > 1 ? event.data.missing : event.data.plan) == null`, true},
		{`event.data.nested == {"deep": {"x": 1}}`, true},
		{`event.data.nested.deep == {"x": 1.0}`, true},
		{`event.data.tags == ["a", "b"]`, true},
		{`type(event.data.missing) == null_type`, true},
		{`type(event.data) == map`, true},

		// Error absorption in logical operators follows CEL.
		{`event.data.userId.foo == 1 || true`, true},
	}
	for _, c := range cases {
		t.Run(c.src, func(t *testing.T) {
			require.Equal(t, c.want, evalBool(t, c.src, testEvent, testAsync), c.src)
		})
	}
}

func TestBoolWithoutAsync(t *testing.T) {
	t.Parallel()
	require.True(t, evalBool(t, `async.data == null`, testEvent, ""))
	require.True(t, evalBool(t, `async.data.userId == null`, testEvent, ""))
	require.False(t, evalBool(t, `event.data.userId == async.data.userId`, testEvent, ""))
	require.False(t, evalBool(t, `has(async.data)`, testEvent, ""))
	// JSON null and empty input are both a null event.
	require.True(t, evalBool(t, `event.data.x == null`, `null`, `null`))
	require.True(t, evalBool(t, `event.data.x == async.data.x`, ``, ``))
}

func TestBoolErrorsAreFalse(t *testing.T) {
	t.Parallel()
	cases := []struct {
		src     string
		wantErr string
	}{
		{`event.data.userId.foo == 1`, "no such key"},                      // field of a string
		{`event.data.tags[5] == "x"`, "index out of bounds"},               // list index
		{`event.data.userId - 1 == 2`, "no such overload"},                 // string - int
		{`event.data.n + 1 == 4`, "no such overload"},                      // double + int is not coerced
		{`event.data.userId`, "result is not a bool: it is string"},        // non-boolean result
		{`event.data.n`, "result is not a bool: it is double"},             // non-boolean result
		{`!event.data.missing`, "no such overload"},                        // ! on null
		{`event.data.userId > 3`, "no such overload"},                      // string vs int
		{`event.data.userId.startsWith(event.data.n)`, "no such overload"}, // wrong argument type
		{`size(event.data.n) == 1`, "no such overload"},                    // size of a number
		{`"a" in event.data.n`, "no such overload"},                        // in a number
		{`event.data.n.exists(x, true)`, "expected iterable type"},         // comprehension over a number
		{`b64decode("%%%") == ""`, "b64decode"},                            // not base64
		{`json_parse("{") == null`, "json_parse"},                          // not JSON
		{`date("yesterday") == now()`, "unknown date format"},              // not a date
		{`now_plus("soon") > now()`, "invalid duration"},                   // not a duration
	}
	for _, c := range cases {
		t.Run(c.src, func(t *testing.T) {
			p := mustCompile(t, c.src)
			ok, err := p.Bool([]byte(testEvent), []byte(testAsync))
			require.False(t, ok)
			require.Error(t, err)
			require.Contains(t, err.Error(), c.wantErr)
			require.True(t, strings.HasPrefix(err.Error(), "expr: "), err.Error())
		})
	}

	// A null result is false without an error.
	ok, err := mustCompile(t, `event.data.missing`).Bool([]byte(testEvent), nil)
	require.NoError(t, err)
	require.False(t, ok)

	// Undecodable events are errors.
	p := mustCompile(t, `event.data.userId == "u1"`)
	ok, err = p.Bool([]byte(`{"data":`), nil)
	require.False(t, ok)
	require.ErrorContains(t, err, "decoding event")
	ok, err = p.Bool([]byte(testEvent), []byte(`nope`))
	require.False(t, ok)
	require.ErrorContains(t, err, "decoding async event")
}

func TestCompileErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		src     string
		wantErr []string
	}{
		{`event.data.x ==`, []string{`expr: "event.data.x ==": ERROR: <input>:1:16: Syntax error:`}},
		{`event.data.x == "a" &&& true`, []string{"ERROR: <input>:1:23: Syntax error:"}},
		{`vars.x == 1`, []string{"ERROR: <input>:1:1: undeclared reference to 'vars'"}},
		{"event.data.x == 1 &&\n  nope(event)", []string{"ERROR: <input>:2:7: undeclared reference to 'nope'"}},
		{`event.data.x == 1 && 1`, []string{"ERROR: <input>:1:22: expected type 'bool' but found 'int'"}},
		{``, []string{`expr: "": ERROR: <input>:1:0: Syntax error:`}},
		// Statically mismatched numeric equality is a check error.
		{`int(event.data.n) == 4.0`, []string{"ERROR: <input>:1:19: found no matching overload for '_==_' applied to '(int, double)'"}},
		// The comprehensions' range function is not callable.
		{`@flow_range(event.data.n) == 1`, []string{"Syntax error"}},
	}
	for _, c := range cases {
		t.Run(c.src, func(t *testing.T) {
			p, err := Compile(c.src, testLimit)
			require.Nil(t, p)
			require.Error(t, err)
			require.True(t, strings.HasPrefix(err.Error(), "expr: "), err.Error())
			for _, want := range c.wantErr {
				require.Contains(t, err.Error(), want)
			}
		})
	}
}

func TestValue(t *testing.T) {
	t.Parallel()
	cases := []struct {
		src  string
		want any
	}{
		{`event.data.userId`, "u1"},
		{`event.data.n`, float64(3)},
		{`event.data.price`, 9.5},
		{`async.data.amount`, float64(250)},
		{`event.data.missing`, nil},
		{`event.data.a.b.c`, nil},
		{`event.data.nothing`, nil},
		{`42`, int64(42)},
		{`int(event.data.n)`, int64(3)},
		{`event.data.n > 2`, true},
		{`event.data.userId + "-" + event.data.plan`, "u1-pro"},
		{`event.data.plan == "pro" ? 100 : 0`, int64(100)},
		{`event.data.tags`, []any{"a", "b"}},
		{`event.data.nested`, map[string]any{"deep": map[string]any{"x": float64(1)}}},
		{`[event.data.userId, event.data.missing]`, []any{"u1", nil}},
		{`{"k": event.data.userId}`, map[string]any{"k": "u1"}},
		{`event.data.ids.map(i, i * 2.0)`, []any{float64(2), float64(4), float64(6)}},
	}
	for _, c := range cases {
		t.Run(c.src, func(t *testing.T) {
			got, err := mustCompile(t, c.src).Value([]byte(testEvent), []byte(testAsync))
			require.NoError(t, err)
			require.Equal(t, c.want, got)
		})
	}

	_, err := mustCompile(t, `event.data.userId.x`).Value([]byte(testEvent), nil)
	require.ErrorContains(t, err, "expr: ")
}

func TestInt(t *testing.T) {
	t.Parallel()
	for src, want := range map[string]int64{
		`event.data.n`:                      3,
		`async.data.amount - 50.0`:          200,
		`-5`:                                -5,
		`event.data.plan == "pro" ? 10 : 0`: 10,
	} {
		got, err := mustCompile(t, src).Int([]byte(testEvent), []byte(testAsync))
		require.NoError(t, err, src)
		require.Equal(t, want, got, src)
	}
	for _, src := range []string{`event.data.price`, `event.data.missing`, `event.data.userId`} {
		_, err := mustCompile(t, src).Int([]byte(testEvent), nil)
		require.Error(t, err, src)
	}
}

func TestStringAndMatchSugar(t *testing.T) {
	t.Parallel()
	src := MatchSugar("data.userId")
	require.Equal(t, "event.data.userId == async.data.userId", src)
	p := mustCompile(t, src)
	require.Equal(t, src, p.String())
	ok, err := p.Bool([]byte(testEvent), []byte(testAsync))
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = p.Bool([]byte(testEvent), []byte(`{"data":{"userId":"u9"}}`))
	require.NoError(t, err)
	require.False(t, ok)
	// Both sides missing: null == null.
	ok, err = mustCompile(t, MatchSugar("data.nope")).Bool([]byte(testEvent), []byte(testAsync))
	require.NoError(t, err)
	require.True(t, ok)
}

func TestCached(t *testing.T) {
	t.Parallel()
	src := `event.data.userId == "cached-` + t.Name() + `"`
	p1, err := Cached(src, testLimit)
	require.NoError(t, err)
	p2, err := Cached(src, testLimit)
	require.NoError(t, err)
	require.Same(t, p1, p2)

	other, err := Cached(src+" || false", testLimit)
	require.NoError(t, err)
	require.NotSame(t, p1, other)

	// Compile errors are cached too: same error value both times.
	bad := `event.data.x == (` + t.Name()
	_, err1 := Cached(bad, testLimit)
	require.Error(t, err1)
	_, err2 := Cached(bad, testLimit)
	require.Same(t, err1, err2)

	// Concurrent callers all get the same program.
	src2 := `event.data.n > 1 && "` + t.Name() + `" != ""`
	var wg sync.WaitGroup
	got := make([]*Program, 16)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := Cached(src2, testLimit)
			if err == nil {
				got[i] = p
			}
		}()
	}
	wg.Wait()
	for _, p := range got {
		require.NotNil(t, p)
		require.Same(t, got[0], p)
	}
}

func TestCacheBound(t *testing.T) {
	t.Parallel()
	c := newProgramCache(5)
	for i := range 20 {
		_, err := c.get(fmt.Sprintf(`event.data.n == %d`, i), testLimit)
		require.NoError(t, err)
		require.LessOrEqual(t, c.len(), 5)
	}
	require.Equal(t, 5, c.len())
	// The most recent entry is always present.
	last, err := c.get(`event.data.n == 19`, testLimit)
	require.NoError(t, err)
	again, err := c.get(`event.data.n == 19`, testLimit)
	require.NoError(t, err)
	require.Same(t, last, again)
	require.Equal(t, cacheLimit, cache.limit)
}

func TestConcurrentEval(t *testing.T) {
	t.Parallel()
	p := mustCompile(t, `event.data.userId == async.data.userId && async.data.amount > 100 && event.data.a.b == null`)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				ok, err := p.Bool([]byte(testEvent), []byte(testAsync))
				if err != nil || !ok {
					errs <- fmt.Errorf("ok=%v err=%v", ok, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

func BenchmarkBool(b *testing.B) {
	p, err := Compile(`event.data.userId == async.data.userId && async.data.amount > 100`, testLimit)
	if err != nil {
		b.Fatal(err)
	}
	event := []byte(testEvent)
	async := []byte(testAsync)
	b.ReportAllocs()
	for b.Loop() {
		ok, err := p.Bool(event, async)
		if err != nil || !ok {
			b.Fatalf("ok=%v err=%v", ok, err)
		}
	}
}
