package engine

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"go.opentelemetry.io/otel/trace"

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
// run (another job took it over, or it ended): the store's ErrLost, which
// FinishRun returns for a lost run.
var errLost = store.ErrLost

type segmentKey struct{}
type inStepKey struct{}

// Segment is one execution of a run's handler, from the top, by one River job.
type Segment struct {
	c     *Engine
	fn    *Function
	job   *river.Job[runArgs]
	run   store.ClaimedRun // a value: no allocation of its own
	event StoredEvent
	batch []StoredEvent // a batch run's events (FunctionOpts.Batch)

	ctx    context.Context // the handler's context
	cancel context.CancelFunc

	mu          sync.Mutex
	stored      map[string]*store.Step
	ids         stepIDs
	nextSeq     int32
	count       int
	pending     []suspension
	deferred    []stepRecord // sleeps found over on replay, stored with the next write
	failErr     error        // the run must fail (non-determinism, too many steps)
	interrupted error        // a database error: River retries the job
	lost        bool
	ended       bool
	stopping    bool // its function is paused: the run stops at its next step boundary (pause.go)

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
	// due, if set, is set by save when the step it records ended already
	// (an Invoke whose child flow control refused): the run resumes at once.
	due *bool
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

// FromContext returns the segment executing the run of ctx: ErrNotInRun
// outside a run, and a non-retriable error inside a step (steps cannot be
// nested).
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
func (s *Segment) begin(ctx context.Context, userID, kind string) (string, *store.Step, int32, error) {
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
