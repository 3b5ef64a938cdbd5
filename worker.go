package flow

import (
	"context"
	"errors"
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
func (runArgs) Kind() string { return "flow_run" }

type runWorker struct {
	river.WorkerDefaults[runArgs]
	c *Client
}

// Timeout disables River's job timeout: a segment lasts as long as its steps,
// and the run's lease, renewed while the process lives, guards it instead.
func (w *runWorker) Timeout(*river.Job[runArgs]) time.Duration { return -1 }

func (w *runWorker) Work(ctx context.Context, job *river.Job[runArgs]) (err error) {
	defer func() {
		if r := recover(); r != nil {
			// A bug of the library's own (a user's panic fails its step):
			// hand the run on, and let River record the panic.
			w.c.resumer.add(job.Args.RunID, job.Args.Gen, job.ID)
			panic(r)
		}
	}()
	err = w.c.executeSegment(ctx, job)
	if err != nil && !errors.Is(err, errNotDefinedHere) && !errors.Is(err, errResuming) {
		// A database error cut the segment or its claim off: the resumer
		// hands the run to a new job as soon as the database answers, rather
		// than leave it to its lease (see resume.go).
		w.c.resumer.add(job.Args.RunID, job.Args.Gen, job.ID)
	}
	return err
}

// errNotDefinedHere fails a segment whose function this process does not
// define: the run's lease lapses, and the sweeper hands it to a job that a
// process defining it may take.
var errNotDefinedHere = errors.New("is not defined in this process")

// errResuming fails a segment whose run the resumer is handing on: River's
// retry of its job finds it stale.
var errResuming = errors.New("the run is being handed to a new job")
