package flowtest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/internal/engine"
	"github.com/riverflow/flow/internal/testhook"
)

// advanceTimeout bounds one Advance: the runs it wakes must settle within it.
const advanceTimeout = time.Minute

// Advance skips time by d for every run in c's database, so that a test of a
// long workflow does not wait: the sleeps, WaitForEvent and Invoke timeouts,
// step retries, delayed starts and finish deadlines (FunctionOpts.Timeouts)
// due within d happen now, in the order they are due, as if d had passed;
// every later due time comes d closer. c must be started ([Client] returns a
// started client): it executes the runs that wake.
//
// Advance moves time in hops and lets the woken runs execute between them:
// a run woken by its 24 h sleep stores its 72 h wait before time moves on,
// so Advance(t, c, 96*time.Hour) fires both. It returns once no due time is
// left within d and no run executes or is ready to; it waits for runs
// already executing before it moves time at all. A run that never settles
// (a step blocked on the test, a function no started client defines) fails
// the test after a minute, naming the run.
//
// What moves is what is stored for the runs that have not ended: their wake
// times, the wake times of their steps, the expiry of their waits (timeouts
// of WaitForEvent and of CancelOn), their finish deadlines, and the times
// their River jobs are scheduled at. What does not move: the wall clock
// (time.Now in your code and the times stored as history, such as a run's
// CreatedAt or a step's StartedAt), the Start timeout (measured from the
// run's creation), WaitOpts.Lookback windows, rate limit, throttle and
// idempotency windows, debounce and batch windows still open to new events
// (their pending start moves, as a delayed start does), event TS, and cron
// triggers. Time moves only while Advance is called, and for the whole
// database, whichever client's runs it holds.
//
// A negative d fails the test; Advance(t, c, 0) fires what is due already
// and waits for the runs to settle.
func Advance(tb testing.TB, c *flow.Client, d time.Duration) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), advanceTimeout)
	defer cancel()
	if err := advance(ctx, c, d); err != nil {
		tb.Fatalf("flowtest: Advance(%s): %v", d, err)
	}
}

func advance(ctx context.Context, c *flow.Client, d time.Duration) error {
	e, err := engineOf(c)
	if err != nil {
		return err
	}
	return e.Advance(ctx, d)
}

// engineOf returns the engine behind c.
func engineOf(c *flow.Client) (*engine.Engine, error) {
	if c == nil {
		return nil, errors.New("flow: nil client")
	}
	e := testhook.EngineOf(c)
	if e == nil {
		return nil, fmt.Errorf("flow: no engine behind client %p", c)
	}
	return e, nil
}
