package flowui_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
	"github.com/riverflow/flow/flowui"
	"github.com/riverflow/flow/internal/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

// uiBundle is a started client with three functions, the dashboard mounted
// at /flow/ on a test server, and an HTTP client with a cookie jar that
// does not follow redirects.
type uiBundle struct {
	c    *flow.Client
	srv  *httptest.Server
	root string // srv.URL + "/flow/"
	http *http.Client
}

// uiRuns are the IDs of a completed, a failed and a sleeping run.
type uiRuns struct {
	ok, bad, nap string
	okEvent      string
}

func uiTestCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// uiSetup starts a client with the functions "ok" (one step "greet" that
// echoes the event's data; event "ui/ok" or any "xss/..." event), "bad"
// (a step that fails, with markup in its error; event "ui/bad") and "nap"
// (sleeps an hour; event "ui/nap"; 3 at once per data.user), and serves the
// dashboard with opts.
func uiSetup(t *testing.T, opts *flowui.Options) *uiBundle {
	t.Helper()
	pool := flowtest.Pool(t)
	c, err := flow.NewClient(pool, &flow.Config{RetryBackoff: func(int) time.Duration { return 20 * time.Millisecond }})
	require.NoError(t, err)
	_, err = flow.CreateFunction(c, flow.FunctionOpts{ID: "ok"}, flow.Triggers(flow.EventTrigger("ui/ok"), flow.EventTrigger("xss/*")),
		func(ctx context.Context, in flow.Input[map[string]any]) (any, error) {
			return flow.Step(ctx, "greet", func(ctx context.Context) (map[string]any, error) { return in.Event.Data, nil })
		})
	require.NoError(t, err)
	_, err = flow.CreateFunction(c, flow.FunctionOpts{ID: "bad", Retries: flow.Ptr(0)}, flow.EventTrigger("ui/bad"),
		func(ctx context.Context, in flow.Input[map[string]any]) (any, error) {
			_, err := flow.Step(ctx, "explode", func(ctx context.Context) (int, error) {
				return 0, errors.New("kaboom <script>alert('err')</script>")
			})
			return nil, err
		})
	require.NoError(t, err)
	_, err = flow.CreateFunction(c, flow.FunctionOpts{ID: "nap", Concurrency: []flow.Concurrency{{Limit: 3, Key: "event.data.user"}}}, flow.EventTrigger("ui/nap"),
		func(ctx context.Context, in flow.Input[map[string]any]) (any, error) {
			if err := flow.Sleep(ctx, "snooze", time.Hour); err != nil {
				return nil, err
			}
			return "rested", nil
		})
	require.NoError(t, err)
	require.NoError(t, c.Start(context.Background()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, c.Stop(ctx))
	})

	mux := http.NewServeMux()
	mux.Handle("/flow/", flowui.Handler(c, opts))
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

// send sends an event and returns its ID and the IDs of the runs it
// started.
func (b *uiBundle) send(t *testing.T, name string, data any) (string, []string) {
	t.Helper()
	ctx := uiTestCtx(t)
	ids, err := b.c.Send(ctx, flow.Event{Name: name, Data: data})
	require.NoError(t, err)
	runs, err := b.c.ListRuns(ctx, flow.RunFilter{EventID: ids[0]})
	require.NoError(t, err)
	out := make([]string, len(runs))
	for i, r := range runs {
		out[i] = r.ID
	}
	return ids[0], out
}

// await sends an event that starts one run and waits for the run to end.
func (b *uiBundle) await(t *testing.T, name string, data any) *flow.Run {
	t.Helper()
	_, runIDs := b.send(t, name, data)
	require.Len(t, runIDs, 1)
	run, err := b.c.AwaitRun(uiTestCtx(t), runIDs[0])
	require.NoError(t, err)
	return run
}

// sleeping starts a "nap" run and waits until it sleeps.
func (b *uiBundle) sleeping(t *testing.T) string {
	t.Helper()
	_, runIDs := b.send(t, "ui/nap", nil)
	require.Len(t, runIDs, 1)
	b.waitStatus(t, runIDs[0], flow.RunSleeping)
	return runIDs[0]
}

func (b *uiBundle) waitStatus(t *testing.T, runID string, want flow.RunStatus) {
	t.Helper()
	require.Eventually(t, func() bool {
		r, err := b.c.GetRun(uiTestCtx(t), runID)
		return err == nil && r.Status == want
	}, 15*time.Second, 10*time.Millisecond, "run %s never became %s", runID, want)
}

// runs makes a completed, a failed and a sleeping run.
func (b *uiBundle) runs(t *testing.T) uiRuns {
	t.Helper()
	ok := b.await(t, "ui/ok", map[string]any{"hello": "world"})
	require.Equal(t, flow.RunCompleted, ok.Status)
	bad := b.await(t, "ui/bad", nil)
	require.Equal(t, flow.RunFailed, bad.Status)
	return uiRuns{ok: ok.ID, okEvent: ok.EventID, bad: bad.ID, nap: b.sleeping(t)}
}

type response struct {
	status int
	header http.Header
	body   string
	url    *url.URL
}

func (b *uiBundle) do(t *testing.T, req *http.Request) response {
	t.Helper()
	res, err := b.http.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return response{status: res.StatusCode, header: res.Header, body: string(body), url: req.URL}
}

// get fetches a path below the mount point ("runs", "runs/ID").
func (b *uiBundle) get(t *testing.T, path string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.root+path, nil)
	require.NoError(t, err)
	return b.do(t, req)
}

// post posts a form to a path below the mount point, with extra headers.
func (b *uiBundle) post(t *testing.T, path string, form url.Values, header ...string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.root+path, strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return b.do(t, req)
}

var tokenRE = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// token loads a page and returns its form token (the cookie jar keeps the
// cookie it belongs to).
func (b *uiBundle) token(t *testing.T, path string) string {
	t.Helper()
	res := b.get(t, path)
	require.Equal(t, http.StatusOK, res.status, res.body)
	m := tokenRE.FindStringSubmatch(res.body)
	require.NotNil(t, m, "no form token on %s", path)
	return m[1]
}

// resolve resolves a link found on the page res, against the page's
// <base href>.
func resolve(t *testing.T, res response, link string) string {
	t.Helper()
	m := regexp.MustCompile(`<base href="([^"]*)">`).FindStringSubmatch(res.body)
	require.NotNil(t, m, "page has a <base>")
	base, err := url.Parse(htmlUnescape(m[1]))
	require.NoError(t, err)
	ref, err := url.Parse(htmlUnescape(link))
	require.NoError(t, err)
	return res.url.ResolveReference(base).ResolveReference(ref).String()
}

func htmlUnescape(s string) string {
	return strings.NewReplacer("&amp;", "&", "&#43;", "+", "&#34;", `"`, "&#39;", "'", "&lt;", "<", "&gt;", ">").Replace(s)
}

// rowStatus returns the data-status of the row of a run on a page, or "".
func rowStatus(body, runID string) string {
	m := regexp.MustCompile(`data-run-id="` + runID + `" data-status="([a-z_]+)"`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return m[1]
}

func runIDsOn(body string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`<tr class="run-row" data-run-id="([0-9a-f-]{36})"`).FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

func TestUIRunsPage(t *testing.T) {
	t.Parallel()
	b := uiSetup(t, nil)
	r := b.runs(t)

	for _, path := range []string{"", "runs"} {
		res := b.get(t, path)
		require.Equal(t, http.StatusOK, res.status)
		require.Equal(t, "text/html; charset=utf-8", res.header.Get("Content-Type"))
		require.Equal(t, "completed", rowStatus(res.body, r.ok), path)
		require.Equal(t, "failed", rowStatus(res.body, r.bad), path)
		require.Equal(t, "sleeping", rowStatus(res.body, r.nap), path)
		require.Equal(t, []string{r.nap, r.bad, r.ok}, runIDsOn(res.body), "newest first")
		require.Contains(t, res.body, `<base href="./">`)
		require.Contains(t, res.body, `id="runs-table"`)
		require.Contains(t, res.body, `data-poll="runs?fragment=1"`, "the list refreshes itself")
		require.Regexp(t, `data-status-filter="failed">failed <b>1</b>`, res.body)
		require.Regexp(t, `data-status-filter="">All <b>3</b>`, res.body)
	}

	// The live refresh returns the list alone.
	res := b.get(t, "runs?fragment=1")
	require.Equal(t, http.StatusOK, res.status)
	require.NotContains(t, res.body, "<html")
	require.Equal(t, "sleeping", rowStatus(res.body, r.nap))
	require.Empty(t, res.header.Get("X-Flowui-Poll"), "a list keeps refreshing")

	// It sees a run's progress.
	_, err := b.c.CancelRun(uiTestCtx(t), r.nap)
	require.NoError(t, err)
	res = b.get(t, "runs?fragment=1")
	require.Equal(t, "cancelled", rowStatus(res.body, r.nap))
}

func TestUISecurityHeaders(t *testing.T) {
	t.Parallel()
	b := uiSetup(t, nil)
	for _, path := range []string{"runs", "events", "functions", "send", "static/app.js", "nope"} {
		res := b.get(t, path)
		csp := res.header.Get("Content-Security-Policy")
		require.Contains(t, csp, "script-src 'self'", path)
		require.Contains(t, csp, "frame-ancestors 'none'", path)
		require.Contains(t, csp, "default-src 'none'", path)
		require.NotContains(t, csp, "unsafe-inline", path)
		require.Equal(t, "nosniff", res.header.Get("X-Content-Type-Options"), path)
		require.Equal(t, "same-origin", res.header.Get("Referrer-Policy"), path)
		require.Equal(t, "DENY", res.header.Get("X-Frame-Options"), path)
		if strings.HasPrefix(res.header.Get("Content-Type"), "text/html") {
			require.NotRegexp(t, `<script(?:\s[^>]*)?>[^<]`, res.body, "no inline script on %s", path)
			require.NotRegexp(t, `\son[a-z]+=`, res.body, "no inline event handler on %s", path)
			require.NotContains(t, res.body, "style=", "no inline style on %s", path)
			require.NotRegexp(t, `(?:src|href)="(?:https?:)?//`, res.body, "nothing loaded from elsewhere on %s", path)
		}
	}
	// The assets are embedded and served with their types.
	res := b.get(t, "static/app.js")
	require.Equal(t, http.StatusOK, res.status)
	require.Equal(t, "text/javascript; charset=utf-8", res.header.Get("Content-Type"))
	require.Contains(t, res.body, "data-poll")
	res = b.get(t, "static/style.css")
	require.Equal(t, http.StatusOK, res.status)
	require.Equal(t, "text/css; charset=utf-8", res.header.Get("Content-Type"))
	require.Equal(t, http.StatusNotFound, b.get(t, "static/nope.js").status)
}

func TestUIRunsFilters(t *testing.T) {
	t.Parallel()
	b := uiSetup(t, nil)
	r := b.runs(t)

	cases := []struct {
		query string
		want  []string
	}{
		{"runs?function=bad", []string{r.bad}},
		{"runs?function=nobody", nil},
		{"runs?status=sleeping", []string{r.nap}},
		{"runs?status=completed&status=failed", []string{r.bad, r.ok}},
		{"runs?function=ok&status=failed", nil},
		{"runs?since=15m", []string{r.nap, r.bad, r.ok}},
		{"runs?event=" + r.okEvent, []string{r.ok}},
		{"runs?to=2001-01-01T00:00", nil},
		{"runs?from=" + url.QueryEscape(time.Now().UTC().Add(time.Hour).Format("2006-01-02T15:04")), nil},
		{"runs?from=" + url.QueryEscape(time.Now().UTC().Add(-time.Hour).Format("2006-01-02T15:04")) +
			"&to=" + url.QueryEscape(time.Now().UTC().Add(time.Hour).Format(time.RFC3339)), []string{r.nap, r.bad, r.ok}},
	}
	for _, tc := range cases {
		res := b.get(t, tc.query)
		require.Equal(t, http.StatusOK, res.status, tc.query)
		require.Equal(t, tc.want, runIDsOn(res.body), tc.query)
	}

	// Counts follow the function and time filters.
	res := b.get(t, "runs?function=ok")
	require.Regexp(t, `data-status-filter="">All <b>1</b>`, res.body)
	require.Regexp(t, `data-status-filter="completed">completed <b>1</b>`, res.body)
	require.Regexp(t, `data-status-filter="failed">failed <b>0</b>`, res.body)

	// Paging with the Before cursor.
	res = b.get(t, "runs?limit=2")
	require.Equal(t, []string{r.nap, r.bad}, runIDsOn(res.body))
	m := regexp.MustCompile(`href="([^"]*)" id="page-older"`).FindStringSubmatch(res.body)
	require.NotNil(t, m, "an Older link")
	require.Contains(t, htmlUnescape(m[1]), "before="+r.bad)
	req, err := http.NewRequest(http.MethodGet, resolve(t, res, m[1]), nil)
	require.NoError(t, err)
	older := b.do(t, req)
	require.Equal(t, http.StatusOK, older.status)
	require.Equal(t, []string{r.ok}, runIDsOn(older.body))
	require.NotContains(t, older.body, `id="page-older"`, "the last page")
	require.Contains(t, older.body, `id="page-newest"`)

	// Bad filters are 400s, not database errors.
	for _, q := range []string{
		"runs?status=exploded", "runs?since=1y", "runs?from=yesterday", "runs?before=1%27%20OR%201=1",
		"runs?event=not-an-id", "runs?limit=0", "runs?limit=x",
	} {
		require.Equal(t, http.StatusBadRequest, b.get(t, q).status, q)
	}
}

func TestUIRunPage(t *testing.T) {
	t.Parallel()
	b := uiSetup(t, nil)
	r := b.runs(t)

	// A completed run: its step, output and triggering event.
	res := b.get(t, "runs/"+r.ok)
	require.Equal(t, http.StatusOK, res.status)
	require.Contains(t, res.body, `<base href="../">`)
	require.Regexp(t, `id="run" data-run-id="`+r.ok+`" data-status="completed"`, res.body)
	require.Regexp(t, `data-step-id="greet" data-step-status="completed" data-kind="run"`, res.body)
	require.Contains(t, res.body, "1 attempt")
	require.Contains(t, res.body, `&#34;hello&#34;: &#34;world&#34;`, "the output, indented")
	require.Contains(t, res.body, `href="events/`+r.okEvent+`"`)
	require.Contains(t, res.body, `id="event-name">ui/ok</a>`)
	require.Contains(t, res.body, `id="rerun-form"`)
	require.NotContains(t, res.body, `id="cancel-form"`, "an ended run cannot be cancelled")
	require.Contains(t, res.body, `class="rerun-from"`)

	// A failed run: its error and its failed step.
	res = b.get(t, "runs/"+r.bad)
	require.Equal(t, http.StatusOK, res.status)
	require.Regexp(t, `data-status="failed"`, res.body)
	require.Regexp(t, `data-step-id="explode" data-step-status="failed"`, res.body)
	require.Contains(t, res.body, `id="run-error"`)
	require.Contains(t, res.body, "kaboom")

	// A sleeping run: what it sleeps until, and a Cancel button; its page
	// refreshes itself.
	res = b.get(t, "runs/"+r.nap)
	require.Equal(t, http.StatusOK, res.status)
	require.Regexp(t, `data-step-id="snooze" data-step-status="sleeping" data-kind="sleep"`, res.body)
	require.Contains(t, res.body, "Sleeps until")
	require.Contains(t, res.body, `id="cancel-form"`)
	require.Contains(t, res.body, `data-poll="runs/`+r.nap+`?fragment=1"`)
	frag := b.get(t, "runs/"+r.nap+"?fragment=1")
	require.Equal(t, http.StatusOK, frag.status)
	require.NotContains(t, frag.body, "<html")
	require.Contains(t, frag.body, `data-step-id="snooze"`)
	require.Empty(t, frag.header.Get("X-Flowui-Poll"), "a live run keeps refreshing")
	frag = b.get(t, "runs/"+r.ok+"?fragment=1")
	require.Equal(t, "stop", frag.header.Get("X-Flowui-Poll"), "an ended run stops refreshing")
}

func TestUIWaitStep(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	c, err := flow.NewClient(pool, nil)
	require.NoError(t, err)
	_, err = flow.CreateFunction(c, flow.FunctionOpts{ID: "waiter"}, flow.EventTrigger("ui/wait"),
		func(ctx context.Context, in flow.Input[map[string]any]) (any, error) {
			return flow.WaitForEvent[map[string]any](ctx, "approval", flow.WaitOpts{
				Event: "ui/approved", Match: "data.id", If: "async.data.ok == true", Timeout: 2 * time.Hour,
			})
		})
	require.NoError(t, err)
	require.NoError(t, c.Start(context.Background()))
	t.Cleanup(func() { _ = c.Stop(context.Background()) })
	srv := httptest.NewServer(flowui.Handler(c, nil))
	t.Cleanup(srv.Close)

	ctx := uiTestCtx(t)
	ids, err := c.Send(ctx, flow.Event{Name: "ui/wait", Data: map[string]any{"id": 7}})
	require.NoError(t, err)
	runs, err := c.ListRuns(ctx, flow.RunFilter{EventID: ids[0]})
	require.NoError(t, err)
	require.Len(t, runs, 1)
	require.Eventually(t, func() bool {
		r, err := c.GetRun(ctx, runs[0].ID)
		return err == nil && r.Status == flow.RunWaiting
	}, 15*time.Second, 10*time.Millisecond)
	run, err := c.GetRun(ctx, runs[0].ID)
	require.NoError(t, err)

	res, err := http.Get(srv.URL + "/runs/" + run.ID)
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Regexp(t, `data-step-id="approval" data-step-status="waiting" data-kind="wait"`, string(body))
	require.Regexp(t, regexp.QuoteMeta(`Waits for event <code>ui/approved</code> matching <code>data.id</code> if <code>async.data.ok == true</code> until <b><time datetime="`)+
		`[0-9T:.Z-]+`+regexp.QuoteMeta(`">`+run.Steps[0].WakeAt.UTC().Format("2006-01-02 15:04:05.000")+`</time></b>`), string(body))
	require.Contains(t, string(body), "timeout 2h0m0s")
}

func TestUIEventsAndFunctionsPages(t *testing.T) {
	t.Parallel()
	b := uiSetup(t, nil)
	r := b.runs(t)

	res := b.get(t, "events")
	require.Equal(t, http.StatusOK, res.status)
	require.Contains(t, res.body, `data-event-id="`+r.okEvent+`" data-event-name="ui/ok"`)
	require.Equal(t, "completed", rowStatus(res.body, r.ok), "each event shows the runs it started")
	require.Equal(t, "sleeping", rowStatus(res.body, r.nap))
	require.Contains(t, res.body, `{&#34;hello&#34;:&#34;world&#34;}`, "a preview of the data")
	require.NotContains(t, res.body, `data-event-name="flow/function.failed"`, "run-end events are hidden by default")
	res = b.get(t, "events?ended=1")
	require.Contains(t, res.body, `data-event-name="flow/function.failed"`)
	res = b.get(t, "events?name=ui/b*")
	require.Contains(t, res.body, `data-event-name="ui/bad"`)
	require.NotContains(t, res.body, `data-event-name="ui/ok"`)

	res = b.get(t, "events/"+r.okEvent)
	require.Equal(t, http.StatusOK, res.status)
	require.Contains(t, res.body, `id="event-name">ui/ok</span>`)
	require.Equal(t, "completed", rowStatus(res.body, r.ok))
	require.Contains(t, res.body, `id="resend-link"`)

	res = b.get(t, "functions")
	require.Equal(t, http.StatusOK, res.status)
	for _, id := range []string{"ok", "bad", "nap"} {
		require.Contains(t, res.body, `data-function-id="`+id+`"`)
	}
	require.Contains(t, res.body, `<code>ui/ok</code>`)
	require.Contains(t, res.body, `<code>xss/*</code>`)
	require.Contains(t, res.body, "Retries: 0")
	require.Contains(t, res.body, "<li>Concurrency: 3 per event.data.user</li>", "flow control is listed")
	require.Contains(t, res.body, `href="runs?function=bad&amp;since=24h&amp;status=failed">failed <b>1</b>`)
}

func TestUISendEvent(t *testing.T) {
	t.Parallel()
	b := uiSetup(t, nil)

	res := b.get(t, "send")
	require.Equal(t, http.StatusOK, res.status)
	require.Contains(t, res.body, `id="send-form"`)
	require.Contains(t, res.body, `<option value="ui/ok">`, "known event names are suggested")
	token := b.token(t, "send")

	res = b.post(t, "send", url.Values{"csrf_token": {token}, "name": {"ui/ok"}, "data": {`{"n": 42}`}})
	require.Equal(t, http.StatusSeeOther, res.status, res.body)
	loc := res.header.Get("Location")
	require.True(t, strings.HasPrefix(loc, "./events/"), loc)
	eventID := strings.TrimPrefix(loc, "./events/")

	ctx := uiTestCtx(t)
	ev, err := b.c.GetEvent(ctx, eventID)
	require.NoError(t, err)
	require.Equal(t, "ui/ok", ev.Name)
	require.JSONEq(t, `{"n": 42}`, string(ev.Data))
	require.Len(t, ev.Runs, 1, "the event started its run")
	run, err := b.c.AwaitRun(ctx, ev.Runs[0].ID)
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, run.Status)
	require.JSONEq(t, `{"n": 42}`, string(run.Output))

	// The redirect leads to the event's page, under the mount point.
	req, err := http.NewRequest(http.MethodGet, res.url.ResolveReference(&url.URL{Path: loc}).String(), nil)
	require.NoError(t, err)
	require.Equal(t, b.root+"events/"+eventID, req.URL.String())
	page := b.do(t, req)
	require.Equal(t, http.StatusOK, page.status)
	require.Contains(t, page.body, `data-run-id="`+run.ID+`"`)

	// Errors come back on the form, with what was typed.
	res = b.post(t, "send", url.Values{"csrf_token": {token}, "name": {"ui/ok"}, "data": {`{"n": `}})
	require.Equal(t, http.StatusUnprocessableEntity, res.status)
	require.Contains(t, res.body, `id="form-error"`)
	require.Contains(t, res.body, "not valid JSON")
	require.Contains(t, res.body, `{&#34;n&#34;: </textarea>`)
	res = b.post(t, "send", url.Values{"csrf_token": {token}, "name": {"flow/function.finished"}, "data": {`{}`}})
	require.Equal(t, http.StatusUnprocessableEntity, res.status)
	require.Contains(t, res.body, "reserved")
	res = b.post(t, "send", url.Values{"csrf_token": {token}, "name": {""}, "data": {`{}`}})
	require.Equal(t, http.StatusUnprocessableEntity, res.status)
	events, err := b.c.ListEvents(ctx, flow.EventFilter{HideRunEnded: true})
	require.NoError(t, err)
	require.Len(t, events, 1, "nothing was sent by the failed posts")
}

func TestUICancel(t *testing.T) {
	t.Parallel()
	b := uiSetup(t, nil)
	nap := b.sleeping(t)

	token := b.token(t, "runs/"+nap)
	res := b.post(t, "runs/"+nap+"/cancel", url.Values{"csrf_token": {token}})
	require.Equal(t, http.StatusSeeOther, res.status, res.body)
	require.Equal(t, "../../runs/"+nap, res.header.Get("Location"))
	run, err := b.c.GetRun(uiTestCtx(t), nap)
	require.NoError(t, err)
	require.Equal(t, flow.RunCancelled, run.Status)

	res = b.get(t, "runs/"+nap)
	require.Regexp(t, `data-status="cancelled"`, res.body)
	require.NotContains(t, res.body, `id="cancel-form"`)

	// Unknown runs are 404s.
	res = b.post(t, "runs/01900000-0000-7000-8000-000000000000/cancel", url.Values{"csrf_token": {token}})
	require.Equal(t, http.StatusNotFound, res.status)
}

func TestUIRerun(t *testing.T) {
	t.Parallel()
	b := uiSetup(t, nil)
	ok := b.await(t, "ui/ok", map[string]any{"v": 1})
	ctx := uiTestCtx(t)

	token := b.token(t, "runs/"+ok.ID)
	res := b.post(t, "runs/"+ok.ID+"/rerun", url.Values{"csrf_token": {token}})
	require.Equal(t, http.StatusSeeOther, res.status, res.body)
	newID := strings.TrimPrefix(res.header.Get("Location"), "../../runs/")
	require.NotEqual(t, ok.ID, newID)
	rerun, err := b.c.AwaitRun(ctx, newID)
	require.NoError(t, err)
	require.Equal(t, ok.EventID, rerun.EventID, "a rerun has the same event")
	require.Equal(t, flow.RunCompleted, rerun.Status)

	// From a step.
	res = b.post(t, "runs/"+ok.ID+"/rerun", url.Values{"csrf_token": {token}, "step": {"greet"}})
	require.Equal(t, http.StatusSeeOther, res.status, res.body)
	fromID := strings.TrimPrefix(res.header.Get("Location"), "../../runs/")
	from, err := b.c.AwaitRun(ctx, fromID)
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, from.Status)

	runs, err := b.c.ListRuns(ctx, flow.RunFilter{EventID: ok.EventID})
	require.NoError(t, err)
	require.Len(t, runs, 3)

	res = b.post(t, "runs/"+ok.ID+"/rerun", url.Values{"csrf_token": {token}, "step": {"no-such-step"}})
	require.Equal(t, http.StatusNotFound, res.status)
	res = b.post(t, "runs/nope/rerun", url.Values{"csrf_token": {token}})
	require.Equal(t, http.StatusNotFound, res.status)
}

func TestUIActionsArePostOnly(t *testing.T) {
	t.Parallel()
	b := uiSetup(t, nil)
	nap := b.sleeping(t)

	for _, path := range []string{"runs/" + nap + "/cancel", "runs/" + nap + "/rerun"} {
		res := b.get(t, path)
		require.Equal(t, http.StatusMethodNotAllowed, res.status, path)
		require.Equal(t, "POST", res.header.Get("Allow"), path)
	}
	for _, method := range []string{http.MethodPut, http.MethodDelete, http.MethodPatch} {
		req, err := http.NewRequest(method, b.root+"send", nil)
		require.NoError(t, err)
		require.Equal(t, http.StatusMethodNotAllowed, b.do(t, req).status, method)
		req, err = http.NewRequest(method, b.root+"runs/"+nap+"/cancel", nil)
		require.NoError(t, err)
		require.Equal(t, http.StatusMethodNotAllowed, b.do(t, req).status, method)
	}
	// Pages take no POST.
	require.Equal(t, http.StatusMethodNotAllowed, b.post(t, "runs", url.Values{}).status)
	require.Equal(t, http.StatusMethodNotAllowed, b.post(t, "runs/"+nap, url.Values{}).status)
	b.waitStatus(t, nap, flow.RunSleeping)
}

func TestUICSRF(t *testing.T) {
	t.Parallel()
	b := uiSetup(t, nil)
	nap := b.sleeping(t)
	token := b.token(t, "runs/"+nap)
	cancelPath := "runs/" + nap + "/cancel"

	// A cross-origin browser post is rejected, even with a valid token.
	res := b.post(t, cancelPath, url.Values{"csrf_token": {token}}, "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site")
	require.Equal(t, http.StatusForbidden, res.status)
	res = b.post(t, cancelPath, url.Values{"csrf_token": {token}}, "Origin", "https://evil.example")
	require.Equal(t, http.StatusForbidden, res.status, "by Origin, where Sec-Fetch-Site is missing")

	// A post without the token, or with a wrong one, is rejected.
	res = b.post(t, cancelPath, url.Values{})
	require.Equal(t, http.StatusForbidden, res.status)
	require.Contains(t, res.body, "Reload the page")
	res = b.post(t, cancelPath, url.Values{"csrf_token": {"AAAA" + token[4:]}})
	require.Equal(t, http.StatusForbidden, res.status)
	res = b.post(t, "send", url.Values{"name": {"ui/ok"}, "data": {"{}"}}, "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site")
	require.Equal(t, http.StatusForbidden, res.status)

	// A token without its cookie (another browser's) is rejected.
	req, err := http.NewRequest(http.MethodPost, b.root+cancelPath, strings.NewReader(url.Values{"csrf_token": {token}}.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res2, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	res2.Body.Close()
	require.Equal(t, http.StatusForbidden, res2.StatusCode)

	// A token from another dashboard (another key) is rejected.
	other := httptest.NewServer(flowui.Handler(b.c, nil))
	t.Cleanup(other.Close)
	otherRes, err := b.http.Get(other.URL + "/runs/" + nap)
	require.NoError(t, err)
	otherBody, _ := io.ReadAll(otherRes.Body)
	otherRes.Body.Close()
	otherToken := tokenRE.FindStringSubmatch(string(otherBody))[1]
	require.NotEqual(t, token, otherToken)
	res = b.post(t, cancelPath, url.Values{"csrf_token": {otherToken}})
	require.Equal(t, http.StatusForbidden, res.status)

	b.waitStatus(t, nap, flow.RunSleeping)
	events, err := b.c.ListEvents(uiTestCtx(t), flow.EventFilter{Name: "ui/ok"})
	require.NoError(t, err)
	require.Empty(t, events)

	// A same-origin browser post with the token goes through.
	res = b.post(t, cancelPath, url.Values{"csrf_token": {token}}, "Origin", b.srv.URL, "Sec-Fetch-Site", "same-origin")
	require.Equal(t, http.StatusSeeOther, res.status, res.body)
	b.waitStatus(t, nap, flow.RunCancelled)
}

func TestUIAuthorize(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var seen []string
	b := uiSetup(t, &flowui.Options{Authorize: func(r *http.Request) error {
		mu.Lock()
		seen = append(seen, r.URL.Path)
		mu.Unlock()
		if r.Header.Get("X-Admin") != "yes" {
			return errors.New("not an admin")
		}
		return nil
	}})
	ok := b.await(t, "ui/ok", nil)

	paths := []string{
		"", "runs", "runs?fragment=1", "runs/" + ok.ID, "runs/" + ok.ID + "?fragment=1", "runs/" + ok.ID + "/raw?part=output",
		"events", "events/" + ok.EventID, "events/" + ok.EventID + "/raw", "functions", "send",
		"static/app.js", "static/style.css", "no/such/page", "runs/" + ok.ID + "/cancel",
	}
	for _, path := range paths {
		res := b.get(t, path)
		require.Equal(t, http.StatusForbidden, res.status, path)
		require.NotContains(t, res.body, ok.ID, path)
		require.NotContains(t, res.header.Get("Set-Cookie"), "flowui_csrf", "no token for a denied request")
	}
	for _, path := range []string{"send", "runs/" + ok.ID + "/cancel", "runs/" + ok.ID + "/rerun"} {
		res := b.post(t, path, url.Values{"name": {"ui/ok"}})
		require.Equal(t, http.StatusForbidden, res.status, path)
	}
	mu.Lock()
	require.Contains(t, seen, "/flow/runs", "the hook sees the request as the mux got it")
	mu.Unlock()

	// Allowed requests go through.
	req, err := http.NewRequest(http.MethodGet, b.root+"runs/"+ok.ID, nil)
	require.NoError(t, err)
	req.Header.Set("X-Admin", "yes")
	res := b.do(t, req)
	require.Equal(t, http.StatusOK, res.status)
	require.Contains(t, res.body, ok.ID)

	runs, err := b.c.ListRuns(uiTestCtx(t), flow.RunFilter{})
	require.NoError(t, err)
	require.Len(t, runs, 1, "denied posts did nothing")
}

func TestUIReadOnly(t *testing.T) {
	t.Parallel()
	b := uiSetup(t, &flowui.Options{ReadOnly: true})
	r := b.runs(t)

	for _, path := range []string{"runs", "runs/" + r.nap, "runs/" + r.ok, "events", "events/" + r.okEvent, "functions"} {
		res := b.get(t, path)
		require.Equal(t, http.StatusOK, res.status, path)
		for _, hidden := range []string{`id="cancel-form"`, `id="rerun-form"`, `class="rerun-from"`, `id="nav-send"`, `id="resend-link"`, `method="post"`} {
			require.NotContains(t, res.body, hidden, path)
		}
		require.Contains(t, res.body, `id="read-only"`, path)
	}
	require.Equal(t, http.StatusForbidden, b.get(t, "send").status)

	// Actions are rejected even with a valid token (from a read-only page,
	// tokens exist for no form, so take one from a writable dashboard on the
	// same key and cookie).
	key := []byte("0123456789abcdef0123456789abcdef")
	ro := httptest.NewServer(flowui.Handler(b.c, &flowui.Options{ReadOnly: true, CSRFKey: key}))
	t.Cleanup(ro.Close)
	rw := httptest.NewServer(flowui.Handler(b.c, &flowui.Options{CSRFKey: key}))
	t.Cleanup(rw.Close)
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	hc := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := hc.Get(rw.URL + "/runs/" + r.nap)
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	token := tokenRE.FindStringSubmatch(string(body))[1]
	rwURL, _ := url.Parse(rw.URL)
	roURL, _ := url.Parse(ro.URL)
	jar.SetCookies(roURL, jar.Cookies(rwURL)) // same host, other port: share the cookie explicitly
	for _, action := range []struct{ path, form string }{
		{"/runs/" + r.nap + "/cancel", ""},
		{"/runs/" + r.ok + "/rerun", ""},
		{"/send", "&name=ui/ok&data={}"},
		{"/functions/pause", "&function=nap"},
	} {
		res, err := hc.Post(ro.URL+action.path, "application/x-www-form-urlencoded", strings.NewReader("csrf_token="+url.QueryEscape(token)+action.form))
		require.NoError(t, err)
		res.Body.Close()
		require.Equal(t, http.StatusForbidden, res.StatusCode, action.path)
	}
	b.waitStatus(t, r.nap, flow.RunSleeping)
	fns, err := b.c.ListFunctions(uiTestCtx(t))
	require.NoError(t, err)
	for _, f := range fns {
		require.False(t, f.Paused, "read-only mode paused %s", f.ID)
	}
	runs, err := b.c.ListRuns(uiTestCtx(t), flow.RunFilter{})
	require.NoError(t, err)
	require.Len(t, runs, 3, "no rerun, no new event's run")

	// The same token works on the writable dashboard (the test's token is
	// good): the rejection above is read-only mode's.
	res, err = hc.Post(rw.URL+"/runs/"+r.nap+"/cancel", "application/x-www-form-urlencoded", strings.NewReader("csrf_token="+url.QueryEscape(token)))
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
}

func TestUIEscapesEventData(t *testing.T) {
	t.Parallel()
	b := uiSetup(t, nil)
	const evil = `<script>alert("x")</script>`
	name := `xss/<img/src=x/onerror=alert(1)>`
	run := b.await(t, name, map[string]any{"name": evil, "html": `<b onmouseover="alert(2)">hi</b>`})
	require.Equal(t, flow.RunCompleted, run.Status)
	bad := b.await(t, "ui/bad", map[string]any{"q": evil})

	pages := []string{
		"runs", "runs?fragment=1", "runs/" + run.ID, "runs/" + run.ID + "?fragment=1", "runs/" + bad.ID,
		"events", "events?fragment=1", "events/" + run.EventID, "events/" + bad.EventID, "events?name=" + url.QueryEscape(name),
		"runs?function=" + url.QueryEscape(evil), "send?name=" + url.QueryEscape(evil) + "&data=" + url.QueryEscape(evil),
	}
	for _, path := range pages {
		res := b.get(t, path)
		require.Less(t, res.status, 500, path)
		require.NotContains(t, res.body, "<script>alert", path)
		require.NotContains(t, res.body, "<img/src=x", path)
		require.NotContains(t, res.body, "<b onmouseover", path)
		require.NotContains(t, res.body, "<script>alert('err')", path)
	}
	res := b.get(t, "runs/"+run.ID)
	require.Contains(t, res.body, `&lt;script&gt;alert(\&#34;x\&#34;)&lt;/script&gt;`, "the output is shown, escaped")
	require.Contains(t, res.body, `&lt;img/src=x/onerror=alert(1)&gt;`, "the event name is shown, escaped")
	res = b.get(t, "runs/"+bad.ID)
	require.Contains(t, res.body, `kaboom &lt;script&gt;alert(&#39;err&#39;)&lt;/script&gt;`)

	// The raw values are served as data that cannot run.
	res = b.get(t, "events/"+run.EventID+"/raw")
	require.Equal(t, "application/json; charset=utf-8", res.header.Get("Content-Type"))
	require.Contains(t, res.header.Get("Content-Security-Policy"), "sandbox")
	res = b.get(t, "runs/"+bad.ID+"/raw?part=error")
	require.Equal(t, "text/plain; charset=utf-8", res.header.Get("Content-Type"))
	require.Contains(t, res.body, "<script>alert('err')</script>", "the raw value is whole")
	require.Equal(t, "nosniff", res.header.Get("X-Content-Type-Options"))
}

func TestUITruncatesLargeValues(t *testing.T) {
	t.Parallel()
	b := uiSetup(t, nil)
	big := strings.Repeat("0123456789", 1000) + "THE-END"
	run := b.await(t, "ui/ok", map[string]any{"big": big})
	require.Equal(t, flow.RunCompleted, run.Status)

	res := b.get(t, "runs/"+run.ID)
	require.Equal(t, http.StatusOK, res.status)
	require.NotContains(t, res.body, "THE-END", "the page shows a part")
	require.Less(t, len(res.body), 30_000)
	links := regexp.MustCompile(`class="raw-link" href="([^"]+)"`).FindAllStringSubmatch(res.body, -1)
	require.Len(t, links, 3, "the run's output, the step's output and the event's data are cut")
	for _, m := range links {
		full := resolve(t, res, m[1])
		req, err := http.NewRequest(http.MethodGet, full, nil)
		require.NoError(t, err)
		raw := b.do(t, req)
		require.Equal(t, http.StatusOK, raw.status, full)
		require.Equal(t, "application/json; charset=utf-8", raw.header.Get("Content-Type"), full)
		require.Contains(t, raw.body, big, full)
	}
	require.Contains(t, links[1][1], "step=greet")

	// The event page cuts the data too; the events list shows its size.
	res = b.get(t, "events/"+run.EventID)
	require.NotContains(t, res.body, "THE-END")
	require.Contains(t, res.body, `class="raw-link" href="events/`+run.EventID+`/raw"`)
	require.NotContains(t, res.body, `id="resend-link"`, "too big to send again through a link")
	res = b.get(t, "events")
	require.NotContains(t, res.body, "THE-END")
	require.Contains(t, res.body, "9.8 KiB")

	// Raw values that do not exist.
	require.Equal(t, http.StatusNotFound, b.get(t, "runs/"+run.ID+"/raw?part=error").status)
	require.Equal(t, http.StatusNotFound, b.get(t, "runs/"+run.ID+"/raw?step=nope&part=output").status)
	require.Equal(t, http.StatusNotFound, b.get(t, "runs/"+run.ID+"/raw?part=secrets").status)
}

func TestUINotFound(t *testing.T) {
	t.Parallel()
	b := uiSetup(t, nil)
	const unknown = "01900000-0000-7000-8000-000000000000"
	for _, path := range []string{
		"runs/" + unknown, "runs/not-a-run", "runs/" + unknown + "/raw?part=output", "runs/" + unknown + "?fragment=1",
		"events/" + unknown, "events/x'%20OR%201=1", "events/" + unknown + "/raw",
		"nope", "runs/" + unknown + "/steps", "static/", "runs/",
	} {
		res := b.get(t, path)
		require.Equal(t, http.StatusNotFound, res.status, path)
	}
	res := b.get(t, "runs/"+unknown)
	require.Contains(t, res.body, "Not found")
	require.Equal(t, "text/html; charset=utf-8", res.header.Get("Content-Type"))

	// Unclean paths (which ServeMux would redirect) are not served.
	h := flowui.Handler(b.c, nil)
	for _, path := range []string{"/static/../runs", "//runs", "/runs/./x"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://example.com/", nil).WithContext(uiTestCtx(t)))
		require.Equal(t, http.StatusOK, rec.Code)
		req := httptest.NewRequest(http.MethodGet, "http://example.com/", nil)
		req.URL.Path = path
		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		require.Equal(t, http.StatusNotFound, rec.Code, path)
	}
}

func TestUIMounting(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	c, err := flow.NewClient(pool, nil)
	require.NoError(t, err)
	_, err = flow.CreateFunction(c, flow.FunctionOpts{ID: "ok"}, flow.EventTrigger("ui/ok"),
		func(ctx context.Context, in flow.Input[any]) (any, error) { return "done", nil })
	require.NoError(t, err)
	require.NoError(t, c.Start(context.Background()))
	t.Cleanup(func() { _ = c.Stop(context.Background()) })
	ctx := uiTestCtx(t)
	ids, err := c.Send(ctx, flow.Event{Name: "ui/ok"})
	require.NoError(t, err)
	runs, err := c.ListRuns(ctx, flow.RunFilter{EventID: ids[0]})
	require.NoError(t, err)
	runID := runs[0].ID

	mux := http.NewServeMux()
	mux.Handle("/flow/", flowui.Handler(c, nil))
	mux.Handle("/stripped/", http.StripPrefix("/stripped", flowui.Handler(c, nil)))
	mux.Handle("GET /t/{tenant}/flow/", flowui.Handler(c, nil))
	other := flowui.Handler(c, &flowui.Options{BasePath: "/other/"})
	mux.Handle("/other/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r2 := r.Clone(r.Context())
		r2.Pattern = "" // as another router would leave it
		other.ServeHTTP(w, r2)
	}))
	mux.Handle("/", flowui.Handler(c, nil))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	for _, root := range []string{"/flow/", "/stripped/", "/t/acme/flow/", "/other/", "/"} {
		for path, base := range map[string]string{"": "./", "runs": "./", "runs/" + runID: "../", "events/" + ids[0]: "../", "functions": "./"} {
			res, err := hc.Get(srv.URL + root + path)
			require.NoError(t, err)
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			require.Equal(t, http.StatusOK, res.StatusCode, root+path)
			require.Contains(t, string(body), `<base href="`+base+`">`, root+path)
			if path != "functions" {
				require.Contains(t, string(body), runID, root+path)
			}
		}
		res, err := hc.Get(srv.URL + root + "static/app.js")
		require.NoError(t, err)
		res.Body.Close()
		require.Equal(t, http.StatusOK, res.StatusCode, root)
	}
	// The mount point without its slash, where no ServeMux redirects it.
	rec := httptest.NewRecorder()
	http.StripPrefix("/stripped", flowui.Handler(c, nil)).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/stripped", nil))
	require.Equal(t, http.StatusMovedPermanently, rec.Code)
	require.Equal(t, "stripped/", rec.Header().Get("Location"))
	rec = httptest.NewRecorder()
	other.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/other", nil))
	require.Equal(t, http.StatusMovedPermanently, rec.Code)
	require.Equal(t, "other/", rec.Header().Get("Location"))
}

func TestUIOptionsChecked(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	c, err := flow.NewClient(pool, nil)
	require.NoError(t, err)
	require.Panics(t, func() { flowui.Handler(nil, nil) })
	require.Panics(t, func() { flowui.Handler(c, &flowui.Options{CSRFKey: []byte("short")}) })
	require.Panics(t, func() { flowui.Handler(c, &flowui.Options{TrustedOrigins: []string{"not a url"}}) })
	require.Panics(t, func() { flowui.Handler(c, &flowui.Options{BasePath: "flow"}) })
	require.NotPanics(t, func() {
		flowui.Handler(c, &flowui.Options{TrustedOrigins: []string{"https://admin.example.com"}, BasePath: "/flow/"})
	})
}
