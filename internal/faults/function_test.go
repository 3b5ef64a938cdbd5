package faults

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/riverflow/flow"
)

const (
	// functionID is the function every fault test runs.
	functionID = "faults/steps"
	// startEvent starts a run; its data is a startData.
	startEvent = "fault/start"
	// wakeEvent resumes the run waiting with the same data.key.
	wakeEvent = "fault/wake"
)

// startData is the data of start and wake events.
type startData struct {
	Key string `json:"key"`
}

// shape is what the fault function does between its steps.
type shape struct {
	sleep time.Duration // each of its two sleeps; zero: no sleep
	work  time.Duration // step b's body takes up to this long (random)
	wait  bool          // wait for a wake event before step c
}

// defineFunction defines the fault function on c: step a, a sleep, StepTx b
// (which inserts a row in fault_tx with the step's result), a sleep, an
// optional wait for an event, and step c. Each step body first probes on
// probes (a pool of its own) whether its result is already stored.
func defineFunction(c *flow.Client, probes *pgxpool.Pool, sh shape) error {
	retries := 20 // database errors while faults are injected are retried
	_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: functionID, Retries: &retries}, flow.EventTrigger(startEvent),
		func(ctx context.Context, in flow.Input[startData]) (any, error) {
			a, err := flow.Step(ctx, "a", func(ctx context.Context) (string, error) {
				return in.Event.Data.Key, probe(ctx, probes, in.RunID, "a")
			})
			if err != nil {
				return nil, err
			}
			if sh.sleep > 0 {
				if err := flow.Sleep(ctx, "nap-1", sh.sleep); err != nil {
					return nil, err
				}
			}
			b, err := flow.StepTx(ctx, "b", func(ctx context.Context, tx pgx.Tx) (string, error) {
				if err := probe(ctx, probes, in.RunID, "b"); err != nil {
					return "", err
				}
				if sh.work > 0 {
					select {
					case <-time.After(rand.N(sh.work)):
					case <-ctx.Done():
						return "", ctx.Err()
					}
				}
				_, err := tx.Exec(ctx, `INSERT INTO fault_tx (run_id) VALUES ($1)`, in.RunID)
				return "b", err
			})
			if err != nil {
				return nil, err
			}
			if sh.sleep > 0 {
				if err := flow.Sleep(ctx, "nap-2", sh.sleep); err != nil {
					return nil, err
				}
			}
			if sh.wait {
				if _, err := flow.WaitForEvent[startData](ctx, "wake", flow.WaitOpts{
					Event: wakeEvent, Match: "data.key", Timeout: 10 * time.Minute,
				}); err != nil {
					return nil, err
				}
			}
			cc, err := flow.Step(ctx, "c", func(ctx context.Context) (string, error) {
				return "c", probe(ctx, probes, in.RunID, "c")
			})
			if err != nil {
				return nil, err
			}
			return a + "/" + b + cc, nil
		})
	return err
}

// probe records an execution of a step body in fault_exec, with whether the
// step's completed result was already stored: a stored step executed again.
// It runs on a pool of its own, outside the step's transaction.
func probe(ctx context.Context, probes *pgxpool.Pool, runID, step string) error {
	_, err := probes.Exec(ctx, `
		INSERT INTO fault_exec (run_id, step, pid, stored)
		SELECT $1, $2, $3, EXISTS (
			SELECT 1 FROM flow_step WHERE run_id = $1 AND id = $2 AND status = 'completed')`,
		runID, step, os.Getpid())
	if err != nil {
		return fmt.Errorf("probe step %s of run %s: %w", step, runID, err)
	}
	return nil
}
