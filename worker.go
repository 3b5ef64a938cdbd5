package flow

import (
	"context"
	"time"

	"github.com/riverqueue/river"
)

// runArgs are the args of the one River job kind that executes runs: each
// job is one segment of a run. Gen fences the run: a job whose gen is not
// the run's current one is stale and does nothing.
type runArgs struct {
	RunID string `json:"run_id"`
	Gen   int32  `json:"gen"`
	// FunctionID lets the worker find the function's options before it
	// claims the run (optional: older jobs lack it).
	FunctionID string `json:"fn,omitempty"`
	// Slots says that the run has concurrency keys: its segments claim a
	// slot before they execute (see slots.go).
	Slots bool `json:"slots,omitempty"`
}

// Kind implements river.JobArgs.
func (runArgs) Kind() string { return riverJobKind }

type runWorker struct {
	river.WorkerDefaults[runArgs]
	c *Client
}

// Timeout disables River's job timeout: a segment lasts as long as its steps,
// and the run's lease, renewed while the process lives, guards it instead.
func (w *runWorker) Timeout(*river.Job[runArgs]) time.Duration { return -1 }

func (w *runWorker) Work(ctx context.Context, job *river.Job[runArgs]) error {
	return w.c.executeSegment(ctx, job)
}
