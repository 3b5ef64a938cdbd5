package flow

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Names of the events the library sends when a run ends. They are stored
// like any event and can trigger functions (their data is RunEnded).
const (
	// EventFunctionFinished is sent when any run ends, whatever its status.
	// It is stored only while some function or open wait listens for it:
	// one more event per run would double the event table and cost about a
	// third of the engine's throughput for nothing.
	EventFunctionFinished = "flow/function.finished"
	// EventFunctionFailed is sent when a run fails for good.
	EventFunctionFailed = "flow/function.failed"
	// EventFunctionCancelled is sent when a run is cancelled.
	EventFunctionCancelled = "flow/function.cancelled"
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

type runEnd struct {
	runID, functionID, eventID string
	status                     RunStatus
	output                     []byte
	errMsg                     string
	event                      *storedEvent // the trigger, if the caller has it
	skipFinished               bool         // nobody listens for flow/function.finished
}

// emitRunEnded sends the system events for a run's end in tx. Runs started by
// system events send none, so a function triggered by them cannot loop.
func (c *Client) emitRunEnded(ctx context.Context, tx pgx.Tx, e runEnd) error {
	ev := e.event
	if ev == nil {
		row, err := c.q.EventGet(ctx, tx, e.eventID)
		if err != nil {
			return fmt.Errorf("load trigger of run %s: %w", e.runID, err)
		}
		ev = &storedEvent{ID: row.ID, Name: row.Name, Data: row.Data, TS: row.Ts}
	}
	if strings.HasPrefix(ev.Name, "flow/function.") {
		return nil
	}
	var names []string
	if !e.skipFinished {
		names = append(names, EventFunctionFinished)
	}
	switch e.status {
	case RunFailed:
		names = append(names, EventFunctionFailed)
	case RunCancelled:
		names = append(names, EventFunctionCancelled)
	}
	if len(names) == 0 {
		return nil
	}
	data, err := json.Marshal(RunEnded{
		FunctionID: e.functionID, RunID: e.runID, Status: e.status, Output: e.output, Error: e.errMsg,
		Event: TypedEvent[json.RawMessage]{ID: ev.ID, Name: ev.Name, Data: ev.Data, TS: ev.TS, DedupeID: ev.DedupeID},
	})
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	for _, name := range names {
		if _, err := c.sendPrepared(ctx, tx, preparedEvent{name: name, data: data, ts: now}); err != nil {
			return fmt.Errorf("send %s: %w", name, err)
		}
	}
	return nil
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
