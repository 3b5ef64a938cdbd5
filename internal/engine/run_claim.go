package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/riverflow/flow/internal/store"
)

// A queued run that must not start yet (a debounce, a batch, a throttle, an
// event with a future ts, a retry backoff) has a wake time, flow_run.wake_at,
// and its job is scheduled then. River may still fetch the job before the
// run is due: its scheduler makes jobs available up to 5 s early, and a
// debounced event can postpone the run after that, or even after River
// fetched the job (internal/riverjob/doc.go, assumptions 3 and 4). So the claim itself
// refuses a queued run before its wake time (RunStart, RunStartSlotted,
// RunPark), in the statement that would start it, and the refused job hands
// the run to a new job scheduled at the wake time. A debounced run therefore
// never starts before its Period has passed since its last event, however
// River's scheduler and fetch race the senders.

// claimRefused decides what becomes of a run whose claim by job was
// refused. A queued run not due yet goes to a new job at its wake time. A
// run still queued for this job but due (its wake time came meanwhile)
// returns an error, so that River retries the job shortly. Otherwise the job
// is stale, the run waits for a slot, or its segment is alive elsewhere:
// nothing to do.
func (c *Engine) claimRefused(ctx context.Context, job *river.Job[runArgs]) error {
	run := store.RunRef{ID: job.Args.RunID, Gen: job.Args.Gen}
	id, wakeAt, err := c.store.RequeueEarly(ctx, run, c.cfg.Queue)
	if err == nil {
		c.waker.wakeAt(wakeAt)
		c.cfg.Logger.DebugContext(ctx, "flow: job fetched before its run is due; the run waits for its wake time", "run_id", id, "wake_at", wakeAt)
		return nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("flow: hand run %s to a job at its wake time: %w", job.Args.RunID, err)
	}
	err = c.store.RunQueuedAtGen(ctx, run)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("flow: look up run %s: %w", job.Args.RunID, err)
	}
	return fmt.Errorf("flow: run %s became due while its job was refused; River retries the job", job.Args.RunID)
}

func (c *Engine) executeSegment(ctx context.Context, job *river.Job[runArgs]) error {
	var finishTimeout, startTimeout time.Duration
	if fn := c.function(job.Args.FunctionID); fn != nil {
		finishTimeout, startTimeout = fn.timeouts.Finish, fn.timeouts.Start
	}
	// Enter the lease set before the claim: the resumer hands a run on only
	// while no segment of it is here.
	if !c.leases.enter(job.Args.RunID) {
		return fmt.Errorf("flow: run %s: %w", job.Args.RunID, errResuming)
	}
	defer c.leases.remove(job.Args.RunID)
	row, err := c.store.ClaimRun(ctx, store.ClaimParams{
		Run: store.RunRef{ID: job.Args.RunID, Gen: job.Args.Gen}, JobID: &job.ID, Owner: &c.cfg.ID,
		FinishTimeout: finishTimeout, Slotted: job.Args.Slots,
	})
	if errors.Is(err, pgx.ErrNoRows) {
		// Its function may be paused: then the run waits for the resume.
		if held, err := c.holdPaused(ctx, job, startTimeout); held || err != nil {
			return err
		}
		if job.Args.Slots {
			// No free slot of one of its keys, or a refusal as below.
			return c.parkForSlot(ctx, job, startTimeout)
		}
		// A stale job, an ended run, a segment alive elsewhere, or a run
		// not due yet (claimRefused).
		return c.claimRefused(ctx, job)
	}
	if err != nil {
		return fmt.Errorf("flow: start segment of run %s: %w", job.Args.RunID, err)
	}

	fn := c.function(row.FunctionID)
	if fn == nil {
		// Another process's function: leave the run to lapse to one that has
		// it (the sweeper re-queues it when the lease expires).
		c.cfg.Logger.WarnContext(ctx, "flow: run of a function this process does not define", "run_id", row.ID, "function_id", row.FunctionID)
		return fmt.Errorf("flow: run %s: function %q %w", row.ID, row.FunctionID, errNotDefinedHere)
	}
	if c.metrics != nil {
		c.recordClaim(job, &row)
	}
	var batch []StoredEvent
	if row.BatchSize > 1 {
		if batch, err = c.batchEvents(ctx, row.ID); err != nil {
			return err
		}
	}
	var (
		stored  map[string]*store.Step
		count   int
		nextSeq int32
	)
	if row.HasSteps { // a new run has none: skip the query
		err = c.store.EachStep(ctx, row.ID, func(n int, st *store.Step) {
			if stored == nil {
				stored, count = make(map[string]*store.Step, n), n
			}
			stored[st.ID] = st
			nextSeq = max(nextSeq, st.Seq+1)
		})
		if err != nil {
			return fmt.Errorf("flow: load steps of run %s: %w", row.ID, err)
		}
	}
	if stored == nil {
		stored = make(map[string]*store.Step)
	}
	s := &Segment{
		c: c, fn: fn, job: job, run: row,
		event:   StoredEvent{ID: row.EventID, Name: row.EventName, Data: row.EventData, TS: row.EventTs},
		batch:   batch,
		stored:  stored,
		count:   count,
		nextSeq: nextSeq,
	}
	if row.EventDedupeID != nil {
		s.event.DedupeID = *row.EventDedupeID
	}
	ctx = s.startSegmentSpan(ctx)
	s.outcome = "lost"
	defer func() { s.endSegmentSpan(s.outcome, s.outcomeErr) }()

	if row.FirstSegment {
		if fn.timeouts.Start > 0 && row.QueuedFor > fn.timeouts.Start {
			return s.cancelSelf(ctx, fmt.Sprintf("start timeout: queued for %s, over Timeouts.Start %s", row.QueuedFor.Round(time.Millisecond), fn.timeouts.Start))
		}
	}
	if len(fn.cancelOn) > 0 && !row.HasCancelWaits {
		// The first segment registers the CancelOn conditions (a later one
		// does, if the first failed before it could).
		reason, err := s.registerCancelOn(ctx)
		if err != nil {
			return fmt.Errorf("flow: run %s: %w", row.ID, err)
		}
		if reason != "" {
			return s.cancelSelf(ctx, reason)
		}
	}
	var hctx context.Context
	var cancel context.CancelFunc
	if row.DeadlineAt != nil {
		if !time.Now().Before(*row.DeadlineAt) {
			return s.cancelSelf(ctx, fmt.Sprintf("finish timeout: Timeouts.Finish %s passed", fn.timeouts.Finish))
		}
		hctx, cancel = context.WithDeadlineCause(ctx, *row.DeadlineAt, errFinishTimeout)
	} else {
		hctx, cancel = context.WithCancel(ctx)
	}
	s.ctx = context.WithValue(hctx, segmentKey{}, s)
	s.cancel = cancel
	defer cancel()

	out, herr := s.callHandler()
	return s.end(ctx, out, herr)
}
