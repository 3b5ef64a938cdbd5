package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
)

// devStart runs "flow dev" in-process on a random port against dbURL and
// returns its base URL, its output and a function that stops it and returns
// its exit code.
func devStart(t *testing.T, dbURL string, extra ...string) (base string, stdout, stderr *lockedBuffer, stop func() int) {
	t.Helper()
	addrs := make(chan net.Addr, 1)
	ctx, cancel := context.WithCancel(context.Background())
	ctx = context.WithValue(ctx, devReadyKey{}, func(a net.Addr) { addrs <- a })
	stdout, stderr = &lockedBuffer{}, &lockedBuffer{}
	done := make(chan int, 1)
	args := append([]string{"dev", "-addr", "127.0.0.1:0"}, extra...)
	go func() { done <- run(ctx, args, stdout, stderr, cliEnv(dbURL)) }()

	stop = func() int {
		cancel()
		select {
		case code := <-done:
			return code
		case <-time.After(20 * time.Second):
			t.Fatal("flow dev did not stop after its context was cancelled")
			return -1
		}
	}
	select {
	case a := <-addrs:
		base = "http://" + a.String()
	case code := <-done:
		cancel()
		t.Fatalf("flow dev exited with %d before serving:\n%s\n%s", code, stdout, stderr)
	case <-time.After(30 * time.Second):
		stop()
		t.Fatalf("flow dev did not start serving:\n%s\n%s", stdout, stderr)
	}
	return base, stdout, stderr, stop
}

// devGet fetches url and returns the status and body.
func devGet(t *testing.T, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(cliCtx(t), http.MethodGet, url, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

func TestCLIDevServesDashboardAndRiverUI(t *testing.T) {
	t.Parallel()
	dbURL := flowtest.DatabaseURL(t)
	base, stdout, _, stop := devStart(t, dbURL)
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			stop()
		}
	})
	require.Contains(t, stdout.String(), "dashboard at "+base+"/")
	require.Contains(t, stdout.String(), "River UI at "+base+"/riverui/")

	status, body := devGet(t, base+"/riverui/")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, "River")

	status, body = devGet(t, base+"/riverui/api/health-checks/complete")
	require.Equal(t, http.StatusOK, status, body)

	// River's UI reads this database: it lists the River job that executed
	// a run sent here.
	app := cliApp(t, dbURL, func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "dev-fn"}, flow.EventTrigger("cli/dev"),
			func(ctx context.Context, in flow.Input[any]) (any, error) { return "ok", nil })
		require.NoError(t, err)
	})
	_, runIDs := cliSent(t, cliOK(t, dbURL, "send", "cli/dev"))
	require.Len(t, runIDs, 1)
	r, err := app.AwaitRun(cliCtx(t), runIDs[0])
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, r.Status, r.Error)
	// River records the job's completion shortly after the run ends.
	var jobs struct {
		Data []struct {
			Kind string `json:"kind"`
		} `json:"data"`
	}
	require.Eventually(t, func() bool {
		status, body = devGet(t, base+"/riverui/api/jobs?state=completed")
		require.Equal(t, http.StatusOK, status, body)
		require.NoError(t, json.Unmarshal([]byte(body), &jobs), body)
		return len(jobs.Data) > 0
	}, 10*time.Second, 20*time.Millisecond, "no completed job in River's UI")
	require.Equal(t, "flow_run", jobs.Data[0].Kind)

	devCheckDashboard(t, base, runIDs[0])

	stopped = true
	require.Equal(t, 0, stop())
	require.Contains(t, stdout.String(), "flow dev: stopped")
	_, err = http.Get(base + "/riverui/")
	require.Error(t, err, "flow dev still serves after it stopped")
}

func TestCLIDevMigratesDatabase(t *testing.T) {
	t.Parallel()
	dbURL := cliEmptyDatabase(t, flowtest.DatabaseURL(t))
	_, _, _, stop := devStart(t, dbURL)
	require.Equal(t, 0, stop())
	require.Contains(t, cliOK(t, dbURL, "runs", "-json"), "[]", "flow dev did not migrate the database")
}

func TestCLIDevAddressInUse(t *testing.T) {
	t.Parallel()
	dbURL := flowtest.DatabaseURL(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	res := cliRun(t, dbURL, "dev", "-addr", ln.Addr().String())
	require.Equal(t, 1, res.code)
	require.True(t, strings.HasPrefix(res.stderr, "flow: "), res.stderr)
	require.Contains(t, res.stderr, "address already in use")
}

// devPost posts body to url and returns the status.
func devPost(t *testing.T, url, body string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(cliCtx(t), http.MethodPost, url, strings.NewReader(body))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	require.NoError(t, err)
	return resp.StatusCode
}

// flow dev serves the event API at /e/{key} with the dev key "dev", as
// Inngest's dev server does: the curl of Inngest's docs, a form-encoded
// body, starts the function's run; other keys are refused.
func TestCLIDevEventAPI(t *testing.T) {
	t.Parallel()
	dbURL := flowtest.DatabaseURL(t)
	base, stdout, _, stop := devStart(t, dbURL)
	t.Cleanup(func() { stop() })
	require.Contains(t, stdout.String(), "event API at "+base+"/e/dev")
	app := cliApp(t, dbURL, func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "hello"}, flow.EventTrigger("test/hello.world"),
			func(ctx context.Context, in flow.Input[map[string]any]) (any, error) {
				return "hello " + in.Event.Name, nil
			})
		require.NoError(t, err)
	})

	// curl -d '{"name":"test/hello.world","data":{}}' localhost:8288/e/dev
	resp, err := http.Post(base+"/e/dev", "application/x-www-form-urlencoded", strings.NewReader(`{"name":"test/hello.world","data":{}}`))
	require.NoError(t, err)
	defer resp.Body.Close()
	var answer struct {
		IDs    []string `json:"ids"`
		Status int      `json:"status"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&answer))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, 200, answer.Status)
	require.Len(t, answer.IDs, 1)

	runs, err := app.ListRuns(cliCtx(t), flow.RunFilter{EventID: answer.IDs[0]})
	require.NoError(t, err)
	require.Len(t, runs, 1)
	r, err := app.AwaitRun(cliCtx(t), runs[0].ID)
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, r.Status, r.Error)
	require.JSONEq(t, `"hello test/hello.world"`, string(r.Output))

	require.Equal(t, http.StatusUnauthorized, devPost(t, base+"/e/prod", `{"name":"test/hello.world"}`))
	require.Equal(t, http.StatusBadRequest, devPost(t, base+"/e/dev", `{"name":`))
}

// devCheckDashboard checks that the dev server serves flow's dashboard at /,
// showing the run.
func devCheckDashboard(t *testing.T, base, runID string) {
	t.Helper()
	status, body := devGet(t, base+"/")
	require.Equal(t, http.StatusOK, status, body)
	require.Contains(t, body, "flow dev")
	require.Contains(t, body, runID)
	status, body = devGet(t, base+"/runs/"+runID)
	require.Equal(t, http.StatusOK, status, body)
	require.Contains(t, body, "dev-fn")
}
