package main

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
)

// TestCLIRunsSaysWhenOlderRunsFollow checks that "flow runs" names the
// -before flag of the next page when older runs follow, and only then.
func TestCLIRunsSaysWhenOlderRunsFollow(t *testing.T) {
	t.Parallel()
	dbURL := flowtest.DatabaseURL(t)
	c := cliApp(t, dbURL, func(c *flow.Client) {
		for _, id := range []string{"page-a", "page-b", "page-c"} {
			_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: id}, flow.EventTrigger("cli/page"),
				func(ctx context.Context, in flow.Input[any]) (any, error) { return nil, nil })
			require.NoError(t, err)
		}
	})
	_, runIDs := cliSent(t, cliOK(t, dbURL, "send", "cli/page"))
	require.Len(t, runIDs, 3)
	runs, err := c.ListRuns(cliCtx(t), flow.RunFilter{})
	require.NoError(t, err)
	require.Len(t, runs, 3)

	res := cliRun(t, dbURL, "runs", "-limit", "2")
	require.Equal(t, 0, res.code, res.stderr)
	require.Contains(t, res.stdout, runs[1].ID)
	require.NotContains(t, res.stdout, runs[2].ID)
	require.Contains(t, res.stderr, "older runs: -before "+runs[1].ID)

	res = cliRun(t, dbURL, "runs", "-limit", "2", "-before", runs[1].ID)
	require.Equal(t, 0, res.code, res.stderr)
	require.Contains(t, res.stdout, runs[2].ID)
	require.NotContains(t, res.stderr, "older runs", "the last page names no older page")

	res = cliRun(t, dbURL, "runs", "-limit", "3")
	require.Equal(t, 0, res.code, res.stderr)
	require.NotContains(t, res.stderr, "older runs", "a full last page names no older page")
}
