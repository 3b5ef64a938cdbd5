package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The app's own tables, beside flow's in the same database: the workflows a
// user built (here seeded by the app) and one row per execution of one.
// Flow never reads them; the app writes an execution row in the same
// transaction as the event that starts its run.
const schema = `
CREATE TABLE IF NOT EXISTS workflow (
	id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	name        text NOT NULL,
	description text NOT NULL,
	episode     text NOT NULL,
	created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS execution (
	id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	workflow_id bigint NOT NULL REFERENCES workflow (id),
	trigger     text NOT NULL,
	status      text NOT NULL,
	run_id      text,
	result      text,
	created_at  timestamptz NOT NULL DEFAULT now(),
	finished_at timestamptz
);`

// seedWorkflows are the workflows a fresh database starts with.
var seedWorkflows = []struct{ name, description, episode string }{
	{"Summarize podcast episode", "Fetch an episode, transcribe it, ask the AI for a summary, save it.", "Episode 42: durable functions on Postgres"},
	{"Summarize the weekly call", "The same nodes, on last week's team call.", "Weekly call, 24 November"},
	{"Digest a conference talk", "The same nodes, on a recorded talk.", "Talk: queues are databases too"},
}

// workflow is a row of the workflow table.
type workflow struct {
	ID          int64
	Name        string
	Description string
	Episode     string
}

// execution is a row of the execution table, with its workflow's name.
type execution struct {
	ID           int64
	WorkflowID   int64
	WorkflowName string
	Trigger      string
	Status       string
	RunID        string
	Result       string
	CreatedAt    time.Time
}

// errNoRow is returned for a workflow or execution that does not exist.
var errNoRow = errors.New("workflows: no such row")

// migrateApp creates the app's tables and seeds the workflows once.
func migrateApp(ctx context.Context, pool *pgxpool.Pool) error {
	if _, err := pool.Exec(ctx, schema); err != nil {
		return fmt.Errorf("workflows: create tables: %w", err)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM workflow`).Scan(&n); err != nil {
		return fmt.Errorf("workflows: count workflows: %w", err)
	}
	if n > 0 {
		return nil
	}
	for _, w := range seedWorkflows {
		_, err := pool.Exec(ctx, `INSERT INTO workflow (name, description, episode) VALUES ($1, $2, $3)`,
			w.name, w.description, w.episode)
		if err != nil {
			return fmt.Errorf("workflows: seed: %w", err)
		}
	}
	return nil
}

// querier is a pool or a transaction.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func listWorkflows(ctx context.Context, q querier) ([]workflow, error) {
	rows, err := q.Query(ctx, `SELECT id, name, description, episode FROM workflow ORDER BY id`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (workflow, error) {
		var w workflow
		err := r.Scan(&w.ID, &w.Name, &w.Description, &w.Episode)
		return w, err
	})
}

func getWorkflow(ctx context.Context, q querier, id int64) (workflow, error) {
	w := workflow{ID: id}
	err := q.QueryRow(ctx, `SELECT name, description, episode FROM workflow WHERE id = $1`, id).
		Scan(&w.Name, &w.Description, &w.Episode)
	if errors.Is(err, pgx.ErrNoRows) {
		return w, fmt.Errorf("%w: workflow %d", errNoRow, id)
	}
	return w, err
}

const executionColumns = `e.id, e.workflow_id, w.name, e.trigger, e.status, coalesce(e.run_id, ''), coalesce(e.result, ''), e.created_at`

func scanExecution(r pgx.Row) (execution, error) {
	var e execution
	err := r.Scan(&e.ID, &e.WorkflowID, &e.WorkflowName, &e.Trigger, &e.Status, &e.RunID, &e.Result, &e.CreatedAt)
	return e, err
}

func listExecutions(ctx context.Context, q querier, limit int) ([]execution, error) {
	rows, err := q.Query(ctx, `SELECT `+executionColumns+`
		FROM execution e JOIN workflow w ON w.id = e.workflow_id
		ORDER BY e.id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (execution, error) { return scanExecution(r) })
}

func getExecution(ctx context.Context, q querier, id int64) (execution, error) {
	e, err := scanExecution(q.QueryRow(ctx, `SELECT `+executionColumns+`
		FROM execution e JOIN workflow w ON w.id = e.workflow_id WHERE e.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return e, fmt.Errorf("%w: execution %d", errNoRow, id)
	}
	return e, err
}

// insertExecution records a queued execution of a workflow, in the
// transaction that sends the event starting its run.
func insertExecution(ctx context.Context, tx pgx.Tx, workflowID int64, trigger string) (int64, error) {
	var id int64
	err := tx.QueryRow(ctx, `INSERT INTO execution (workflow_id, trigger, status) VALUES ($1, $2, 'queued') RETURNING id`,
		workflowID, trigger).Scan(&id)
	return id, err
}

// setExecutionRun records which run executes an execution.
func setExecutionRun(ctx context.Context, tx pgx.Tx, id int64, runID string) error {
	_, err := tx.Exec(ctx, `UPDATE execution SET run_id = $2 WHERE id = $1`, id, runID)
	return err
}

// beginExecution is the run's first step: it marks the app's execution row
// running, or, for a run started from outside the app (the webhook, the
// event API), creates it.
func beginExecution(ctx context.Context, tx pgx.Tx, req runRequest, runID string) (int64, error) {
	if req.ExecutionID != 0 {
		tag, err := tx.Exec(ctx, `UPDATE execution SET status = 'running', run_id = $2 WHERE id = $1`, req.ExecutionID, runID)
		if err != nil {
			return 0, err
		}
		if tag.RowsAffected() == 0 {
			return 0, fmt.Errorf("%w: execution %d", errNoRow, req.ExecutionID)
		}
		return req.ExecutionID, nil
	}
	trigger := req.Source
	if trigger == "" {
		trigger = "event api"
	}
	var id int64
	err := tx.QueryRow(ctx, `INSERT INTO execution (workflow_id, trigger, status, run_id) VALUES ($1, $2, 'running', $3) RETURNING id`,
		req.WorkflowID, trigger, runID).Scan(&id)
	return id, err
}

// finishExecution is the "saving" node: the result goes into the app's row
// in the step's own transaction, so it is written exactly once.
func finishExecution(ctx context.Context, tx pgx.Tx, id int64, result string) error {
	_, err := tx.Exec(ctx, `UPDATE execution SET status = 'done', result = $2, finished_at = now() WHERE id = $1`, id, result)
	return err
}
