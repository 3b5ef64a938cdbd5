package main

import (
	"bytes"
	"context"
	"encoding/json"
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

func TestSharedRiverRunsBothOnOneClient(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dbURL := flowtest.DatabaseURL(t)

	var out bytes.Buffer
	require.NoError(t, run(ctx, &out, dbURL))
	text := out.String()
	t.Log("\n" + text)

	pool, err := pgxpool.New(ctx, dbURL)
	require.NoError(t, err)
	defer pool.Close()

	// The run completed, and its output names the email job its step
	// enqueued.
	client, err := flow.NewClient(pool, &flow.Config{ExternalRiver: true})
	require.NoError(t, err)
	runs, err := client.ListRuns(ctx, flow.RunFilter{FunctionID: "welcome"})
	require.NoError(t, err)
	require.Len(t, runs, 1)
	require.Equal(t, flow.RunCompleted, runs[0].Status)
	var output welcomeOutput
	require.NoError(t, json.Unmarshal(runs[0].Output, &output))
	require.Equal(t, "ada@example.com", output.Email)

	// The app's email job was enqueued once, worked once, and completed.
	var (
		emailID      int64
		emailState   string
		emailAttempt int
		emailArgs    SendEmailArgs
	)
	err = pool.QueryRow(ctx, `SELECT id, state, attempt, args FROM river_job WHERE kind = 'send_email'`).
		Scan(&emailID, &emailState, &emailAttempt, &emailArgs)
	require.NoError(t, err, "want exactly one send_email job")
	require.Equal(t, output.EmailJobID, emailID)
	require.Equal(t, "completed", emailState)
	require.Equal(t, 1, emailAttempt)
	require.Equal(t, SendEmailArgs{To: "ada@example.com", Subject: "Welcome, Ada!", Body: "Thanks for signing up."}, emailArgs)
	require.Equal(t, 1, strings.Count(text, "send_email worker: "), "the app's worker ran more or less than once")

	// One River client served both: every job, flow's run and the app's
	// email, was worked by the app's client alone, on its two queues.
	rows, err := pool.Query(ctx, `SELECT kind, queue, attempted_by FROM river_job ORDER BY id`)
	require.NoError(t, err)
	defer rows.Close()
	queueOf := map[string]string{}
	for rows.Next() {
		var kind, queue string
		var attemptedBy []string
		require.NoError(t, rows.Scan(&kind, &queue, &attemptedBy))
		require.Equal(t, []string{riverClientID}, attemptedBy, "job %s was worked by another River client", kind)
		queueOf[kind] = queue
	}
	require.NoError(t, rows.Err())
	require.Equal(t, map[string]string{"flow_run": "flow", "send_email": "default"}, queueOf)
}
