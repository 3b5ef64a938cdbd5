package flow

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/riverflow/flow/internal/dbsqlc"
)

// WaitOpts says which event WaitForEvent waits for.
type WaitOpts struct {
	// Event is the name of the awaited event. Required.
	Event string
	// Match, such as "data.userId", requires the awaited event's value at
	// that path to equal the triggering event's value there (a missing field
	// counts as null). Empty: any event with the name matches.
	Match string
	// Timeout is how long to wait. Required, and positive.
	Timeout time.Duration
}

type waitDetail struct {
	Event   string    `json:"event"`
	Match   string    `json:"match,omitempty"`
	Timeout string    `json:"timeout"`
	Until   time.Time `json:"until"`
}

// WaitForEvent pauses the run until an event named opts.Event (and matching
// opts.Match) is sent, and returns it; or, after opts.Timeout, returns
// ErrEventTimeout. The wait is durable: a waiting run holds no worker,
// goroutine or connection, and the run resumes within milliseconds of the
// matching event's commit, in the sender's transaction.
//
// Only events that commit after the wait is registered resume it (as in
// Inngest): an event sent before the run reaches this step does not.
// Functions must return errors other than ErrEventTimeout unchanged.
func WaitForEvent[T any](ctx context.Context, id string, opts WaitOpts) (TypedEvent[T], error) {
	var zero TypedEvent[T]
	s, err := segmentFrom(ctx)
	if err != nil {
		return zero, err
	}
	if err := validateWait(id, opts); err != nil {
		return zero, err
	}
	sid, st, seq, err := s.begin(id, kindWait)
	if err != nil {
		return zero, err
	}
	now := time.Now()
	if st != nil {
		switch st.Status {
		case stepCompleted:
			var ev storedEvent
			if err := json.Unmarshal(st.Output, &ev); err != nil {
				return zero, NonRetriable(fmt.Errorf("flow: run %s: decode event of step %q: %w", s.run.ID, sid, err))
			}
			out, err := decodeEvent[T](ev)
			if err != nil {
				return zero, NonRetriable(err)
			}
			return out, nil
		case stepTimedOut:
			return zero, ErrEventTimeout
		}
		if st.WakeAt != nil && !st.WakeAt.After(now) {
			return zero, s.expireWait(st)
		}
		s.suspendFor(suspension{wait: true, wakeAt: st.WakeAt})
		return zero, errSuspended
	}
	until := now.Add(opts.Timeout).UTC()
	var matchValue []byte = []byte("null")
	if opts.Match != "" {
		matchValue = jsonPath(s.event, opts.Match)
	}
	detail, _ := json.Marshal(waitDetail{Event: opts.Event, Match: opts.Match, Timeout: opts.Timeout.String(), Until: until})
	rec := stepRecord{id: sid, seq: seq, kind: kindWait, status: stepWaiting, attempts: 1, wakeAt: &until, detail: detail, startedAt: now}
	s.suspendFor(suspension{wait: true, wakeAt: &until, save: func(ctx context.Context, tx pgx.Tx) error {
		if err := s.saveTx(ctx, tx, rec); err != nil {
			return err
		}
		return s.c.q.WaitInsert(ctx, tx, &dbsqlc.WaitInsertParams{
			EventName: opts.Event, MatchPath: opts.Match, RunID: s.run.ID, StepID: sid,
			Kind: waitKindStep, MatchValue: matchValue, ExpiresAt: &until,
		})
	}})
	return zero, errSuspended
}

// expireWait ends a wait whose timeout passed. No event can take it
// meanwhile: senders skip runs that are executing.
func (s *segment) expireWait(st *dbsqlc.FlowStep) error {
	_, err := s.c.q.WaitDelete(context.WithoutCancel(s.ctx), s.c.pool, &dbsqlc.WaitDeleteParams{RunID: s.run.ID, StepID: st.ID})
	if err != nil {
		return s.markLostOrInterrupted(st.ID, err)
	}
	now := time.Now()
	rec := stepRecord{id: st.ID, seq: st.Seq, kind: st.Kind, status: stepTimedOut, attempts: st.Attempts,
		wakeAt: st.WakeAt, detail: st.Detail, startedAt: st.StartedAt, endedAt: &now}
	if err := s.saveFenced(rec); err != nil {
		return err
	}
	return ErrEventTimeout
}

func validateWait(id string, opts WaitOpts) error {
	if err := validateEventName(opts.Event); err != nil {
		return NonRetriable(fmt.Errorf("flow: WaitForEvent %q: %v", id, err))
	}
	if opts.Timeout <= 0 {
		return NonRetriable(fmt.Errorf("flow: WaitForEvent %q: Timeout must be positive, got %s", id, opts.Timeout))
	}
	if err := validateMatch(opts.Match); err != nil {
		return NonRetriable(fmt.Errorf("flow: WaitForEvent %q: %v", id, err))
	}
	return nil
}

func validateMatch(match string) error {
	if match == "" {
		return nil
	}
	for _, part := range strings.Split(match, ".") {
		if part == "" {
			return fmt.Errorf("Match %q is not a dotted path such as \"data.userId\"", match)
		}
	}
	return nil
}

// jsonPath returns the JSON value at a dotted path of an event ("data.x.y"),
// or null when the path is missing.
func jsonPath(ev storedEvent, path string) []byte {
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
