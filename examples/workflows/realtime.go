package main

import (
	"context"
	"crypto/rand"
	"net/http"

	"github.com/riverflow/flow"
)

// This file holds the app's uses of flow's realtime API: publishing from
// the run, the token the page subscribes with, and the SSE handler.

// publishNode publishes a node's status durably: a step under stepID, sent
// once however often the run retries.
func publishNode(ctx context.Context, stepID, channel string, st nodeStatus) error {
	return flow.Publish(ctx, stepID, channel, topicNode, st)
}

// publishResult publishes the saved result durably.
func publishResult(ctx context.Context, stepID, channel string, res resultMessage) error {
	return flow.Publish(ctx, stepID, channel, topicResult, res)
}

// publishToken streams one piece of the AI's answer; nothing is stored.
func publishToken(ctx context.Context, channel, token string) error {
	return flow.PublishLive(ctx, channel, topicTokens, tokenChunk{Token: token})
}

// withRealtimeSecret returns a copy of cfg with a RealtimeSecret, a random
// one if it had none (tokens then last as long as this process).
func withRealtimeSecret(cfg *flow.Config) *flow.Config {
	var out flow.Config
	if cfg != nil {
		out = *cfg
	}
	if len(out.RealtimeSecret) == 0 {
		out.RealtimeSecret = make([]byte, 32)
		_, _ = rand.Read(out.RealtimeSecret)
	}
	return &out
}

// issueToken signs a token that lets its holder read channel's topics for
// tokenTTL.
func issueToken(c *flow.Client, channel string) (string, error) {
	return c.RealtimeToken(channel, []string{topicNode, topicTokens, topicResult}, tokenTTL)
}

// realtimeHandler streams a channel as Server-Sent Events to the holder of
// a token.
func realtimeHandler(c *flow.Client) http.Handler { return c.RealtimeHandler() }
