package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/riverflow/flow"
)

// rtStamp is a realtime message's data in the realtime scenario: when its
// publish was called, and padding to make it big.
type rtStamp struct {
	At  int64  `json:"at"` // UnixNano, before the publish call
	Pad string `json:"pad,omitempty"`
}

// runRealtime measures publish → receive latency (riverflow only): the
// publish call's start to the subscriber's Next returning the message, one
// message at a time, for a live publish (Client.Publish), a live message too
// big to notify (sent by reference), and a durable Publish from a run.
func runRealtime(ctx context.Context, e *env, round int) error {
	if !e.want(sysFlow) {
		return nil
	}
	pool, drop, err := e.flowDB(ctx)
	if err != nil {
		return err
	}
	defer drop()
	c, err := e.startFlow(ctx, pool, nil, func(c *flow.Client) error {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "announcer"}, flow.EventTrigger("bench/announce"),
			func(ctx context.Context, in flow.Input[map[string]any]) (any, error) {
				return nil, flow.Publish(ctx, "announce", "bench", "durable", rtStamp{At: time.Now().UnixNano()})
			})
		return err
	})
	if err != nil {
		return err
	}
	defer stopFlow(c)
	sub, err := c.Subscribe(ctx, "bench")
	if err != nil {
		return err
	}
	defer sub.Close()

	n := e.sz.latencySamples
	receive := func() (time.Duration, error) {
		wait, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		m, err := sub.Next(wait)
		if err != nil {
			return 0, err
		}
		got := time.Now()
		var s rtStamp
		if err := json.Unmarshal(m.Data, &s); err != nil {
			return 0, err
		}
		return got.Sub(time.Unix(0, s.At)), nil
	}
	sample := func(publish func() error) ([]time.Duration, error) {
		const warmup = 10
		out := make([]time.Duration, 0, n)
		for i := range n + warmup {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(time.Duration(rand.Int64N(int64(5 * time.Millisecond)))):
			}
			if err := publish(); err != nil {
				return nil, err
			}
			d, err := receive()
			if err != nil {
				return nil, err
			}
			if i >= warmup {
				out = append(out, d)
			}
		}
		return out, nil
	}
	pad := strings.Repeat("x", 20_000)
	for _, m := range []struct {
		prefix  string
		publish func() error
	}{
		{"9l", func() error { return c.Publish(ctx, "bench", "live", rtStamp{At: time.Now().UnixNano()}) }},
		{"9b", func() error { return c.Publish(ctx, "bench", "big", rtStamp{At: time.Now().UnixNano(), Pad: pad}) }},
		{"9d", func() error {
			_, err := c.Send(ctx, flow.Event{Name: "bench/announce", Data: map[string]any{}})
			return err
		}},
	} {
		samples, err := sample(m.publish)
		if err != nil {
			return fmt.Errorf("realtime %s: %w", m.prefix, err)
		}
		e.recordLatencies(sysFlow, m.prefix, samples)
	}

	// Throughput: 8 publishers at once, on one channel (serialized by its
	// lock) and on 8 channels; every publish commits a NOTIFY, and Postgres
	// takes one cluster-wide lock for each such commit.
	for _, tc := range []struct {
		id       string
		channels int
	}{{"9t1", 1}, {"9t8", 8}} {
		const publishers = 8
		per := n * 4 / publishers
		start := time.Now()
		errs := make(chan error, publishers)
		for p := range publishers {
			go func() {
				ch := fmt.Sprintf("tp-%d", p%tc.channels)
				for range per {
					if err := c.Publish(ctx, ch, "t", rtStamp{At: 1}); err != nil {
						errs <- err
						return
					}
				}
				errs <- nil
			}()
		}
		for range publishers {
			if err := <-errs; err != nil {
				return fmt.Errorf("realtime %s: %w", tc.id, err)
			}
		}
		e.res.add(tc.id, sysFlow, float64(publishers*per)/time.Since(start).Seconds())
	}
	return nil
}
