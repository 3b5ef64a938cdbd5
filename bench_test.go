package flow_test

// Benchmarks of the engine's hot paths, so that a regression shows in
//
//	go test -run '^$' -bench . -benchtime 200x .
//
// They run on flowtest's throwaway server, which trades durability for speed
// (fsync off): they measure the engine's own work and round trips, not the
// cost of a durable commit. The bench/ program compares riverflow with River
// and DBOS on a durable server.

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
)

// benchConfig is a quiet client configuration for benchmarks.
func benchConfig() *flow.Config {
	return &flow.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

// benchStart starts c and stops it when the benchmark ends.
func benchStart(b *testing.B, c *flow.Client) {
	b.Helper()
	require.NoError(b, c.Start(context.Background()))
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		require.NoError(b, c.Stop(ctx))
	})
}

// benchRunOf sends ev and returns the ID of the one run it starts.
func benchRunOf(b *testing.B, c *flow.Client, ev flow.Event) string {
	b.Helper()
	ctx := context.Background()
	ids, err := c.Send(ctx, ev)
	require.NoError(b, err)
	runs, err := c.ListRuns(ctx, flow.RunFilter{EventID: ids[0]})
	require.NoError(b, err)
	require.Len(b, runs, 1)
	return runs[0].ID
}

// benchAwaitCompleted waits for a run and requires that it completed.
func benchAwaitCompleted(b *testing.B, c *flow.Client, runID string) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	run, err := c.AwaitRun(ctx, runID)
	require.NoError(b, err)
	require.Equal(b, flow.RunCompleted, run.Status, run.Error)
}

// BenchmarkSendTx: one event sent inside the caller's transaction (BEGIN,
// SendTx, COMMIT), starting one run of a registered function, from a client
// that only sends.
func BenchmarkSendTx(b *testing.B) {
	pool := flowtest.Pool(b)
	ctx := context.Background()
	worker, err := flow.NewClient(pool, benchConfig())
	require.NoError(b, err)
	_, err = flow.CreateFunction(worker, flow.FunctionOpts{ID: "bench-send"}, flow.EventTrigger("bench/send"),
		func(ctx context.Context, in flow.Input[map[string]int]) (any, error) { return nil, nil })
	require.NoError(b, err)
	require.NoError(b, worker.Start(ctx)) // registers the function
	require.NoError(b, worker.Stop(ctx))
	sender, err := flow.NewClient(pool, benchConfig())
	require.NoError(b, err)

	for i := 0; b.Loop(); i++ {
		tx, err := pool.Begin(ctx)
		require.NoError(b, err)
		_, err = sender.SendTx(ctx, tx, flow.Event{Name: "bench/send", Data: map[string]int{"i": i}})
		require.NoError(b, err)
		require.NoError(b, tx.Commit(ctx))
	}
	b.StopTimer()
	benchRequireRuns(b, pool, b.N)
}

// BenchmarkSendWithRunsTx is BenchmarkSendTx with SendWithRunsTx: the run
// IDs come back from the send statement, so it should cost what SendTx does.
func BenchmarkSendWithRunsTx(b *testing.B) {
	pool := flowtest.Pool(b)
	ctx := context.Background()
	worker, err := flow.NewClient(pool, benchConfig())
	require.NoError(b, err)
	_, err = flow.CreateFunction(worker, flow.FunctionOpts{ID: "bench-send"}, flow.EventTrigger("bench/send"),
		func(ctx context.Context, in flow.Input[map[string]int]) (any, error) { return nil, nil })
	require.NoError(b, err)
	require.NoError(b, worker.Start(ctx)) // registers the function
	require.NoError(b, worker.Stop(ctx))
	sender, err := flow.NewClient(pool, benchConfig())
	require.NoError(b, err)

	for i := 0; b.Loop(); i++ {
		tx, err := pool.Begin(ctx)
		require.NoError(b, err)
		sent, err := sender.SendWithRunsTx(ctx, tx, flow.Event{Name: "bench/send", Data: map[string]int{"i": i}})
		require.NoError(b, err)
		require.Len(b, sent[0].RunIDs, 1)
		require.NoError(b, tx.Commit(ctx))
	}
	b.StopTimer()
	benchRequireRuns(b, pool, b.N)
}

func benchRequireRuns(b *testing.B, pool *pgxpool.Pool, want int) {
	b.Helper()
	var n int
	require.NoError(b, pool.QueryRow(context.Background(), "SELECT count(*) FROM flow_run").Scan(&n))
	require.Equal(b, want, n, "every send starts one run")
}

// BenchmarkStep: one op is one new flow.Step of a running run (the step's
// function, storing its result, returning it). ns/op includes the run's start
// and end, spread over b.N steps; ns/step is timed inside the handler.
func BenchmarkStep(b *testing.B) {
	pool := flowtest.Pool(b)
	n := b.N
	cfg := benchConfig()
	cfg.MaxStepsPerRun = n + 10
	c, err := flow.NewClient(pool, cfg)
	require.NoError(b, err)
	var loop atomic.Int64
	_, err = flow.CreateFunction(c, flow.FunctionOpts{ID: "bench-step"}, flow.EventTrigger("bench/step"),
		func(ctx context.Context, in flow.Input[struct{}]) (any, error) {
			t0 := time.Now()
			for i := range n {
				if _, err := flow.Step(ctx, "s", func(context.Context) (int, error) { return i, nil }); err != nil {
					return nil, err
				}
			}
			loop.Store(int64(time.Since(t0)))
			return nil, nil
		})
	require.NoError(b, err)
	benchStart(b, c)

	b.ResetTimer()
	runID := benchRunOf(b, c, flow.Event{Name: "bench/step"})
	benchAwaitCompleted(b, c, runID)
	b.StopTimer()
	b.ReportMetric(float64(loop.Load())/float64(n), "ns/step")
}

// BenchmarkReplay100: one op is one resumption of a run with 100 stored
// steps: the run sleeps 1 ms, is woken, replays its 100 steps from the
// database, and sleeps again. ns/op is the whole cycle; ns/replay is the time
// from the handler's entry to the end of the 100 replayed steps.
func BenchmarkReplay100(b *testing.B) {
	const stored = 100
	pool := flowtest.Pool(b)
	n := b.N
	cfg := benchConfig()
	cfg.MaxStepsPerRun = stored + n + 10
	c, err := flow.NewClient(pool, cfg)
	require.NoError(b, err)
	var (
		segments  atomic.Int64
		replayed  atomic.Int64 // total ns in replays
		replays   atomic.Int64
		ready     = make(chan struct{})
		readyOnce atomic.Bool
	)
	_, err = flow.CreateFunction(c, flow.FunctionOpts{ID: "bench-replay"}, flow.EventTrigger("bench/replay"),
		func(ctx context.Context, in flow.Input[struct{}]) (any, error) {
			entry := time.Now()
			seg := segments.Add(1)
			for i := range stored {
				if _, err := flow.Step(ctx, "s", func(context.Context) (int, error) { return i, nil }); err != nil {
					return nil, err
				}
			}
			if seg == 1 {
				if readyOnce.CompareAndSwap(false, true) {
					close(ready)
				}
			} else {
				replayed.Add(int64(time.Since(entry)))
				replays.Add(1)
			}
			if seg <= int64(n) {
				// A new sleep each time: the next segment replays the 100
				// steps and reaches a sleep it has not run.
				return nil, flow.Sleep(ctx, "nap-"+strconv.FormatInt(seg, 10), time.Millisecond)
			}
			return nil, nil
		})
	require.NoError(b, err)
	benchStart(b, c)

	runID := benchRunOf(b, c, flow.Event{Name: "bench/replay"})
	select {
	case <-ready:
	case <-time.After(time.Minute):
		b.Fatal("the run did not store its steps")
	}
	b.ResetTimer()
	benchAwaitCompleted(b, c, runID)
	b.StopTimer()
	require.Equal(b, int64(n), replays.Load())
	b.ReportMetric(float64(replayed.Load())/float64(replays.Load()), "ns/replay")
}
