package flowui_test

import (
	"context"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
	"github.com/riverflow/flow/flowui"
)

// bulkAttr returns an attribute of the element with an id on a page.
func bulkAttr(t *testing.T, body, id, attr string) string {
	t.Helper()
	m := regexp.MustCompile(`id="` + id + `"[^>]*` + attr + `="([^"]*)"`).FindStringSubmatch(body)
	require.NotNil(t, m, "no %s on #%s in:\n%s", attr, id, body)
	return m[1]
}

// The runs page's bulk form: cancelling the selected runs asks first (the
// count, nothing changed), then cancels exactly them; "all matching" takes
// the page's filter; rerunning the selected runs starts one new run each;
// no selection and no filter are refused.
func TestUIBulkCancelAndRerun(t *testing.T) {
	t.Parallel()
	b := uiSetup(t, nil)
	ctx := uiTestCtx(t)
	naps := []string{b.sleeping(t), b.sleeping(t), b.sleeping(t)}
	ok := b.await(t, "ui/ok", map[string]any{"v": 1})

	token := b.token(t, "runs?function=nap")
	res := b.get(t, "runs?function=nap")
	require.Contains(t, res.body, `id="bulk-form"`)
	require.Contains(t, res.body, `class="bulk-pick" form="bulk-form" name="run" value="`+naps[0]+`"`)

	form := url.Values{"csrf_token": {token}, "do": {"cancel"}, "run": {naps[0], naps[1]}}
	res = b.post(t, "runs/bulk", form)
	require.Equal(t, http.StatusOK, res.status, res.body)
	require.Equal(t, "2", bulkAttr(t, res.body, "bulk-confirm-page", "data-total"))
	for _, id := range naps {
		r, err := b.c.GetRun(ctx, id)
		require.NoError(t, err)
		require.Equal(t, flow.RunSleeping, r.Status, "not confirmed yet")
	}

	form.Set("confirm", "1")
	res = b.post(t, "runs/bulk", form)
	require.Equal(t, http.StatusOK, res.status, res.body)
	require.Equal(t, "2", bulkAttr(t, res.body, "bulk-result", "data-done"))
	require.Contains(t, res.body, `<li class="bulk-step">Cancelled 2 of 2 (0 skipped)</li>`)
	b.waitStatus(t, naps[0], flow.RunCancelled)
	b.waitStatus(t, naps[1], flow.RunCancelled)
	r, err := b.c.GetRun(ctx, naps[2])
	require.NoError(t, err)
	require.Equal(t, flow.RunSleeping, r.Status)

	// All matching the page's filter: the one nap run still sleeping.
	all := url.Values{"csrf_token": {token}, "do": {"cancel-all"}, "function": {"nap"}, "since": {"1h"}}
	res = b.post(t, "runs/bulk", all)
	require.Equal(t, http.StatusOK, res.status, res.body)
	require.Equal(t, "1", bulkAttr(t, res.body, "bulk-confirm-page", "data-total"))
	require.Regexp(t, `name="from" value="[0-9T:.-]+Z"`, res.body, "the confirmation carries the absolute range it counted")
	all.Set("confirm", "1")
	res = b.post(t, "runs/bulk", all)
	require.Equal(t, "1", bulkAttr(t, res.body, "bulk-result", "data-done"))
	b.waitStatus(t, naps[2], flow.RunCancelled)

	// Rerun the selected completed run.
	res = b.post(t, "runs/bulk", url.Values{"csrf_token": {token}, "do": {"rerun"}, "run": {ok.ID}, "confirm": {"1"}})
	require.Equal(t, "1", bulkAttr(t, res.body, "bulk-result", "data-done"))
	m := regexp.MustCompile(`<a class="mono" href="runs/([0-9a-f-]{36})">`).FindStringSubmatch(res.body)
	require.NotNil(t, m, res.body)
	rerun, err := b.c.AwaitRun(ctx, m[1])
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, rerun.Status)
	require.Equal(t, ok.EventID, rerun.EventID)

	res = b.post(t, "runs/bulk", url.Values{"csrf_token": {token}, "do": {"cancel"}})
	require.Equal(t, http.StatusBadRequest, res.status)
	require.Contains(t, res.body, "Select runs first.")
	res = b.post(t, "runs/bulk", url.Values{"csrf_token": {token}, "do": {"cancel-all"}})
	require.Equal(t, http.StatusBadRequest, res.status)
	require.Contains(t, res.body, "Choose a filter first")
	res = b.post(t, "runs/bulk", url.Values{"do": {"cancel"}, "run": {naps[0]}})
	require.Equal(t, http.StatusForbidden, res.status, "no form token")
}

// The functions page's replay form starts a registered function for its
// past events that started no run of it, here one sent before any process
// had defined the function; asked again, nothing matches.
func TestUIReplay(t *testing.T) {
	t.Parallel()
	ctx := uiTestCtx(t)
	pool := flowtest.Pool(t)
	sender, err := flow.NewClient(pool, nil)
	require.NoError(t, err)
	ids, err := sender.Send(ctx, flow.Event{Name: "ui/late", Data: map[string]int{"v": 1}})
	require.NoError(t, err)

	c, err := flow.NewClient(pool, &flow.Config{RetryBackoff: func(int) time.Duration { return 20 * time.Millisecond }})
	require.NoError(t, err)
	_, err = flow.CreateFunction(c, flow.FunctionOpts{ID: "late"}, flow.EventTrigger("ui/late"),
		func(ctx context.Context, in flow.Input[map[string]int]) (any, error) { return in.Event.Data["v"], nil })
	require.NoError(t, err)
	require.NoError(t, c.Start(context.Background()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, c.Stop(ctx))
	})
	mux := http.NewServeMux()
	mux.Handle("/flow/", flowui.Handler(c, nil))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	b := &uiBundle{c: c, srv: srv, root: srv.URL + "/flow/", http: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}

	res := b.get(t, "functions")
	require.Contains(t, res.body, `class="replay-form" method="post" action="runs/bulk" data-function-id="late"`)
	token := b.token(t, "functions")
	form := url.Values{"csrf_token": {token}, "do": {"replay"}, "function": {"late"}, "since": {"1h"}}
	res = b.post(t, "runs/bulk", form)
	require.Equal(t, http.StatusOK, res.status, res.body)
	require.Equal(t, "1", bulkAttr(t, res.body, "bulk-confirm-page", "data-total"))
	from := regexp.MustCompile(`name="from" value="([^"]+)"`).FindStringSubmatch(res.body)
	require.NotNil(t, from, res.body)
	_, err = time.Parse(time.RFC3339Nano, from[1])
	require.NoError(t, err)

	form.Set("confirm", "1")
	form.Set("from", from[1])
	res = b.post(t, "runs/bulk", form)
	require.Equal(t, "1", bulkAttr(t, res.body, "bulk-result", "data-done"), res.body)
	runs, err := c.ListRuns(ctx, flow.RunFilter{EventID: ids[0]})
	require.NoError(t, err)
	require.Len(t, runs, 1)
	run, err := c.AwaitRun(ctx, runs[0].ID)
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, run.Status)

	form.Del("confirm")
	res = b.post(t, "runs/bulk", form)
	require.Equal(t, "0", bulkAttr(t, res.body, "bulk-confirm-page", "data-total"), "replayed already")
	require.Contains(t, res.body, `id="bulk-nothing"`)
}
