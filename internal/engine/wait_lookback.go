package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverflow/flow/internal/expr"
	"github.com/riverflow/flow/internal/store"
)

// findStoredMatch returns the first stored event named name received since
// since (other than the trigger itself) that matches a wait or cancel
// condition, with the time it was received, or nil. A condition over
// Config.MaxExpressionCost is an error wrapping expr.ErrCostLimit, for the
// caller to name.
func (c *Engine) findStoredMatch(ctx context.Context, db store.DB, trigger StoredEvent, name, match string, matchValue []byte, cond string, since time.Time) (*StoredEvent, time.Time, error) {
	rows, err := c.store.ListEventsForWait(ctx, db, store.EventsForWait{
		Name: name, Since: since, ExcludeID: trigger.ID, MatchPath: match, MatchValue: matchValue, Max: 100,
	})
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("look for stored events %q: %w", name, err)
	}
	triggerJSON, _ := json.Marshal(trigger)
	for _, r := range rows {
		ev := StoredEvent{ID: r.ID, Name: r.Name, Data: r.Data, TS: r.Ts}
		if r.DedupeID != nil {
			ev.DedupeID = *r.DedupeID
		}
		if cond != "" {
			body, _ := json.Marshal(ev)
			ok, err := c.evalCondition(cond, triggerJSON, body)
			if err != nil {
				return nil, time.Time{}, err
			}
			if !ok {
				continue
			}
		}
		return &ev, r.ReceivedAt, nil
	}
	return nil, time.Time{}, nil
}

// findLookback returns the first stored event (by arrival) since since that
// satisfies any of the waits of step sid. A condition over
// Config.MaxExpressionCost is an error wrapping ErrExpressionCost.
func (s *Segment) findLookback(sid string, opts []Wait, matchValues [][]byte, since time.Time) (*StoredEvent, error) {
	var best *StoredEvent
	var bestAt time.Time
	for i, o := range opts {
		ev, at, err := s.c.findStoredMatch(context.WithoutCancel(s.ctx), s.c.pool, s.event, o.Event, o.Match, matchValues[i], o.If, since)
		if errors.Is(err, expr.ErrCostLimit) {
			return nil, s.c.costError(s.fn.id, "WaitForEvent "+strconv.Quote(sid)+" If", o.If)
		}
		if err != nil {
			return nil, err
		}
		if ev != nil && (best == nil || at.Before(bestAt)) {
			best, bestAt = ev, at
		}
	}
	return best, nil
}

// resolveLateWait gives a just-registered wait an event stored within its
// lookback window, if one arrived while it was being registered.
func (c *Engine) resolveLateWait(ctx context.Context, s *Segment, stepID string, opts []Wait, matchValues [][]byte, since time.Time) {
	ev, err := s.findLookback(stepID, opts, matchValues, since)
	var body []byte
	var errMsg *string
	status := stepCompleted
	switch {
	case errors.Is(err, ErrExpressionCost): // the wait fails, as when a sender finds it so
		msg := err.Error()
		status, errMsg = stepFailed, &msg
	case err != nil || ev == nil:
		return
	default:
		body, _ = json.Marshal(ev)
	}
	err = pgx.BeginFunc(ctx, c.pool, func(tx pgx.Tx) error {
		if _, err := c.store.LockOpenRun(ctx, tx, s.run.ID); err != nil {
			return err
		}
		deleted, err := c.store.DeleteWait(ctx, tx, s.run.ID, stepID)
		if err != nil || !deleted {
			return err
		}
		if err := c.resolveStep(ctx, tx, s.run.ID, stepID, status, body, errMsg); err != nil || ev == nil {
			return err
		}
		return c.store.InsertEventEffect(ctx, tx, ev.ID, s.run.ID, stepID, store.EffectResumed)
	})
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		c.cfg.Logger.WarnContext(ctx, "flow: resolve wait from lookback", "run_id", s.run.ID, "step_id", stepID, "error", err)
	}
}

// jsonPath returns the JSON value at a dotted path of an event ("data.x.y"),
// or null when the path is missing.
func jsonPath(ev StoredEvent, path string) []byte {
	root, _ := json.Marshal(ev)
	var cur any
	if err := json.Unmarshal(root, &cur); err != nil {
		return []byte("null")
	}
	for _, part := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return []byte("null")
		}
		cur = m[part]
	}
	out, err := json.Marshal(cur)
	if err != nil {
		return []byte("null")
	}
	return out
}
