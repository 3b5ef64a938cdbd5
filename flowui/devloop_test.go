package flowui_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
	"github.com/riverflow/flow/flowui"
)

// devLoop is a database where a worker process registered the function
// "lonely" (event "lonely/e", a cron trigger, CancelOn, Timeouts, a
// throttle) and stopped, and a dashboard served by another process that
// defines nothing and never starts, as flow dev is.
type devLoop struct {
	pool   *pgxpool.Pool
	viewer *flow.Client
	srv    *httptest.Server
}

func devLoopSetup(t *testing.T, opts *flowui.Options) *devLoop {
	t.Helper()
	ctx := uiTestCtx(t)
	pool := flowtest.Pool(t)
	worker, err := flow.NewClient(pool, nil)
	require.NoError(t, err)
	_, err = flow.CreateFunction(worker, flow.FunctionOpts{
		ID: "lonely", Retries: flow.Ptr(2),
		CancelOn: []flow.CancelOn{{Event: "order/cancelled", Match: "data.id", Timeout: 48 * time.Hour}},
		Timeouts: flow.Timeouts{Start: time.Minute, Finish: 24 * time.Hour},
		Throttle: &flow.Throttle{Limit: 5, Period: time.Minute},
	}, flow.Triggers(flow.EventTrigger("lonely/e"), flow.CronTrigger("TZ=Europe/Paris 0 9 * * *")),
		func(ctx context.Context, in flow.Input[map[string]any]) (any, error) { return nil, nil })
	require.NoError(t, err)
	require.NoError(t, worker.Start(ctx))
	require.NoError(t, worker.Stop(ctx))

	viewer, err := flow.NewClient(pool, nil)
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("/flow/", flowui.Handler(viewer, opts))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &devLoop{pool: pool, viewer: viewer, srv: srv}
}

func (d *devLoop) get(t *testing.T, path string) string {
	t.Helper()
	res, err := http.Get(d.srv.URL + "/flow/" + path)
	require.NoError(t, err)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, res.StatusCode, path)
	return string(body)
}

// lastSeen sets when a process defining "lonely" last confirmed it.
func (d *devLoop) lastSeen(t *testing.T, ago time.Duration) {
	t.Helper()
	_, err := d.pool.Exec(uiTestCtx(t), `UPDATE flow_function SET updated_at = now() - $1::interval WHERE id = 'lonely'`, ago.String())
	require.NoError(t, err)
}

// TestUINoWorkerWarning: when a function has runs waiting and no running
// process has confirmed it within flow.WorkerTimeout, the functions page
// marks it and both the functions and the runs pages warn, naming it; once
// a process confirms it again, the warning goes.
func TestUINoWorkerWarning(t *testing.T) {
	t.Parallel()
	d := devLoopSetup(t, nil)
	ctx := uiTestCtx(t)
	for range 2 {
		_, err := d.viewer.Send(ctx, flow.Event{Name: "lonely/e", Data: map[string]any{"id": 1}})
		require.NoError(t, err)
	}

	body := d.get(t, "functions")
	require.Contains(t, body, `data-function-id="lonely" data-has-worker="true" data-awaiting-worker="2"`,
		"registered a moment ago: a worker may still pick the runs up")
	require.NotContains(t, body, `id="no-worker-alert"`)

	d.lastSeen(t, flow.WorkerTimeout+time.Minute)
	body = d.get(t, "functions")
	require.Contains(t, body, `data-function-id="lonely" data-has-worker="false" data-awaiting-worker="2"`)
	require.Contains(t, body, `<span class="tag warn no-worker"`)
	require.Contains(t, body, `2 runs wait for a worker, but no running process defines this function`)
	require.Regexp(t, `(?s)id="no-worker-alert".*data-function-id="lonely">lonely</a> \(2\)`, body)
	body = d.get(t, "runs")
	require.Regexp(t, `(?s)id="no-worker-alert".*href="runs\?function=lonely&amp;status=queued" data-function-id="lonely"`, body,
		"the runs page warns too, linking to the waiting runs")

	d.lastSeen(t, 0)
	body = d.get(t, "functions")
	require.Contains(t, body, `data-has-worker="true"`)
	require.NotContains(t, body, `id="no-worker-alert"`)
	require.NotContains(t, d.get(t, "runs"), `id="no-worker-alert"`)
}

// TestUIFunctionOptionsFromRegistry: a dashboard served by a process that
// does not define a function shows every option the registry holds for it;
// only a row written by an earlier version says some are unknown.
func TestUIFunctionOptionsFromRegistry(t *testing.T) {
	t.Parallel()
	d := devLoopSetup(t, nil)
	_, err := d.pool.Exec(uiTestCtx(t), `INSERT INTO flow_function (id, name, retries, config) VALUES ('old', 'old', 4, '{}')`)
	require.NoError(t, err)

	body := d.get(t, "functions")
	row := regexp.MustCompile(`(?s)<tr class="function-row" data-function-id="lonely".*?</tr>`).FindString(body)
	require.NotEmpty(t, row)
	for _, want := range []string{
		`<span class="kind">event</span> <code>lonely/e</code>`,
		`<span class="kind">cron</span> <code>TZ=Europe/Paris 0 9 * * *</code>`,
		`<li>Retries: 2</li>`,
		`<li>Start timeout: 1m00s</li>`,
		`<li>Finish timeout: 24h00m</li>`,
		`<li>Throttle: 5 per 1m0s`,
		`<li>Cancel on <code>order/cancelled</code> matching <code>data.id</code> within 2d00h</li>`,
	} {
		require.Contains(t, row, want)
	}
	require.NotContains(t, row, "known only to the processes")
	require.NotContains(t, row, "this process", "the viewer does not define it")

	old := regexp.MustCompile(`(?s)<tr class="function-row" data-function-id="old".*?</tr>`).FindString(body)
	require.Contains(t, old, "CancelOn, Timeouts and cron triggers are known only to the processes that define it")
}

// TestUIRiverUILink: with Options.RiverUIURL the navigation links to River's
// UI; without, there is no link.
func TestUIRiverUILink(t *testing.T) {
	t.Parallel()
	d := devLoopSetup(t, &flowui.Options{RiverUIURL: "/riverui/"})
	for _, page := range []string{"runs", "events", "functions", "send"} {
		require.Contains(t, d.get(t, page), `<a href="/riverui/" id="nav-riverui"`, page)
	}

	plain := httptest.NewServer(flowui.Handler(d.viewer, nil))
	t.Cleanup(plain.Close)
	res, err := http.Get(plain.URL + "/runs")
	require.NoError(t, err)
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	require.NoError(t, err)
	require.Contains(t, string(body), `id="nav-functions"`)
	require.NotContains(t, string(body), `nav-riverui`)
}

// TestUITimesAreTimeElements: the server renders times in UTC, each in a
// <time> element with its exact instant in datetime (what the page's script
// converts to the viewer's zone), and the footer has the zone toggle, which
// app.js wires up and remembers in localStorage.
func TestUITimesAreTimeElements(t *testing.T) {
	t.Parallel()
	d := devLoopSetup(t, nil)
	ctx := uiTestCtx(t)
	ids, err := d.viewer.Send(ctx, flow.Event{Name: "lonely/e", Data: map[string]any{"id": 1}})
	require.NoError(t, err)
	runs, err := d.viewer.ListRuns(ctx, flow.RunFilter{EventID: ids[0]})
	require.NoError(t, err)
	require.Len(t, runs, 1)
	created := runs[0].CreatedAt.UTC()

	want := `<time datetime="` + created.Format(time.RFC3339Nano) + `">` + created.Format("2006-01-02 15:04:05.000") + `</time>`
	require.Contains(t, d.get(t, "runs"), want)
	body := d.get(t, "runs/"+runs[0].ID)
	require.Contains(t, body, `<dt>Created</dt><dd>`+want+`</dd>`)
	require.Contains(t, body, `<span id="tz-note">Times are in UTC.</span>`, "UTC is the default")
	require.Contains(t, body, `<button type="button" class="linklike" id="tz-toggle" hidden>`, "shown by the script")
	js := d.get(t, "static/app.js")
	require.Contains(t, js, `'flowui.tz'`)
	require.Contains(t, js, `querySelectorAll('time[datetime]')`)
}
