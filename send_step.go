package flow

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// SendEvent sends events from inside a run, exactly once: the events and the
// step's record commit in one transaction, so a replay or a retry never sends
// them again. It returns the stored events' IDs. Invalid events fail the
// step without retries.
func SendEvent(ctx context.Context, id string, events ...Event) ([]string, error) {
	s, err := segmentFrom(ctx)
	if err != nil {
		return nil, err
	}
	sid, st, seq, err := s.begin(ctx, id, kindSend)
	if err != nil {
		return nil, err
	}
	attempts, done, ids, err := replayStep[[]string](s, st)
	if done {
		return ids, err
	}
	rec := stepRecord{id: sid, seq: seq, kind: kindSend, attempts: attempts + 1, startedAt: time.Now()}
	prepared, err := s.c.prepareEvents(events)
	if err != nil {
		return nil, s.stepFailed(ctx, rec, NonRetriable(err))
	}
	txErr := pgx.BeginFunc(context.WithoutCancel(ctx), s.c.pool, func(tx pgx.Tx) error {
		if err := s.fence(ctx, tx); err != nil {
			return err
		}
		ids = make([]string, len(prepared))
		for i, ev := range prepared {
			if ids[i], err = s.c.sendPrepared(ctx, tx, ev); err != nil {
				return fmt.Errorf("flow: send event %q: %w", ev.name, err)
			}
		}
		out, _ := json.Marshal(ids)
		now := time.Now()
		rec.status, rec.output, rec.endedAt = stepCompleted, out, &now
		return s.saveTx(ctx, tx, rec)
	})
	if txErr != nil {
		return nil, s.txFailed(ctx, rec, txErr)
	}
	return ids, nil
}
