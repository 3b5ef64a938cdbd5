package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/riverflow/flow/internal/realtime"
	"github.com/riverflow/flow/internal/store"
)

// kindPublish is the stored kind of a Publish step (see segment.go for the
// others).
const kindPublish = "publish"

// Publish publishes a realtime message from inside the run, exactly once:
// the message is numbered, stored and notified in the transaction that
// stores the step, so a replay or a retry of a later step never sends it
// again (see the root Publish). data is the encoded message; encodeErr, an
// error encoding it, fails the step without retries.
func (s *Segment) Publish(ctx context.Context, id, channel, topic string, data []byte, encodeErr error) error {
	sid, st, seq, err := s.begin(ctx, id, kindPublish)
	if err != nil {
		return err
	}
	attempts, done, _, err := s.replayStep(st)
	if done {
		return err
	}
	rec := stepRecord{id: sid, seq: seq, kind: kindPublish, attempts: attempts + 1, startedAt: time.Now()}
	if encodeErr == nil {
		encodeErr = realtime.CheckNames(channel, topic)
	}
	if encodeErr == nil {
		encodeErr = s.c.checkRealtimeSize(len(data))
	}
	if encodeErr != nil {
		return s.stepFailed(ctx, rec, NonRetriable(encodeErr))
	}
	txErr := pgx.BeginFunc(context.WithoutCancel(ctx), s.c.pool, func(tx pgx.Tx) error {
		if err := s.fence(ctx, tx); err != nil {
			return err
		}
		msgID, err := s.c.realtime.Publish(ctx, tx, store.RealtimeMessage{
			Channel: channel, Topic: topic, Data: data, RunID: s.run.ID,
		}, true)
		if err != nil {
			return err
		}
		// The stored result says what was sent, for the dashboard and the
		// command line; a replay reads nothing back from it.
		out, _ := json.Marshal(publishedStep{MessageID: strconv.FormatInt(msgID, 10), Channel: channel, Topic: topic})
		now := time.Now()
		rec.status, rec.output, rec.endedAt = stepCompleted, out, &now
		return s.saveTx(ctx, tx, rec)
	})
	if txErr != nil {
		return s.txFailed(ctx, rec, txErr)
	}
	return nil
}

// publishedStep is the stored result of a Publish step.
type publishedStep struct {
	MessageID string `json:"message_id"`
	Channel   string `json:"channel"`
	Topic     string `json:"topic"`
}

// PublishLive publishes a message that is not a step: numbered and
// notified at once, stored only when too big for a notification (see the
// root PublishLive). runID is the publishing run's, or "".
func (c *Engine) PublishLive(ctx context.Context, channel, topic string, data []byte, runID string) error {
	if err := realtime.CheckNames(channel, topic); err != nil {
		return err
	}
	if err := c.checkRealtimeSize(len(data)); err != nil {
		return err
	}
	_, err := c.realtime.Publish(ctx, c.pool, store.RealtimeMessage{Channel: channel, Topic: topic, Data: data, RunID: runID}, false)
	return err
}

// checkRealtimeSize refuses messages over Config.MaxStepOutputBytes.
func (c *Engine) checkRealtimeSize(n int) error {
	if n > c.cfg.MaxStepOutputBytes {
		return fmt.Errorf("flow: realtime message is %d bytes, over the limit of %d (Config.MaxStepOutputBytes)", n, c.cfg.MaxStepOutputBytes)
	}
	return nil
}

// RunIDFromContext returns the ID of the run executing in ctx, inside a
// step too, or "" outside a run.
func RunIDFromContext(ctx context.Context) string {
	if s, _ := ctx.Value(segmentKey{}).(*Segment); s != nil {
		return s.run.ID
	}
	return ""
}

// Realtime returns the engine's realtime hub: its listener and
// subscriptions.
func (c *Engine) Realtime() *realtime.Hub { return c.realtime }

// PublishLiveInRun is PublishLive for the run executing in ctx (inside a
// step too): ErrNotInRun outside a run.
func PublishLiveInRun(ctx context.Context, channel, topic string, data []byte) error {
	s, _ := ctx.Value(segmentKey{}).(*Segment)
	if s == nil {
		return ErrNotInRun
	}
	return s.c.PublishLive(ctx, channel, topic, data, s.run.ID)
}

// RealtimeRetention is how long stored realtime messages are kept for
// subscribers to resume from (at most Config.RetentionPeriod).
const RealtimeRetention = 24 * time.Hour

// deleteExpiredRealtime deletes stored realtime messages older than
// RealtimeRetention (or RetentionPeriod, if shorter).
func (c *Engine) deleteExpiredRealtime(ctx context.Context) error {
	_, err := c.store.RealtimeDeleteOld(ctx, time.Now().Add(-min(RealtimeRetention, c.cfg.RetentionPeriod)))
	return err
}
