package main

import (
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow/flowtest"
)

// The command line's part of the bad-input table (the root package's
// bad_input_test.go has the API's; TestCLIUsageErrors the usage mistakes):
// input that Postgres would refuse is a clear error naming the problem,
// never a raw SQLSTATE, and a refused send stores nothing.
func TestCLIBadInput(t *testing.T) {
	t.Parallel()
	dbURL := flowtest.DatabaseURL(t)
	empty := cliEmptyDatabase(t, dbURL)
	for _, tc := range []struct {
		name   string
		args   []string
		url    string // default dbURL
		code   int
		stderr string
	}{
		{name: "send: NUL in name", args: []string{"send", "cli/\x00"}, code: 2, stderr: "invalid event"},
		{name: "send: invalid UTF-8 in name", args: []string{"send", "cli/\xff"}, code: 2, stderr: "not valid UTF-8"},
		{name: `send: \u0000 in data`, args: []string{"send", "cli/x", `{"note":"a\u0000"}`}, code: 2, stderr: "NUL"},
		{name: "send: lone surrogate in data", args: []string{"send", "cli/x", `["\udc00"]`}, code: 2, stderr: "surrogate"},
		{name: "send: number beyond numeric", args: []string{"send", "cli/x", `{"n":-1e200000}`}, code: 2, stderr: "numeric"},
		{name: "send: invalid UTF-8 in data", args: []string{"send", "cli/x", "\"caf\xe9\""}, code: 2, stderr: "UTF-8"},
		{name: "send: NUL in -id", args: []string{"send", "-id", "a\x00", "cli/x"}, code: 2, stderr: "NUL"},
		{name: "send: -id too long", args: []string{"send", "-id", strings.Repeat("i", 300), "cli/x"}, code: 2, stderr: "over the limit"},
		{name: "send: -ts in year 0", args: []string{"send", "-ts", "0000-06-01T00:00:00Z", "cli/x"}, code: 2, stderr: "TS"},
		{name: "runs: NUL in -function", args: []string{"runs", "-function", "f\x00"}, code: 1, stderr: "NUL"},
		{name: "runs: invalid UTF-8 in -function", args: []string{"runs", "-function", "\xff"}, code: 1, stderr: "UTF-8"},
		{name: "runs: -event not an ID", args: []string{"runs", "-event", "nope"}, code: 1, stderr: "not an event ID"},
		{name: "runs: -before not an ID", args: []string{"runs", "-before", "nope"}, code: 1, stderr: "not a run ID"},
		{name: "run: NUL ID", args: []string{"run", "\x00"}, code: 1, stderr: "no run"},
		{name: "cancel: invalid UTF-8 ID", args: []string{"cancel", "\xff"}, code: 1, stderr: "no run"},
		{name: "rerun: bad ID", args: []string{"rerun", "nope"}, code: 1, stderr: `no run "nope"`},
		{name: "pause: unknown function", args: []string{"pause", "no-such-function"}, code: 1, stderr: `no function "no-such-function"`},
		{name: "resume: unknown function", args: []string{"resume", "no-such-function"}, code: 1, stderr: `no function "no-such-function"`},
		{name: "pause: NUL in function", args: []string{"pause", "f\x00"}, code: 1, stderr: "NUL"},
		{name: "resume: invalid UTF-8 in function", args: []string{"resume", "\xff"}, code: 1, stderr: "UTF-8"},
		{name: "pause: no function", args: []string{"pause"}, code: 2, stderr: "want one function ID"},
		{name: "pause: unmigrated database", args: []string{"pause", "f"}, url: empty, code: 1, stderr: "run flow.Migrate"},
		{name: "runs: unmigrated database", args: []string{"runs"}, url: empty, code: 1, stderr: "run flow.Migrate"},
		{name: "send: unmigrated database", args: []string{"send", "cli/x"}, url: empty, code: 1, stderr: "run flow.Migrate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			url := dbURL
			if tc.url != "" {
				url = tc.url
			}
			res := cliRun(t, url, tc.args...)
			require.Equal(t, tc.code, res.code, "stdout:\n%s\nstderr:\n%s", res.stdout, res.stderr)
			require.Contains(t, res.stderr, tc.stderr)
			require.True(t, strings.HasPrefix(res.stderr, "flow: "), res.stderr)
			if tc.url == "" { // the unmigrated cases keep Postgres's error as the cause
				require.NotContains(t, res.stderr, "SQLSTATE")
			}
			require.Empty(t, res.stdout)
		})
	}
	t.Cleanup(func() {
		pool, err := pgxpool.New(cliCtx(t), dbURL)
		require.NoError(t, err)
		defer pool.Close()
		var n int
		require.NoError(t, pool.QueryRow(cliCtx(t), "SELECT count(*) FROM flow_event").Scan(&n))
		require.Zero(t, n, "a refused send stored an event")
	})
}
