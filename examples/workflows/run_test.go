package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
)

// TestRunButtonStartsTheWorkflow posts the Run form as a browser would: the
// answer redirects to the new execution's page, the execution row and its
// run exist, the run completes every node in order, and the saving node
// wrote the result into the app's row once.
func TestRunButtonStartsTheWorkflow(t *testing.T) {
	t.Parallel()
	b := setup(t, 10*time.Millisecond)
	ctx := testCtx(t)

	resp, err := b.http.Get(b.srv.URL + "/")
	require.NoError(t, err)
	page, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, string(page), `data-workflow-id="1"`)
	require.Contains(t, string(page), "Summarize podcast episode")

	resp, err = b.http.PostForm(b.srv.URL+"/workflows/1/run", url.Values{})
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	var execID int64
	_, err = fmt.Sscanf(resp.Header.Get("Location"), "/executions/%d", &execID)
	require.NoError(t, err, "Location %q", resp.Header.Get("Location"))

	e := b.awaitExecution(t, ctx, execID)
	require.Equal(t, "done", e.Status)
	require.Equal(t, "manual", e.Trigger)
	require.Equal(t, "Summary of Episode 42: durable functions on Postgres: three points, one decision, no action items.", e.Result)
	require.NotEmpty(t, e.RunID)

	run, err := b.app.client.AwaitRun(ctx, e.RunID)
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, run.Status)
	var nodeSteps []string
	for _, s := range run.Steps {
		if s.Kind == "run" && !strings.Contains(s.ID, ".") {
			nodeSteps = append(nodeSteps, s.ID)
		}
	}
	require.Equal(t, []string{"begin", "load-workflow", "fetching", "transcribing", "sending-to-ai", "saving"}, nodeSteps)

	// The state the page reads shows every node done, and the result.
	resp, err = b.http.Get(fmt.Sprintf("%s/executions/%d/state", b.srv.URL, execID))
	require.NoError(t, err)
	var st executionState
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&st))
	resp.Body.Close()
	require.Equal(t, e.Result, st.Result)
	for _, n := range st.Nodes {
		require.Equal(t, "done", n.Status, "node %s", n.ID)
	}

	var rows int
	require.NoError(t, b.app.pool.QueryRow(ctx, `SELECT count(*) FROM execution`).Scan(&rows))
	require.Equal(t, 1, rows)
}

// TestRunUnknownWorkflowStoresNothing: Run on a workflow that does not
// exist answers 404, and the transaction that would have held the
// execution row and the event is rolled back: neither exists.
func TestRunUnknownWorkflowStoresNothing(t *testing.T) {
	t.Parallel()
	b := setup(t, 10*time.Millisecond)
	ctx := testCtx(t)

	resp, err := b.http.PostForm(b.srv.URL+"/workflows/99/run", url.Values{})
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode)

	var executions, events int
	require.NoError(t, b.app.pool.QueryRow(ctx, `SELECT count(*) FROM execution`).Scan(&executions))
	require.Zero(t, executions)
	evs, err := b.app.client.ListEvents(ctx, flow.EventFilter{Name: runEvent})
	require.NoError(t, err)
	events = len(evs)
	require.Zero(t, events)
}

// TestTokenNeedsTheAppsAuthorization: the realtime token is issued only to
// a visitor the app authorizes (here: one with a session), and a
// cross-site form post to Run is refused.
func TestTokenNeedsTheAppsAuthorization(t *testing.T) {
	t.Parallel()
	b := setup(t, 10*time.Millisecond)
	ctx := testCtx(t)
	execID, err := b.app.startExecution(ctx, 1)
	require.NoError(t, err)
	tokenURL := fmt.Sprintf("%s/executions/%d/token", b.srv.URL, execID)

	// No session: 403, and no token.
	resp, err := b.srv.Client().Get(tokenURL)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	require.NotContains(t, string(body), `"token"`)

	// Unknown execution: 404.
	resp, err = b.http.Get(b.srv.URL + "/executions/999/token")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode)

	// A cross-site post to Run is refused before it reaches the handler.
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.srv.URL+"/workflows/1/run", nil)
	require.NoError(t, err)
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err = b.http.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	b.awaitExecution(t, ctx, execID)
	var rows int
	require.NoError(t, b.app.pool.QueryRow(ctx, `SELECT count(*) FROM execution`).Scan(&rows))
	require.Equal(t, 1, rows, "the cross-site post made an execution")
}

// TestFailedRunMarksTheExecutionFailed: a run that fails for good (its
// workflow does not exist) leaves the app's row failed, with the error,
// through the function's OnFailure handler; no node ran.
func TestFailedRunMarksTheExecutionFailed(t *testing.T) {
	t.Parallel()
	b := setup(t, 10*time.Millisecond)
	ctx := testCtx(t)

	tx, err := b.app.pool.Begin(ctx)
	require.NoError(t, err)
	execID, err := insertExecution(ctx, tx, 1, "manual")
	require.NoError(t, err)
	_, err = b.app.client.SendTx(ctx, tx, flow.Event{Name: runEvent, Data: runRequest{WorkflowID: 99, ExecutionID: execID, Source: "manual"}})
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx))

	e := b.awaitExecution(t, ctx, execID)
	require.Equal(t, "failed", e.Status)
	require.Contains(t, e.Result, "workflow 99")
	run, err := b.app.client.GetRun(ctx, e.RunID)
	require.NoError(t, err)
	require.Equal(t, flow.RunFailed, run.Status)
	for _, s := range run.Steps {
		require.NotContains(t, []string{"fetching", "transcribing", "sending-to-ai", "saving"}, s.ID)
	}
}
