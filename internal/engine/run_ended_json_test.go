package engine

import (
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestRunEndedEncoding: the engine's runEndedData, every field set, encodes
// to the golden JSON that the root's flow.RunEnded decodes and encodes the
// same way (run_ended_json_test.go in the root): the data of the
// flow/function.* events keeps its public shape.
func TestRunEndedEncoding(t *testing.T) {
	t.Parallel()
	data, err := json.Marshal(runEndedData{
		FunctionID: "charge",
		RunID:      "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
		Status:     RunFailed,
		Output:     json.RawMessage(`{"ok":false}`),
		Error:      "card declined",
		Event: StoredEvent{
			ID:       "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c",
			Name:     "billing/charge",
			Data:     json.RawMessage(`{"amount":42}`),
			TS:       time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC),
			DedupeID: "order-7",
		},
	})
	require.NoError(t, err)
	golden, err := os.ReadFile("testdata/run_ended.json")
	require.NoError(t, err)
	require.JSONEq(t, string(golden), string(data))
}
