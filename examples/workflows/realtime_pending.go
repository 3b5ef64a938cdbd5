//go:build !flow_realtime

package main

// Stand-ins until flow's realtime API lands on main (build with
// -tags flow_realtime against it): they let the rest of the app build.
// Delete this file, and the build line of realtime.go, once it has.

import (
	"context"
	"errors"
	"net/http"

	"github.com/riverflow/flow"
)

var errRealtimePending = errors.New("workflows: flow's realtime API is not on this branch yet")

func publishNode(context.Context, string, string, nodeStatus) error      { return nil }
func publishResult(context.Context, string, string, resultMessage) error { return nil }
func publishToken(context.Context, string, string) error                 { return nil }

func withRealtimeSecret(cfg *flow.Config) (*flow.Config, error) { return cfg, nil }

func issueToken(*flow.Client, string) (string, error) { return "", errRealtimePending }

func realtimeHandler(*flow.Client) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, errRealtimePending.Error(), http.StatusNotImplemented)
	})
}

// Used by realtime.go.
var _ = []any{topicNode, topicTokens, topicResult, tokenChunk{}, tokenTTL}
