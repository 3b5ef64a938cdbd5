package main

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
)

func TestCLIPauseAndResume(t *testing.T) {
	t.Parallel()
	dbURL := flowtest.DatabaseURL(t)
	c := cliApp(t, dbURL, func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "pausable"}, flow.EventTrigger("cli/pausable"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				return flow.Step(ctx, "work", func(ctx context.Context) (string, error) { return "done", nil })
			})
		require.NoError(t, err)
	})
	require.Equal(t, "paused function pausable\n", cliOK(t, dbURL, "pause", "pausable"))
	require.Equal(t, "paused function pausable\n", cliOK(t, dbURL, "pause", "pausable"), "pausing again changes nothing")

	_, runIDs := cliSent(t, cliOK(t, dbURL, "send", "cli/pausable"))
	require.Len(t, runIDs, 1)
	require.Eventually(t, func() bool {
		r, err := c.GetRun(cliCtx(t), runIDs[0])
		require.NoError(t, err)
		return r.Paused
	}, 20*time.Second, 10*time.Millisecond, "the run is never held")
	require.Regexp(t, runIDs[0]+`\s+pausable\s+queued \(paused\)`, cliOK(t, dbURL, "runs", "-function", "pausable"))
	require.Regexp(t, `Status:\s+queued \(paused\)`, cliOK(t, dbURL, "run", runIDs[0]))
	require.Contains(t, cliOK(t, dbURL, "runs", "-json", "-function", "pausable"), `"paused": true`)

	require.Equal(t, "resumed function pausable\n", cliOK(t, dbURL, "resume", "pausable"))
	r, err := c.AwaitRun(cliCtx(t), runIDs[0])
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, r.Status)
	require.Regexp(t, `Status:\s+completed\n`, cliOK(t, dbURL, "run", runIDs[0]))
}
