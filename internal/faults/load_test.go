package faults

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
)

// sample is one measurement of the sustained-load test.
type sample struct {
	at         time.Duration
	heap       uint64 // live heap after a GC, bytes
	goroutines int
	poolConns  int32 // the client's pool
	pgConns    int   // backends on the database, all pools
	sent       int
	ended      int
}

// loadShape is what the function of TestSustainedLoad does.
var loadShape = shape{sleep: 100 * time.Millisecond, work: 5 * time.Millisecond}

// TestSustainedLoad sends runs at a steady rate (full form: 200 runs/s for
// 10 minutes; short form: 20 runs/s for 20 s) to a worker process of its own
// (so that the test's other goroutines do not count), which samples every
// second its live heap after a GC, its goroutines and its pool's
// connections; the test samples the database's backends. After a warm-up
// each stays flat: the last third's peak is within a bounded growth of the
// middle third's. The runs keep up and all complete.
func TestSustainedLoad(t *testing.T) {
	t.Parallel()
	var (
		duration = scale(20*time.Second, 10*time.Minute)
		perTick  = scale(2, 20) // per 100 ms
	)
	ctx, cancel := context.WithTimeout(context.Background(), duration+5*time.Minute)
	defer cancel()
	f := newFixture(t, sharedServer(t))

	var (
		mu     sync.Mutex
		latest workerSample
	)
	startWorker(t, f.url, "load-worker", workerLoad, func(s workerSample) {
		mu.Lock()
		latest = s
		mu.Unlock()
	})
	c, err := flow.NewClient(f.pool(t, "faults-sender", 5), clientConfig("sender", 0, nil))
	require.NoError(t, err)
	require.NoError(t, defineFunction(c, nil, loadShape))
	require.Eventually(t, func() bool { // the worker registered the function
		var n int
		err := f.admin.QueryRow(ctx, `SELECT count(*) FROM flow_trigger WHERE function_id = $1`, functionID).Scan(&n)
		return err == nil && n > 0
	}, time.Minute, 20*time.Millisecond, "the worker did not start")

	s := &sender{c: c, countOnly: true}
	loadCtx, stopLoad := context.WithTimeout(ctx, duration)
	defer stopLoad()
	sendDone := make(chan struct{})
	go func() {
		defer close(sendDone)
		s.send(loadCtx, 1<<30, perTick, 100*time.Millisecond)
	}()

	began := time.Now()
	var samples []sample
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for loadCtx.Err() == nil {
		select {
		case <-loadCtx.Done():
			continue
		case <-tick.C:
		}
		mu.Lock()
		ws := latest
		mu.Unlock()
		if ws.Goroutines == 0 {
			continue // no sample from the worker yet
		}
		sm := sample{at: time.Since(began), heap: ws.Heap, goroutines: ws.Goroutines, poolConns: ws.PoolConns}
		_ = f.admin.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()`).Scan(&sm.pgConns)
		_ = f.admin.QueryRow(ctx, `SELECT count(*) FILTER (WHERE status = 'completed') FROM flow_run`).Scan(&sm.ended)
		sm.sent = s.count()
		samples = append(samples, sm)
	}
	<-sendDone
	sent := s.count()
	awaitEnded(t, f.admin, sent, scale(time.Minute, 3*time.Minute))
	tl := verify(t, f.admin, s)

	require.GreaterOrEqual(t, len(samples), 9, "too few samples")
	third := len(samples) / 3
	middle, last := samples[third:2*third], samples[2*third:]
	peak := func(ss []sample, v func(sample) float64) float64 {
		return slices.Max(sliceOf(ss, v))
	}
	for _, m := range []struct {
		name  string
		v     func(sample) float64
		slack float64 // allowed growth on top of 50%
	}{
		{"live heap (MiB)", func(s sample) float64 { return float64(s.heap) / (1 << 20) }, 16},
		{"goroutines", func(s sample) float64 { return float64(s.goroutines) }, 50},
		{"client pool connections", func(s sample) float64 { return float64(s.poolConns) }, 5},
		{"database backends", func(s sample) float64 { return float64(s.pgConns) }, 10},
	} {
		before, after := peak(middle, m.v), peak(last, m.v)
		require.LessOrEqual(t, after, 1.5*before+m.slack, "%s grew from a peak of %.1f in the middle third to %.1f in the last", m.name, before, after)
		t.Logf("%s: peak %.1f in the middle third, %.1f in the last", m.name, before, after)
	}
	lag := 0
	for _, sm := range samples {
		lag = max(lag, sm.sent-sm.ended)
	}
	last1 := samples[len(samples)-1]
	t.Logf("runs %d in %s (%.0f/s), largest backlog (sent, not completed) %d, lost 0, stored steps executed again %d; last sample: heap %.1f MiB, goroutines %d, pool connections %d, database backends %d",
		tl.Runs, duration, float64(sent)/duration.Seconds(), lag, tl.Reexecuted,
		float64(last1.heap)/(1<<20), last1.goroutines, last1.poolConns, last1.pgConns)
	if testing.Verbose() {
		for i, sm := range samples {
			if *full && i%10 != 0 {
				continue // one line per 10 s
			}
			t.Logf("t=%3.0fs heap=%.1fMiB goroutines=%d pool=%d backends=%d sent=%d completed=%d",
				sm.at.Seconds(), float64(sm.heap)/(1<<20), sm.goroutines, sm.poolConns, sm.pgConns, sm.sent, sm.ended)
		}
	}
}

// sliceOf maps ss through v.
func sliceOf(ss []sample, v func(sample) float64) []float64 {
	out := make([]float64, len(ss))
	for i, s := range ss {
		out[i] = v(s)
	}
	return out
}
