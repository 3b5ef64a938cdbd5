package main

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/riverflow/flow"
)

// sendRun sends runEvent for req in tx and returns the ID of the run it
// starts (once tx commits).
func sendRun(ctx context.Context, c *flow.Client, tx pgx.Tx, req runRequest) (string, error) {
	sent, err := c.SendWithRunsTx(ctx, tx, flow.Event{Name: runEvent, Data: req})
	if err != nil {
		return "", err
	}
	if len(sent) != 1 || len(sent[0].RunIDs) != 1 {
		return "", fmt.Errorf("workflows: event %s started %v runs, want one", runEvent, sent)
	}
	return sent[0].RunIDs[0], nil
}
