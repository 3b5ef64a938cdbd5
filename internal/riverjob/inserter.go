package riverjob

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"
)

// Start says when an inserted job may be fetched. The zero value is at once.
type Start struct {
	// At schedules the job (River's scheduler, or our waker, makes it
	// available then). Zero: available at once.
	At time.Time
	// Pending inserts the job pending: only a wake (an event, a child run's
	// end) makes it available.
	Pending bool
}

// Inserter inserts, and cancels, the jobs of runs through River's own API,
// on whichever River client is attached: the flow client's own, or the
// app's (riverext). Attach it before use; it is not safe to attach while
// jobs are inserted.
type Inserter struct {
	queue string
	rc    *river.Client[pgx.Tx]
}

// NewInserter returns an inserter of jobs on queue, with no River client
// attached yet.
func NewInserter(queue string) *Inserter { return &Inserter{queue: queue} }

// Attach makes the inserter use rc.
func (i *Inserter) Attach(rc *river.Client[pgx.Tx]) { i.rc = rc }

// Queue is the River queue the inserter's jobs go to.
func (i *Inserter) Queue() string { return i.queue }

// opts are River's insert options of a job starting at start.
func (i *Inserter) opts(start Start) *river.InsertOpts {
	return &river.InsertOpts{Queue: i.queue, ScheduledAt: start.At, Pending: start.Pending}
}

// InsertTx inserts one job of a run in tx and returns its ID. An available
// job wakes River's producers at commit (River's own notification).
func (i *Inserter) InsertTx(ctx context.Context, tx pgx.Tx, args RunArgs, start Start) (int64, error) {
	res, err := i.rc.InsertTx(ctx, tx, args, i.opts(start))
	if err != nil {
		return 0, err
	}
	return res.Job.ID, nil
}

// InsertManyTx inserts one job per args in tx, all starting at start, and
// returns their IDs in the order of args.
func (i *Inserter) InsertManyTx(ctx context.Context, tx pgx.Tx, args []RunArgs, start Start) ([]int64, error) {
	params := make([]river.InsertManyParams, len(args))
	for n, a := range args {
		params[n] = river.InsertManyParams{Args: a, InsertOpts: i.opts(start)}
	}
	res, err := i.rc.InsertManyTx(ctx, tx, params)
	if err != nil {
		return nil, err
	}
	ids := make([]int64, len(res))
	for n, r := range res {
		ids[n] = r.Job.ID
	}
	return ids, nil
}

// CancelTx cancels the job jobID in tx through River, which interrupts it if
// it is running. A job that no longer exists (the cleaner deleted it,
// assumption 7) is no error.
func (i *Inserter) CancelTx(ctx context.Context, tx pgx.Tx, jobID int64) error {
	if _, err := i.rc.JobCancelTx(ctx, tx, jobID); err != nil && !errors.Is(err, rivertype.ErrNotFound) {
		return err
	}
	return nil
}

// ErrNotRunning is returned by CompleteTx for a job that left running before
// it could complete.
var ErrNotRunning = errors.New("left running before it completed")

// CompleteTx completes job, which must be running (a job's own Work calls
// it), in tx. River's JobCompleteTx silently leaves a job that is no longer
// running (assumption 5): CompleteTx returns ErrNotRunning then, so that tx
// rolls back.
func CompleteTx[A river.JobArgs](ctx context.Context, tx pgx.Tx, job *river.Job[A]) error {
	done, err := river.JobCompleteTx[*riverpgxv5.Driver](ctx, tx, job)
	if err != nil {
		return err
	}
	if done.State != rivertype.JobStateCompleted {
		return fmt.Errorf("job %d %w", job.ID, ErrNotRunning)
	}
	return nil
}
