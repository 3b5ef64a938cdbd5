package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
	"github.com/riverflow/flow/internal/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

func TestHelloRunsTheTour(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dbURL := flowtest.DatabaseURL(t)

	var out bytes.Buffer
	require.NoError(t, run(ctx, &out, 20*time.Millisecond, dbURL))
	text := out.String()
	t.Log("\n" + text)

	// Each stage is printed as it sleeps and as it completes, in order, then
	// the step that writes the result, then the run's end.
	var lines []string
	stepLine := regexp.MustCompile(`^\S+  step (\S+)\s+(\S+)`)
	for _, line := range strings.Split(text, "\n") {
		if m := stepLine.FindStringSubmatch(line); m != nil {
			lines = append(lines, m[1]+" "+m[2])
		}
	}
	require.Equal(t, []string{
		"fetching sleeping",
		"fetching completed",
		"transcribing sleeping",
		"transcribing completed",
		"sending-to-ai sleeping",
		"sending-to-ai completed",
		"save-result completed",
	}, lines)
	require.Regexp(t, `(?m)^\S+  run completed after `, text)
	require.Contains(t, text, `Run output: {"summary": "Episode 42 says hello to the world.", "request_id": 1, "workflow_id": 1}`)

	// The database agrees: the run completed and its step inserted the app's
	// row, once.
	pool, err := pgxpool.New(ctx, dbURL)
	require.NoError(t, err)
	defer pool.Close()

	client, err := flow.NewClient(pool, nil)
	require.NoError(t, err)
	runs, err := client.ListRuns(ctx, flow.RunFilter{FunctionID: "summarize-podcast"})
	require.NoError(t, err)
	require.Len(t, runs, 1)
	require.Equal(t, flow.RunCompleted, runs[0].Status)

	var status, result string
	var requestID int64
	err = pool.QueryRow(ctx, `SELECT status, result, request_id FROM workflow WHERE id = 1`).Scan(&status, &result, &requestID)
	require.NoError(t, err)
	require.Equal(t, "done", status)
	require.Equal(t, "Episode 42 says hello to the world.", result)
	require.Equal(t, int64(1), requestID)

	var rows int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM workflow`).Scan(&rows))
	require.Equal(t, 1, rows, "the step wrote its result more than once")
}
