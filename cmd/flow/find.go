package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/riverflow/flow"
)

// findRun returns the run whose ID begins or ends with arg (flow.FindRun),
// with the command line's wording for no run and for an ambiguous ID.
func findRun(ctx context.Context, c *flow.Client, arg string) (*flow.Run, error) {
	r, err := c.FindRun(ctx, arg)
	return r, findError("run", arg, err)
}

// findEvent is findRun for events (flow.FindEvent).
func findEvent(ctx context.Context, c *flow.Client, arg string) (*flow.EventInfo, error) {
	ev, err := c.FindEvent(ctx, arg)
	return ev, findError("event", arg, err)
}

// findError words a find's error: "no run ...", or the IDs an ambiguous
// partial ID fits, one a line.
func findError(kind, arg string, err error) error {
	var amb *flow.AmbiguousIDError
	switch {
	case errors.As(err, &amb):
		more := ""
		if amb.More {
			more = "\n  ..."
		}
		return fmt.Errorf("%s ID %q is ambiguous; it fits:\n  %s%s\ngive more of the ID", kind, arg,
			strings.Join(amb.Candidates, "\n  "), more)
	case errors.Is(err, flow.ErrNotFound):
		return fmt.Errorf("no %s %q (give a whole ID, or the start or end of one)", kind, arg)
	}
	return err
}
