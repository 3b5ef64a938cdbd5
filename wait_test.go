package flow_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
)

type waitOrder struct {
	OrderID string `json:"orderId,omitempty"`
}

type waitPaid struct {
	OrderID string `json:"orderId,omitempty"`
	Amount  int    `json:"amount,omitempty"`
}

// waitLongTimeout is the timeout of waits that a test resolves with an
// event: long enough never to fire during the test.
const waitLongTimeout = time.Minute

// waitUntilWaiting polls the run until it shows as waiting, and returns it.
func waitUntilWaiting(t *testing.T, c *flow.Client, runID string) *flow.Run {
	t.Helper()
	return flowtest.AwaitStatus(t, c, runID, flow.RunWaiting)
}

// waitStep returns the step of run with the given ID.
func waitStep(t *testing.T, run *flow.Run, id string) flow.RunStep {
	t.Helper()
	for _, st := range run.Steps {
		if st.ID == id {
			return st
		}
	}
	require.Failf(t, "step not found", "run %s has no step %q (steps: %+v)", run.ID, id, run.Steps)
	return flow.RunStep{}
}

// waitOpenWaits counts the open waits of a run in flow_wait.
func waitOpenWaits(t *testing.T, pool *pgxpool.Pool, runID string) int {
	t.Helper()
	var n int
	require.NoError(t, pool.QueryRow(testCtx(t), `SELECT count(*) FROM flow_wait WHERE run_id = $1`, runID).Scan(&n))
	return n
}

// waitSendID sends one event and returns its stored ID.
func waitSendID(t *testing.T, c *flow.Client, ev flow.Event) string {
	t.Helper()
	ids, err := c.Send(testCtx(t), ev)
	require.NoError(t, err)
	require.Len(t, ids, 1)
	return ids[0]
}

// waitPaidFunction creates a function triggered by "order/created" that
// waits for the "order/paid" event matching data.orderId and returns it (or
// "timed out"). after counts executions of the step that follows the wait.
func waitPaidFunction(t *testing.T, c *flow.Client, id, match string, timeout time.Duration, after *atomic.Int32) {
	t.Helper()
	_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: id}, flow.EventTrigger("order/created"),
		func(ctx context.Context, in flow.Input[waitOrder]) (any, error) {
			ev, err := flow.WaitForEvent[waitPaid](ctx, "wait-paid", flow.WaitOpts{Event: "order/paid", Match: match, Timeout: timeout})
			if errors.Is(err, flow.ErrEventTimeout) {
				return "timed out", nil
			}
			if err != nil {
				return nil, err
			}
			if _, err := flow.Step(ctx, "after", func(ctx context.Context) (int32, error) {
				if after != nil {
					return after.Add(1), nil
				}
				return 0, nil
			}); err != nil {
				return nil, err
			}
			return ev, nil
		})
	require.NoError(t, err)
}

func TestWaitForEventMatched(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	c := flowtest.ClientOn(t, pool, testConfig(), func(c *flow.Client) {
		waitPaidFunction(t, c, "wait-matched", "data.orderId", waitLongTimeout, nil)
	})

	runIDs := sendOne(t, c, flow.Event{Name: "order/created", Data: waitOrder{OrderID: "o-1"}})
	require.Len(t, runIDs, 1)
	waiting := waitUntilWaiting(t, c, runIDs[0])
	st := waitStep(t, waiting, "wait-paid")
	require.Equal(t, "wait", st.Kind)
	require.Equal(t, "waiting", st.Status)
	require.Equal(t, 1, waitOpenWaits(t, pool, runIDs[0]))

	paidID := waitSendID(t, c, flow.Event{Name: "order/paid", Data: waitPaid{OrderID: "o-1", Amount: 42}})

	run, err := c.AwaitRun(testCtx(t), runIDs[0])
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	var got flow.TypedEvent[waitPaid]
	require.NoError(t, run.DecodeOutput(&got))
	require.Equal(t, "order/paid", got.Name)
	require.Equal(t, paidID, got.ID)
	require.Equal(t, waitPaid{OrderID: "o-1", Amount: 42}, got.Data)
	require.False(t, got.TS.IsZero())
	st = waitStep(t, run, "wait-paid")
	require.Equal(t, "completed", st.Status)
	require.Equal(t, 0, waitOpenWaits(t, pool, run.ID))
}

func TestWaitForEventNotMatchedTimesOut(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	var gotTimeout atomic.Bool

	c := flowtest.ClientOn(t, pool, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "wait-timeout"}, flow.EventTrigger("order/created"),
			func(ctx context.Context, in flow.Input[waitOrder]) (any, error) {
				ev, err := flow.WaitForEvent[waitPaid](ctx, "wait-paid", flow.WaitOpts{Event: "order/paid", Match: "data.orderId", Timeout: time.Second})
				if errors.Is(err, flow.ErrEventTimeout) {
					gotTimeout.Store(true)
					return "timed out", nil
				}
				if err != nil {
					return nil, err
				}
				return ev, nil
			})
		require.NoError(t, err)
	})

	runIDs := sendOne(t, c, flow.Event{Name: "order/created", Data: waitOrder{OrderID: "o-1"}})
	require.Len(t, runIDs, 1)
	waitUntilWaiting(t, c, runIDs[0])

	// A paid event for another order: the wait is resolved (or not) in the
	// sender's transaction, so once Send returns the wait must still be open.
	waitSendID(t, c, flow.Event{Name: "order/paid", Data: waitPaid{OrderID: "o-2"}})
	run, err := c.GetRun(testCtx(t), runIDs[0])
	require.NoError(t, err)
	st := waitStep(t, run, "wait-paid")
	require.NotEqual(t, "completed", st.Status, "a paid event for another order resumed the wait")
	if st.Status == "waiting" {
		require.Equal(t, 1, waitOpenWaits(t, pool, run.ID))
	}

	run, err = c.AwaitRun(testCtx(t), runIDs[0])
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	var out string
	require.NoError(t, run.DecodeOutput(&out))
	require.Equal(t, "timed out", out)
	require.True(t, gotTimeout.Load(), "the function did not receive ErrEventTimeout")
	st = waitStep(t, run, "wait-paid")
	require.Equal(t, "timed_out", st.Status)
	require.Equal(t, 0, waitOpenWaits(t, pool, run.ID))
}

func TestWaitForEventNoMatchAnyEventResumes(t *testing.T) {
	t.Parallel()
	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		waitPaidFunction(t, c, "wait-any", "", waitLongTimeout, nil)
	})

	runIDs := sendOne(t, c, flow.Event{Name: "order/created", Data: waitOrder{OrderID: "o-1"}})
	require.Len(t, runIDs, 1)
	waitUntilWaiting(t, c, runIDs[0])

	// Another name does not resume it.
	_, err := c.Send(testCtx(t), flow.Event{Name: "order/refunded", Data: waitPaid{OrderID: "o-1"}})
	require.NoError(t, err)
	run, err := c.GetRun(testCtx(t), runIDs[0])
	require.NoError(t, err)
	require.Equal(t, "waiting", waitStep(t, run, "wait-paid").Status)

	// Any data resumes it when there is no Match.
	paidID := waitSendID(t, c, flow.Event{Name: "order/paid", Data: waitPaid{OrderID: "something-else", Amount: 7}})
	run, err = c.AwaitRun(testCtx(t), runIDs[0])
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	var got flow.TypedEvent[waitPaid]
	require.NoError(t, run.DecodeOutput(&got))
	require.Equal(t, paidID, got.ID)
	require.Equal(t, waitPaid{OrderID: "something-else", Amount: 7}, got.Data)
}

// A wait whose Match path has no value in the triggering event would match
// every event that also lacks it (missing equals null): a typo would resume
// runs at random. The wait fails at once instead, naming the step, the path
// and the run, and is not retried.
func TestWaitForEventMatchMissingFailsTheWait(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	var after atomic.Int32
	var handled atomic.Int32

	c := flowtest.ClientOn(t, pool, testConfig(), func(c *flow.Client) {
		waitPaidFunction(t, c, "wait-null", "data.orderId", waitLongTimeout, &after)
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "wait-typo"}, flow.EventTrigger("order/typo"),
			func(ctx context.Context, in flow.Input[waitOrder]) (any, error) {
				_, err := flow.WaitForEvent[waitPaid](ctx, "wait-paid", flow.WaitOpts{Event: "order/paid", Match: "data.orderld", Timeout: waitLongTimeout})
				if errors.Is(err, flow.ErrMatchMissing) {
					handled.Add(1)
					return "refused: " + err.Error(), nil
				}
				return nil, err
			})
		require.NoError(t, err)
	})

	for _, data := range []any{map[string]any{"other": 1}, map[string]any{"orderId": nil}} {
		run := awaitOnly(t, c, flow.Event{Name: "order/created", Data: data})
		require.Equal(t, flow.RunFailed, run.Status)
		require.Contains(t, run.Error, `"wait-paid"`)
		require.Contains(t, run.Error, `"data.orderId"`)
		require.Contains(t, run.Error, run.ID)
		require.Contains(t, run.Error, "no value at the Match path")
		require.Equal(t, 0, run.Attempt, "a missing Match value is not retried")
		require.Equal(t, "failed", waitStep(t, run, "wait-paid").Status)
		require.Equal(t, 0, waitOpenWaits(t, pool, run.ID))
	}

	// The function may handle it: errors.Is holds, in the segment that
	// failed the wait and after replays.
	run := awaitOnly(t, c, flow.Event{Name: "order/typo", Data: waitOrder{OrderID: "o-1"}})
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	var out string
	require.NoError(t, run.DecodeOutput(&out))
	require.Contains(t, out, `Match "data.orderld"`)
	require.Equal(t, int32(1), handled.Load())

	// An event lacking the value resumes nothing.
	waitSendID(t, c, flow.Event{Name: "order/paid", Data: waitPaid{Amount: 3}})
	require.Equal(t, int32(0), after.Load())
}

func TestWaitForEventIgnoresEventSentBeforeWait(t *testing.T) {
	t.Parallel()
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	var releaseOnce sync.Once
	releaseFn := func() { releaseOnce.Do(func() { close(release) }) }

	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "wait-before"}, flow.EventTrigger("order/created"),
			func(ctx context.Context, in flow.Input[waitOrder]) (any, error) {
				if _, err := flow.Step(ctx, "slow", func(ctx context.Context) (bool, error) {
					select {
					case entered <- struct{}{}:
					default:
					}
					select {
					case <-release:
						return true, nil
					case <-ctx.Done():
						return false, ctx.Err()
					}
				}); err != nil {
					return nil, err
				}
				ev, err := flow.WaitForEvent[waitPaid](ctx, "wait-paid", flow.WaitOpts{Event: "order/paid", Match: "data.orderId", Timeout: 500 * time.Millisecond})
				if errors.Is(err, flow.ErrEventTimeout) {
					return "timed out", nil
				}
				if err != nil {
					return nil, err
				}
				return ev, nil
			})
		require.NoError(t, err)
	})
	t.Cleanup(releaseFn) // runs before the client stops

	runIDs := sendOne(t, c, flow.Event{Name: "order/created", Data: waitOrder{OrderID: "o-1"}})
	require.Len(t, runIDs, 1)
	select {
	case <-entered:
	case <-testCtx(t).Done():
		t.Fatal("the first step never started")
	}
	waitSendID(t, c, flow.Event{Name: "order/paid", Data: waitPaid{OrderID: "o-1"}})
	releaseFn()

	run, err := c.AwaitRun(testCtx(t), runIDs[0])
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	var out string
	require.NoError(t, run.DecodeOutput(&out), "output: %s", run.Output)
	require.Equal(t, "timed out", out)
	require.Equal(t, "timed_out", waitStep(t, run, "wait-paid").Status)
}

func TestWaitForEventOneOfTwoConcurrentEventsWins(t *testing.T) {
	t.Parallel()
	var after atomic.Int32

	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		waitPaidFunction(t, c, "wait-race", "data.orderId", waitLongTimeout, &after)
	})

	runIDs := sendOne(t, c, flow.Event{Name: "order/created", Data: waitOrder{OrderID: "o-1"}})
	require.Len(t, runIDs, 1)
	waitUntilWaiting(t, c, runIDs[0])

	ctx := testCtx(t)
	var (
		wg    sync.WaitGroup
		ids   [2]string
		errs  [2]error
		ready = make(chan struct{})
	)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-ready
			var got []string
			got, errs[i] = c.Send(ctx, flow.Event{Name: "order/paid", Data: waitPaid{OrderID: "o-1", Amount: i + 1}})
			if len(got) == 1 {
				ids[i] = got[0]
			}
		}()
	}
	close(ready)
	wg.Wait()
	require.NoError(t, errs[0])
	require.NoError(t, errs[1])

	run, err := c.AwaitRun(ctx, runIDs[0])
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	var got flow.TypedEvent[waitPaid]
	require.NoError(t, run.DecodeOutput(&got))
	require.Contains(t, ids[:], got.ID)
	winner := 0
	if got.ID == ids[1] {
		winner = 1
	}
	require.Equal(t, winner+1, got.Data.Amount)
	require.Equal(t, int32(1), after.Load(), "the step after the wait ran more than once")
	var storedOutput flow.TypedEvent[waitPaid]
	require.NoError(t, json.Unmarshal(waitStep(t, run, "wait-paid").Output, &storedOutput))
	require.Equal(t, got.ID, storedOutput.ID)
}

func TestWaitForEventResumesOnlyMatchingRun(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	c := flowtest.ClientOn(t, pool, testConfig(), func(c *flow.Client) {
		waitPaidFunction(t, c, "wait-two", "data.orderId", waitLongTimeout, nil)
	})

	runA := sendOne(t, c, flow.Event{Name: "order/created", Data: waitOrder{OrderID: "a"}})
	runB := sendOne(t, c, flow.Event{Name: "order/created", Data: waitOrder{OrderID: "b"}})
	require.Len(t, runA, 1)
	require.Len(t, runB, 1)
	waitUntilWaiting(t, c, runA[0])
	waitUntilWaiting(t, c, runB[0])

	paidA := waitSendID(t, c, flow.Event{Name: "order/paid", Data: waitPaid{OrderID: "a"}})
	// Waits are resolved in the sender's transaction.
	b, err := c.GetRun(testCtx(t), runB[0])
	require.NoError(t, err)
	require.Equal(t, flow.RunWaiting, b.Status)
	require.Equal(t, "waiting", waitStep(t, b, "wait-paid").Status)
	require.Equal(t, 1, waitOpenWaits(t, pool, runB[0]))

	a, err := c.AwaitRun(testCtx(t), runA[0])
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, a.Status, a.Error)
	var gotA flow.TypedEvent[waitPaid]
	require.NoError(t, a.DecodeOutput(&gotA))
	require.Equal(t, paidA, gotA.ID)

	b, err = c.GetRun(testCtx(t), runB[0])
	require.NoError(t, err)
	require.Equal(t, flow.RunWaiting, b.Status)

	paidB := waitSendID(t, c, flow.Event{Name: "order/paid", Data: waitPaid{OrderID: "b"}})
	b, err = c.AwaitRun(testCtx(t), runB[0])
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, b.Status, b.Error)
	var gotB flow.TypedEvent[waitPaid]
	require.NoError(t, b.DecodeOutput(&gotB))
	require.Equal(t, paidB, gotB.ID)
	require.Equal(t, "b", gotB.Data.OrderID)
}

func TestWaitForEventResumedInSenderTransaction(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	c := flowtest.ClientOn(t, pool, testConfig(), func(c *flow.Client) {
		waitPaidFunction(t, c, "wait-tx", "data.orderId", waitLongTimeout, nil)
	})

	runIDs := sendOne(t, c, flow.Event{Name: "order/created", Data: waitOrder{OrderID: "o-1"}})
	require.Len(t, runIDs, 1)
	runID := runIDs[0]
	waitUntilWaiting(t, c, runID)
	ctx := testCtx(t)

	// Rolled back: the run stays waiting.
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	rolledBack, err := c.SendTx(ctx, tx, flow.Event{Name: "order/paid", Data: waitPaid{OrderID: "o-1", Amount: 1}})
	require.NoError(t, err)
	require.Len(t, rolledBack, 1)
	require.NoError(t, tx.Rollback(ctx))
	run, err := c.GetRun(ctx, runID)
	require.NoError(t, err)
	require.Equal(t, flow.RunWaiting, run.Status)
	require.Equal(t, "waiting", waitStep(t, run, "wait-paid").Status)
	require.Equal(t, 1, waitOpenWaits(t, pool, runID))

	// Committed: it resumes, with the committed event.
	var committed []string
	require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		var err error
		committed, err = c.SendTx(ctx, tx, flow.Event{Name: "order/paid", Data: waitPaid{OrderID: "o-1", Amount: 2}})
		if err != nil {
			return err
		}
		// Not visible outside the transaction until it commits.
		other, err := c.GetRun(ctx, runID)
		if err != nil {
			return err
		}
		if other.Status != flow.RunWaiting {
			return fmt.Errorf("before commit, run is %s, want waiting", other.Status)
		}
		return nil
	}))
	require.Len(t, committed, 1)
	run, err = c.AwaitRun(ctx, runID)
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	var got flow.TypedEvent[waitPaid]
	require.NoError(t, run.DecodeOutput(&got))
	require.Equal(t, committed[0], got.ID)
	require.NotEqual(t, rolledBack[0], got.ID)
	require.Equal(t, 2, got.Data.Amount)
}
