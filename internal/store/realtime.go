package store

import (
	"context"
	"time"

	"github.com/riverflow/flow/internal/dbsqlc"
)

// RealtimeMessage is a published realtime message as stored or notified.
type RealtimeMessage struct {
	ID      int64
	Channel string
	Topic   string
	Data    []byte
	RunID   string // "" when not published from a run
	Time    time.Time
}

// RealtimePublish numbers message m in its channel's order (m.ID is
// ignored), stores it when durable or when it is too big for a
// notification, and notifies the listeners, all in db: a transaction's
// message is stored and delivered only if it commits. It returns the ID.
func (s *Store) RealtimePublish(ctx context.Context, db DB, m RealtimeMessage, durable bool) (int64, error) {
	var run *string
	if m.RunID != "" {
		run = &m.RunID
	}
	return s.q.RealtimePublish(ctx, db, &dbsqlc.RealtimePublishParams{
		Channel: m.Channel, Topic: m.Topic, Data: m.Data, RunID: run, Durable: durable, At: m.Time,
	})
}

// RealtimeMessage returns the stored message id (pgx.ErrNoRows once pruned).
func (s *Store) RealtimeMessage(ctx context.Context, id int64) (RealtimeMessage, error) {
	r, err := s.q.RealtimeMessageGet(ctx, s.pool, id)
	if err != nil {
		return RealtimeMessage{}, err
	}
	return RealtimeMessage{ID: r.ID, Channel: r.Channel, Topic: r.Topic, Data: r.Data, RunID: deref(r.RunID), Time: r.CreatedAt}, nil
}

// RealtimeAfter returns up to max stored messages after afterID, in ID
// order, of channel or, when channel is "", published by run runID; of
// the given topics only, unless topics is empty.
func (s *Store) RealtimeAfter(ctx context.Context, channel, runID string, afterID int64, topics []string, max int) ([]RealtimeMessage, error) {
	if topics == nil {
		topics = []string{}
	}
	var out []RealtimeMessage
	if channel != "" {
		rows, err := s.q.RealtimeChannelAfter(ctx, s.pool, &dbsqlc.RealtimeChannelAfterParams{
			Channel: channel, AfterID: afterID, Topics: topics, Max: int32(max),
		})
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			out = append(out, RealtimeMessage{ID: r.ID, Channel: r.Channel, Topic: r.Topic, Data: r.Data, RunID: deref(r.RunID), Time: r.CreatedAt})
		}
		return out, nil
	}
	rows, err := s.q.RealtimeRunAfter(ctx, s.pool, &dbsqlc.RealtimeRunAfterParams{
		RunID: runID, AfterID: afterID, Topics: topics, Max: int32(max),
	})
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		out = append(out, RealtimeMessage{ID: r.ID, Channel: r.Channel, Topic: r.Topic, Data: r.Data, RunID: deref(r.RunID), Time: r.CreatedAt})
	}
	return out, nil
}

// RealtimeLastID returns the newest stored message ID of channel or, when
// channel is "", of run runID (0 for none).
func (s *Store) RealtimeLastID(ctx context.Context, channel, runID string) (int64, error) {
	if channel != "" {
		return s.q.RealtimeChannelLastID(ctx, s.pool, channel)
	}
	return s.q.RealtimeRunLastID(ctx, s.pool, runID)
}

// RealtimeDeleteOld deletes the stored messages created before before, in
// batches, and returns how many it deleted.
func (s *Store) RealtimeDeleteOld(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	for {
		n, err := s.q.RealtimeDeleteOld(ctx, s.pool, &dbsqlc.RealtimeDeleteOldParams{Before: before, Max: retentionBatch})
		total += n
		if err != nil || n < retentionBatch {
			return total, err
		}
	}
}

// ListenRealtime subscribes db, a dedicated connection, to the
// notifications of RealtimePublish.
func (s *Store) ListenRealtime(ctx context.Context, db DB) error {
	return s.q.ListenRealtime(ctx, db)
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
