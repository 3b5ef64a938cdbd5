package flow_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
)

// legacyConfig is a flow_function.config written by the code before the
// registry had its own stored type (see internal/registry/testdata).
func legacyConfig(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("internal", "registry", "testdata", name))
	require.NoError(t, err)
	return string(b)
}

// TestFunctionConfigStoredAsBefore: the public options convert to exactly
// the bytes the registry stored for them before it had its own type.
func TestFunctionConfigStoredAsBefore(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		file string
		opts flow.FunctionOpts
	}{
		{"legacy_full.json", flow.FunctionOpts{
			Concurrency: []flow.Concurrency{{Limit: 2, Key: "event.data.accountId"}, {Limit: 10}},
			Throttle:    &flow.Throttle{Limit: 5, Period: time.Minute, Burst: 2, Key: "event.data.userId"},
			RateLimit:   &flow.RateLimit{Limit: 100, Period: time.Hour, Key: "event.data.ip"},
			Debounce:    &flow.Debounce{Period: 30 * time.Second, Key: "event.data.docId", Timeout: 5 * time.Minute},
			Batch:       &flow.Batch{MaxSize: 50, Timeout: 10 * time.Second, Key: "event.data.tenant"},
			Priority:    &flow.Priority{Run: "event.data.vip ? 60 : 0"},
			Idempotency: "event.data.orderId",
			Singleton:   &flow.Singleton{Key: "event.data.userId", Mode: flow.SingletonCancel},
		}},
		{"legacy_sparse.json", flow.FunctionOpts{
			Throttle:  &flow.Throttle{Limit: 1, Period: time.Second},
			Singleton: &flow.Singleton{Mode: flow.SingletonSkip},
		}},
		{"legacy_rate_limit.json", flow.FunctionOpts{RateLimit: &flow.RateLimit{Limit: 1, Period: time.Hour}}},
		{"legacy_none.json", flow.FunctionOpts{ID: "plain", Retries: flow.Ptr(2), CancelOn: []flow.CancelOn{{Event: "x/cancel"}}}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, legacyConfig(t, tc.file), string(flow.StoredConfig(tc.opts)))
		})
	}
}

// TestFunctionRegistryRowFromEarlierVersion: registry rows that an earlier
// version wrote are listed and applied the same by a process that does not
// define the function.
func TestFunctionRegistryRowFromEarlierVersion(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	ctx := testCtx(t)
	_, err := pool.Exec(ctx, `INSERT INTO flow_function (id, name, retries, config) VALUES
		('old-full', 'old-full', 4, $1), ('old-rated', 'old-rated', 4, $2)`,
		legacyConfig(t, "legacy_full.json"), legacyConfig(t, "legacy_rate_limit.json"))
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `INSERT INTO flow_trigger (function_id, event_name, controlled) VALUES ('old-rated', 'legacy/e', true)`)
	require.NoError(t, err)
	sender := newClient(t, pool, nil) // defines nothing, never started

	fns, err := sender.ListFunctions(ctx)
	require.NoError(t, err)
	require.Len(t, fns, 2)
	require.Equal(t, "old-full", fns[0].ID)
	require.Equal(t, []string{
		"Concurrency: 2 per event.data.accountId",
		"Concurrency: 10",
		"Throttle: 5 per 1m0s, burst 2 per event.data.userId",
		"Rate limit: 100 per 1h0m0s per event.data.ip",
		"Debounce: 30s per event.data.docId, at most 5m0s",
		"Batch: up to 50 events or 10s per event.data.tenant",
		"Priority: event.data.vip ? 60 : 0",
		"Idempotency: event.data.orderId",
		"Singleton (cancel) per event.data.userId",
	}, fns[0].FlowControl)
	require.Equal(t, []string{"Rate limit: 1 per 1h0m0s"}, fns[1].FlowControl)

	sendData(t, sender, "legacy/e", map[string]any{"n": 0})
	sendData(t, sender, "legacy/e", map[string]any{"n": 1})
	runs := runsOf(t, sender, "old-rated")
	require.Len(t, runs, 2)
	statuses := []flow.RunStatus{runs[0].Status, runs[1].Status}
	require.True(t, slices.Contains(statuses, flow.RunSkipped), "the stored rate limit skips the second run: %v", statuses)
	require.True(t, slices.Contains(statuses, flow.RunQueued), "the first run is queued: %v", statuses)
}
