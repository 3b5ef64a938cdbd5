package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
)

// awaitTriggered polls the app's executions until one started by trigger
// has ended, and returns it.
func (b *testBundle) awaitTriggered(t *testing.T, ctx context.Context, trigger string) execution {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		var id int64
		err := b.app.pool.QueryRow(ctx, `SELECT id FROM execution WHERE trigger = $1 AND status IN ('done', 'failed')`, trigger).Scan(&id)
		if err == nil {
			e, err := getExecution(ctx, b.app.pool, id)
			require.NoError(t, err)
			return e
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no ended execution started by %s: %v", trigger, ctx.Err())
		case <-tick.C:
		}
	}
}

// post sends body to path and returns the status and the answer.
func (b *testBundle) post(t *testing.T, path, body string) (int, string) {
	t.Helper()
	resp, err := b.http.Post(b.srv.URL+path, "application/json", strings.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(out)
}

// TestWebhookStartsTheWorkflow posts to the webhook as an outside service
// would: its transform turns the body into the workflow's event, the run
// makes the app's execution row itself (no Run button made one), and
// completes every node with the workflow's result. A body naming no
// workflow is refused with a 4xx and starts nothing.
func TestWebhookStartsTheWorkflow(t *testing.T) {
	t.Parallel()
	b := setup(t, 10*time.Millisecond)
	ctx := testCtx(t)

	status, body := b.post(t, "/webhooks/run", `{"workflow_id": 2}`)
	require.Less(t, status, 300, body)

	e := b.awaitTriggered(t, ctx, "webhook")
	require.Equal(t, "done", e.Status)
	require.Equal(t, int64(2), e.WorkflowID)
	require.Equal(t, "Summary of Weekly call, 24 November: three points, one decision, no action items.", e.Result)
	// The row is done once the saving node commits; the run ends after.
	run, err := b.app.client.AwaitRun(ctx, e.RunID)
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, run.Status)
	require.Equal(t, runFunctionID, run.FunctionID)

	status, body = b.post(t, "/webhooks/run", `{"workflow_id": 99}`)
	require.GreaterOrEqual(t, status, 400, body)
	require.Less(t, status, 500, body)
	status, body = b.post(t, "/webhooks/run", `not json`)
	require.GreaterOrEqual(t, status, 400, body)
	require.Less(t, status, 500, body)
	runs, err := b.app.client.ListRuns(ctx, flow.RunFilter{FunctionID: runFunctionID})
	require.NoError(t, err)
	require.Len(t, runs, 1, "a refused webhook started a run")
}

// TestEventAPIStartsTheWorkflow sends the workflow's event to the event
// API with the key the app made at start, as the page's curl does; a wrong
// key is refused and starts nothing.
func TestEventAPIStartsTheWorkflow(t *testing.T) {
	t.Parallel()
	b := setup(t, 10*time.Millisecond)
	ctx := testCtx(t)
	require.NotEmpty(t, b.app.eventKey)

	status, body := b.post(t, "/e/wrong-key", `{"name": "workflow/run.requested", "data": {"workflow_id": 3}}`)
	require.GreaterOrEqual(t, status, 400, body)
	require.Less(t, status, 500, body)

	status, body = b.post(t, "/e/"+b.app.eventKey, `{"name": "workflow/run.requested", "data": {"workflow_id": 3}}`)
	require.Equal(t, http.StatusOK, status, body)
	var answer struct {
		IDs    []string `json:"ids"`
		Status int      `json:"status"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &answer))
	require.Len(t, answer.IDs, 1)

	e := b.awaitTriggered(t, ctx, "event api")
	require.Equal(t, "done", e.Status)
	require.Equal(t, int64(3), e.WorkflowID)
	runs, err := b.app.client.ListRuns(ctx, flow.RunFilter{EventID: answer.IDs[0]})
	require.NoError(t, err)
	require.Len(t, runs, 1)
	require.Equal(t, e.RunID, runs[0].ID)
}
