package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverflow/flow/internal/dbsqlc"
	"github.com/riverqueue/river"
)

// cancelRun cancels a run in tx. self is the River job of the segment
// cancelling its own run (timeouts), completed in tx; any other job of the
// run is cancelled through River, which interrupts it if it is running.
func (c *Engine) cancelRun(ctx context.Context, tx pgx.Tx, runID, reason string, self *river.Job[runArgs]) (bool, error) {
	row, err := c.q.RunCancel(ctx, tx, &dbsqlc.RunCancelParams{Reason: &reason, ID: runID})
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if row.JobID != nil && (self == nil || *row.JobID != self.ID) {
		if err := c.jobs.CancelTx(ctx, tx, *row.JobID); err != nil {
			return false, fmt.Errorf("cancel job %d: %w", *row.JobID, err)
		}
	}
	if row.Slotted {
		if err := c.wakeSlotWaiters(ctx, tx, runID); err != nil {
			return false, err
		}
	}
	if row.ParentRunID != nil && row.ParentStepID != nil {
		if err := c.resolveInvoke(ctx, tx, *row.ParentRunID, *row.ParentStepID, runID, RunCancelled, nil, &reason); err != nil {
			return false, err
		}
	}
	if err := c.emitRunEnded(ctx, tx, runEnd{
		runID: runID, functionID: row.FunctionID, eventID: row.EventID, status: RunCancelled, errMsg: reason,
	}); err != nil {
		return false, err
	}
	return true, nil
}

// cancelSelf cancels the segment's own run (a timeout, a CancelOn event that
// came before the run started) and completes its job.
func (s *Segment) cancelSelf(ctx context.Context, reason string) error {
	err := pgx.BeginFunc(ctx, s.c.pool, func(tx pgx.Tx) error {
		ok, err := s.c.cancelRun(ctx, tx, s.run.ID, reason, s.job)
		if err != nil {
			return err
		}
		if !ok {
			return errLost
		}
		return nil
	})
	if errors.Is(err, errLost) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("flow: cancel run %s: %w", s.run.ID, err)
	}
	s.outcome = string(RunCancelled)
	s.c.cfg.Logger.InfoContext(ctx, "flow: run cancelled", "run_id", s.run.ID, "function_id", s.fn.id, "reason", reason)
	return nil
}

// Names of the events the library sends when a run ends (see
// flow.EventFunctionFinished and the others, which re-export them).
const (
	EventFunctionFinished  = "flow/function.finished"
	EventFunctionFailed    = "flow/function.failed"
	EventFunctionCancelled = "flow/function.cancelled"
)

// runEndedData is the data of the events sent when a run ends: flow.RunEnded
// as JSON, with the same tags (StoredEvent encodes as flow.TypedEvent does).
type runEndedData struct {
	FunctionID string          `json:"function_id"`
	RunID      string          `json:"run_id"`
	Status     RunStatus       `json:"status"`
	Output     json.RawMessage `json:"output,omitempty"`
	Error      string          `json:"error,omitempty"`
	Event      StoredEvent     `json:"event"`
}

// runEnd is a run's end, for emitRunEnded.
type runEnd struct {
	runID, functionID, eventID string
	status                     RunStatus
	output                     []byte
	errMsg                     string
	event                      *StoredEvent // the trigger, if the caller has it
	skipFinished               bool         // nobody listens for flow/function.finished
}

// emitRunEnded sends the system events for a run's end in tx. Runs started by
// system events send none, so a function triggered by them cannot loop.
func (c *Engine) emitRunEnded(ctx context.Context, tx pgx.Tx, e runEnd) error {
	ev := e.event
	if ev == nil {
		row, err := c.q.EventGet(ctx, tx, e.eventID)
		if err != nil {
			return fmt.Errorf("load trigger of run %s: %w", e.runID, err)
		}
		ev = &StoredEvent{ID: row.ID, Name: row.Name, Data: row.Data, TS: row.Ts}
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
	data, err := json.Marshal(runEndedData{
		FunctionID: e.functionID, RunID: e.runID, Status: e.status, Output: e.output, Error: e.errMsg,
		Event: *ev,
	})
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	for _, name := range names {
		if _, err := c.sendPrepared(ctx, tx, PreparedEvent{Name: name, Data: data, TS: now}); err != nil {
			return fmt.Errorf("send %s: %w", name, err)
		}
	}
	return nil
}
