package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/riverflow/flow"
)

// runEvent is the event that starts a workflow's execution: sent by the Run
// button, by the webhook's transform, or by anyone holding an event key.
const runEvent = "workflow/run.requested"

// runFunctionID is the durable function that executes workflows.
const runFunctionID = "run-workflow"

// runRequest is the data of runEvent.
type runRequest struct {
	WorkflowID int64 `json:"workflow_id"`
	// ExecutionID is the app's execution row, when the app made one in the
	// transaction that sent the event (the Run button). Runs started from
	// outside the app (the webhook, the event API) leave it 0, and the run's
	// first step makes the row.
	ExecutionID int64 `json:"execution_id,omitempty"`
	// Source says who asked: "manual", "webhook", or "" for the event API.
	Source string `json:"source,omitempty"`
}

// node is one node of a workflow; each is a step of the run.
type node struct {
	ID    string
	Label string
}

// nodes are the nodes every workflow runs, in order.
var nodes = []node{
	{"fetching", "Fetch the episode"},
	{"transcribing", "Transcribe it"},
	{"sending-to-ai", "Ask the AI for a summary"},
	{"saving", "Save the result"},
}

// The realtime topics an execution's channel carries.
const (
	topicNode   = "status" // nodeStatus, durable: one per node start and end
	topicTokens = "tokens" // tokenChunk, live only: the AI's answer as it streams
	topicResult = "result" // resultMessage, durable: the saved result
)

// nodeStatus is a message on topicNode.
type nodeStatus struct {
	Node   string `json:"node"`
	Status string `json:"status"` // running or done
	Detail string `json:"detail,omitempty"`
}

// tokenChunk is a message on topicTokens.
type tokenChunk struct {
	Token string `json:"token"`
}

// resultMessage is a message on topicResult.
type resultMessage struct {
	ExecutionID int64  `json:"execution_id"`
	Result      string `json:"result"`
}

// executionChannel is the realtime channel of one execution: the page of
// that execution subscribes to it, with a token for it alone.
func executionChannel(id int64) string { return fmt.Sprintf("execution-%d", id) }

// runWorkflow returns the durable function's handler. Each node is a step:
// once done, its result is stored, and a retry or a restart of the process
// resumes after the last finished node. Before and after each node the run
// publishes the node's status durably (flow.Publish is a step too, so a
// retry never sends it twice); while "sending-to-ai" works, it streams the
// answer's words with flow.PublishLive, which stores nothing.
//
// nodeDelay is how long each simulated node takes.
func runWorkflow(nodeDelay time.Duration) func(context.Context, flow.Input[runRequest]) (any, error) {
	return func(ctx context.Context, in flow.Input[runRequest]) (any, error) {
		req := in.Event.Data
		execID, err := flow.StepTx(ctx, "begin", func(ctx context.Context, tx pgx.Tx) (int64, error) {
			return beginExecution(ctx, tx, req, in.RunID)
		})
		if err != nil {
			return nil, err
		}
		wf, err := flow.StepTx(ctx, "load-workflow", func(ctx context.Context, tx pgx.Tx) (workflow, error) {
			wf, err := getWorkflow(ctx, tx, req.WorkflowID)
			if errors.Is(err, errNoRow) {
				return wf, flow.NonRetriable(err) // it will not appear by retrying
			}
			return wf, err
		})
		if err != nil {
			return nil, err
		}
		channel := executionChannel(execID)

		// Each node's work, given the previous node's output.
		work := map[string]func(ctx context.Context, prev string) (string, error){
			"fetching": func(ctx context.Context, _ string) (string, error) {
				return fmt.Sprintf("audio of %q (%d MB)", wf.Episode, 20+len(wf.Episode)), pause(ctx, nodeDelay)
			},
			"transcribing": func(ctx context.Context, _ string) (string, error) {
				return fmt.Sprintf("transcript of %q: %d words", wf.Episode, 1000+40*len(wf.Episode)), pause(ctx, nodeDelay)
			},
			"sending-to-ai": func(ctx context.Context, _ string) (string, error) {
				return streamSummary(ctx, channel, summaryOf(wf), nodeDelay)
			},
			"saving": func(ctx context.Context, prev string) (string, error) {
				return prev, nil
			},
		}

		out := ""
		for _, n := range nodes {
			if err := publishNode(ctx, n.ID+".started", channel, nodeStatus{Node: n.ID, Status: "running"}); err != nil {
				return nil, err
			}
			prev := out
			if n.ID == "saving" {
				// The result goes into the app's row in the step's own
				// transaction: written once, whatever fails afterwards.
				out, err = flow.StepTx(ctx, n.ID, func(ctx context.Context, tx pgx.Tx) (string, error) {
					return prev, finishExecution(ctx, tx, execID, prev)
				})
			} else {
				out, err = flow.Step(ctx, n.ID, func(ctx context.Context) (string, error) {
					return work[n.ID](ctx, prev)
				})
			}
			if err != nil {
				return nil, err
			}
			if err := publishNode(ctx, n.ID+".done", channel, nodeStatus{Node: n.ID, Status: "done", Detail: out}); err != nil {
				return nil, err
			}
		}
		if err := publishResult(ctx, "result", channel, resultMessage{ExecutionID: execID, Result: out}); err != nil {
			return nil, err
		}
		return resultMessage{ExecutionID: execID, Result: out}, nil
	}
}

// markFailed is the function's failure handler: the app's execution row
// says the run failed for good.
func markFailed(pool querier) func(context.Context, flow.Input[flow.RunEnded]) (any, error) {
	return func(ctx context.Context, in flow.Input[flow.RunEnded]) (any, error) {
		return flow.Step(ctx, "mark-failed", func(ctx context.Context) (int64, error) {
			var n int64
			err := pool.QueryRow(ctx, `WITH u AS (UPDATE execution SET status = 'failed', result = $2, finished_at = now()
				WHERE run_id = $1 RETURNING 1) SELECT count(*) FROM u`, in.Event.Data.RunID, in.Event.Data.Error).Scan(&n)
			return n, err
		})
	}
}

// summaryOf is the simulated AI's answer for a workflow.
func summaryOf(wf workflow) string {
	return fmt.Sprintf("Summary of %s: three points, one decision, no action items.", wf.Episode)
}

// streamSummary publishes the summary word by word, live, over about d, as
// a model streams its tokens, and returns it whole.
func streamSummary(ctx context.Context, channel, summary string, d time.Duration) (string, error) {
	words := strings.SplitAfter(summary, " ")
	for _, w := range words {
		if err := publishToken(ctx, channel, w); err != nil {
			return "", err
		}
		if err := pause(ctx, d/time.Duration(len(words))); err != nil {
			return "", err
		}
	}
	return summary, nil
}

// pause is the simulated work: it waits d, or until ctx ends.
func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
