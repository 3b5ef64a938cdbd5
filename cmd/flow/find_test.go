package main

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
)

// TestCLIFindsRunsByPartialID: run, rerun and cancel take the start or the
// end of a run's ID; an ambiguous one lists the runs it fits; a rerun says
// what it reran; a retried step lists its failed attempts.
func TestCLIFindsRunsByPartialID(t *testing.T) {
	t.Parallel()
	dbURL := flowtest.DatabaseURL(t)
	var calls atomic.Int32
	c := cliApp(t, dbURL, func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "flaky"}, flow.EventTrigger("cli/flaky"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				return flow.Step(ctx, "call", func(ctx context.Context) (int32, error) {
					if n := calls.Add(1); n == 1 {
						return 0, errors.New("first call refused")
					}
					return 2, nil
				})
			})
		require.NoError(t, err)
		_, err = flow.CreateFunction(c, flow.FunctionOpts{ID: "sleepy"}, flow.EventTrigger("cli/sleepy"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				return nil, flow.Sleep(ctx, "nap", time.Hour)
			})
		require.NoError(t, err)
	})
	_, runIDs := cliSent(t, cliOK(t, dbURL, "send", "cli/flaky"))
	require.Len(t, runIDs, 1)
	first, err := c.AwaitRun(cliCtx(t), runIDs[0])
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, first.Status, first.Error)

	// The last 12 digits, as the dashboard shows them.
	suffix := first.ID[24:]
	out := cliOK(t, dbURL, "run", suffix)
	require.Contains(t, out, first.ID)
	require.Contains(t, out, "attempt 1", "the failed attempt has a line of its own")
	require.Contains(t, out, "error: first call refused")

	var js struct {
		RerunOf string `json:"rerun_of"`
		Steps   []struct {
			FailedAttempts []struct {
				Attempt int    `json:"attempt"`
				Error   string `json:"error"`
			} `json:"failed_attempts"`
		} `json:"steps"`
	}
	require.NoError(t, json.Unmarshal([]byte(cliOK(t, dbURL, "run", "-json", strings.ToUpper(suffix))), &js))
	require.Len(t, js.Steps, 1)
	require.Len(t, js.Steps[0].FailedAttempts, 1)
	require.Equal(t, "first call refused", js.Steps[0].FailedAttempts[0].Error)

	newID := strings.TrimSpace(cliOK(t, dbURL, "rerun", "…"+suffix))
	_, err = c.AwaitRun(cliCtx(t), newID)
	require.NoError(t, err)
	out = cliOK(t, dbURL, "run", strings.ReplaceAll(newID, "-", "")[20:])
	require.Contains(t, out, "Rerun of:")
	require.Contains(t, out, "run "+first.ID+" (from the top)")

	// Every run ID of this database begins with the same time digits.
	res := cliRun(t, dbURL, "run", first.ID[:3])
	require.Equal(t, 1, res.code)
	require.Contains(t, res.stderr, "is ambiguous")
	require.Contains(t, res.stderr, first.ID)
	require.Contains(t, res.stderr, newID)

	res = cliRun(t, dbURL, "run", "ffffffffffff")
	require.Equal(t, 1, res.code)
	require.Contains(t, res.stderr, `no run "ffffffffffff"`)

	_, sleepy := cliSent(t, cliOK(t, dbURL, "send", "cli/sleepy"))
	require.Len(t, sleepy, 1)
	cliAwaitStatus(t, c, sleepy[0], flow.RunSleeping)
	out = cliOK(t, dbURL, "cancel", sleepy[0][28:])
	require.Equal(t, "cancelled run "+sleepy[0]+"\n", out)
}

// TestCLISendShowsResumedRuns: send lists the runs an event resumed and
// cancelled, not "no runs started", and 'flow event' shows them; 'flow run'
// names the event that resumed the wait.
func TestCLISendShowsResumedRuns(t *testing.T) {
	t.Parallel()
	dbURL := flowtest.DatabaseURL(t)
	c := cliApp(t, dbURL, func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "approver"}, flow.EventTrigger("cli/order"),
			func(ctx context.Context, in flow.Input[map[string]string]) (any, error) {
				ev, err := flow.WaitForEvent[map[string]string](ctx, "approval", flow.WaitOpts{
					Event: "cli/approved", Match: "data.order", Timeout: time.Hour,
				})
				if err != nil {
					return nil, err
				}
				return ev.Data["by"], nil
			})
		require.NoError(t, err)
		_, err = flow.CreateFunction(c, flow.FunctionOpts{
			ID: "cancellable", CancelOn: []flow.CancelOn{{Event: "cli/approved", Match: "data.order"}},
		}, flow.EventTrigger("cli/order"),
			func(ctx context.Context, in flow.Input[map[string]string]) (any, error) {
				return nil, flow.Sleep(ctx, "nap", time.Hour)
			})
		require.NoError(t, err)
	})
	out := cliOK(t, dbURL, "send", "cli/order", `{"order":"o1"}`)
	var waiting, sleeping string
	for line := range strings.Lines(out) {
		f := strings.Fields(line)
		if len(f) == 3 && f[0] == "run" && f[2] == "approver" {
			waiting = f[1]
		}
		if len(f) == 3 && f[0] == "run" && f[2] == "cancellable" {
			sleeping = f[1]
		}
	}
	require.NotEmpty(t, waiting, out)
	require.NotEmpty(t, sleeping, out)
	cliAwaitStatus(t, c, waiting, flow.RunWaiting)
	cliAwaitStatus(t, c, sleeping, flow.RunSleeping)

	res := cliRun(t, dbURL, "send", "cli/approved", `{"order":"o1","by":"ann"}`)
	require.Equal(t, 0, res.code, res.stderr)
	var eventID string
	var resumed, cancelled []string
	for line := range strings.Lines(res.stdout) {
		f := strings.Fields(line)
		switch {
		case f[0] == "event":
			eventID = f[1]
		case f[0] == "resumed":
			resumed = append(resumed, f[1]+" "+f[2]+" "+strings.Join(f[3:], " "))
		case f[0] == "cancelled":
			cancelled = append(cancelled, f[1]+" "+f[2])
		}
	}
	require.Equal(t, []string{waiting + " approver step approval"}, resumed, res.stdout)
	require.Equal(t, []string{sleeping + " cancellable"}, cancelled, res.stdout)
	require.NotContains(t, res.stderr, "no waiting run wanted it")

	done, err := c.AwaitRun(cliCtx(t), waiting)
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, done.Status, done.Error)
	require.Contains(t, cliOK(t, dbURL, "run", waiting), "event …"+eventID[24:]+": cli/approved")

	out = cliOK(t, dbURL, "event", eventID[24:])
	require.Contains(t, out, "cli/approved")
	require.Regexp(t, `resumed\s+`+waiting+`\s+approver\s+completed\s+step approval`, out)
	require.Regexp(t, `cancelled\s+`+sleeping+`\s+cancellable\s+cancelled`, out)

	var js eventJSON
	require.NoError(t, json.Unmarshal([]byte(cliOK(t, dbURL, "event", "-json", eventID)), &js))
	require.Empty(t, js.Started)
	require.Equal(t, []eventRunJSON{{ID: waiting, FunctionID: "approver", Status: flow.RunCompleted, StepID: "approval"}}, js.Resumed)
	require.Equal(t, []eventRunJSON{{ID: sleeping, FunctionID: "cancellable", Status: flow.RunCancelled}}, js.Cancelled)

	// An event nobody wanted still says so.
	res = cliRun(t, dbURL, "send", "cli/nobody")
	require.Equal(t, 0, res.code)
	require.Contains(t, res.stderr, "no runs started: no registered function is triggered by this event, and no waiting run wanted it")
}
