package faults

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
)

const (
	// workerEnv names the database URL of a worker process;
	// TestWorkerProcess does nothing without it.
	workerEnv = "FLOW_FAULTS_WORKER_DB_URL"
	// workerIDEnv names the worker's client ID.
	workerIDEnv = "FLOW_FAULTS_WORKER_ID"
	// workerModeEnv names what the worker is for: workerKill or workerLoad.
	workerModeEnv = "FLOW_FAULTS_WORKER_MODE"

	// workerKill is a worker of TestWorkersKilled.
	workerKill = "kill"
	// workerLoad is the worker of TestSustainedLoad: it prints samples of
	// its own heap, goroutines and pool every second.
	workerLoad = "load"
	// workerWholeRun is a worker of TestWholeRunSlotWorkerKilled: it runs
	// the whole-run limited function (defineWholeRun).
	workerWholeRun = "wholerun"
	// samplePrefix starts a sample line on a load worker's output.
	samplePrefix = "faults-sample "
)

// workerSample is what a load worker measures of itself.
type workerSample struct {
	Heap       uint64 `json:"heap"` // live heap after a GC, bytes
	Goroutines int    `json:"goroutines"`
	PoolConns  int32  `json:"pool_conns"`
}

// TestWorkerProcess is the worker process that TestWorkersKilled and
// TestSustainedLoad start, in a process of its own so that it can be killed
// or measured alone; it does nothing on its own.
func TestWorkerProcess(t *testing.T) {
	t.Parallel()
	url := os.Getenv(workerEnv)
	if url == "" {
		t.Skip("the worker process of TestWorkersKilled and TestSustainedLoad")
	}
	id, mode := os.Getenv(workerIDEnv), os.Getenv(workerModeEnv)
	pool, err := openPool(url, id, 25)
	require.NoError(t, err)
	probes, err := openPool(url, id+"-probe", 5)
	require.NoError(t, err)
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	lease, sh := workerLease, workerShape
	if mode == workerLoad {
		lease, sh = 0, loadShape
	}
	c, err := flow.NewClient(pool, clientConfig(id, lease, logger))
	require.NoError(t, err)
	if mode == workerWholeRun {
		require.NoError(t, defineWholeRun(c, probes))
	} else {
		require.NoError(t, defineFunction(c, probes, sh))
	}
	require.NoError(t, c.Start(context.Background()))

	// The parent kills this process long before; this bounds an orphan.
	deadline := time.After(30 * time.Minute)
	tick := time.NewTicker(time.Second)
	for {
		select {
		case <-deadline:
			t.Fatal("worker process was not killed")
		case <-tick.C:
		}
		if mode != workerLoad {
			continue
		}
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		line, err := json.Marshal(workerSample{Heap: m.HeapAlloc, Goroutines: runtime.NumGoroutine(), PoolConns: pool.Stat().TotalConns()})
		require.NoError(t, err)
		_, _ = os.Stdout.Write(append([]byte(samplePrefix), append(line, '\n')...))
	}
}

// worker is a running worker process.
type worker struct {
	id     string
	cmd    *exec.Cmd
	exited chan struct{}

	mu  sync.Mutex
	out bytes.Buffer // output other than samples
}

// startWorker starts a worker process in mode on the database at url; it is
// killed when the test ends if it still runs. onSample, if not nil, receives
// the samples of a load worker.
func startWorker(t *testing.T, url, id, mode string, onSample func(workerSample)) *worker {
	t.Helper()
	w := &worker{id: id, exited: make(chan struct{})}
	w.cmd = exec.Command(os.Args[0], "-test.run=^TestWorkerProcess$", "-test.count=1")
	w.cmd.Env = append(os.Environ(), workerEnv+"="+url, workerIDEnv+"="+id, workerModeEnv+"="+mode)
	pr, pw := io.Pipe()
	w.cmd.Stdout, w.cmd.Stderr = pw, pw
	require.NoError(t, w.cmd.Start())
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			if rest, ok := strings.CutPrefix(line, samplePrefix); ok && onSample != nil {
				var s workerSample
				if json.Unmarshal([]byte(rest), &s) == nil {
					onSample(s)
					continue
				}
			}
			w.mu.Lock()
			w.out.WriteString(line + "\n")
			w.mu.Unlock()
		}
		_, _ = io.Copy(io.Discard, pr) // a line too long: keep the child unblocked
	}()
	go func() {
		_ = w.cmd.Wait()
		_ = pw.Close()
		<-scanned
		close(w.exited)
	}()
	t.Cleanup(func() {
		w.kill()
		if t.Failed() {
			w.mu.Lock()
			defer w.mu.Unlock()
			t.Logf("output of worker %s:\n%s", id, w.out.String())
		}
	})
	return w
}

// kill kills the worker with SIGKILL and waits for it to exit.
func (w *worker) kill() {
	_ = w.cmd.Process.Kill()
	<-w.exited
}
