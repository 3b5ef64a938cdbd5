package flow_test

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
)

// TestRunEndedGolden: flow.RunEnded decodes the golden data of a
// flow/function.* event that the engine's encoding is checked against
// (internal/engine TestRunEndedEncoding), field for field, and encodes it
// back to the same JSON.
func TestRunEndedGolden(t *testing.T) {
	t.Parallel()
	golden, err := os.ReadFile("internal/engine/testdata/run_ended.json")
	require.NoError(t, err)
	var ended flow.RunEnded
	require.NoError(t, json.Unmarshal(golden, &ended))
	require.Equal(t, "charge", ended.FunctionID)
	require.Equal(t, "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", ended.RunID)
	require.Equal(t, flow.RunFailed, ended.Status)
	require.JSONEq(t, `{"ok":false}`, string(ended.Output))
	require.Equal(t, "card declined", ended.Error)
	require.Equal(t, "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c", ended.Event.ID)
	require.Equal(t, "billing/charge", ended.Event.Name)
	require.JSONEq(t, `{"amount":42}`, string(ended.Event.Data))
	require.Equal(t, "2026-11-28T12:00:00Z", ended.Event.TS.Format("2006-01-02T15:04:05Z07:00"))
	require.Equal(t, "order-7", ended.Event.DedupeID)
	back, err := json.Marshal(ended)
	require.NoError(t, err)
	require.JSONEq(t, string(golden), string(back))
}
