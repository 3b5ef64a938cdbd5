package expr

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// A key that is a path the event lacks is missing; one whose JSON value is
// null is null; other results are Value's.
func TestKeyMissingOrNull(t *testing.T) {
	t.Parallel()
	cases := []struct {
		src     string
		want    any
		missing bool
		err     bool
	}{
		{"event.data.userId", "u1", false, false},
		{"event.data.nothing", nil, false, false},
		{"event.data.absent", nil, true, false},
		{`event.data["absent"]`, nil, true, false},
		{`event.data["nothing"]`, nil, false, false},
		{"event.data.nested.deep.absent", nil, true, false},
		{"event.data.absent.deeper", nil, true, false},
		{"event.data.userId.deeper", nil, true, false}, // a string has no fields
		{"event.data.nested.deep.x", float64(1), false, false},
		{"event.data.n > 1", true, false, false},
		{"event.data.absent == null", true, false, false},
		{`event.data.absent + ""`, "", false, false}, // not a path: Value's (null joins as "")
		{`event.data.userId - 1`, nil, false, true},  // not a path: Value's error
	}
	for _, tc := range cases {
		v, missing, err := mustCompile(t, tc.src).Key([]byte(testEvent))
		if tc.err {
			require.Error(t, err, tc.src)
			require.False(t, missing, tc.src)
			continue
		}
		require.NoError(t, err, tc.src)
		require.Equal(t, tc.want, v, tc.src)
		require.Equal(t, tc.missing, missing, tc.src)
	}
}

// The send path evaluates a function's keys per event: Key costs what Value
// does when the key is present, and a second decode of the event when the
// result is null.
func BenchmarkKey(b *testing.B) {
	for _, src := range []string{"event.data.userId", "event.data.nothing", "event.data.absent"} {
		p, err := Compile(src, testLimit)
		require.NoError(b, err)
		event := []byte(testEvent)
		b.Run("Value/"+src, func(b *testing.B) {
			for b.Loop() {
				_, _ = p.Value(event, nil)
			}
		})
		b.Run("Key/"+src, func(b *testing.B) {
			for b.Loop() {
				_, _, _ = p.Key(event)
			}
		})
	}
}
