package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"go.opentelemetry.io/otel/trace"

	"github.com/riverflow/flow/internal/dberr"
	"github.com/riverflow/flow/internal/dbsqlc"
	"github.com/riverflow/flow/internal/riverjob"
	"github.com/riverflow/flow/internal/store"
)

// Step kinds, as stored in flow_step.kind.
const (
	kindRun    = "run"
	kindSleep  = "sleep"
	kindWait   = "wait"
	kindSend   = "send"
	kindInvoke = "invoke"
)

// Step statuses, as stored in flow_step.status.
const (
	stepCompleted = "completed"
	stepFailed    = "failed"
	stepErrored   = "errored"
	stepSleeping  = "sleeping"
	stepWaiting   = "waiting"
	stepTimedOut  = "timed_out"
)

// errLost aborts a segment's transaction when the segment no longer owns its
// run (another job took it over, or it ended).
var errLost = errors.New("flow: segment lost its run")

type segmentKey struct{}
type inStepKey struct{}

// segment is one execution of a run's handler, from the top, by one River job.
type Segment struct {
	c     *Engine
	fn    *Function
	job   *river.Job[runArgs]
	run   *dbsqlc.RunStartRow
	event StoredEvent
	batch []StoredEvent // a batch run's events (FunctionOpts.Batch)

	ctx    context.Context // the handler's context
	cancel context.CancelFunc

	mu          sync.Mutex
	stored      map[string]*dbsqlc.FlowStep
	ids         stepIDs
	nextSeq     int32
	count       int
	pending     []suspension
	deferred    []stepRecord // sleeps found over on replay, stored with the next write
	failErr     error        // the run must fail (non-determinism, too many steps)
	interrupted error        // a database error: River retries the job
	lost        bool
	ended       bool

	span       trace.Span // the segment's span (see tracing.go)
	outcome    string     // how the segment ended, for its span
	outcomeErr error
}

// suspension is a reason for the run to pause: a sleep, a wait, an invoke or
// a retry backoff. save writes its rows in the suspending transaction.
type suspension struct {
	wait   bool // an event wait or an invoke: the run shows as waiting
	retry  bool // a retry backoff: the run shows as queued
	wakeAt *time.Time
	save   func(ctx context.Context, tx pgx.Tx) error
	after  func(ctx context.Context) // runs once the suspend has committed
	branch string                    // the Parallel branch that paused ("" outside Parallel)
	// resumeOf names a wait or invoke step replayed still waiting, which a
	// sender or child run may resolve while this segment executes.
	resumeOf string
}

// stepRecord is a step row to store.
type stepRecord struct {
	id        string
	seq       int32
	kind      string
	status    string
	attempts  int32
	output    []byte
	err       *string
	wakeAt    *time.Time
	detail    []byte
	startedAt time.Time
	endedAt   *time.Time
}

func FromContext(ctx context.Context) (*Segment, error) {
	s, _ := ctx.Value(segmentKey{}).(*Segment)
	if s == nil {
		return nil, ErrNotInRun
	}
	if id, ok := ctx.Value(inStepKey{}).(string); ok {
		return nil, NonRetriable(fmt.Errorf("flow: a step was called inside step %q; steps cannot be nested", id))
	}
	return s, nil
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
	var row *dbsqlc.RunStartRow
	var err error
	if job.Args.Slots {
		if row, err = c.claimSlotted(ctx, job, finishTimeout, startTimeout); err != nil {
			return err
		}
		if row == nil {
			return nil // a stale job, or the run waits for a slot
		}
	} else {
		row, err = c.q.RunStart(ctx, c.pool, &dbsqlc.RunStartParams{
			ID: job.Args.RunID, Gen: job.Args.Gen, JobID: &job.ID, LeaseOwner: &c.cfg.ID, LeaseTtl: c.cfg.LeaseTTL,
			FinishTimeout: finishTimeout,
		})
		if errors.Is(err, pgx.ErrNoRows) {
			// A stale job, an ended run, a segment alive elsewhere, or a run
			// not due yet (early.go).
			return c.claimRefused(ctx, job)
		}
		if err != nil {
			return fmt.Errorf("flow: start segment of run %s: %w", job.Args.RunID, err)
		}
	}

	fn := c.function(row.FunctionID)
	if fn == nil {
		// Another process's function: leave the run to lapse to one that has
		// it (the sweeper re-queues it when the lease expires).
		c.cfg.Logger.WarnContext(ctx, "flow: run of a function this process does not define", "run_id", row.ID, "function_id", row.FunctionID)
		return fmt.Errorf("flow: run %s: function %q %w", row.ID, row.FunctionID, errNotDefinedHere)
	}
	var batch []StoredEvent
	if row.BatchSize > 1 {
		if batch, err = c.batchEvents(ctx, row.ID); err != nil {
			return err
		}
	}
	var steps []*dbsqlc.FlowStep
	if row.HasSteps { // a new run has none: skip the query
		if steps, err = c.q.StepListByRun(ctx, c.pool, row.ID); err != nil {
			return fmt.Errorf("flow: load steps of run %s: %w", row.ID, err)
		}
	}
	s := &Segment{
		c: c, fn: fn, job: job, run: row,
		event:  StoredEvent{ID: row.EventID, Name: row.EventName, Data: row.EventData, TS: row.EventTs},
		batch:  batch,
		stored: make(map[string]*dbsqlc.FlowStep, len(steps)),
		count:  len(steps),
	}
	if row.EventDedupeID != nil {
		s.event.DedupeID = *row.EventDedupeID
	}
	for _, st := range steps {
		s.stored[st.ID] = st
		s.nextSeq = max(s.nextSeq, st.Seq+1)
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

// errFinishTimeout is the cause of a handler context cancelled at the run's
// finish deadline.
var errFinishTimeout = errors.New("flow: the run's Timeouts.Finish passed")

func (s *Segment) callHandler() (out any, err error) {
	defer func() {
		if r := recover(); r != nil {
			s.c.cfg.Logger.ErrorContext(s.ctx, "flow: function panicked", "run_id", s.run.ID, "function_id", s.fn.id,
				"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			err = fmt.Errorf("flow: function %q panicked: %v%s", s.fn.id, r, panicFrames())
		}
	}()
	return s.fn.call(s.ctx, &RunInput{RunID: s.run.ID, Attempt: int(s.run.Attempt), Event: s.event, Events: s.batch})
}

// begin reserves the step ID for the next call of userID with this kind and
// returns the stored row for it, if the step ran before. It returns
// errSuspended once the segment must end, or once the calling branch (see
// Parallel) has a step waiting: what follows a pause runs after it.
//
// An invalid userID (see ErrInvalidStepID) returns its error at once.
func (s *Segment) begin(ctx context.Context, userID, kind string) (string, *dbsqlc.FlowStep, int32, error) {
	if err := checkStepID(userID); err != nil {
		return "", nil, 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended || s.lost || s.failErr != nil || s.interrupted != nil || s.pausedLocked(BranchOf(ctx)) {
		return "", nil, 0, errSuspended
	}
	if s.ctx.Err() != nil {
		s.interrupted = fmt.Errorf("flow: run %s interrupted: %w", s.run.ID, context.Cause(s.ctx))
		return "", nil, 0, errSuspended
	}
	sid := s.ids.assign(userID)
	if st, ok := s.stored[sid]; ok {
		if st.Kind != kind {
			s.failErr = &NonDeterminismError{RunID: s.run.ID, StepID: sid, Recorded: st.Kind, Called: kind}
			return "", nil, 0, errSuspended
		}
		return sid, st, st.Seq, nil
	}
	if s.count >= s.c.cfg.MaxStepsPerRun {
		s.failErr = fmt.Errorf("%w: step %q would be step %d, over the limit of %d (Config.MaxStepsPerRun)",
			ErrTooManySteps, sid, s.count+1, s.c.cfg.MaxStepsPerRun)
		return "", nil, 0, errSuspended
	}
	s.count++
	seq := s.nextSeq
	s.nextSeq++
	return sid, nil, seq, nil
}

// suspendFor records a reason to pause the run, made by the branch of ctx;
// the segment ends once the handler returns.
func (s *Segment) suspendFor(ctx context.Context, p suspension) {
	p.branch = BranchOf(ctx)
	s.mu.Lock()
	s.pending = append(s.pending, p)
	s.mu.Unlock()
}

// pausedLocked reports whether a step of branch b, or of one of the branches
// it runs in, is waiting.
func (s *Segment) pausedLocked(b string) bool {
	for _, p := range s.pending {
		if p.branch == "" || b == p.branch || strings.HasPrefix(b, p.branch+".") {
			return true
		}
	}
	return false
}

// saveOutcome says what became of a step row a segment wrote (the store's
// SaveOutcome).
type saveOutcome = store.SaveOutcome

const (
	saveStored  = store.SaveStored
	saveLost    = store.SaveLost    // the segment no longer owns the run: nothing stored
	saveRefused = store.SaveRefused // the step already has a final row, left as it is
)

// errStepFinal is the cause of a write that would have replaced a step's
// final row (completed, failed, timed_out): a stored result never changes.
var errStepFinal = store.ErrStepFinal

// storeStep stores a step row if the segment still owns the run. err is the
// database's error, for the caller to classify.
func (s *Segment) storeStep(r stepRecord) (saveOutcome, error) {
	ctx := context.WithoutCancel(s.ctx)
	if s.hasDeferred() {
		err := pgx.BeginFunc(ctx, s.c.pool, func(tx pgx.Tx) error {
			if err := s.fence(ctx, tx); err != nil {
				return err
			}
			return s.saveTx(ctx, tx, r)
		})
		var final *stepFinalError
		switch {
		case errors.Is(err, errLost):
			return saveLost, nil
		case errors.As(err, &final) && final.stepID == r.id:
			return saveRefused, nil
		}
		return saveStored, err // a deferred row refused is an error
	}
	return s.c.store.SaveStep(ctx, store.RunRef{ID: s.run.ID, Gen: s.run.Gen}, store.StepRecord{
		ID: r.id, Seq: r.seq, Kind: r.kind, Status: r.status, Attempts: r.attempts, Output: r.output,
		Error: r.err, WakeAt: r.wakeAt, Detail: r.detail, StartedAt: r.startedAt, EndedAt: r.endedAt,
	})
}

// saveFenced stores a step row if the segment still owns the run. It
// returns errSuspended when the run was lost, the database was unreachable
// (an interruption: River retries the segment), or the step already had a
// final row (the run fails: see errStepFinal). A permanent database error
// (see dberr.IsPermanent) it returns as is, for the caller to fail the step
// with.
func (s *Segment) saveFenced(r stepRecord) error {
	out, err := s.storeStep(r)
	switch {
	case err != nil:
		err = storeError(s.run.ID, r.id, err)
		if dberr.IsPermanent(err) {
			return err
		}
		return s.markLostOrInterrupted(r.id, err)
	case out == saveLost:
		s.mu.Lock()
		s.lost = true
		s.mu.Unlock()
		return errSuspended
	case out == saveRefused:
		return s.markLostOrInterrupted(r.id, s.finalError(r.id))
	}
	return nil
}

// mustSave is saveFenced for rows the library makes up (not a step's
// result): a permanent database error fails the run.
func (s *Segment) mustSave(r stepRecord) error {
	err := s.saveFenced(r)
	if err != nil && !IsSuspend(err) {
		return s.markLostOrInterrupted(r.id, err)
	}
	return err
}

// stepFinalError says that a write to a step would have replaced its final
// row; it matches errStepFinal.
type stepFinalError struct{ runID, stepID string }

func (e *stepFinalError) Error() string {
	return fmt.Sprintf("%v: step %q of run %s", errStepFinal, e.stepID, e.runID)
}

func (e *stepFinalError) Is(target error) bool { return target == errStepFinal }

// finalError says that a write to step id would have replaced its final row.
func (s *Segment) finalError(id string) error {
	return &stepFinalError{runID: s.run.ID, stepID: id}
}

// storeError wraps a database error met storing step id, with the
// database's detail, which says what it refused.
func storeError(runID, id string, err error) error {
	return dberr.WithDetail(fmt.Errorf("flow: store step %q of run %s: %w", id, runID, err))
}

func (s *Segment) saveTx(ctx context.Context, tx pgx.Tx, r stepRecord) error {
	n, err := s.c.q.StepSave(ctx, tx, &dbsqlc.StepSaveParams{
		RunID: s.run.ID, ID: r.id, Seq: r.seq, Kind: r.kind, Status: r.status, Attempts: r.attempts,
		Output: r.output, Error: r.err, WakeAt: r.wakeAt, Detail: r.detail, StartedAt: r.startedAt, EndedAt: r.endedAt,
	})
	switch {
	case err != nil:
		return storeError(s.run.ID, r.id, err)
	case n == 0:
		return s.finalError(r.id)
	}
	return nil
}

// fence locks the run for the rest of tx if the segment still owns it, and
// stores the deferred step records with tx.
func (s *Segment) fence(ctx context.Context, tx pgx.Tx) error {
	_, err := s.c.q.RunFence(ctx, tx, &dbsqlc.RunFenceParams{LeaseTtl: s.c.cfg.LeaseTTL, ID: s.run.ID, Gen: s.run.Gen})
	if errors.Is(err, pgx.ErrNoRows) {
		return errLost
	}
	if err != nil {
		return err
	}
	return s.flushDeferred(ctx, tx)
}

// deferSave records a step outcome that replays can recompute (a sleep whose
// time has passed), to be stored with the segment's next write instead of in
// a commit of its own.
func (s *Segment) deferSave(r stepRecord) {
	s.mu.Lock()
	s.deferred = append(s.deferred, r)
	s.mu.Unlock()
}

func (s *Segment) hasDeferred() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.deferred) > 0
}

// flushDeferred stores the deferred step records in tx.
func (s *Segment) flushDeferred(ctx context.Context, tx pgx.Tx) error {
	s.mu.Lock()
	recs := s.deferred
	s.deferred = nil
	s.mu.Unlock()
	for _, r := range recs {
		if err := s.saveTx(ctx, tx, r); err != nil {
			return err
		}
	}
	return nil
}

// markLostOrInterrupted records why a step's transaction failed, and
// returns errSuspended: the run was lost; a write would have replaced a
// final step row, or the database refused a statement for good (the run
// fails, loudly, rather than loop); or the database was out of reach (an
// interruption: River retries the segment, and the run's lease hands it on
// if this process is gone).
func (s *Segment) markLostOrInterrupted(stepID string, err error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case errors.Is(err, errLost):
		s.lost = true
	case errors.Is(err, errStepFinal), dberr.IsPermanent(err):
		if s.failErr == nil {
			s.failErr = dberr.WithDetail(err)
		}
		s.c.cfg.Logger.ErrorContext(context.WithoutCancel(s.ctx), "flow: run fails: a step could not be stored",
			"run_id", s.run.ID, "step_id", stepID, "error", err)
	default:
		if s.interrupted == nil {
			s.interrupted = fmt.Errorf("flow: store step %q of run %s: %w", stepID, s.run.ID, err)
		}
	}
	return errSuspended
}

// stepFailed records a failed attempt of a step. It returns the StepError
// the step gives its function when the step has failed for good, or
// errSuspended when a retry is scheduled.
func (s *Segment) stepFailed(ctx context.Context, r stepRecord, cause error) error {
	now := time.Now()
	var wake time.Time
	if !isNonRetriable(cause) && int(r.attempts) <= s.fn.retries {
		delay, ok := retryAfterOf(cause)
		if !ok {
			delay = s.c.cfg.RetryBackoff(int(r.attempts))
		}
		wake = now.Add(delay)
		if err := checkTime(r.id, "retry time", wake); err != nil {
			cause = fmt.Errorf("%w (after: %w)", err, cause)
		}
	}
	msg := storableText(cause.Error())
	r.err = &msg
	r.output = nil
	if isNonRetriable(cause) || int(r.attempts) > s.fn.retries {
		r.status = stepFailed
		r.endedAt = &now
		if err := s.mustSave(r); err != nil {
			return err
		}
		return &StepError{RunID: s.run.ID, StepID: r.id, Message: msg, Attempts: int(r.attempts), cause: cause}
	}
	r.status = stepErrored
	r.wakeAt = &wake
	s.suspendFor(ctx, suspension{retry: true, wakeAt: &wake, save: func(ctx context.Context, tx pgx.Tx) error {
		return s.saveTx(ctx, tx, r)
	}})
	return errSuspended
}

func (s *Segment) storedStepError(st *dbsqlc.FlowStep) *StepError {
	e := &StepError{RunID: s.run.ID, StepID: st.ID, Attempts: int(st.Attempts)}
	if st.Error != nil {
		e.Message = *st.Error
	}
	return e
}

// end closes the segment once the handler has returned: it finishes the run
// (finish), suspends it or schedules a retry of the function (suspend, which
// inserts the continuation job), or cancels it when its Timeouts.Finish has
// passed; or, when the segment lost its run, does nothing. None of these
// touches the segment's own River job: River completes it once Work returns
// nil, and retries it when end returns an error (an interruption).
func (s *Segment) end(ctx context.Context, out any, herr error) error {
	s.mu.Lock()
	s.ended = true
	lost, failErr, interrupted, pending := s.lost, s.failErr, s.interrupted, s.pending
	s.mu.Unlock()
	timedOut := errors.Is(context.Cause(s.ctx), errFinishTimeout)
	s.cancel()

	switch {
	case lost:
		return nil
	case timedOut:
		return s.cancelSelf(ctx, fmt.Sprintf("finish timeout: Timeouts.Finish %s passed", s.fn.timeouts.Finish))
	case interrupted != nil:
		s.c.cfg.Logger.WarnContext(ctx, "flow: run interrupted; River retries its segment", "run_id", s.run.ID, "error", interrupted)
		return interrupted
	case failErr != nil:
		return s.finish(ctx, RunFailed, nil, failErr.Error())
	case len(pending) > 0:
		return s.suspend(ctx, pending, s.run.Attempt)
	case herr == nil:
		body, err := json.Marshal(out)
		if err != nil {
			return s.finish(ctx, RunFailed, nil, fmt.Sprintf("flow: encode output of function %q as JSON: %v", s.fn.id, err))
		}
		if len(body) > s.c.cfg.MaxStepOutputBytes {
			return s.finish(ctx, RunFailed, nil, fmt.Sprintf("%v: the function's output is %d bytes, over the limit of %d (Config.MaxStepOutputBytes)",
				ErrStepOutputTooLarge, len(body), s.c.cfg.MaxStepOutputBytes))
		}
		return s.finish(ctx, RunCompleted, body, "")
	case errors.Is(herr, errSuspended):
		// The handler returned a suspend error with nothing pending: its
		// context ended. Let River retry; the lease hands the run on.
		return fmt.Errorf("flow: run %s interrupted: %w", s.run.ID, herr)
	}
	var stepErr *StepError
	attempt := s.run.Attempt + 1
	if errors.As(herr, &stepErr) || isNonRetriable(herr) || int(attempt) > s.fn.retries {
		return s.finish(ctx, RunFailed, nil, herr.Error())
	}
	delay, ok := retryAfterOf(herr)
	if !ok {
		delay = s.c.cfg.RetryBackoff(int(attempt))
	}
	wake := time.Now().Add(delay)
	s.c.cfg.Logger.InfoContext(ctx, "flow: function failed, retrying", "run_id", s.run.ID, "function_id", s.fn.id,
		"attempt", attempt, "retry_in", delay, "error", herr.Error())
	return s.suspend(ctx, []suspension{{retry: true, wakeAt: &wake}}, attempt)
}

// suspend pauses the run until the earliest wake time of its pending
// suspensions (or until an event, child run or waker makes it runnable).
func (s *Segment) suspend(ctx context.Context, pending []suspension, attempt int32) error {
	var wake *time.Time
	status := RunSleeping
	allRetries := true
	for _, p := range pending {
		if p.wakeAt != nil && (wake == nil || p.wakeAt.Before(*wake)) {
			wake = p.wakeAt
		}
		if p.wait {
			status = RunWaiting
		}
		if !p.retry {
			allRetries = false
		}
	}
	if allRetries {
		status = RunQueued
	}
	if d := s.run.DeadlineAt; d != nil && (wake == nil || d.Before(*wake)) {
		wake = d // wake at the deadline, to be cancelled
	}
	now := time.Now()
	var start riverjob.Start
	runWake := wake
	switch {
	case wake == nil:
		start.Pending = true // only an event or a child run wakes it
	case wake.After(now):
		start.At = *wake // River's scheduler is the fallback; the waker is on time
	default:
		runWake = nil // due already: available now
	}
	var waiters bool // runs wait for the slots this suspend frees
	err := pgx.BeginFunc(ctx, s.c.pool, func(tx pgx.Tx) error {
		if err := s.fence(ctx, tx); err != nil {
			return err
		}
		var resumeOf []string
		for _, p := range pending {
			if p.save != nil {
				if err := p.save(ctx, tx); err != nil {
					return err
				}
			}
			if p.resumeOf != "" {
				resumeOf = append(resumeOf, p.resumeOf)
			}
		}
		if len(resumeOf) > 0 {
			// A step this segment found waiting was resolved meanwhile
			// (senders skip no open run): resume at once.
			n, err := s.c.q.StepCountResolved(ctx, tx, &dbsqlc.StepCountResolvedParams{RunID: s.run.ID, IDs: resumeOf})
			if err != nil {
				return err
			}
			if n > 0 {
				start, runWake = riverjob.Start{}, nil
			}
		}
		jobID, err := s.c.jobs.InsertTx(ctx, tx, runArgs{RunID: s.run.ID, Gen: s.run.Gen + 1, FunctionID: s.fn.id, Slots: s.run.Slotted}, start)
		if err != nil {
			return fmt.Errorf("insert continuation job: %w", err)
		}
		// River completes this segment's job itself once Work returns: the
		// continuation does not wait for that, and the gen fence makes the
		// old job harmless whatever becomes of it.
		waiters, err = s.c.q.RunSuspend(ctx, tx, &dbsqlc.RunSuspendParams{
			Status: string(status), JobID: &jobID, WakeAt: runWake, Attempt: attempt, ID: s.run.ID, Gen: s.run.Gen,
		})
		if errors.Is(err, pgx.ErrNoRows) {
			return errLost
		}
		return err
	})
	switch {
	case errors.Is(err, errLost):
		return nil
	case errors.Is(err, errStepFinal), dberr.IsPermanent(err):
		// Suspending again would meet the same refusal: fail the run.
		s.c.cfg.Logger.ErrorContext(ctx, "flow: run fails: its suspend was refused", "run_id", s.run.ID, "error", err)
		s.dropDeferred()
		return s.finish(ctx, RunFailed, nil, fmt.Sprintf("flow: suspend run %s: %v", s.run.ID, dberr.WithDetail(err)))
	case err != nil:
		err = fmt.Errorf("flow: suspend run %s: %w", s.run.ID, err)
		s.c.cfg.Logger.WarnContext(ctx, "flow: run interrupted; River retries its segment", "run_id", s.run.ID, "error", err)
		return err
	}
	if waiters {
		s.releaseSlots(ctx)
	}
	s.outcome = "suspended:" + string(status)
	if runWake != nil {
		s.c.waker.wakeAt(*runWake)
	}
	for _, p := range pending {
		if p.after != nil {
			p.after(ctx)
		}
	}
	s.c.cfg.Logger.DebugContext(ctx, "flow: run suspended", "run_id", s.run.ID, "status", status, "wake_at", runWake)
	return nil
}

// finish ends the run. A completed run with no parent and no deferred step
// records ends in one statement (RunCompleteQuiet); any other end is one
// transaction that sets the run's status, stores the deferred step records,
// resolves its parent's Invoke step if it has one and emits the run's
// system events. The run's concurrency slots are freed by the status change
// (a trigger) and their waiters woken after the commit (releaseSlots). The
// segment's River job is not part of it: River completes the job once Work
// returns. If the database refuses the end for good (an output jsonb cannot
// hold), the run fails with its message instead, rather than run again.
func (s *Segment) finish(ctx context.Context, status RunStatus, output []byte, errMsg string) error {
	errMsg = storableText(errMsg)
	err := s.finishOnce(ctx, status, output, errMsg)
	if err != nil && (dberr.IsPermanent(err) || errors.Is(err, errStepFinal)) {
		s.c.cfg.Logger.ErrorContext(ctx, "flow: run fails: its end was refused", "run_id", s.run.ID, "status", status, "error", err)
		s.dropDeferred()
		return s.finishOnce(ctx, RunFailed, nil, storableText(dberr.WithDetail(err).Error()))
	}
	if err != nil {
		s.c.cfg.Logger.WarnContext(ctx, "flow: run interrupted; River retries its segment", "run_id", s.run.ID, "error", err)
	}
	return err
}

// dropDeferred forgets the step records deferred to the segment's next
// write, when that write is the run's failure.
func (s *Segment) dropDeferred() {
	s.mu.Lock()
	s.deferred = nil
	s.mu.Unlock()
}

func (s *Segment) finishOnce(ctx context.Context, status RunStatus, output []byte, errMsg string) error {
	var errp *string
	if errMsg != "" {
		errp = &errMsg
	}
	if status == RunCompleted && s.run.ParentRunID == nil && !s.hasDeferred() {
		// The common case in one statement; no row sends us the full way.
		waiters, err := s.c.q.RunCompleteQuiet(ctx, s.c.pool, &dbsqlc.RunCompleteQuietParams{Output: output, ID: s.run.ID, Gen: s.run.Gen})
		if err == nil {
			if waiters {
				s.releaseSlots(ctx)
			}
			s.runEnded(status, "")
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("flow: finish run %s: %w", s.run.ID, err)
		}
	}
	err := pgx.BeginFunc(ctx, s.c.pool, func(tx pgx.Tx) error {
		row, err := s.c.q.RunFinish(ctx, tx, &dbsqlc.RunFinishParams{
			Status: string(status), Output: output, Error: errp, ID: s.run.ID, Gen: s.run.Gen,
		})
		if errors.Is(err, pgx.ErrNoRows) {
			return errLost
		}
		if err != nil {
			return err
		}
		if err := s.flushDeferred(ctx, tx); err != nil {
			return err
		}
		if row.ParentRunID != nil && row.ParentStepID != nil {
			if err := s.c.resolveInvoke(ctx, tx, *row.ParentRunID, *row.ParentStepID, s.run.ID, status, output, errp); err != nil {
				return fmt.Errorf("resume parent run %s: %w", *row.ParentRunID, err)
			}
		}
		return s.c.emitRunEnded(ctx, tx, runEnd{
			runID: s.run.ID, functionID: s.fn.id, status: status, output: output, errMsg: errMsg, event: &s.event,
			skipFinished: !row.FinishedListened,
		})
	})
	switch {
	case errors.Is(err, errLost):
		return nil
	case err != nil:
		return fmt.Errorf("flow: finish run %s: %w", s.run.ID, err)
	}
	s.releaseSlots(ctx)
	s.runEnded(status, errMsg)
	return nil
}

// runEnded records that the run ended: AwaitRun callers, the segment's span,
// the log.
func (s *Segment) runEnded(status RunStatus, errMsg string) {
	s.c.done.ended(s.run.ID)
	s.outcome = string(status)
	level := slog.LevelDebug
	if status == RunFailed {
		level = slog.LevelWarn
		s.outcomeErr = errors.New(errMsg)
	}
	s.c.cfg.Logger.Log(context.WithoutCancel(s.ctx), level, "flow: run ended", "run_id", s.run.ID, "function_id", s.fn.id, "status", status, "error", errMsg)
}

type branchKey struct{}

// BranchOf returns the Parallel branch a context belongs to: "" outside
// Parallel, "2" for the third branch, "2.0" for the first branch of a
// Parallel inside it.
func BranchOf(ctx context.Context) string {
	b, _ := ctx.Value(branchKey{}).(string)
	return b
}

// WithBranch returns a context for the Parallel branch b (see BranchOf).
func WithBranch(ctx context.Context, b string) context.Context {
	return context.WithValue(ctx, branchKey{}, b)
}
