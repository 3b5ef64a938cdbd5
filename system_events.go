package flow

import (
	"encoding/json"
	"strconv"

	"github.com/riverflow/flow/internal/engine"
)

// Names of the events the library sends when a run ends. They are stored
// like any event and can trigger functions (their data is RunEnded).
const (
	// EventFunctionFinished is sent when any run ends, whatever its status.
	// It is stored only while some function or open wait listens for it:
	// one more event per run would double the event table and cost about a
	// third of the engine's throughput for nothing.
	EventFunctionFinished = engine.EventFunctionFinished
	// EventFunctionFailed is sent when a run fails for good.
	EventFunctionFailed = engine.EventFunctionFailed
	// EventFunctionCancelled is sent when a run is cancelled.
	EventFunctionCancelled = engine.EventFunctionCancelled
)

// RunEnded is the data of the events sent when a run ends.
type RunEnded struct {
	FunctionID string          `json:"function_id"`
	RunID      string          `json:"run_id"`
	Status     RunStatus       `json:"status"`
	Output     json.RawMessage `json:"output,omitempty"`
	Error      string          `json:"error,omitempty"`
	// Event is the ended run's triggering event.
	Event TypedEvent[json.RawMessage] `json:"event"`
}

// addFailureHandler creates the function that runs opts.OnFailure for each
// failed run of the function opts.ID.
func addFailureHandler(c *Client, opts FunctionOpts) error {
	_, err := CreateFunction(c, FunctionOpts{
		ID:      opts.ID + "-failure",
		Name:    opts.Name + " (on failure)",
		Retries: opts.Retries,
	}, EventTrigger(EventFunctionFailed).If("event.data.function_id == "+strconv.Quote(opts.ID)), opts.OnFailure)
	return err
}
