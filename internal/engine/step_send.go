package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// SendEvent sends events from inside the run, exactly once (see the root
// SendEvent), and returns the stored events' IDs. prepare checks and encodes
// the events; it runs only for a step not yet completed, and its error
// fails the step without retries.
func (s *Segment) SendEvent(ctx context.Context, id string, prepare func() ([]PreparedEvent, error)) ([]string, error) {
	sid, st, seq, err := s.begin(ctx, id, kindSend)
	if err != nil {
		return nil, err
	}
	attempts, done, out, err := s.replayStep(st)
	if done {
		if err != nil {
			return nil, err
		}
		return decodeEventIDs(s.run.ID, sid, out)
	}
	rec := stepRecord{id: sid, seq: seq, kind: kindSend, attempts: attempts + 1, startedAt: time.Now()}
	prepared, err := prepare()
	if err != nil {
		return nil, s.stepFailed(ctx, rec, NonRetriable(err))
	}
	var ids []string
	txErr := pgx.BeginFunc(context.WithoutCancel(ctx), s.c.pool, func(tx pgx.Tx) error {
		if err := s.fence(ctx, tx); err != nil {
			return err
		}
		ids = make([]string, len(prepared))
		for i, ev := range prepared {
			if ids[i], err = s.c.sendPrepared(ctx, tx, ev); err != nil {
				return fmt.Errorf("flow: send event %q: %w", ev.Name, err)
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

// decodeEventIDs decodes a SendEvent step's stored result, the sent events'
// IDs, with the error the root's decodeOutput gives.
func decodeEventIDs(runID, sid string, out []byte) ([]string, error) {
	var ids []string
	if len(out) == 0 {
		return ids, nil
	}
	if err := json.Unmarshal(out, &ids); err != nil {
		return ids, NonRetriable(fmt.Errorf("flow: run %s: decode stored result of step %q into %T: %w", runID, sid, ids, err))
	}
	return ids, nil
}
