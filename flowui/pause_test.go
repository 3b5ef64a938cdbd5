package flowui_test

import (
	"net/http"
	"net/url"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
)

func TestUIPauseAndResume(t *testing.T) {
	t.Parallel()
	b := uiSetup(t, nil)
	ctx := uiTestCtx(t)

	res := b.get(t, "functions")
	require.Regexp(t, `(?s)data-function-id="ok".*?class="button pause-button"`, res.body)
	require.NotContains(t, res.body, `class="badge s-paused fn-paused"`)
	token := b.token(t, "functions")
	res = b.post(t, "functions/pause", url.Values{"csrf_token": {token}, "function": {"ok"}})
	require.Equal(t, http.StatusSeeOther, res.status, res.body)
	require.Equal(t, "../functions", res.header.Get("Location"))
	fns, err := b.c.ListFunctions(ctx)
	require.NoError(t, err)
	for _, f := range fns {
		require.Equal(t, f.ID == "ok", f.Paused, "function %s", f.ID)
	}

	res = b.get(t, "functions")
	okRow := regexp.MustCompile(`(?s)<tr class="function-row" data-function-id="ok"[^>]*>.*?</tr>`).FindString(res.body)
	require.Contains(t, okRow, `class="badge s-paused fn-paused"`)
	require.Contains(t, okRow, `action="functions/resume"`)
	require.Contains(t, okRow, `data-confirm="Resume ok?`)
	require.NotContains(t, okRow, `pause-button`)

	_, runIDs := b.send(t, "ui/ok", map[string]any{"n": 1})
	require.Len(t, runIDs, 1)
	require.Eventually(t, func() bool {
		r, err := b.c.GetRun(ctx, runIDs[0])
		return err == nil && r.Paused
	}, 15*time.Second, 10*time.Millisecond, "the run is never held")
	res = b.get(t, "runs?function=ok")
	require.Regexp(t, `(?s)data-run-id="`+runIDs[0]+`".*?class="badge s-paused"`, res.body)
	res = b.get(t, "runs/"+runIDs[0])
	require.Contains(t, res.body, `id="run-paused"`)

	res = b.post(t, "functions/resume", url.Values{"csrf_token": {token}, "function": {"ok"}})
	require.Equal(t, http.StatusSeeOther, res.status, res.body)
	run, err := b.c.AwaitRun(ctx, runIDs[0])
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, run.Status)
	res = b.get(t, "runs/"+runIDs[0])
	require.NotContains(t, res.body, `id="run-paused"`)

	res = b.post(t, "functions/pause", url.Values{"csrf_token": {token}, "function": {"no-such-function"}})
	require.Equal(t, http.StatusNotFound, res.status)
	res = b.post(t, "functions/resume", url.Values{"csrf_token": {token}})
	require.Equal(t, http.StatusNotFound, res.status)
	require.Equal(t, http.StatusMethodNotAllowed, b.get(t, "functions/pause").status)
}
