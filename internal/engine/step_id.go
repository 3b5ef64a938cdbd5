package engine

import (
	"fmt"
	"strconv"
	"unicode/utf8"
)

// MaxStepIDBytes is the longest step ID a step accepts, in bytes (flow.MaxStepIDBytes).
const MaxStepIDBytes = 512

// checkStepID returns an error wrapping ErrInvalidStepID if id cannot be a
// step's ID.
func checkStepID(id string) error {
	var reason string
	switch {
	case id == "":
		reason = "empty"
	case len(id) > MaxStepIDBytes:
		reason = fmt.Sprintf("%d bytes, over the limit of %d", len(id), MaxStepIDBytes)
	case !utf8.ValidString(id):
		reason = "not valid UTF-8"
	default:
		for i := 0; i < len(id); i++ {
			if id[i] == 0 {
				reason = fmt.Sprintf("NUL byte at offset %d", i)
				break
			}
		}
	}
	if reason == "" {
		return nil
	}
	shown := id
	if len(shown) > 64 {
		shown = shown[:64] + "..."
	}
	return NonRetriable(fmt.Errorf("%w %q: %s", ErrInvalidStepID, shown, reason))
}

// stepIDs hands out the stored IDs of a segment's steps, in call order. The
// first call of an ID gets the ID itself; a repeat gets the ID with the
// first occurrence suffix (":1", ":2", ...) that no earlier call of the
// segment got, so a repeat never takes the ID of an explicit step that looks
// like one ("a:1"), nor the other way round: that one gets "a:1:1". The rule
// depends only on the sequence of calls, so replays give each call the same
// ID; runs stored before it replay unchanged unless they had such a
// collision.
type stepIDs struct {
	taken map[string]bool
	next  map[string]int // the next suffix to try for a repeated ID
}

func (ids *stepIDs) assign(id string) string {
	if ids.taken == nil {
		ids.taken, ids.next = map[string]bool{}, map[string]int{}
	}
	sid := id
	if ids.taken[id] {
		n := max(ids.next[id], 1)
		for {
			sid = id + ":" + strconv.Itoa(n)
			n++
			if !ids.taken[sid] {
				break
			}
		}
		ids.next[id] = n
	}
	ids.taken[sid] = true
	return sid
}
