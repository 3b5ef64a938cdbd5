package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/riverflow/flow"
)

// watch prints the steps of a run as they start and end, until the run ends,
// and returns the ended run. Times are the ones flow recorded for each step.
func watch(ctx context.Context, w io.Writer, c *flow.Client, run *flow.Run) (*flow.Run, error) {
	runID := run.ID
	fmt.Fprintf(w, "%s  run %s %s\n", clock(run.CreatedAt), runID, run.Status)

	// AwaitRun tells us when the run ends; meanwhile, poll it for progress.
	type result struct {
		run *flow.Run
		err error
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ended := make(chan result, 1)
	go func() {
		run, err := c.AwaitRun(ctx, runID)
		ended <- result{run, err}
	}()

	p := progress{w: w, started: map[string]bool{}, ended: map[string]bool{}}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case r := <-ended:
			if r.err != nil {
				return nil, r.err
			}
			p.print(r.run)
			fmt.Fprintf(w, "%s  run %s after %s\n", clock(*r.run.EndedAt), r.run.Status,
				r.run.EndedAt.Sub(r.run.CreatedAt).Round(time.Millisecond))
			return r.run, nil
		case <-tick.C:
			if run, err := c.GetRun(ctx, runID); err == nil {
				p.print(run)
			}
		}
	}
}

// progress prints each step's start (for sleeps and waits) and end once, in
// the order the steps ran, whatever the moments it was polled at.
type progress struct {
	w              io.Writer
	started, ended map[string]bool
}

func (p *progress) print(run *flow.Run) {
	for _, st := range run.Steps {
		if (st.Kind == "sleep" || st.Kind == "wait") && !p.started[st.ID] {
			p.started[st.ID] = true
			what := st.Kind + "ing"
			if st.WakeAt != nil {
				what += fmt.Sprintf(" for %s", st.WakeAt.Sub(st.StartedAt).Round(time.Millisecond))
			}
			fmt.Fprintf(p.w, "%s  step %-14s %s\n", clock(st.StartedAt), st.ID, what)
		}
		if st.EndedAt != nil && !p.ended[st.ID] {
			p.ended[st.ID] = true
			what := st.Status
			if st.Error != "" {
				what += ": " + st.Error
			}
			fmt.Fprintf(p.w, "%s  step %-14s %s\n", clock(*st.EndedAt), st.ID, what)
		}
	}
}

// printDatabase says which database the program uses (without a password).
func printDatabase(w io.Writer, cfg *pgx.ConnConfig) {
	fmt.Fprintf(w, "Postgres: fresh database %s on %s:%d, with flow's schema.\n", cfg.Database, cfg.Host, cfg.Port)
}

// printWorkflow prints the row the run inserted into the app's workflow
// table for a podcast request.
func printWorkflow(ctx context.Context, w io.Writer, pool *pgxpool.Pool, requestID int64) error {
	var (
		id           int64
		name, status string
		result       *string
		created      time.Time
	)
	err := pool.QueryRow(ctx, `SELECT id, name, status, result, created_at FROM workflow WHERE request_id = $1`, requestID).
		Scan(&id, &name, &status, &result, &created)
	if err != nil {
		return fmt.Errorf("read the workflow row of request %d: %w", requestID, err)
	}
	fmt.Fprintf(w, "Row of table workflow:\n")
	fmt.Fprintf(w, "  id           %d\n", id)
	fmt.Fprintf(w, "  request_id   %d\n", requestID)
	fmt.Fprintf(w, "  name         %s\n", name)
	fmt.Fprintf(w, "  status       %s\n", status)
	fmt.Fprintf(w, "  result       %s\n", deref(result))
	fmt.Fprintf(w, "  created_at   %s\n", clock(created))
	return nil
}

func deref(s *string) string {
	if s == nil {
		return "NULL"
	}
	return *s
}

// clock formats a time of day to the millisecond.
func clock(t time.Time) string { return t.Local().Format("15:04:05.000") }
