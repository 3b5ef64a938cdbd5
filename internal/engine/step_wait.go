package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/riverflow/flow/internal/store"
)

// waitSpec is one event a wait step waits for: WaitOpts, validated.
type Wait struct {
	Event, Match, If  string
	Timeout, Lookback time.Duration
}

type waitDetail struct {
	Event    string    `json:"event"`
	Match    string    `json:"match,omitempty"`
	If       string    `json:"if,omitempty"`
	Timeout  string    `json:"timeout"`
	Lookback string    `json:"lookback,omitempty"`
	Until    time.Time `json:"until"`
}

// WaitForEvents pauses the run until one of opts' events is sent (see the
// root WaitForAnyEvent; opts were validated by the caller). It returns the
// stored event that came first, as JSON, and the stored step ID (for the
// caller's decode errors); or ErrEventTimeout, or the step's error.
func (s *Segment) WaitForEvents(ctx context.Context, id string, opts []Wait) ([]byte, string, error) {
	sid, st, seq, err := s.begin(ctx, id, kindWait)
	if err != nil {
		return nil, "", err
	}
	now := time.Now()
	if st != nil {
		switch st.Status {
		case stepCompleted:
			return st.Output, sid, nil
		case stepTimedOut:
			return nil, sid, ErrEventTimeout
		case stepFailed:
			return nil, sid, storedWaitError(s, st)
		}
		if st.WakeAt != nil && !st.WakeAt.After(now) {
			body, err := s.expireWait(st)
			if err != nil {
				return nil, sid, err
			}
			return body, sid, nil // an event came first
		}
		s.suspendFor(ctx, suspension{wait: true, wakeAt: st.WakeAt, resumeOf: st.ID})
		return nil, sid, errSuspended
	}

	first := opts[0]
	until := now.Add(first.Timeout).UTC()
	if err := checkTime(sid, "timeout", until); err != nil {
		return nil, sid, err
	}
	matchValues := make([][]byte, len(opts))
	details := make([]waitDetail, len(opts))
	for i, o := range opts {
		matchValues[i] = []byte("null")
		if o.Match != "" {
			matchValues[i] = jsonPath(s.event, o.Match)
		}
		details[i] = waitDetail{Event: o.Event, Match: o.Match, If: o.If, Timeout: first.Timeout.String(), Until: until}
		if first.Lookback > 0 {
			details[i].Lookback = first.Lookback.String()
		}
	}
	rec := stepRecord{id: sid, seq: seq, kind: kindWait, status: stepWaiting, attempts: 1, wakeAt: &until, startedAt: now}
	if len(details) == 1 {
		rec.detail, _ = json.Marshal(details[0])
	} else {
		rec.detail, _ = json.Marshal(details)
	}
	for i, o := range opts {
		if o.Match != "" && string(matchValues[i]) == "null" {
			// A wait on null would resume on any event that also lacks
			// the value: a typo in Match would resume the run at random.
			rec.wakeAt = nil
			return nil, sid, s.stepFailed(ctx, rec, NonRetriable(fmt.Errorf(
				"%w: WaitForEvent %q of run %s: Match %q (a wait on a missing value would match every event that lacks it too)",
				ErrMatchMissing, sid, s.run.ID, o.Match)))
		}
	}

	// An event already stored within the lookback window satisfies the
	// wait at once.
	if first.Lookback > 0 {
		ev, err := s.findLookback(sid, opts, matchValues, now.Add(-first.Lookback))
		if errors.Is(err, ErrExpressionCost) {
			rec.wakeAt = nil
			return nil, sid, s.stepFailed(ctx, rec, NonRetriable(err))
		}
		if err != nil {
			return nil, sid, s.markLostOrInterrupted(sid, err)
		}
		if ev != nil {
			body, _ := json.Marshal(ev)
			rec.status, rec.output, rec.endedAt = stepCompleted, body, &now
			if err := s.mustSave(rec); err != nil {
				return nil, sid, err
			}
			return body, sid, nil
		}
	}

	s.suspendFor(ctx, suspension{wait: true, wakeAt: &until, save: func(ctx context.Context, tx pgx.Tx) error {
		if err := s.saveTx(ctx, tx, rec); err != nil {
			return err
		}
		if strings.HasPrefix(sid, cancelOnStepPrefix) {
			// A CancelOn row stored by an earlier version under this step
			// ID and alt 0 would make the wait's insert a no-op.
			if err := s.c.store.RekeyCancelWait(ctx, tx, s.run.ID, sid); err != nil {
				return err
			}
		}
		for i, o := range opts {
			if err := s.c.store.InsertWait(ctx, tx, store.Wait{
				EventName: o.Event, MatchPath: o.Match, RunID: s.run.ID, StepID: sid, Alt: int32(i),
				Kind: waitKindStep, MatchValue: matchValues[i], Expression: o.If, ExpiresAt: &until,
			}); err != nil {
				return err
			}
		}
		return nil
	}, after: func(ctx context.Context) {
		if first.Lookback > 0 {
			// An event that committed while the wait was being registered
			// was seen neither by the lookback query nor by its sender.
			s.c.resolveLateWait(ctx, s, sid, opts, matchValues, now.Add(-first.Lookback))
		}
	}})
	return nil, sid, errSuspended
}

// storedWaitError is the StepError of a wait that failed: its condition
// went over Config.MaxExpressionCost, or its Match had no value. Its cause
// still matches the sentinel with errors.Is after a replay.
func storedWaitError(s *Segment, st *store.Step) error {
	e := s.storedStepError(st)
	for _, sentinel := range []error{ErrExpressionCost, ErrMatchMissing} {
		if rest, ok := strings.CutPrefix(e.Message, sentinel.Error()); ok {
			e.cause = fmt.Errorf("%w%s", sentinel, rest)
		}
	}
	return e
}

// expireWait ends a wait whose timeout passed, unless an event took it
// first (a sender may resolve the waits of an executing run): then it returns
// that event. The wait's row decides: whoever deletes it wins.
func (s *Segment) expireWait(st *store.Step) ([]byte, error) {
	ctx := context.WithoutCancel(s.ctx)
	deleted, err := s.c.store.DeleteWait(ctx, s.c.pool, s.run.ID, st.ID)
	if err != nil {
		return nil, s.markLostOrInterrupted(st.ID, err)
	}
	if !deleted {
		cur, err := s.c.store.GetStep(ctx, s.c.pool, s.run.ID, st.ID)
		if err != nil {
			return nil, s.markLostOrInterrupted(st.ID, err)
		}
		if cur.Status == stepCompleted {
			return cur.Output, nil
		}
	}
	now := time.Now()
	rec := stepRecord{id: st.ID, seq: st.Seq, kind: st.Kind, status: stepTimedOut, attempts: st.Attempts,
		wakeAt: st.WakeAt, detail: st.Detail, startedAt: st.StartedAt, endedAt: &now}
	out, err := s.storeStep(rec)
	switch {
	case err != nil:
		return nil, s.markLostOrInterrupted(st.ID, storeError(s.run.ID, st.ID, err))
	case out == saveLost:
		return nil, s.markLostOrInterrupted(st.ID, errLost)
	case out == saveRefused:
		// The step ended meanwhile: its stored end stands.
		cur, err := s.c.store.GetStep(ctx, s.c.pool, s.run.ID, st.ID)
		if err != nil {
			return nil, s.markLostOrInterrupted(st.ID, err)
		}
		if cur.Status == stepCompleted {
			return cur.Output, nil
		}
	}
	return nil, ErrEventTimeout
}
