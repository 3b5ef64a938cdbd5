package main

import (
	"bytes"
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
)

// cliRunInput runs args with stdin as the answer to a confirmation prompt.
func cliRunInput(t *testing.T, dbURL, stdin string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := runWithInput(ctx, args, strings.NewReader(stdin), &stdout, &stderr, cliEnv(dbURL))
	return cliResult{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// cliRunLines returns the run IDs of the "run ID" lines of out.
func cliRunLines(out string) []string {
	var ids []string
	for line := range strings.Lines(out) {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "run" {
			ids = append(ids, f[1])
		}
	}
	return ids
}

// flow cancel with filter flags counts the runs, asks, does nothing unless
// the answer is yes, then cancels them with a progress line per batch;
// repeated, it finds nothing to cancel. Runs of another status are left.
func TestCLICancelByFilter(t *testing.T) {
	t.Parallel()
	dbURL := flowtest.DatabaseURL(t)
	c := cliApp(t, dbURL, func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "bulk-waiter"}, flow.EventTrigger("cli/bulk"),
			func(ctx context.Context, in flow.Input[map[string]bool]) (any, error) {
				if in.Event.Data["quick"] {
					return "quick", nil
				}
				_, err := flow.WaitForEvent[any](ctx, "never", flow.WaitOpts{Event: "cli/never", Timeout: time.Hour})
				return nil, err
			})
		require.NoError(t, err)
	})
	ctx := cliCtx(t)
	var waiting []string
	for range 5 {
		_, runs := cliSent(t, cliOK(t, dbURL, "send", "cli/bulk"))
		waiting = append(waiting, runs...)
	}
	_, quick := cliSent(t, cliOK(t, dbURL, "send", "cli/bulk", `{"quick":true}`))
	for _, id := range waiting {
		cliAwaitStatus(t, c, id, flow.RunWaiting)
	}
	cliAwaitStatus(t, c, quick[0], flow.RunCompleted)

	args := []string{"cancel", "-function", "bulk-waiter", "-status", "waiting,completed", "-since", "1h", "-batch", "2"}
	res := cliRunInput(t, dbURL, "n\n", args...)
	require.Equal(t, 0, res.code, res.stderr)
	require.Equal(t, "5 runs match (function bulk-waiter, status waiting,completed, since 1h)\nCancel them? [y/N] nothing done\n", res.stdout)
	for _, id := range waiting {
		r, err := c.GetRun(ctx, id)
		require.NoError(t, err)
		require.Equal(t, flow.RunWaiting, r.Status, "not confirmed: nothing cancelled")
	}

	res = cliRunInput(t, dbURL, "y\n", args...)
	require.Equal(t, 0, res.code, res.stderr)
	require.Equal(t, "5 runs match (function bulk-waiter, status waiting,completed, since 1h)\nCancel them? [y/N] "+
		"cancelled 2 of 5 (0 skipped)\ncancelled 4 of 5 (0 skipped)\ncancelled 5 of 5 (0 skipped)\ncancelled 5 runs, skipped 0\n", res.stdout)
	for _, id := range waiting {
		cliAwaitStatus(t, c, id, flow.RunCancelled)
	}
	r, err := c.GetRun(ctx, quick[0])
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, r.Status)

	out := cliOK(t, dbURL, "cancel", "-function", "bulk-waiter", "-yes")
	require.Equal(t, "nothing to cancel: no runs match (function bulk-waiter)\n", out)

	res = cliRun(t, dbURL, "cancel", "-function", "bulk-waiter", waiting[0])
	require.Equal(t, 2, res.code)
	require.Contains(t, res.stderr, "not both")
	res = cliRun(t, dbURL, "cancel", "-status", "asleep")
	require.Equal(t, 2, res.code)
	require.Contains(t, res.stderr, `unknown status "asleep"`)
	res = cliRun(t, dbURL, "cancel", "-since", "yesterday")
	require.Equal(t, 2, res.code)
	require.Contains(t, res.stderr, "RFC 3339")
}

// flow rerun with filter flags reruns every selected run from a step
// without asking when -yes, prints the new runs, and skips them repeated.
func TestCLIRerunByFilter(t *testing.T) {
	t.Parallel()
	dbURL := flowtest.DatabaseURL(t)
	var firstCalls atomic.Int32
	c := cliApp(t, dbURL, func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "bulk-two"}, flow.EventTrigger("cli/two"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				if _, err := flow.Step(ctx, "a", func(ctx context.Context) (int32, error) { return firstCalls.Add(1), nil }); err != nil {
					return nil, err
				}
				return flow.Step(ctx, "b", func(ctx context.Context) (string, error) { return "b", nil })
			})
		require.NoError(t, err)
	})
	ctx := cliCtx(t)
	var orig []string
	for range 3 {
		_, runs := cliSent(t, cliOK(t, dbURL, "send", "cli/two"))
		orig = append(orig, runs...)
	}
	for _, id := range orig {
		cliAwaitStatus(t, c, id, flow.RunCompleted)
	}
	until := time.Now().UTC().Format(time.RFC3339Nano)
	out := cliOK(t, dbURL, "rerun", "-function", "bulk-two", "-status", "completed", "-from", "b", "-until", until, "-yes")
	require.Contains(t, out, "3 runs match (function bulk-two, status completed, until "+until+")\n")
	require.Contains(t, out, "rerun 3 runs, skipped 0\n")
	newIDs := cliRunLines(out)
	require.Len(t, newIDs, 3)
	for _, id := range newIDs {
		r, err := c.AwaitRun(ctx, id)
		require.NoError(t, err)
		require.Equal(t, flow.RunCompleted, r.Status)
	}
	require.Equal(t, int32(3), firstCalls.Load(), "from b: step a is not executed again")

	// Repeated: each original has its rerun already.
	out = cliOK(t, dbURL, "rerun", "-function", "bulk-two", "-status", "completed", "-from", "b", "-until", until, "-yes")
	require.Contains(t, out, "rerun 0 runs, skipped 3\n")
	require.Empty(t, cliRunLines(out))
}

// flow replay starts a function for the events sent before any process had
// registered it, after a confirmation, and a second replay starts nothing.
func TestCLIReplay(t *testing.T) {
	t.Parallel()
	dbURL := flowtest.DatabaseURL(t)
	cliOK(t, dbURL, "migrate")
	_, none := cliSent(t, cliOK(t, dbURL, "send", "cli/early", `{"n":1}`))
	require.Empty(t, none, "no function defined yet")
	cliSent(t, cliOK(t, dbURL, "send", "cli/early", `{"n":2}`))

	res := cliRun(t, dbURL, "replay", "-function", "late-fn", "-since", "1h", "-yes")
	require.Equal(t, 1, res.code)
	require.Contains(t, res.stderr, "not registered")

	c := cliApp(t, dbURL, func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "late-fn"}, flow.EventTrigger("cli/early"),
			func(ctx context.Context, in flow.Input[map[string]int]) (any, error) { return in.Event.Data["n"], nil })
		require.NoError(t, err)
	})
	res = cliRunInput(t, dbURL, "yes\n", "replay", "-function", "late-fn", "-since", "1h")
	require.Equal(t, 0, res.code, res.stderr)
	require.Contains(t, res.stdout, "2 events match (function late-fn, since 1h)\nReplay them? [y/N] ")
	require.Contains(t, res.stdout, "replayed 2 events, skipped 0\n")
	ids := cliRunLines(res.stdout)
	require.Len(t, ids, 2)
	for _, id := range ids {
		r, err := c.AwaitRun(cliCtx(t), id)
		require.NoError(t, err)
		require.Equal(t, flow.RunCompleted, r.Status)
	}
	out := cliOK(t, dbURL, "replay", "-function", "late-fn", "-since", "1h", "-yes")
	require.Equal(t, "nothing to replay: no events match (function late-fn, since 1h)\n", out)
}
