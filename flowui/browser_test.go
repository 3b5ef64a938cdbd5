package flowui_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
	"github.com/riverflow/flow/flowui"
)

// browserChromium returns the path of an installed Chromium or Chrome, or
// skips the test when there is none.
func browserChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("flowui: no chromium found (apt-get install chromium) — browser test skipped")
	return ""
}

// browserCtx starts a headless browser (a fresh profile, no sandbox: the
// tests may run as root, and extra options) and returns a tab's context,
// bounded by ctx.
func browserCtx(t *testing.T, ctx context.Context, execPath string, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(execPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	opts = append(opts, extra...)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(cancelBrowser)
	return bctx
}

// browserServe serves h on 127.0.0.1 under /flow/ and returns the
// dashboard's URL.
func browserServe(t *testing.T, h http.Handler) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/flow/", h)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: mux}}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.URL + "/flow/"
}

// browserScreenshot writes a PNG to the test's temporary directory and,
// when FLOW_SCREENSHOT_DIR is set, to that directory too.
func browserScreenshot(t *testing.T, name string, png []byte) {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, png, 0o644))
	t.Logf("screenshot: %s (%d bytes)", p, len(png))
	if dir := os.Getenv("FLOW_SCREENSHOT_DIR"); dir != "" {
		require.NoError(t, os.MkdirAll(dir, 0o755))
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, png, 0o644))
		t.Logf("screenshot: %s", p)
	}
}

// TestBrowserSendWatchAndInspectRun drives the dashboard in a real headless
// Chromium: it sends an event from the form, sees the run it started on the
// event's page, watches the run complete on the runs page (through the
// page's own live refresh), opens the run, and finds its three steps.
func TestBrowserSendWatchAndInspectRun(t *testing.T) {
	t.Parallel()
	execPath := browserChromium(t)

	pool := flowtest.Pool(t)
	c, err := flow.NewClient(pool, &flow.Config{RetryBackoff: func(int) time.Duration { return 20 * time.Millisecond }})
	require.NoError(t, err)
	_, err = flow.CreateFunction(c, flow.FunctionOpts{ID: "greeter"}, flow.EventTrigger("browser/hello"),
		func(ctx context.Context, in flow.Input[map[string]any]) (any, error) {
			who, err := flow.Step(ctx, "read-name", func(ctx context.Context) (string, error) {
				s, _ := in.Event.Data["who"].(string)
				return s, nil
			})
			if err != nil {
				return nil, err
			}
			if err := flow.Sleep(ctx, "pause", 300*time.Millisecond); err != nil {
				return nil, err
			}
			return flow.Step(ctx, "greet", func(ctx context.Context) (string, error) { return "hello, " + who, nil })
		})
	require.NoError(t, err)
	require.NoError(t, c.Start(context.Background()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, c.Stop(ctx))
	})
	root := browserServe(t, flowui.Handler(c, nil))

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	b := browserCtx(t, ctx, execPath)

	// The send form: fill it in and submit it; the answer is the event's
	// page, which lists the run the event started.
	require.NoError(t, chromedp.Do(b,
		chromedp.Navigate(root+"send"),
		chromedp.WaitVisible(chromedp.CSS(`#send-form`)),
		chromedp.SetValue(chromedp.CSS(`#event-name-input`), "browser/hello"),
		chromedp.SetValue(chromedp.CSS(`#event-data-input`), `{"who": "chromium"}`),
		chromedp.Click(chromedp.CSS(`#send-button`)),
		chromedp.WaitVisible(chromedp.CSS(`#event[data-event-name="browser/hello"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#event-runs tr[data-run-id][data-function-id="greeter"]`)),
	), "send the event from the form")
	eventID, err := chromedp.Run(b, chromedp.AttributeValue(chromedp.CSS(`#event`), "data-event-id"))
	require.NoError(t, err)
	runID, err := chromedp.Run(b, chromedp.AttributeValue(chromedp.CSS(`#event-runs tr[data-run-id]`), "data-run-id"))
	require.NoError(t, err)
	require.NotEmpty(t, eventID.Value)
	require.NotEmpty(t, runID.Value)

	// The event the form sent is the one stored, with its data, and it
	// started the run the page shows.
	ev, err := c.GetEvent(ctx, eventID.Value)
	require.NoError(t, err)
	require.Equal(t, "browser/hello", ev.Name)
	require.JSONEq(t, `{"who": "chromium"}`, string(ev.Data))
	runs, err := c.ListRuns(ctx, flow.RunFilter{EventID: eventID.Value})
	require.NoError(t, err)
	require.Len(t, runs, 1)
	require.Equal(t, runID.Value, runs[0].ID)

	// The runs page: the run is listed, and turns completed while the page
	// is open (its live part refreshes itself).
	row := `#runs-table tr[data-run-id="` + runID.Value + `"]`
	require.NoError(t, chromedp.Do(b,
		chromedp.Navigate(root+"runs"),
		chromedp.WaitVisible(chromedp.CSS(row)),
		chromedp.WaitVisible(chromedp.CSS(row+`[data-status="completed"]`)),
	), "watch the run complete on the runs page")
	refreshes, err := chromedp.Run(b, chromedp.AttributeValue(chromedp.CSS(`#runs-live`), "data-refreshes"))
	require.NoError(t, err)
	t.Logf("runs page: run %s completed; live part refreshed %q times", runID.Value, refreshes.Value)

	// The run's page, reached by its link: completed, with its three steps.
	require.NoError(t, chromedp.Do(b,
		chromedp.Click(chromedp.CSS(row+` a.run-link`)),
		chromedp.WaitVisible(chromedp.CSS(`#run[data-run-id="`+runID.Value+`"][data-status="completed"]`)),
	), "open the run")
	steps, err := chromedp.Run(b, chromedp.AttributesAll(chromedp.CSSAll(`#timeline [data-step-id]`)))
	require.NoError(t, err)
	type stepRow struct{ ID, Status, Kind string }
	var got []stepRow
	for _, a := range steps {
		got = append(got, stepRow{a["data-step-id"], a["data-step-status"], a["data-kind"]})
	}
	require.Equal(t, []stepRow{
		{"read-name", "completed", "run"},
		{"pause", "completed", "sleep"},
		{"greet", "completed", "run"},
	}, got)
	output, err := chromedp.Run(b, chromedp.Text(chromedp.CSS(`#run-output`)))
	require.NoError(t, err)
	require.Contains(t, output, "hello, chromium")

	png, err := chromedp.Run(b, chromedp.FullScreenshot(100))
	require.NoError(t, err, "screenshot")
	require.NotEmpty(t, png)
	browserScreenshot(t, "flowui-browser-run.png", png)
}

// TestBrowserRunMessagesLive opens a run's page while the run publishes
// realtime messages: the message published before the page opened comes
// from the table, and those published while it is open arrive live,
// through the page's EventSource on the dashboard's own stream.
func TestBrowserRunMessagesLive(t *testing.T) {
	t.Parallel()
	execPath := browserChromium(t)

	pool := flowtest.Pool(t)
	c, err := flow.NewClient(pool, &flow.Config{RetryBackoff: func(int) time.Duration { return 20 * time.Millisecond }})
	require.NoError(t, err)
	_, err = flow.CreateFunction(c, flow.FunctionOpts{ID: "transcriber"}, flow.EventTrigger("browser/transcribe"),
		func(ctx context.Context, in flow.Input[map[string]any]) (any, error) {
			if err := flow.Publish(ctx, "fetching", "job-1", "status", "fetching"); err != nil {
				return nil, err
			}
			if _, err := flow.WaitForEvent[map[string]any](ctx, "go-on", flow.WaitOpts{Event: "browser/go-on", Timeout: time.Minute}); err != nil {
				return nil, err
			}
			if err := flow.PublishLive(ctx, "job-1", "token", "hello <b>world</b>"); err != nil {
				return nil, err
			}
			return nil, flow.Publish(ctx, "done", "job-1", "status", "done")
		})
	require.NoError(t, err)
	require.NoError(t, c.Start(context.Background()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, c.Stop(ctx))
	})
	root := browserServe(t, flowui.Handler(c, nil))

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	ids, err := c.Send(ctx, flow.Event{Name: "browser/transcribe", Data: map[string]any{}})
	require.NoError(t, err)
	var runID string
	require.Eventually(t, func() bool {
		runs, err := c.ListRuns(ctx, flow.RunFilter{EventID: ids[0]})
		require.NoError(t, err)
		if len(runs) == 1 && runs[0].Status == flow.RunWaiting {
			runID = runs[0].ID
			return true
		}
		return false
	}, 30*time.Second, 10*time.Millisecond, "the run waits after its first message")

	b := browserCtx(t, ctx, execPath)
	require.NoError(t, chromedp.Do(b,
		chromedp.Navigate(root+"runs/"+runID),
		chromedp.WaitVisible(chromedp.CSS(`#messages[data-streaming="true"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#message-list li[data-topic="status"]`)),
	), "the stored message is on the page")

	_, err = c.Send(ctx, flow.Event{Name: "browser/go-on", Data: map[string]any{}})
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(b,
		chromedp.WaitVisible(chromedp.CSS(`#message-list li[data-topic="token"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#message-list li:nth-child(3)[data-topic="status"]`)),
	), "the live messages arrive")
	msgs, err := chromedp.Run(b, chromedp.AttributesAll(chromedp.CSSAll(`#message-list li`)))
	require.NoError(t, err)
	var topics []string
	for _, a := range msgs {
		require.Equal(t, "job-1", a["data-channel"])
		topics = append(topics, a["data-topic"])
	}
	require.Equal(t, []string{"status", "token", "status"}, topics)
	text, err := chromedp.Run(b, chromedp.Text(chromedp.CSS(`#message-list li[data-topic="token"] .message-data`)))
	require.NoError(t, err)
	require.Equal(t, `"hello <b>world</b>"`, text, "data shown as text, not HTML")
	count, err := chromedp.Run(b, chromedp.Text(chromedp.CSS(`#message-count`)))
	require.NoError(t, err)
	require.Equal(t, "3", count)

	png, err := chromedp.Run(b, chromedp.FullScreenshot(100))
	require.NoError(t, err, "screenshot")
	browserScreenshot(t, "flowui-browser-run-messages.png", png)
}

// TestBrowserBulkCancel selects two of three waiting runs on the runs page
// (the selection survives the page's live refreshes), cancels them through
// the confirmation page, and sees the progress page report them; then
// cancels "all matching" the page's filter: the third and a fourth.
func TestBrowserBulkCancel(t *testing.T) {
	t.Parallel()
	execPath := browserChromium(t)

	pool := flowtest.Pool(t)
	c, err := flow.NewClient(pool, &flow.Config{RetryBackoff: func(int) time.Duration { return 20 * time.Millisecond }})
	require.NoError(t, err)
	_, err = flow.CreateFunction(c, flow.FunctionOpts{ID: "waiter"}, flow.EventTrigger("browser/wait"),
		func(ctx context.Context, in flow.Input[map[string]any]) (any, error) {
			_, err := flow.WaitForEvent[any](ctx, "never", flow.WaitOpts{Event: "browser/never", Timeout: time.Hour})
			return nil, err
		})
	require.NoError(t, err)
	require.NoError(t, c.Start(context.Background()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, c.Stop(ctx))
	})
	root := browserServe(t, flowui.Handler(c, nil))

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	var runIDs []string
	for range 3 {
		ids, err := c.Send(ctx, flow.Event{Name: "browser/wait", Data: map[string]any{}})
		require.NoError(t, err)
		runs, err := c.ListRuns(ctx, flow.RunFilter{EventID: ids[0]})
		require.NoError(t, err)
		require.Len(t, runs, 1)
		runIDs = append(runIDs, runs[0].ID)
	}
	for _, id := range runIDs {
		flowtest.AwaitStatus(t, c, id, flow.RunWaiting)
	}
	b := browserCtx(t, ctx, execPath)

	pick := func(id string) string { return `#runs-table input.bulk-pick[value="` + id + `"]` }
	require.NoError(t, chromedp.Do(b,
		chromedp.Navigate(root+"runs?function=waiter"),
		chromedp.WaitVisible(chromedp.CSS(`#runs-table tr[data-run-id="`+runIDs[2]+`"][data-status="waiting"]`)),
		chromedp.Click(chromedp.CSS(pick(runIDs[0]))),
		chromedp.Click(chromedp.CSS(pick(runIDs[1]))),
	), "select two runs")
	// A new run makes the live part change, and be replaced.
	ids, err := c.Send(ctx, flow.Event{Name: "browser/wait", Data: map[string]any{}})
	require.NoError(t, err)
	late, err := c.ListRuns(ctx, flow.RunFilter{EventID: ids[0]})
	require.NoError(t, err)
	require.Len(t, late, 1)
	require.NoError(t, chromedp.Do(b,
		chromedp.WaitVisible(chromedp.CSS(`#runs-table tr[data-run-id="`+late[0].ID+`"]`)),
	), "the live refresh shows the new run")
	checked, err := chromedp.Run(b, chromedp.Evaluate[[]string](
		`Array.from(document.querySelectorAll('input.bulk-pick:checked')).map(c => c.value)`))
	require.NoError(t, err)
	require.ElementsMatch(t, runIDs[:2], checked, "the selection survives the live refresh")

	require.NoError(t, chromedp.Do(b,
		chromedp.Click(chromedp.CSS(`#bulk-cancel`)),
		chromedp.WaitVisible(chromedp.CSS(`#bulk-confirm-page[data-total="2"]`)),
		chromedp.Click(chromedp.CSS(`#bulk-confirm`)),
		chromedp.WaitVisible(chromedp.CSS(`#bulk-result[data-done="2"]`)),
	), "cancel the selected runs")
	steps, err := chromedp.Run(b, chromedp.Text(chromedp.CSS(`#bulk-steps`)))
	require.NoError(t, err)
	require.Contains(t, steps, "Cancelled 2 of 2")
	for i, want := range []flow.RunStatus{flow.RunCancelled, flow.RunCancelled, flow.RunWaiting} {
		run, err := c.GetRun(ctx, runIDs[i])
		require.NoError(t, err)
		require.Equal(t, want, run.Status, "run %d", i)
	}

	require.NoError(t, chromedp.Do(b,
		chromedp.Navigate(root+"runs?function=waiter"),
		chromedp.WaitVisible(chromedp.CSS(`#bulk-cancel-all`)),
		chromedp.Click(chromedp.CSS(`#bulk-cancel-all`)),
		chromedp.WaitVisible(chromedp.CSS(`#bulk-confirm-page[data-total="2"]`)),
		chromedp.Click(chromedp.CSS(`#bulk-confirm`)),
		chromedp.WaitVisible(chromedp.CSS(`#bulk-result[data-done="2"]`)),
	), "cancel all matching the filter")
	for _, id := range []string{runIDs[2], late[0].ID} {
		run, err := c.GetRun(ctx, id)
		require.NoError(t, err)
		require.Equal(t, flow.RunCancelled, run.Status)
	}

	png, err := chromedp.Run(b, chromedp.FullScreenshot(100))
	require.NoError(t, err, "screenshot")
	browserScreenshot(t, "flowui-browser-bulk.png", png)
}

// TestBrowserSearchAndAttempts types the last digits of a run's ID, as the
// pages show them, into the search box and lands on the run's page, which
// lists the failed attempt of its retried step; an ID's first digits, which
// every run of the moment shares, list the candidates instead.
func TestBrowserSearchAndAttempts(t *testing.T) {
	t.Parallel()
	execPath := browserChromium(t)
	ub := historySetup(t)
	run := ub.await(t, "ui/flaky", nil)
	ub.await(t, "ui/flaky", nil)
	root := browserServe(t, flowui.Handler(ub.c, nil))

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	b := browserCtx(t, ctx, execPath)

	require.NoError(t, chromedp.Do(b,
		chromedp.Navigate(root+"runs"),
		chromedp.WaitVisible(chromedp.CSS(`#search-input`)),
		chromedp.SendKeys(chromedp.CSS(`#search-input`), run.ID[24:]),
		chromedp.Submit(chromedp.CSS(`#search-input`)),
		chromedp.WaitVisible(chromedp.CSS(`#run[data-run-id="`+run.ID+`"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-step-id="call"] tr.attempt[data-attempt="1"]`)),
	), "find the run by its ID's last digits")
	attempt, err := chromedp.Run(b, chromedp.Text(chromedp.CSS(`[data-step-id="call"] tr.attempt[data-attempt="1"] .attempt-error`)))
	require.NoError(t, err)
	require.Equal(t, "upstream said 503", attempt)

	png, err := chromedp.Run(b, chromedp.FullScreenshot(100))
	require.NoError(t, err, "screenshot")
	browserScreenshot(t, "flowui-browser-attempts.png", png)

	require.NoError(t, chromedp.Do(b,
		chromedp.SendKeys(chromedp.CSS(`#search-input`), run.ID[:3]),
		chromedp.Submit(chromedp.CSS(`#search-input`)),
		chromedp.WaitVisible(chromedp.CSS(`#search-ambiguous`)),
		chromedp.WaitVisible(chromedp.CSS(`#search-runs a[href="runs/`+run.ID+`"]`)),
	), "an ambiguous prefix lists the runs it fits")
}

// TestBrowserDevLoop drives the dev loop's parts of the dashboard in a
// browser whose zone is Asia/Kolkata (UTC+05:30, no daylight saving): the
// runs page warns that a function's runs wait with no worker; the footer's
// toggle shows times in the viewer's zone and back in UTC, remembered
// across pages; the functions page shows the options from the registry;
// and the navigation's River UI link leads where Options.RiverUIURL says.
func TestBrowserDevLoop(t *testing.T) {
	t.Parallel()
	execPath := browserChromium(t)

	d := devLoopSetup(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	_, err := d.viewer.Send(ctx, flow.Event{Name: "lonely/e", Data: map[string]any{"id": 1}})
	require.NoError(t, err)
	d.lastSeen(t, flow.WorkerTimeout+time.Minute)

	// The dashboard under /flow/, and at /riverui/ a page standing in for
	// River's UI (cmd/flow's tests serve the real one behind this link).
	mux := http.NewServeMux()
	mux.Handle("/flow/", flowui.Handler(d.viewer, &flowui.Options{RiverUIURL: "/riverui/"}))
	mux.HandleFunc("/riverui/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(`<!doctype html><title>River</title><h1 id="riverui-page">River UI</h1>`))
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: mux}}
	srv.Start()
	t.Cleanup(srv.Close)
	root := srv.URL + "/flow/"

	b := browserCtx(t, ctx, execPath, chromedp.Env("TZ=Asia/Kolkata"))
	kolkata := time.FixedZone("IST", 5*3600+30*60)
	firstTime := `#runs-table time[datetime]`
	timeText := func() (datetime, text string) {
		t.Helper()
		dt, err := chromedp.Run(b, chromedp.AttributeValue(chromedp.CSS(firstTime), "datetime"))
		require.NoError(t, err)
		txt, err := chromedp.Run(b, chromedp.Text(chromedp.CSS(firstTime)))
		require.NoError(t, err)
		return dt.Value, txt
	}
	shown := func(datetime string, zone *time.Location) string {
		t.Helper()
		at, err := time.Parse(time.RFC3339Nano, datetime)
		require.NoError(t, err)
		return at.In(zone).Format("2006-01-02 15:04:05.000")
	}

	require.NoError(t, chromedp.Do(b,
		chromedp.Navigate(root+"runs"),
		chromedp.WaitVisible(chromedp.CSS(`#no-worker-alert a[data-function-id="lonely"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#runs-table tr[data-function-id="lonely"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#tz-toggle`)),
	), "the runs page warns about the function without a worker")
	dt, txt := timeText()
	require.Equal(t, shown(dt, time.UTC), txt, "UTC by default")
	note, err := chromedp.Run(b, chromedp.Text(chromedp.CSS(`#tz-note`)))
	require.NoError(t, err)
	require.Equal(t, "Times are in UTC.", note)

	require.NoError(t, chromedp.Do(b,
		chromedp.Click(chromedp.CSS(`#tz-toggle`)),
		chromedp.WaitVisible(chromedp.CSS(`html[data-tz="local"] #tz-note`)),
	), "switch to the viewer's zone")
	dt, txt = timeText()
	require.Equal(t, shown(dt, kolkata), txt, "shown in the browser's zone")
	note, err = chromedp.Run(b, chromedp.Text(chromedp.CSS(`#tz-note`)))
	require.NoError(t, err)
	require.Regexp(t, `^Times are in your zone \(Asia/(Kolkata|Calcutta), UTC\+05:30\)\.$`, note, "ICU may name the zone by its old name")

	// The choice outlives the page: the functions page opens in the zone,
	// and the registry's options are there.
	require.NoError(t, chromedp.Do(b,
		chromedp.Click(chromedp.CSS(`#nav-functions`)),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-function-id="lonely"][data-has-worker="false"] .no-worker`)),
		chromedp.WaitVisible(chromedp.CSS(`html[data-tz="local"] .no-worker-note time`)),
	), "the functions page, in the viewer's zone")
	seen, err := chromedp.Run(b, chromedp.AttributeValue(chromedp.CSS(`.no-worker-note time`), "datetime"))
	require.NoError(t, err)
	seenText, err := chromedp.Run(b, chromedp.Text(chromedp.CSS(`.no-worker-note time`)))
	require.NoError(t, err)
	require.Equal(t, shown(seen.Value, kolkata), seenText)
	opts, err := chromedp.Run(b, chromedp.Text(chromedp.CSS(`tr[data-function-id="lonely"]`)))
	require.NoError(t, err)
	for _, want := range []string{"TZ=Europe/Paris 0 9 * * *", "Cancel on order/cancelled matching data.id", "Finish timeout: 24h00m"} {
		require.Contains(t, opts, want)
	}

	png, err := chromedp.Run(b, chromedp.FullScreenshot(100))
	require.NoError(t, err, "screenshot")
	browserScreenshot(t, "flowui-browser-functions.png", png)

	// Back to UTC, and on to River's UI through the navigation.
	require.NoError(t, chromedp.Do(b,
		chromedp.Click(chromedp.CSS(`#nav-runs`)),
		chromedp.WaitVisible(chromedp.CSS(`html[data-tz="local"] `+firstTime)),
		chromedp.Click(chromedp.CSS(`#tz-toggle`)),
		chromedp.WaitVisible(chromedp.CSS(`html[data-tz="utc"] #tz-note`)),
	), "back to UTC")
	dt, txt = timeText()
	require.Equal(t, shown(dt, time.UTC), txt)
	require.NoError(t, chromedp.Do(b,
		chromedp.Click(chromedp.CSS(`#nav-riverui`)),
		chromedp.WaitVisible(chromedp.CSS(`#riverui-page`)),
	), "the River UI link")
}

// TestBrowserPauseAndResumeFunction pauses a function from its row on the
// functions page (the button asks for confirmation, and nothing happens if
// it is refused), sees the run an event starts held with a "paused" badge,
// and resumes the function from the same page: the run completes.
func TestBrowserPauseAndResumeFunction(t *testing.T) {
	t.Parallel()
	execPath := browserChromium(t)

	pool := flowtest.Pool(t)
	c, err := flow.NewClient(pool, &flow.Config{RetryBackoff: func(int) time.Duration { return 20 * time.Millisecond }})
	require.NoError(t, err)
	_, err = flow.CreateFunction(c, flow.FunctionOpts{ID: "pausable"}, flow.EventTrigger("browser/pausable"),
		func(ctx context.Context, in flow.Input[map[string]any]) (any, error) {
			return flow.Step(ctx, "work", func(ctx context.Context) (string, error) { return "done", nil })
		})
	require.NoError(t, err)
	require.NoError(t, c.Start(context.Background()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, c.Stop(ctx))
	})
	root := browserServe(t, flowui.Handler(c, nil))

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	b := browserCtx(t, ctx, execPath)
	paused := func() bool {
		fns, err := c.ListFunctions(ctx)
		require.NoError(t, err)
		for _, f := range fns {
			if f.ID == "pausable" {
				return f.Paused
			}
		}
		t.Fatal("pausable is not listed")
		return false
	}
	// answerConfirm makes the page's confirmation dialogs answer ok, and
	// remembers the question in sessionStorage, which outlives the page.
	answerConfirm := func(ok bool) error {
		js := `window.confirm = function (m) { sessionStorage.setItem('asked', m); return ` + map[bool]string{true: "true", false: "false"}[ok] + `; }; true`
		_, err := chromedp.Run(b, chromedp.Evaluate[bool](js))
		return err
	}
	asked := func() string {
		s, err := chromedp.Run(b, chromedp.Evaluate[string](`sessionStorage.getItem('asked') || ''`))
		require.NoError(t, err)
		return s
	}
	row := `#functions-table tr[data-function-id="pausable"]`

	require.NoError(t, chromedp.Do(b,
		chromedp.Navigate(root+"functions"),
		chromedp.WaitVisible(chromedp.CSS(row+` .pause-button`)),
	), "the functions page offers Pause")
	require.NoError(t, answerConfirm(false))
	require.NoError(t, chromedp.Do(b, chromedp.Click(chromedp.CSS(row+` .pause-button`))))
	require.Contains(t, asked(), "Pause pausable?")
	require.False(t, paused(), "a refused confirmation pauses nothing")

	require.NoError(t, answerConfirm(true))
	require.NoError(t, chromedp.Do(b,
		chromedp.Click(chromedp.CSS(row+` .pause-button`)),
		chromedp.WaitVisible(chromedp.CSS(row+` .fn-paused`)),
		chromedp.WaitVisible(chromedp.CSS(row+` .resume-button`)),
	), "pause the function")
	require.True(t, paused())

	ids, err := c.Send(ctx, flow.Event{Name: "browser/pausable", Data: map[string]any{}})
	require.NoError(t, err)
	runs, err := c.ListRuns(ctx, flow.RunFilter{EventID: ids[0]})
	require.NoError(t, err)
	require.Len(t, runs, 1)
	runRow := `#runs-table tr[data-run-id="` + runs[0].ID + `"]`
	require.NoError(t, chromedp.Do(b,
		chromedp.Navigate(root+"runs?function=pausable"),
		chromedp.WaitVisible(chromedp.CSS(runRow+` .s-paused`)),
	), "the held run shows paused")
	png, err := chromedp.Run(b, chromedp.FullScreenshot(100))
	require.NoError(t, err, "screenshot")
	browserScreenshot(t, "flowui-browser-paused-runs.png", png)

	require.NoError(t, chromedp.Do(b,
		chromedp.Navigate(root+"functions"),
		chromedp.WaitVisible(chromedp.CSS(row+` .resume-button`)),
	))
	require.NoError(t, answerConfirm(true))
	require.NoError(t, chromedp.Do(b,
		chromedp.Click(chromedp.CSS(row+` .resume-button`)),
		chromedp.WaitVisible(chromedp.CSS(row+` .pause-button`)),
	), "resume the function")
	require.Contains(t, asked(), "Resume pausable?")
	require.False(t, paused())
	run, err := c.AwaitRun(ctx, runs[0].ID)
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, run.Status)
}
