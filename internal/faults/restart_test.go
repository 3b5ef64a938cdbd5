package faults

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
)

// TestPostgresRestart restarts Postgres (a fast shutdown: every session cut,
// open transactions rolled back) in the middle of a load of runs that sleep
// between steps, while events keep coming. Every run completes, every stored
// event has exactly one run, no stored step executes again, and the same
// client goes on working with no help.
func TestPostgresRestart(t *testing.T) {
	t.Parallel()
	var (
		runs     = scale(150, 2000)
		restarts = scale(1, 3)
	)
	ctx, cancel := context.WithTimeout(context.Background(), scale(2*time.Minute, 15*time.Minute))
	defer cancel()

	srv, err := flowtest.StartServerWith(ctx, nil)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, srv.Close()) })
	f := newFixture(t, srv)

	logs, logger := newLogTail(t)
	pool := f.pool(t, "faults-client", 25)
	probes := f.pool(t, "faults-probe", 5)
	// A short lease: a segment cut off by the restart is resumed without
	// waiting the default 30 s (TestConnectionsKilled asserts that bound).
	c := newClient(t, pool, probes, clientConfig("restart", 3*time.Second, logger),
		shape{sleep: 300 * time.Millisecond, work: 50 * time.Millisecond})
	start(t, c)

	s := &sender{c: c}
	sendDone := make(chan struct{})
	go func() {
		defer close(sendDone)
		// About 100 runs per second, over a few seconds.
		s.send(ctx, runs, 5, 50*time.Millisecond)
	}()

	var downtimes []time.Duration
	for i := range restarts {
		// Restart once the load is under way, at a different point each time.
		waitSent(t, s, runs*(i+1)/(restarts+2))
		began := time.Now()
		err := srv.Restart(ctx)
		if errors.Is(err, flowtest.ErrNotRestartable) {
			t.Skip("the Postgres server in use cannot be restarted:", err)
		}
		require.NoError(t, err)
		downtimes = append(downtimes, time.Since(began))
	}
	<-sendDone

	awaitEnded(t, f.admin, runs, scale(90*time.Second, 10*time.Minute))
	tl := verify(t, f.admin, s)
	require.GreaterOrEqual(t, tl.Runs, runs)

	// The same client still sends, executes and reports runs.
	after := flowtest.RunEvent(t, c, flow.Event{Name: startEvent, Data: startData{Key: "after"}})
	require.Equal(t, flow.RunCompleted, after.Status, after.Error)

	t.Logf("runs %d, restarts %d (each down %v), failed Send calls %d, lost 0, step executions %d (%d repeats of bodies cut off before their result was stored), stored steps executed again %d, client log lines %d",
		tl.Runs, restarts, downtimes, tl.FailedSends, tl.Executions, tl.Repeats, tl.Reexecuted, logs.total())
}

// waitSent waits until s has sent at least n events.
func waitSent(t *testing.T, s *sender, n int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		ids, _ := s.sent()
		if len(ids) >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d events sent within a minute", len(ids), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
