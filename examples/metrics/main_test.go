package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow/flowtest"
	"github.com/riverflow/flow/internal/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

// The example's scrape shows the library's metrics under Prometheus names,
// with the counts of its one order: two runs started, one completed, the
// retried step's failed attempt apart from its success, and the week-long
// sleeper in the backlog.
func TestMetricsExampleScrape(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out bytes.Buffer
	require.NoError(t, run(ctx, &out, flowtest.DatabaseURL(t), ""))
	text := out.String()
	t.Log("\n" + text)
	require.Contains(t, text, "Run of charge completed")
	require.Contains(t, text, "Run of follow-up sleeping")
	for _, series := range []string{
		`flow_run_started_total{flow_function_id="charge"`,
		`flow_run_ended_total{flow_function_id="charge",flow_status="completed"`,
		`flow_step_attempts_total{flow_function_id="charge",flow_outcome="errored"`,
		`flow_step_attempts_total{flow_function_id="charge",flow_outcome="completed"`,
		`flow_step_duration_seconds_count{flow_function_id="charge",flow_outcome="completed"`,
		`flow_run_queue_lag_seconds_count{flow_function_id="charge"`,
		`flow_run_wake_latency_seconds_count{flow_function_id="charge"`,
		`flow_run_backlog{flow_function_id="follow-up",flow_state="sleeping"`,
	} {
		require.Contains(t, text, series)
	}
}
