package flow_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
)

// nextMessage reads sub's next message, failing the test after 10 s.
func nextMessage(t *testing.T, sub *flow.Subscription) flow.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := sub.Next(ctx)
	require.NoError(t, err)
	return m
}

// readUntil reads sub's messages up to and including the first of topic
// end, and returns those before it.
func readUntil(t *testing.T, sub *flow.Subscription, end string) []flow.Message {
	t.Helper()
	var out []flow.Message
	for {
		m := nextMessage(t, sub)
		if m.Topic == end {
			return out
		}
		out = append(out, m)
	}
}

func messageID(t *testing.T, m flow.Message) int64 {
	t.Helper()
	n, err := strconv.ParseInt(m.ID, 10, 64)
	require.NoError(t, err)
	return n
}

type progress struct {
	Step int    `json:"step"`
	Note string `json:"note,omitempty"`
}

// A durable Publish is a step: a later step's retry replays the handler
// from the top, and the message is neither published again nor stored
// twice.
func TestPublishNotResentAfterRetry(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	var flaky atomic.Int32
	c := flowtest.ClientOn(t, pool, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "publisher"}, flow.EventTrigger("job/started"),
			func(ctx context.Context, in flow.Input[map[string]any]) (any, error) {
				if err := flow.Publish(ctx, "announce", "job-1", "progress", progress{Step: 1}); err != nil {
					return nil, err
				}
				_, err := flow.Step(ctx, "flaky", func(ctx context.Context) (int, error) {
					if flaky.Add(1) < 3 {
						return 0, errors.New("not yet")
					}
					return 1, nil
				})
				if err != nil {
					return nil, err
				}
				return nil, flow.Publish(ctx, "done", "job-1", "progress", progress{Step: 2})
			})
		require.NoError(t, err)
	})
	ctx := testCtx(t)
	sub, err := c.Subscribe(ctx, "job-1")
	require.NoError(t, err)
	t.Cleanup(func() { _ = sub.Close() })

	run := awaitOnly(t, c, flow.Event{Name: "job/started", Data: map[string]any{}})
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	require.Equal(t, int32(3), flaky.Load(), "the flaky step ran three times, replaying the handler")
	require.NoError(t, c.Publish(ctx, "job-1", "end", nil))

	got := readUntil(t, sub, "end")
	require.Len(t, got, 2, "each durable message once, though the handler ran three times")
	require.JSONEq(t, `{"step":1}`, string(got[0].Data))
	require.JSONEq(t, `{"step":2}`, string(got[1].Data))
	for _, m := range got {
		require.Equal(t, run.ID, m.RunID)
		require.Equal(t, "job-1", m.Channel)
		require.Equal(t, "progress", m.Topic)
	}
	var stored int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM flow_realtime_message WHERE channel = 'job-1' AND durable`).Scan(&stored))
	require.Equal(t, 2, stored)

	r, err := c.GetRun(ctx, run.ID)
	require.NoError(t, err)
	var kinds []string
	for _, st := range r.Steps {
		kinds = append(kinds, st.ID+"="+st.Kind)
	}
	require.Contains(t, kinds, "announce=publish")
	for _, st := range r.Steps {
		if st.ID == "announce" {
			require.JSONEq(t, fmt.Sprintf(`{"message_id":%q,"channel":"job-1","topic":"progress"}`, got[0].ID), string(st.Output),
				"the step's result says what it sent")
		}
	}
}

// Runs that publish durably at once, and goroutines that publish live at
// once, to one channel: every subscriber sees each channel's messages in
// one order, of increasing IDs, which is the stored order too, and each
// publisher's messages in the order it published them.
func TestRealtimeOrderUnderConcurrentPublishers(t *testing.T) {
	t.Parallel()
	const runs, perRun, livePublishers, perLive = 8, 5, 4, 25
	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "orderly"}, flow.EventTrigger("order/placed"),
			func(ctx context.Context, in flow.Input[progress]) (any, error) {
				for i := range perRun {
					if err := flow.Publish(ctx, fmt.Sprintf("p%d", i), "orders", "durable",
						progress{Step: i, Note: strconv.Itoa(in.Event.Data.Step)}); err != nil {
						return nil, err
					}
				}
				return nil, nil
			})
		require.NoError(t, err)
	})
	ctx := testCtx(t)
	sub, err := c.Subscribe(ctx, "orders")
	require.NoError(t, err)
	t.Cleanup(func() { _ = sub.Close() })
	second, err := c.Subscribe(ctx, "orders")
	require.NoError(t, err)
	t.Cleanup(func() { _ = second.Close() })

	events := make([]flow.Event, runs)
	for i := range events {
		events[i] = flow.Event{Name: "order/placed", Data: progress{Step: i}}
	}
	_, err = c.Send(ctx, events...)
	require.NoError(t, err)
	var wg sync.WaitGroup
	for p := range livePublishers {
		wg.Go(func() {
			for i := range perLive {
				if err := c.Publish(ctx, "orders", "live", progress{Step: i, Note: strconv.Itoa(p)}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()

	total := runs*perRun + livePublishers*perLive
	read := func(s *flow.Subscription) []flow.Message {
		out := make([]flow.Message, total)
		for i := range out {
			out[i] = nextMessage(t, s)
		}
		return out
	}
	got := read(sub)
	require.Equal(t, got, read(second), "two subscribers see one order")

	lastOf := map[string]int{} // each publisher's last step
	var prev int64
	for _, m := range got {
		id := messageID(t, m)
		require.Greater(t, id, prev, "IDs increase in delivery order")
		prev = id
		var p progress
		require.NoError(t, json.Unmarshal(m.Data, &p))
		who := m.Topic + "/" + p.Note
		if last, ok := lastOf[who]; ok {
			require.Equal(t, last+1, p.Step, "publisher %s in order", who)
		} else {
			require.Equal(t, 0, p.Step, "publisher %s starts at its first", who)
		}
		lastOf[who] = p.Step
	}
	require.Len(t, lastOf, runs+livePublishers)

	// The stored (durable) messages replay in the order they were delivered.
	replay, err := c.SubscribeAfter(ctx, "orders", "")
	require.NoError(t, err)
	t.Cleanup(func() { _ = replay.Close() })
	var durable []flow.Message
	for _, m := range got {
		if m.Topic == "durable" {
			durable = append(durable, m)
		}
	}
	for _, want := range durable {
		m := nextMessage(t, replay)
		require.Equal(t, want.ID, m.ID)
		require.JSONEq(t, string(want.Data), string(m.Data))
	}
}

// A message over Postgres's 8,000-byte notification limit travels by
// reference: it is stored (a live one too) and subscribers read it whole.
func TestRealtimeLargePayload(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	c := flowtest.ClientOn(t, pool, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "big"}, flow.EventTrigger("big/please"),
			func(ctx context.Context, in flow.Input[map[string]any]) (any, error) {
				return nil, flow.Publish(ctx, "big", "files", "durable", strings.Repeat("d", 20_000))
			})
		require.NoError(t, err)
	})
	ctx := testCtx(t)
	sub, err := c.Subscribe(ctx, "files")
	require.NoError(t, err)
	t.Cleanup(func() { _ = sub.Close() })

	big := strings.Repeat("é", 10_000) // 20,000 bytes
	require.NoError(t, c.Publish(ctx, "files", "live", big))
	require.NoError(t, c.Publish(ctx, "files", "small", "tiny"))
	awaitOnly(t, c, flow.Event{Name: "big/please", Data: map[string]any{}})

	m := nextMessage(t, sub)
	require.Equal(t, "live", m.Topic)
	var s string
	require.NoError(t, json.Unmarshal(m.Data, &s))
	require.Equal(t, big, s)
	require.Equal(t, "small", nextMessage(t, sub).Topic)
	m = nextMessage(t, sub)
	require.Equal(t, "durable", m.Topic)
	require.Len(t, m.Data, 20_002)

	var liveStored, smallStored int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE topic = 'live'), count(*) FILTER (WHERE topic = 'small')
		FROM flow_realtime_message WHERE channel = 'files'`).Scan(&liveStored, &smallStored))
	require.Equal(t, 1, liveStored, "a live message too big to notify is stored")
	require.Equal(t, 0, smallStored, "a small live message is only notified")
}

// A subscriber that reconnects with the last ID it saw gets the stored
// messages published since, in order, without the ones it had, then the
// live ones.
func TestRealtimeResumeAfterReconnect(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "resumable"}, flow.EventTrigger("doc/uploaded"),
			func(ctx context.Context, in flow.Input[map[string]any]) (any, error) {
				for i := range 2 {
					if err := flow.Publish(ctx, fmt.Sprintf("first-%d", i), "doc-7", "stage", progress{Step: i}); err != nil {
						return nil, err
					}
				}
				_, err := flow.Step(ctx, "wait-for-test", func(ctx context.Context) (int, error) {
					<-release
					return 0, nil
				})
				if err != nil {
					return nil, err
				}
				for i := 2; i < 5; i++ {
					if err := flow.Publish(ctx, fmt.Sprintf("then-%d", i), "doc-7", "stage", progress{Step: i}); err != nil {
						return nil, err
					}
				}
				return nil, nil
			})
		require.NoError(t, err)
	})
	ctx := testCtx(t)
	sub, err := c.Subscribe(ctx, "doc-7")
	require.NoError(t, err)
	ids, err := c.Send(ctx, flow.Event{Name: "doc/uploaded", Data: map[string]any{}})
	require.NoError(t, err)
	first := nextMessage(t, sub)
	require.JSONEq(t, `{"step":0}`, string(first.Data))
	require.NoError(t, sub.Close()) // the browser tab went away
	_, err = sub.Next(ctx)
	require.ErrorIs(t, err, flow.ErrSubscriptionClosed)

	close(release) // steps 1 (already published), 2, 3 and 4 go out while nobody listens
	runs, err := c.ListRuns(ctx, flow.RunFilter{EventID: ids[0]})
	require.NoError(t, err)
	require.Len(t, runs, 1)
	flowtest.AwaitStatus(t, c, runs[0].ID, flow.RunCompleted)

	resumed, err := c.SubscribeAfter(ctx, "doc-7", first.ID)
	require.NoError(t, err)
	t.Cleanup(func() { _ = resumed.Close() })
	for want := 1; want < 5; want++ {
		m := nextMessage(t, resumed)
		require.JSONEq(t, fmt.Sprintf(`{"step":%d}`, want), string(m.Data))
	}
	require.NoError(t, c.Publish(ctx, "doc-7", "stage", progress{Step: 5}))
	require.JSONEq(t, `{"step":5}`, string(nextMessage(t, resumed).Data), "then live")

	_, err = c.SubscribeAfter(ctx, "doc-7", "not-an-id")
	require.Error(t, err)
}

// Subscriptions get only their topics, live and when resuming.
func TestRealtimeTopicFilter(t *testing.T) {
	t.Parallel()
	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "topical"}, flow.EventTrigger("topic/mix"),
			func(ctx context.Context, in flow.Input[map[string]any]) (any, error) {
				for i, topic := range []string{"a", "b", "c", "a"} {
					if err := flow.Publish(ctx, fmt.Sprintf("m%d", i), "mix", topic, i); err != nil {
						return nil, err
					}
				}
				return nil, nil
			})
		require.NoError(t, err)
	})
	ctx := testCtx(t)
	onlyA, err := c.Subscribe(ctx, "mix", "a")
	require.NoError(t, err)
	t.Cleanup(func() { _ = onlyA.Close() })
	aOrC, err := c.Subscribe(ctx, "mix", "a", "c")
	require.NoError(t, err)
	t.Cleanup(func() { _ = aOrC.Close() })
	other, err := c.Subscribe(ctx, "other-channel")
	require.NoError(t, err)
	t.Cleanup(func() { _ = other.Close() })

	awaitOnly(t, c, flow.Event{Name: "topic/mix", Data: map[string]any{}})
	require.NoError(t, c.Publish(ctx, "mix", "a", "end"))
	require.NoError(t, c.Publish(ctx, "mix", "c", "end"))
	require.NoError(t, c.Publish(ctx, "other-channel", "z", "only this"))

	topics := func(ms ...flow.Message) string {
		var out []string
		for _, m := range ms {
			out = append(out, m.Topic+"="+string(m.Data))
		}
		return strings.Join(out, " ")
	}
	require.Equal(t, "a=0 a=3 a=\"end\"", topics(nextMessage(t, onlyA), nextMessage(t, onlyA), nextMessage(t, onlyA)))
	require.Equal(t, "a=0 c=2 a=3 a=\"end\" c=\"end\"", topics(nextMessage(t, aOrC), nextMessage(t, aOrC),
		nextMessage(t, aOrC), nextMessage(t, aOrC), nextMessage(t, aOrC)))
	require.Equal(t, "z=\"only this\"", topics(nextMessage(t, other)))

	stored, err := c.SubscribeAfter(ctx, "mix", "", "b", "c")
	require.NoError(t, err)
	t.Cleanup(func() { _ = stored.Close() })
	require.Equal(t, "b=1 c=2", topics(nextMessage(t, stored), nextMessage(t, stored)))
}

// Publishing checks its names and where it is called.
func TestRealtimePublishChecks(t *testing.T) {
	t.Parallel()
	c := newClient(t, flowtest.Pool(t), nil)
	ctx := testCtx(t)
	require.ErrorIs(t, flow.Publish(ctx, "id", "ch", "t", 1), flow.ErrNotInRun)
	require.ErrorIs(t, flow.PublishLive(ctx, "ch", "t", 1), flow.ErrNotInRun)
	require.ErrorContains(t, c.Publish(ctx, "", "t", 1), "channel is empty")
	require.ErrorContains(t, c.Publish(ctx, "ch", "", 1), "topic is empty")
	require.ErrorContains(t, c.Publish(ctx, strings.Repeat("c", 300), "t", 1), "over the limit")
	require.ErrorContains(t, c.Publish(ctx, "ch", "a\nb", 1), "line break")
	require.ErrorContains(t, c.Publish(ctx, "ch", "t", func() {}), "encode")
	_, err := c.Subscribe(ctx, "")
	require.ErrorContains(t, err, "channel is empty")
	_, err = c.Subscribe(ctx, "ch", "ok", "")
	require.ErrorContains(t, err, "topic is empty")
}

// Stored messages are kept for 24 hours (or RetentionPeriod, if shorter):
// the retention service deletes older ones with the old runs.
func TestRealtimeRetention(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	ctx := testCtx(t)
	big := strings.Repeat("r", 9000) // stored: over the notification limit
	count := func() (n int) {
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM flow_realtime_message`).Scan(&n))
		return n
	}
	age := func(topic string, d time.Duration) {
		_, err := pool.Exec(ctx, `UPDATE flow_realtime_message SET created_at = now() - $1::interval WHERE topic = $2`, d, topic)
		require.NoError(t, err)
	}

	c := newClient(t, pool, nil) // RetentionPeriod: 7 days, so 24 hours applies
	for _, topic := range []string{"day-old", "fresh"} {
		require.NoError(t, c.Publish(ctx, "kept", topic, big))
	}
	age("day-old", 25*time.Hour)
	_, err := c.DeleteExpired(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, count())

	cfg := testConfig()
	cfg.RetentionPeriod = time.Hour
	short := newClient(t, pool, cfg)
	require.NoError(t, short.Publish(ctx, "kept", "hours-old", big))
	age("hours-old", 2*time.Hour)
	_, err = short.DeleteExpired(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, count(), "a shorter RetentionPeriod applies")

	sub, err := c.SubscribeAfter(ctx, "kept", "")
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Stop(context.Background())) })
	require.Equal(t, "fresh", nextMessage(t, sub).Topic, "resuming starts at the oldest message kept")
}
