package engine

import (
	"context"
	"errors"
	"time"

	"github.com/riverqueue/river"

	"github.com/riverflow/flow/internal/riverjob"
)

// runArgs are the args of the job kind that executes runs, defined with
// River's job table (internal/riverjob).
type runArgs = riverjob.RunArgs

type runWorker struct {
	river.WorkerDefaults[runArgs]
	c *Engine
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
		// than leave it to its lease (see resumer.go).
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
