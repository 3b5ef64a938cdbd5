package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/riverflow/flow/internal/expr"
	"github.com/riverflow/flow/internal/store"
)

// Kinds of flow_wait rows.
const (
	waitKindStep   = "wait"   // a WaitForEvent step
	waitKindCancel = "cancel" // a CancelOn condition
)

// CancelOn condition n is stored in flow_wait under step ID "cancel:<n>"
// and alt cancelOnAlt, which no wait uses (a wait's alternatives count from
// 0): a WaitForEvent on step "cancel:0" of the same run is another row.
const (
	cancelOnStepPrefix = "cancel:"
	cancelOnAlt        = -1
)

// registerCancelOn records the function's CancelOn conditions for a run's
// first segment, and reports an event that already satisfies one (sent
// between the trigger and now).
func (s *Segment) registerCancelOn(ctx context.Context) (string, error) {
	for i, co := range s.fn.cancelOn {
		var expires *time.Time
		if co.Timeout > 0 {
			t := s.run.CreatedAt.Add(co.Timeout)
			expires = &t
		}
		matchValue := []byte("null")
		if co.Match != "" {
			matchValue = jsonPath(s.event, co.Match)
			if string(matchValue) == "null" {
				// It could only match events that lack the value too: a
				// typo would cancel the run on any such event.
				s.c.cfg.Logger.WarnContext(ctx, "flow: CancelOn not registered: the triggering event has no value at its Match path",
					"run_id", s.run.ID, "function_id", s.fn.id, "cancel_on", i, "match", co.Match)
				continue
			}
		}
		stepID := fmt.Sprintf("%s%d", cancelOnStepPrefix, i)
		if err := s.c.store.InsertWait(ctx, s.c.pool, store.Wait{
			EventName: co.Event, MatchPath: co.Match, RunID: s.run.ID, StepID: stepID, Alt: cancelOnAlt, Kind: waitKindCancel,
			MatchValue: matchValue, Expression: co.If, ExpiresAt: expires,
		}); err != nil {
			return "", fmt.Errorf("register CancelOn %d: %w", i, err)
		}
		ev, _, err := s.c.findStoredMatch(ctx, s.c.pool, s.event, co.Event, co.Match, matchValue, co.If, s.run.EventReceivedAt)
		if errors.Is(err, expr.ErrCostLimit) {
			s.c.cfg.Logger.WarnContext(ctx, "flow: CancelOn condition over its cost limit; no match", "run_id", s.run.ID,
				"error", s.c.costError(s.fn.id, fmt.Sprintf("CancelOn[%d].If", i), co.If))
			continue
		}
		if err != nil {
			return "", err
		}
		if ev != nil {
			return fmt.Sprintf("cancelled by event %q (%s)", ev.Name, ev.ID), nil
		}
	}
	return "", nil
}
