package flow

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/riverflow/flow/internal/engine"
	"github.com/riverflow/flow/internal/store"
)

// ErrAmbiguousID is matched (errors.Is) by the *AmbiguousIDError FindRun
// and FindEvent return when a partial ID fits more than one run or event.
var ErrAmbiguousID = errors.New("flow: ambiguous ID")

// AmbiguousIDError says that a partial ID fits more than one run or event,
// and lists them.
type AmbiguousIDError struct {
	// Kind is "run" or "event".
	Kind string
	// Partial is the partial ID as given.
	Partial string
	// Candidates are the IDs it fits, in ID order: at most MaxIDCandidates,
	// and More says whether there are others.
	Candidates []string
	More       bool
}

// MaxIDCandidates is the most IDs an AmbiguousIDError lists.
const MaxIDCandidates = 10

func (e *AmbiguousIDError) Error() string {
	more := ""
	if e.More {
		more = ", and more"
	}
	return fmt.Sprintf("flow: %s ID %q is ambiguous: it fits %s%s (give more of the ID)",
		e.Kind, e.Partial, strings.Join(e.Candidates, ", "), more)
}

// Is matches ErrAmbiguousID.
func (e *AmbiguousIDError) Is(target error) bool { return target == ErrAmbiguousID }

// FindRun returns the run whose ID begins or ends with partial, with its
// steps, as GetRun does. partial is any part of the ID's text at its start
// or its end, with or without its hyphens, in either case ("0193a2", the
// "…4f2c9e1d" the dashboard shows, or the whole ID). It returns an error
// matching ErrNotFound when no run fits, and an *AmbiguousIDError (matching
// ErrAmbiguousID) listing the candidates when several do. The lookup uses
// the primary key for a prefix and an index of the reversed ID for a
// suffix. GetRun takes only whole IDs.
func (c *Client) FindRun(ctx context.Context, partial string) (*Run, error) {
	id, err := c.findID(ctx, "run", partial, c.store.FindRuns)
	if err != nil {
		return nil, err
	}
	return c.GetRun(ctx, id)
}

// FindEvent returns the event whose ID begins or ends with partial, as
// GetEvent does; partial and the errors are those of FindRun.
func (c *Client) FindEvent(ctx context.Context, partial string) (*EventInfo, error) {
	id, err := c.findID(ctx, "event", partial, c.store.FindEvents)
	if err != nil {
		return nil, err
	}
	return c.GetEvent(ctx, id)
}

// findID resolves a partial ID of a run or an event to the one ID it fits.
func (c *Client) findID(ctx context.Context, kind, partial string,
	find func(context.Context, store.IDRange, int32) ([]string, error)) (string, error) {
	if engine.IsUUID(partial) {
		return strings.ToLower(partial), nil
	}
	digits, ok := idDigits(partial)
	if !ok {
		return "", fmt.Errorf("%w: %q is not a %s ID or part of one (hex digits and hyphens)", ErrNotFound, partial, kind)
	}
	ids, err := find(ctx, store.NewIDRange(digits), MaxIDCandidates+1)
	if err != nil {
		return "", fmt.Errorf("flow: find %s %q: %w", kind, partial, engine.SchemaError(err))
	}
	switch {
	case len(ids) == 0:
		return "", fmt.Errorf("%w: no %s ID begins or ends with %q", ErrNotFound, kind, partial)
	case len(ids) > 1:
		e := &AmbiguousIDError{Kind: kind, Partial: partial, Candidates: ids}
		if len(ids) > MaxIDCandidates {
			e.Candidates, e.More = ids[:MaxIDCandidates], true
		}
		return "", e
	}
	return ids[0], nil
}

// idDigits returns the hex digits of a partial ID, lower-cased, without its
// hyphens (and a leading "…" or "..." as the dashboard and the command line
// print a shortened ID); ok false if it has other characters, none, or more
// than an ID has.
func idDigits(partial string) (string, bool) {
	partial = strings.TrimSpace(partial)
	partial = strings.TrimPrefix(partial, "…")
	partial = strings.TrimPrefix(partial, "...")
	var b strings.Builder
	for _, r := range partial {
		switch {
		case r == '-':
		case '0' <= r && r <= '9', 'a' <= r && r <= 'f':
			b.WriteRune(r)
		case 'A' <= r && r <= 'F':
			b.WriteRune(r - 'A' + 'a')
		default:
			return "", false
		}
	}
	if b.Len() == 0 || b.Len() > 32 {
		return "", false
	}
	return b.String(), true
}
