package flow

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/riverflow/flow/internal/engine"
	"github.com/riverflow/flow/internal/realtime"
)

// Errors of realtime subscriptions and tokens.
var (
	// ErrSubscriptionClosed is returned by Subscription.Next once the
	// subscription is closed (Close, or Stop of its client).
	ErrSubscriptionClosed = realtime.ErrSubscriptionClosed

	// ErrMessagesDropped is returned by Subscription.Next, at the gap, after
	// live messages (PublishLive, Client.Publish) were dropped because the
	// subscriber read too slowly; the error says how many. The subscription
	// stays open and goes on. Durable messages are never dropped (see
	// Subscription).
	ErrMessagesDropped = realtime.ErrMessagesDropped

	// ErrInvalidToken is the cause of a realtime token that is malformed,
	// forged or expired.
	ErrInvalidToken = realtime.ErrInvalidToken

	// ErrNoRealtimeSecret is returned by RealtimeToken when
	// Config.RealtimeSecret is not set.
	ErrNoRealtimeSecret = realtime.ErrNoSecret
)

// Message is a realtime message, as a subscriber receives it.
type Message struct {
	// ID orders the messages of a channel: pass the last one received to
	// SubscribeAfter to resume. It is a decimal number, unique across
	// channels, increasing within a channel in the order of delivery.
	ID      string          `json:"id"`
	Channel string          `json:"channel"`
	Topic   string          `json:"topic"`
	Data    json.RawMessage `json:"data"`
	// RunID is the publishing run's ID, or "" when not published from a
	// run.
	RunID string    `json:"run_id,omitempty"`
	Time  time.Time `json:"time"`
}

// Publish publishes data, encoded as JSON, to topic of channel from inside a
// run, exactly once: a durable step under stepID. The message is numbered,
// stored and notified in the transaction that stores the step, so a replay,
// or a retry of a later step, never sends it again, and a subscriber that
// reconnects within 24 hours gets it (SubscribeAfter). Outside a run it
// returns ErrNotInRun. Data that does not encode, an empty channel or topic,
// or one over 256 bytes, fails the step without retries.
func Publish(ctx context.Context, stepID, channel, topic string, data any) error {
	s, err := engine.FromContext(ctx)
	if err != nil {
		return err
	}
	b, encErr := json.Marshal(data)
	if encErr != nil {
		encErr = fmt.Errorf("flow: encode realtime message: %w", encErr)
	}
	return s.Publish(ctx, stepID, channel, topic, b, encErr)
}

// PublishLive publishes data, encoded as JSON, to topic of channel at once,
// from inside a run (also inside a step): not a step, and not memoized, so
// a retried step publishes again. It is the cheap form for token streams:
// one statement that numbers and notifies the message, which is stored only
// when over Postgres's notification limit (about 7,900 bytes encoded);
// subscribers that resume after a gap do not get the live messages of the
// gap that were not stored. Outside a run it returns ErrNotInRun: use
// Client.Publish.
func PublishLive(ctx context.Context, channel, topic string, data any) error {
	b, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("flow: encode realtime message: %w", err)
	}
	return engine.PublishLiveInRun(ctx, channel, topic, b)
}

// Publish publishes data, encoded as JSON, to topic of channel at once, as
// PublishLive does, from anywhere. Inside a run, the message carries the
// run's ID.
func (c *Client) Publish(ctx context.Context, channel, topic string, data any) error {
	b, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("flow: encode realtime message: %w", err)
	}
	return c.e.PublishLive(ctx, channel, topic, b, engine.RunIDFromContext(ctx))
}

// Subscription receives the messages of a channel (Subscribe) or of a run
// (SubscribeRun), in order, from one LISTEN connection that the client's
// subscriptions share. Read it with Next from one goroutine; Close it when
// done (Stop of the client closes it too).
//
// Back-pressure: each subscription buffers 1,024 notified messages. When
// the buffer is full the message is dropped for that subscription (the
// listener never waits) and the subscription is marked behind: after the
// messages from before the gap, Next returns an error wrapping
// ErrMessagesDropped with how many live messages were lost, then reads the
// stored messages after the last one it returned from the database, so
// durable messages (and live ones too big to notify) are never lost and
// stay in order. The same catch-up follows a lost LISTEN connection,
// silently (live messages published meanwhile are lost).
//
// Within a channel, messages arrive in ID order. A run's subscription
// (SubscribeRun) spans channels, whose IDs interleave: it delivers each
// message once, in the order notified.
type Subscription struct {
	s *realtime.Subscription
}

// Subscribe returns a subscription to the messages published to channel
// from now on, of the given topics (all topics when none are given).
func (c *Client) Subscribe(ctx context.Context, channel string, topics ...string) (*Subscription, error) {
	return c.subscribe(ctx, channel, "", topics, false, 0)
}

// SubscribeAfter returns a subscription to channel's messages after the
// message afterID (a Message.ID received before), of the given topics (all
// when none are given): it first delivers the stored messages published
// since, then goes on live. An empty afterID starts from the oldest stored
// message. Messages are stored for 24 hours (or Config.RetentionPeriod,
// if shorter); live messages are stored only when over the notification
// limit, so resuming skips the others.
func (c *Client) SubscribeAfter(ctx context.Context, channel, afterID string, topics ...string) (*Subscription, error) {
	after, err := parseMessageID(afterID)
	if err != nil {
		return nil, err
	}
	return c.subscribe(ctx, channel, "", topics, true, after)
}

// SubscribeRun returns a subscription to the messages that run runID
// publishes, on any channel and topic: first the stored ones after afterID
// ("" for all), then live. It is for the app's own tools (the dashboard's
// run page uses it); it checks no authorization.
func (c *Client) SubscribeRun(ctx context.Context, runID, afterID string) (*Subscription, error) {
	if !engine.IsUUID(runID) {
		return nil, fmt.Errorf("flow: SubscribeRun: %w: %q", ErrNotFound, runID)
	}
	after, err := parseMessageID(afterID)
	if err != nil {
		return nil, err
	}
	return c.subscribe(ctx, "", runID, nil, true, after)
}

func (c *Client) subscribe(ctx context.Context, channel, runID string, topics []string, resume bool, after int64) (*Subscription, error) {
	if runID == "" {
		if err := realtime.CheckChannel(channel); err != nil {
			return nil, err
		}
	}
	for _, t := range topics {
		if err := realtime.CheckTopic(t); err != nil {
			return nil, err
		}
	}
	s, err := c.e.Realtime().Subscribe(ctx, channel, runID, topics, resume, after)
	if err != nil {
		return nil, err
	}
	return &Subscription{s: s}, nil
}

func parseMessageID(id string) (int64, error) {
	if id == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("flow: %q is not a realtime message ID", id)
	}
	return n, nil
}

// Next returns the next message, waiting until one arrives or ctx ends. It
// returns an error wrapping ErrSubscriptionClosed once the subscription is
// closed, and one wrapping ErrMessagesDropped (the subscription goes on)
// where live messages were dropped.
func (s *Subscription) Next(ctx context.Context) (Message, error) {
	m, err := s.s.Next(ctx)
	if err != nil {
		return Message{}, err
	}
	return Message{ID: strconv.FormatInt(m.ID, 10), Channel: m.Channel, Topic: m.Topic, Data: m.Data, RunID: m.RunID, Time: m.Time}, nil
}

// Close ends the subscription; a Next waiting in another goroutine returns
// ErrSubscriptionClosed. It always returns nil.
func (s *Subscription) Close() error { return s.s.Close() }
