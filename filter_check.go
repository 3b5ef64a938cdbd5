package flow

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/riverflow/flow/internal/engine"
)

// checkFilterText checks a text a caller filters by (a function ID, an event
// name) before it reaches a query: Postgres refuses NUL characters and
// invalid UTF-8 with an error of its own.
func checkFilterText(op, field, s string) error {
	switch {
	case !utf8.ValidString(s):
		return fmt.Errorf("flow: %s: %s %q is not valid UTF-8", op, field, s)
	case strings.IndexByte(s, 0) >= 0:
		return fmt.Errorf("flow: %s: %s %q contains a NUL character", op, field, s)
	}
	return nil
}

// check checks a RunFilter before it reaches a query.
func (f RunFilter) check() error {
	if err := checkFilterText("ListRuns", "FunctionID", f.FunctionID); err != nil {
		return err
	}
	if f.EventID != "" && !engine.IsUUID(f.EventID) {
		return fmt.Errorf("flow: ListRuns: EventID %q is not an event ID", f.EventID)
	}
	if f.Before != "" && !engine.IsUUID(f.Before) {
		return fmt.Errorf("flow: ListRuns: Before %q is not a run ID", f.Before)
	}
	return nil
}
