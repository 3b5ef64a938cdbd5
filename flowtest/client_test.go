package flowtest_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
)

func TestClientRunsTheTestsFunctions(t *testing.T) {
	t.Parallel()
	var attempts atomic.Int32
	c := flowtest.Client(t, &flow.Config{RetryBackoff: func(int) time.Duration { return 10 * time.Millisecond }},
		func(c *flow.Client) {
			_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "greet"}, flow.EventTrigger("test/greet"),
				func(ctx context.Context, in flow.Input[map[string]string]) (any, error) {
					return flow.Step(ctx, "compose", func(ctx context.Context) (string, error) {
						if attempts.Add(1) == 1 {
							return "", errors.New("flaky")
						}
						return "hello " + in.Event.Data["name"], nil
					})
				})
			require.NoError(t, err)
		})

	run := flowtest.RunEvent(t, c, flow.Event{Name: "test/greet", Data: map[string]string{"name": "ada"}})
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	var out string
	require.NoError(t, run.DecodeOutput(&out))
	require.Equal(t, "hello ada", out)
	require.Len(t, run.Steps, 1)
	require.Equal(t, 2, run.Steps[0].Attempts, "the flaky step was retried")
}

func TestClientOnUsesTheGivenPool(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool := flowtest.Pool(t)
	_, err := pool.Exec(ctx, "CREATE TABLE app_user (email text PRIMARY KEY)")
	require.NoError(t, err)

	c := flowtest.ClientOn(t, pool, nil, func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "welcome"}, flow.EventTrigger("user/signed.up"),
			func(ctx context.Context, in flow.Input[map[string]string]) (any, error) {
				return "welcome " + in.Event.Data["email"], nil
			})
		require.NoError(t, err)
	})

	// The app's write and the event commit together, on the app's pool.
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, "INSERT INTO app_user VALUES ('ada@example.com')")
	require.NoError(t, err)
	ids, err := c.SendTx(ctx, tx, flow.Event{Name: "user/signed.up", Data: map[string]string{"email": "ada@example.com"}})
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx))

	runs, err := c.ListRuns(ctx, flow.RunFilter{EventID: ids[0]})
	require.NoError(t, err)
	require.Len(t, runs, 1)
	run, err := c.AwaitRun(ctx, runs[0].ID)
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)

	var stored int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM flow_run WHERE id = $1", run.ID).Scan(&stored))
	require.Equal(t, 1, stored, "the run is stored in the given pool's database")
}

// waitingClient is a started client with one function that waits for
// "test/go" and then returns; it sends "test/start" to start a run and
// returns the run's ID.
func waitingClient(t *testing.T) (*flow.Client, string) {
	t.Helper()
	c := flowtest.Client(t, nil, func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "waiter"}, flow.EventTrigger("test/start"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				_, err := flow.WaitForEvent[any](ctx, "go", flow.WaitOpts{Event: "test/go", Timeout: time.Minute})
				return "done", err
			})
		require.NoError(t, err)
	})
	ids, err := c.Send(t.Context(), flow.Event{Name: "test/start"})
	require.NoError(t, err)
	runs, err := c.ListRuns(t.Context(), flow.RunFilter{EventID: ids[0]})
	require.NoError(t, err)
	require.Len(t, runs, 1)
	return c, runs[0].ID
}

func TestAwaitStatusReturnsTheRunInThatStatus(t *testing.T) {
	t.Parallel()
	c, runID := waitingClient(t)

	run := flowtest.AwaitStatus(t, c, runID, flow.RunWaiting)
	require.Equal(t, flow.RunWaiting, run.Status)
	require.Equal(t, runID, run.ID)

	_, err := c.Send(t.Context(), flow.Event{Name: "test/go"})
	require.NoError(t, err)
	run = flowtest.AwaitStatus(t, c, runID, flow.RunCompleted)
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
}

// fatalTB records the first Fatalf of a helper under test and ends its
// goroutine, as testing.T does, without failing the real test.
type fatalTB struct {
	testing.TB
	msg string
}

func (tb *fatalTB) Fatalf(format string, args ...any) {
	tb.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestAwaitStatusFailsWhenTheRunEndsFirst(t *testing.T) {
	t.Parallel()
	c, runID := waitingClient(t)
	flowtest.AwaitStatus(t, c, runID, flow.RunWaiting)
	_, err := c.Send(t.Context(), flow.Event{Name: "test/go"})
	require.NoError(t, err)

	// Sleeping is a status the run never reaches: it ends completed first.
	tb := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		flowtest.AwaitStatus(tb, c, runID, flow.RunSleeping)
	}()
	<-done
	require.Contains(t, tb.msg, "ended as completed")
	require.Contains(t, tb.msg, "before reaching sleeping")
}
