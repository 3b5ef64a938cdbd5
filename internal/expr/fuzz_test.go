package expr

import (
	"errors"
	"strings"
	"testing"
)

// fuzzLimit keeps each fuzzed evaluation short.
const fuzzLimit = 20_000

// FuzzExpression compiles arbitrary expression text and evaluates it over
// arbitrary event JSON: nothing panics (cel-go turns a panic into an
// "internal error"), no evaluation costs more than the limit, a compile error
// is a clear error, and a condition's result is a bool or an error.
func FuzzExpression(f *testing.F) {
	long := strings.Repeat("a", 20_000)
	list := "[" + strings.Repeat("0,", 3000) + "0]"
	for _, seed := range []struct{ src, event string }{
		{`event.data.l.all(x, event.data.l.all(y, x + y >= 0))`, `{"data":{"l":` + list + `}}`},
		{`event.data.l.map(x, event.data.l.map(y, x + y)).size() > 0`, `{"data":{"l":` + list + `}}`},
		{`event.data.l.exists(x, x == 1)`, `{"data":{"l":` + list + `}}`},
		{`event.data.x + "a"`, `{"data":{"x":"b"}}`},
		{`event.data.x`, `{"data":{"x":1}}`},
		{`1 + 2`, `{}`},
		{`event.data.missing == null`, `{"data":{}}`},
		{`event.data.a.b.c == async.data.a.b.c`, `null`},
		{`event.data.n > null`, `{"data":{"n":null}}`},
		{`event.data[async.data.k] == null`, `{"data":{"k":{}}}`},
		{strings.Repeat("(", 300) + "true" + strings.Repeat(")", 300), `{}`},
		{strings.Repeat("!", 500) + "true", `{}`},
		{`event.data.s.contains("b") && event.data.s.matches("^a+$")`, `{"data":{"s":"` + long + `"}}`},
		{`size(event.data.s + event.data.s + event.data.s) > 0`, `{"data":{"s":"` + long + `"}}`},
		{`"` + long + `" == event.data.s`, `{"data":{"s":"x"}}`},
		{`event.data.l.all(x, x.all(y, y))`, `{"data":{"l":[[true,false],[1],"s",null]}}`},
		{`int(event.data.n) / 0 == 1`, `{"data":{"n":1}}`},
		{`event.data`, `[` + strings.Repeat("[", 2000) + strings.Repeat("]", 2000) + `]`},
		{`event.`, `{}`},
		{"\x00\xff", "\xff"},
		{``, ``},
	} {
		f.Add(seed.src, seed.event)
	}
	f.Fuzz(func(t *testing.T, src, event string) {
		p, err := Compile(src, fuzzLimit)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "expr: ") || len(err.Error()) <= len("expr: ") {
				t.Fatalf("unclear compile error for %q: %v", src, err)
			}
			return
		}
		for _, async := range []string{"", event} {
			v, cost, err := p.evalCost([]byte(event), []byte(async))
			switch {
			case err == nil && cost > fuzzLimit:
				t.Fatalf("%q cost %d, over the limit %d", src, cost, fuzzLimit)
			case err != nil && strings.Contains(err.Error(), "internal error"):
				t.Fatalf("%q panicked: %v", src, err)
			case err != nil && strings.Contains(err.Error(), "cost limit") && !errors.Is(err, ErrCostLimit):
				t.Fatalf("%q: cost error not wrapping ErrCostLimit: %v", src, err)
			case err == nil && v == nil:
				t.Fatalf("%q: nil result with no error", src)
			}
			ok, err := p.Bool([]byte(event), []byte(async))
			if err != nil && ok {
				t.Fatalf("%q: true with an error: %v", src, err)
			}
			if p.CheckBool() != nil && err == nil && ok {
				t.Fatalf("%q of type %s evaluated to true", src, p.Type())
			}
			if _, err := p.Value([]byte(event), []byte(async)); err != nil && strings.Contains(err.Error(), "internal error") {
				t.Fatalf("%q panicked: %v", src, err)
			}
		}
	})
}
