package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
	"github.com/riverflow/flow/internal/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

// cliResult is what a command line run in-process gave.
type cliResult struct {
	code           int
	stdout, stderr string
}

// lockedBuffer is a bytes.Buffer safe for a command running in another
// goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// cliEnv is an environment with only DATABASE_URL set (to dbURL, if not
// empty).
func cliEnv(dbURL string) func(string) string {
	return func(name string) string {
		if name == "DATABASE_URL" {
			return dbURL
		}
		return ""
	}
}

// cliRun runs the flow command line args in-process with DATABASE_URL set to
// dbURL.
func cliRun(t *testing.T, dbURL string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, args, &stdout, &stderr, cliEnv(dbURL))
	return cliResult{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// cliOK runs args and requires exit code 0.
func cliOK(t *testing.T, dbURL string, args ...string) string {
	t.Helper()
	res := cliRun(t, dbURL, args...)
	require.Equal(t, 0, res.code, "flow %s: stdout:\n%s\nstderr:\n%s", strings.Join(args, " "), res.stdout, res.stderr)
	return res.stdout
}

func cliCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// cliApp starts an application's flow client on dbURL with the functions
// define creates, as the process that executes the runs the command line
// starts. It is stopped when the test ends.
func cliApp(t *testing.T, dbURL string, define func(c *flow.Client)) *flow.Client {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(dbURL)
	require.NoError(t, err)
	cfg.MaxConns = 10
	pool, err := pgxpool.NewWithConfig(cliCtx(t), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	c, err := flow.NewClient(pool, &flow.Config{
		RetryBackoff: func(int) time.Duration { return 20 * time.Millisecond },
		Workers:      10,
	})
	require.NoError(t, err)
	define(c)
	require.NoError(t, c.Start(context.Background()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, c.Stop(ctx))
	})
	return c
}

// cliSent parses the output of "flow send": the event ID and the run IDs.
func cliSent(t *testing.T, out string) (eventID string, runIDs []string) {
	t.Helper()
	for line := range strings.Lines(out) {
		f := strings.Fields(line)
		switch {
		case len(f) == 3 && f[0] == "event":
			eventID = f[1]
		case len(f) == 3 && f[0] == "run":
			runIDs = append(runIDs, f[1])
		default:
			t.Fatalf("unexpected line in flow send output: %q", line)
		}
	}
	require.NotEmpty(t, eventID, "no event ID in %q", out)
	return eventID, runIDs
}

// cliAwaitStatus waits until the run has the status.
func cliAwaitStatus(t *testing.T, c *flow.Client, runID string, status flow.RunStatus) *flow.Run {
	t.Helper()
	var last *flow.Run
	require.Eventually(t, func() bool {
		r, err := c.GetRun(cliCtx(t), runID)
		require.NoError(t, err)
		last = r
		return r.Status == status
	}, 20*time.Second, 10*time.Millisecond, "run %s never reached %s", runID, status)
	return last
}

// cliEmptyDatabase creates a database with nothing in it on the server of
// dbURL and returns its URL. It is dropped when the test ends.
func cliEmptyDatabase(t *testing.T, dbURL string) string {
	t.Helper()
	pool, err := pgxpool.New(cliCtx(t), dbURL)
	require.NoError(t, err)
	defer pool.Close()
	name := fmt.Sprintf("flowcli_empty_%d", time.Now().UnixNano())
	_, err = pool.Exec(cliCtx(t), "CREATE DATABASE "+name)
	require.NoError(t, err)
	t.Cleanup(func() {
		pool, err := pgxpool.New(context.Background(), dbURL)
		require.NoError(t, err)
		defer pool.Close()
		_, err = pool.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		require.NoError(t, err)
	})
	if !strings.HasPrefix(dbURL, "postgres://") && !strings.HasPrefix(dbURL, "postgresql://") {
		return dbURL + " dbname=" + name
	}
	u, err := url.Parse(dbURL)
	require.NoError(t, err)
	u.Path = "/" + name
	return u.String()
}

func TestCLIMigrateIsIdempotent(t *testing.T) {
	t.Parallel()
	dbURL := cliEmptyDatabase(t, flowtest.DatabaseURL(t))

	out := cliOK(t, "", "migrate", "-database-url", dbURL)
	require.Contains(t, out, "up to date")
	out = cliOK(t, dbURL, "migrate")
	require.Contains(t, out, "up to date")

	pool, err := pgxpool.New(cliCtx(t), dbURL)
	require.NoError(t, err)
	defer pool.Close()
	for _, table := range []string{"flow_run", "flow_event", "river_job"} {
		var exists bool
		require.NoError(t, pool.QueryRow(cliCtx(t), "SELECT to_regclass($1) IS NOT NULL", table).Scan(&exists))
		require.True(t, exists, "migrate did not create %s", table)
	}
}

func TestCLISendStartsRuns(t *testing.T) {
	t.Parallel()
	dbURL := flowtest.DatabaseURL(t)
	type greeting struct{ Name string }
	c := cliApp(t, dbURL, func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "greet"}, flow.EventTrigger("cli/greet"),
			func(ctx context.Context, in flow.Input[greeting]) (any, error) {
				return "hello " + in.Event.Data.Name, nil
			})
		require.NoError(t, err)
	})

	out := cliOK(t, dbURL, "send", "cli/greet", `{"Name": "ada"}`, "-id", "greet-ada")
	eventID, runIDs := cliSent(t, out)
	require.Len(t, runIDs, 1, out)
	require.Contains(t, out, "greet")

	run, err := c.AwaitRun(cliCtx(t), runIDs[0])
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	require.Equal(t, eventID, run.EventID)
	var got string
	require.NoError(t, run.DecodeOutput(&got))
	require.Equal(t, "hello ada", got)

	// The same dedupe ID: the first event and its run, nothing new.
	out = cliOK(t, dbURL, "send", "-id", "greet-ada", "cli/greet", `{"Name": "bob"}`)
	againEvent, againRuns := cliSent(t, out)
	require.Equal(t, eventID, againEvent)
	require.Equal(t, runIDs, againRuns)

	// -json, and an event no function is triggered by.
	out = cliOK(t, dbURL, "send", "-json", "cli/nobody")
	var sent struct {
		EventID string `json:"event_id"`
		Runs    []struct {
			ID string `json:"id"`
		} `json:"runs"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &sent))
	require.NotEmpty(t, sent.EventID)
	require.NotEqual(t, eventID, sent.EventID)
	require.Empty(t, sent.Runs)
}

func TestCLIRunsListsAndFilters(t *testing.T) {
	t.Parallel()
	dbURL := flowtest.DatabaseURL(t)
	c := cliApp(t, dbURL, func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "ok-fn"}, flow.EventTrigger("cli/list"),
			func(ctx context.Context, in flow.Input[any]) (any, error) { return "fine", nil })
		require.NoError(t, err)
		_, err = flow.CreateFunction(c, flow.FunctionOpts{ID: "bad-fn", Retries: flow.Ptr(0)}, flow.EventTrigger("cli/list"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				return nil, flow.NonRetriable(errors.New("boom: the widget\nbroke"))
			})
		require.NoError(t, err)
	})
	_, runIDs := cliSent(t, cliOK(t, dbURL, "send", "cli/list"))
	require.Len(t, runIDs, 2)
	byFn := map[string]string{}
	for _, id := range runIDs {
		r, err := c.AwaitRun(cliCtx(t), id)
		require.NoError(t, err)
		byFn[r.FunctionID] = id
	}

	out := cliOK(t, dbURL, "runs")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 3, out)
	require.Equal(t, []string{"ID", "FUNCTION", "STATUS", "CREATED", "DURATION", "ERROR"}, strings.Fields(lines[0]))
	require.Contains(t, out, byFn["ok-fn"])
	require.Contains(t, out, byFn["bad-fn"])
	require.Contains(t, out, "boom: the widget broke", "the error is shown on one line")

	out = cliOK(t, dbURL, "runs", "-function", "bad-fn")
	require.Contains(t, out, byFn["bad-fn"])
	require.NotContains(t, out, byFn["ok-fn"])
	require.Contains(t, out, "failed")

	out = cliOK(t, dbURL, "runs", "-status", "completed,cancelled")
	require.Contains(t, out, byFn["ok-fn"])
	require.NotContains(t, out, byFn["bad-fn"])

	res := cliRun(t, dbURL, "runs", "-status", "running")
	require.Equal(t, 0, res.code)
	require.Empty(t, res.stdout)
	require.Contains(t, res.stderr, "no runs")

	out = cliOK(t, dbURL, "runs", "-json", "-limit", "1")
	var listed []runJSON
	require.NoError(t, json.Unmarshal([]byte(out), &listed))
	require.Len(t, listed, 1)
	require.Contains(t, runIDs, listed[0].ID)

	// Paging: the run before the newest one is the other one.
	out = cliOK(t, dbURL, "runs", "-json", "-before", listed[0].ID)
	var older []runJSON
	require.NoError(t, json.Unmarshal([]byte(out), &older))
	require.Len(t, older, 1)
	require.NotEqual(t, listed[0].ID, older[0].ID)
	require.Contains(t, runIDs, older[0].ID)
}

func TestCLIRunShowsSteps(t *testing.T) {
	t.Parallel()
	dbURL := flowtest.DatabaseURL(t)
	var flakyCalls atomic.Int32
	c := cliApp(t, dbURL, func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "steps"}, flow.EventTrigger("cli/steps"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				if _, err := flow.Step(ctx, "fetch", func(ctx context.Context) (map[string]int, error) {
					return map[string]int{"n": 1}, nil
				}); err != nil {
					return nil, err
				}
				if _, err := flow.Step(ctx, "flaky", func(ctx context.Context) (string, error) {
					if flakyCalls.Add(1) == 1 {
						return "", errors.New("first try fails")
					}
					return "second try works", nil
				}); err != nil {
					return nil, err
				}
				if err := flow.Sleep(ctx, "nap", time.Millisecond); err != nil {
					return nil, err
				}
				_, err := flow.WaitForEvent[any](ctx, "approval", flow.WaitOpts{Event: "cli/approved", Match: "data.order", Timeout: time.Hour})
				return nil, err
			})
		require.NoError(t, err)
	})
	_, runIDs := cliSent(t, cliOK(t, dbURL, "send", "cli/steps", `{"order": 7}`))
	require.Len(t, runIDs, 1)
	cliAwaitStatus(t, c, runIDs[0], flow.RunWaiting)

	out := cliOK(t, dbURL, "run", runIDs[0])
	t.Log("\n" + out)
	header, timeline, ok := strings.Cut(out, "\n\n")
	require.True(t, ok, out)
	require.Regexp(t, `Run:\s+`+runIDs[0], header)
	require.Regexp(t, `Function:\s+steps`, header)
	require.Regexp(t, `Status:\s+waiting`, header)

	require.NotContains(t, timeline, "Long values are cut")
	rows := strings.Split(strings.TrimSpace(timeline), "\n")
	require.Len(t, rows, 6, timeline)
	require.Equal(t, []string{"STEP", "KIND", "STATUS", "ATTEMPTS", "START", "DURATION", "TIMELINE", "OUTPUT", "/", "ERROR"}, strings.Fields(rows[0]))
	require.Regexp(t, `^fetch\s+run\s+completed\s+1\s+\+\S+\s+\S+\s+\|[█ ]+\|\s+\{"n":1\}$`, rows[1])
	require.Regexp(t, `^flaky\s+run\s+completed\s+2\s+.*"second try works"$`, rows[2])
	require.Regexp(t, `^  attempt 1\s+failed\s+\+\S+\s+\S+\s+\|[█ ]+\|\s+error: first try fails$`, rows[3], "each failed attempt under its step")
	require.Regexp(t, `^nap\s+sleep\s+completed\s+1\s+.*slept until \d`, rows[4])
	require.Regexp(t, `^approval\s+wait\s+waiting\s+1\s+.*…\s+\|[░ ]+\|\s+event cli/approved \(match data\.order\) until \d\d:\d\d:\d\d$`, rows[5])

	out = cliOK(t, dbURL, "run", "-json", runIDs[0])
	var shown runJSON
	require.NoError(t, json.Unmarshal([]byte(out), &shown))
	require.Equal(t, runIDs[0], shown.ID)
	require.Equal(t, flow.RunWaiting, shown.Status)
	require.Len(t, shown.Steps, 4)
	require.Equal(t, "approval", shown.Steps[3].ID)
	require.Contains(t, string(shown.Steps[3].Detail), "cli/approved")

	// Once the event comes, the wait shows it.
	cliOK(t, dbURL, "send", "cli/approved", `{"order": 7, "by": "ann"}`)
	cliAwaitStatus(t, c, runIDs[0], flow.RunCompleted)
	out = cliOK(t, dbURL, "run", runIDs[0])
	require.Regexp(t, `Status:\s+completed`, out)
	require.Regexp(t, `\napproval\s+wait\s+completed\s+1\s+.*\|[█ ]+\|\s+event …[0-9a-f]{12}: cli/approved \{"by":"ann","order":7\}\n`, out)
}

func TestCLICancelStopsSleepingRun(t *testing.T) {
	t.Parallel()
	dbURL := flowtest.DatabaseURL(t)
	c := cliApp(t, dbURL, func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "sleeper"}, flow.EventTrigger("cli/sleep"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				return nil, flow.Sleep(ctx, "long", time.Hour)
			})
		require.NoError(t, err)
	})
	_, runIDs := cliSent(t, cliOK(t, dbURL, "send", "cli/sleep"))
	require.Len(t, runIDs, 1)
	cliAwaitStatus(t, c, runIDs[0], flow.RunSleeping)

	out := cliOK(t, dbURL, "cancel", runIDs[0])
	require.Equal(t, "cancelled run "+runIDs[0]+"\n", out)
	r, err := c.GetRun(cliCtx(t), runIDs[0])
	require.NoError(t, err)
	require.Equal(t, flow.RunCancelled, r.Status)

	out = cliOK(t, dbURL, "cancel", runIDs[0])
	require.Contains(t, out, "already ended (cancelled)")
}

func TestCLIRerunStartsNewRun(t *testing.T) {
	t.Parallel()
	dbURL := flowtest.DatabaseURL(t)
	var aCalls, bCalls atomic.Int32
	c := cliApp(t, dbURL, func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "twostep"}, flow.EventTrigger("cli/rerun"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				a, err := flow.Step(ctx, "a", func(ctx context.Context) (int32, error) { return aCalls.Add(1), nil })
				if err != nil {
					return nil, err
				}
				b, err := flow.Step(ctx, "b", func(ctx context.Context) (int32, error) { return bCalls.Add(1), nil })
				return []int32{a, b}, err
			})
		require.NoError(t, err)
	})
	_, runIDs := cliSent(t, cliOK(t, dbURL, "send", "cli/rerun"))
	require.Len(t, runIDs, 1)
	first, err := c.AwaitRun(cliCtx(t), runIDs[0])
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, first.Status, first.Error)

	newID := strings.TrimSpace(cliOK(t, dbURL, "rerun", first.ID))
	require.NotEqual(t, first.ID, newID)
	second, err := c.AwaitRun(cliCtx(t), newID)
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, second.Status, second.Error)
	require.Equal(t, first.EventID, second.EventID)
	require.Equal(t, int32(2), aCalls.Load(), "a rerun executes every step again")

	fromID := strings.TrimSpace(cliOK(t, dbURL, "rerun", second.ID, "-from", "b"))
	third, err := c.AwaitRun(cliCtx(t), fromID)
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, third.Status, third.Error)
	require.Equal(t, int32(2), aCalls.Load(), "a rerun from b replays a")
	require.Equal(t, int32(3), bCalls.Load())
	var out []int32
	require.NoError(t, third.DecodeOutput(&out))
	require.Equal(t, []int32{2, 3}, out)

	res := cliRun(t, dbURL, "rerun", "-from", "nope", first.ID)
	require.Equal(t, 1, res.code)
	require.True(t, strings.HasPrefix(res.stderr, "flow: "), res.stderr)
	require.Contains(t, res.stderr, `no step "nope"`)
}

func TestCLIUsageErrors(t *testing.T) {
	t.Parallel()
	dbURL := flowtest.DatabaseURL(t)
	runID := "00000000-0000-4000-8000-000000000000"
	for _, tc := range []struct {
		args   []string
		noDB   bool
		code   int
		stderr string
	}{
		{args: nil, code: 2, stderr: "Usage:"},
		{args: []string{"nope"}, code: 2, stderr: `flow: unknown command "nope"`},
		{args: []string{"help", "nope"}, code: 2, stderr: `flow: unknown command "nope"`},
		{args: []string{"send"}, code: 2, stderr: "flow: send: want an event name"},
		{args: []string{"send", "a", "{}", "extra"}, code: 2, stderr: "flow: send: want an event name"},
		{args: []string{"send", "cli/x", "{not json"}, code: 2, stderr: "not valid JSON"},
		{args: []string{"send", "-ts", "yesterday", "cli/x"}, code: 2, stderr: "invalid -ts"},
		{args: []string{"send", "has space"}, code: 2, stderr: "flow: send: invalid event"},
		{args: []string{"send", "-queue", "Not A Queue", "cli/x"}, code: 2, stderr: "Config.Queue"},
		{args: []string{"runs", "-status", "bogus"}, code: 2, stderr: `unknown status "bogus"`},
		{args: []string{"runs", "-limit", "0"}, code: 2, stderr: "-limit"},
		{args: []string{"runs", "-x"}, code: 2, stderr: "flag provided but not defined: -x"},
		{args: []string{"runs", "extra"}, code: 2, stderr: "unexpected arguments"},
		{args: []string{"run"}, code: 2, stderr: "want one run ID"},
		{args: []string{"run", "a", "b"}, code: 2, stderr: "want one run ID"},
		{args: []string{"cancel"}, code: 2, stderr: "want one run ID"},
		{args: []string{"rerun"}, code: 2, stderr: "want one run ID"},
		{args: []string{"migrate", "extra"}, code: 2, stderr: "unexpected arguments"},
		{args: []string{"dev", "extra"}, code: 2, stderr: "unexpected arguments"},
		{args: []string{"runs"}, noDB: true, code: 2, stderr: "no database"},
		{args: []string{"run", runID}, code: 1, stderr: "flow: no run"},
		{args: []string{"run", "not-an-id"}, code: 1, stderr: "flow: no run"},
		{args: []string{"cancel", runID}, code: 1, stderr: "flow: no run"},
		{args: []string{"rerun", runID}, code: 1, stderr: "flow: no run"},
		{args: []string{"event", runID}, code: 1, stderr: "flow: no event"},
		{args: []string{"event"}, code: 2, stderr: "want one event ID"},
		{args: []string{"runs", "-database-url", "postgres://127.0.0.1:1/none?connect_timeout=2"}, code: 1, stderr: "flow: connect to database"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			t.Parallel()
			url := dbURL
			if tc.noDB {
				url = ""
			}
			res := cliRun(t, url, tc.args...)
			require.Equal(t, tc.code, res.code, "stdout:\n%s\nstderr:\n%s", res.stdout, res.stderr)
			require.Contains(t, res.stderr, tc.stderr)
			require.Empty(t, res.stdout)
			if tc.args != nil {
				require.True(t, strings.HasPrefix(res.stderr, "flow: "), res.stderr)
			}
		})
	}
}

func TestCLIHelp(t *testing.T) {
	t.Parallel()
	out := cliOK(t, "", "help")
	for _, c := range commands {
		require.Contains(t, out, "\n  "+c.name+" ")
	}
	for _, args := range [][]string{{"help", "run"}, {"run", "-h"}, {"run", "ID", "--help"}} {
		out := cliOK(t, "", args...)
		require.True(t, strings.HasPrefix(out, "Usage: flow run [flags] ID\n"), out)
		require.Contains(t, out, "-json")
	}
	require.Contains(t, cliOK(t, "", "dev", "-h"), "executes no\nruns")
}
