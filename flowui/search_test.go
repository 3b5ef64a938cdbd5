package flowui_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
	"github.com/riverflow/flow/flowui"
)

// historySetup starts a client with "flaky" (step "call" fails its first
// attempt; event "ui/flaky") and "waiter" (waits for "ui/approved" matching
// data.id; event "ui/wait"), and serves the dashboard at /flow/.
func historySetup(t *testing.T) *uiBundle {
	t.Helper()
	pool := flowtest.Pool(t)
	c, err := flow.NewClient(pool, &flow.Config{RetryBackoff: func(int) time.Duration { return 20 * time.Millisecond }})
	require.NoError(t, err)
	var calls atomic.Int32
	_, err = flow.CreateFunction(c, flow.FunctionOpts{ID: "flaky"}, flow.EventTrigger("ui/flaky"),
		func(ctx context.Context, in flow.Input[any]) (any, error) {
			return flow.Step(ctx, "call", func(ctx context.Context) (int32, error) {
				if n := calls.Add(1); n == 1 {
					return 0, errors.New("upstream said 503")
				}
				return 1, nil
			})
		})
	require.NoError(t, err)
	_, err = flow.CreateFunction(c, flow.FunctionOpts{ID: "waiter"}, flow.EventTrigger("ui/wait"),
		func(ctx context.Context, in flow.Input[map[string]any]) (any, error) {
			return flow.WaitForEvent[map[string]any](ctx, "approval", flow.WaitOpts{
				Event: "ui/approved", Match: "data.id", Timeout: time.Hour,
			})
		})
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
	return &uiBundle{
		c: c, srv: srv, root: srv.URL + "/flow/",
		http: &http.Client{Jar: jar, Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}},
	}
}

func TestUISearchFindsRunsAndEvents(t *testing.T) {
	t.Parallel()
	b := historySetup(t)
	run := b.await(t, "ui/flaky", nil)
	other := b.await(t, "ui/flaky", nil)

	// The search box is on every page.
	require.Contains(t, b.get(t, "runs").body, `id="search-form"`)
	require.Contains(t, b.get(t, "events").body, `id="search-input"`)

	// The last 12 digits the pages show find the run; the event's, the event.
	res := b.get(t, "search?q="+run.ID[24:])
	require.Equal(t, http.StatusSeeOther, res.status)
	require.Equal(t, "/flow/runs/"+run.ID, location(t, res))
	res = b.get(t, "search?q=…"+run.EventID[24:])
	require.Equal(t, http.StatusSeeOther, res.status)
	require.Equal(t, "/flow/events/"+run.EventID, location(t, res))
	res = b.get(t, "search?q="+run.ID[:13])
	require.Equal(t, http.StatusSeeOther, res.status, "a long enough prefix is unique")
	require.Equal(t, "/flow/runs/"+run.ID, location(t, res))

	// A prefix that every ID of the moment shares lists the candidates.
	res = b.get(t, "search?q="+run.ID[:3])
	require.Equal(t, http.StatusOK, res.status)
	require.Contains(t, res.body, `id="search-ambiguous"`)
	require.Contains(t, res.body, `href="runs/`+run.ID+`"`)
	require.Contains(t, res.body, `href="runs/`+other.ID+`"`)
	require.Contains(t, res.body, `href="events/`+run.EventID+`"`)

	res = b.get(t, "search?q=ffffffffffff")
	require.Equal(t, http.StatusNotFound, res.status)
	require.Contains(t, res.body, `id="search-none"`)
	res = b.get(t, "search?q=%3Cscript%3E")
	require.Equal(t, http.StatusNotFound, res.status)
	require.NotContains(t, res.body, "<script>", "the query is escaped")

	res = b.get(t, "search?q=")
	require.Equal(t, http.StatusSeeOther, res.status)
	require.Equal(t, "/flow/runs", location(t, res))
}

func TestUIRunShowsAttemptsOriginAndResumingEvent(t *testing.T) {
	t.Parallel()
	b := historySetup(t)
	ctx := uiTestCtx(t)

	run := b.await(t, "ui/flaky", nil)
	page := b.get(t, "runs/"+run.ID)
	require.Equal(t, http.StatusOK, page.status)
	require.Contains(t, page.body, `<tr class="attempt" data-attempt="1">`, "the failed attempt is listed under its step")
	require.Contains(t, page.body, "upstream said 503")

	rerunID, err := b.c.RerunFrom(ctx, run.ID, "call")
	require.NoError(t, err)
	_, err = b.c.AwaitRun(ctx, rerunID)
	require.NoError(t, err)
	page = b.get(t, "runs/"+rerunID)
	require.Contains(t, page.body, `href="runs/`+run.ID+`" id="rerun-of-link"`)
	require.Contains(t, page.body, `from step <code>call</code>`)
	require.NotContains(t, b.get(t, "runs/"+run.ID).body, `id="rerun-of-link"`)

	_, waiting := b.send(t, "ui/wait", map[string]any{"id": 7})
	require.Len(t, waiting, 1)
	b.waitStatus(t, waiting[0], flow.RunWaiting)
	approval, started := b.send(t, "ui/approved", map[string]any{"id": 7})
	require.Empty(t, started)
	_, err = b.c.AwaitRun(ctx, waiting[0])
	require.NoError(t, err)

	page = b.get(t, "runs/"+waiting[0])
	require.Contains(t, page.body, `Resumed by event <a class="mono" href="events/`+approval+`"`)
	page = b.get(t, "events/"+approval)
	require.Contains(t, page.body, "This event started no run.")
	require.NotContains(t, page.body, "no function&#39;s trigger matches it")
	require.Contains(t, page.body, `<tr class="affected-row" data-run-id="`+waiting[0]+`" data-effect="resumed">`)
	require.Contains(t, page.body, `<td class="mono">approval</td>`)
}

// location is the path a redirect leads to, resolved against the request.
func location(t *testing.T, res response) string {
	t.Helper()
	to, err := res.url.Parse(res.header.Get("Location"))
	require.NoError(t, err)
	return to.Path
}
