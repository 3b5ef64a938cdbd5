package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
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
	t.Skip("workflows: no chromium found (apt-get install chromium) — browser test skipped")
	return ""
}

// browserCtx starts a headless browser (a fresh profile, no sandbox: the
// tests may run as root) and returns a tab's context, bounded by ctx.
func browserCtx(t *testing.T, ctx context.Context, execPath string) context.Context {
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
		chromedp.WindowSize(1280, 1000),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(cancelBrowser)
	return bctx
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
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), png, 0o644))
	}
}

// pageNodes is what the execution page shows, read in one evaluation.
type pageNodes struct {
	Statuses []string `json:"statuses"` // each node's data-status, in page order
	Result   string   `json:"result"`
	Ready    bool     `json:"ready"`
	Log      string   `json:"log"`
	Messages string   `json:"messages"`
	Tokens   string   `json:"tokens"`
	Stream   string   `json:"stream"`
	Live     string   `json:"live"`
}

const readNodes = `(() => {
  const root = document.getElementById("execution");
  return {
    statuses: Array.from(document.querySelectorAll("#nodes [data-node]")).map(e => e.dataset.status),
    result: document.getElementById("result").textContent,
    ready: document.getElementById("result").dataset.ready === "true",
    log: root.dataset.log || "",
    messages: root.dataset.messages || "0",
    tokens: root.dataset.tokens || "0",
    stream: document.getElementById("ai-stream").textContent,
    live: document.getElementById("live").dataset.state,
  };
})()`

// TestBrowserRunShowsNodesLive drives the app in a real headless Chromium:
// it opens the workflows page, clicks Run, and watches the execution's page
// while the run works. Every node goes to done, in order (no node is ever
// shown done before the one before it), the page passes through states
// where some nodes are done and others not (it is updated live, through
// the realtime stream, not only rendered at the end), the AI's answer
// streams in, and the result appears and matches the app's row.
func TestBrowserRunShowsNodesLive(t *testing.T) {
	t.Parallel()
	execPath := browserChromium(t)
	b := setup(t, 400*time.Millisecond)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	tab := browserCtx(t, ctx, execPath)

	require.NoError(t, chromedp.Do(tab,
		chromedp.Navigate(b.srv.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS(`#workflows tr[data-workflow-id="1"] .run-button`)),
		chromedp.Click(chromedp.CSS(`#workflows tr[data-workflow-id="1"] .run-button`)),
		chromedp.WaitVisible(chromedp.CSS(`#execution[data-execution-id]`)),
	), "open the workflows page and click Run")

	// Watch the page until the result is there.
	var seen [][]string
	var last pageNodes
	for {
		p, err := chromedp.Run(tab, chromedp.Evaluate[pageNodes](readNodes))
		require.NoError(t, err, "read the page")
		if len(seen) == 0 || strings.Join(seen[len(seen)-1], ",") != strings.Join(p.Statuses, ",") {
			seen = append(seen, p.Statuses)
		}
		last = p
		if p.Ready {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no result on the page; last seen %+v", p)
		case <-time.After(25 * time.Millisecond):
		}
	}
	t.Logf("node states seen: %v", seen)
	t.Logf("page log: %s (%s stream messages, %s of them tokens)", last.Log, last.Messages, last.Tokens)

	// Every state the page showed is a prefix of done nodes, then at most
	// one running node, then pending ones.
	intermediate := 0
	for _, st := range seen {
		i := 0
		for i < len(st) && st[i] == "done" {
			i++
		}
		if i < len(st) && st[i] == "running" {
			i++
		}
		for j := i; j < len(st); j++ {
			require.Equal(t, "pending", st[j], "nodes shown out of order: %v", st)
		}
		if done := strings.Count(strings.Join(st, ","), "done"); done > 0 && done < len(st) {
			intermediate++
		}
	}
	require.Equal(t, []string{"done", "done", "done", "done"}, last.Statuses)
	require.GreaterOrEqual(t, intermediate, 2, "the page never showed the run part-way: %v", seen)

	// The page's own record: nodes became done in the workflow's order.
	var doneOrder []string
	for _, ev := range strings.Fields(last.Log) {
		if node, ok := strings.CutSuffix(ev, ":done"); ok {
			doneOrder = append(doneOrder, node)
		}
	}
	require.Equal(t, []string{"fetching", "transcribing", "sending-to-ai", "saving"}, doneOrder)
	require.NotEqual(t, "0", last.Messages, "no message came through the realtime stream")
	require.NotEqual(t, "0", last.Tokens, "no token of the AI's answer was streamed live")

	// The result on the page is the one the saving node wrote.
	execID, err := chromedp.Run(tab, chromedp.AttributeValue(chromedp.CSS(`#execution`), "data-execution-id"))
	require.NoError(t, err)
	var status, result string
	require.NoError(t, b.app.pool.QueryRow(ctx, `SELECT status, result FROM execution WHERE id = $1`, execID.Value).Scan(&status, &result))
	require.Equal(t, "done", status)
	require.Equal(t, result, strings.TrimSpace(last.Result))
	require.Equal(t, result, strings.TrimSpace(last.Stream), "the AI output shown is not the answer")

	png, err := chromedp.Run(tab, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	browserScreenshot(t, "workflows-execution.png", png)
}
