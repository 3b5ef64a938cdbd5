//go:build !flow_sendwithruns

package main

// A stand-in until flow's SendWithRunsTx lands on main (build with
// -tags flow_sendwithruns against it). Delete this file, and the build line
// of send.go, once it has.

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/riverflow/flow"
)

// sendRun sends the event without learning its run; the run's first step
// records itself on the execution row.
func sendRun(ctx context.Context, c *flow.Client, tx pgx.Tx, req runRequest) (string, error) {
	_, err := c.SendTx(ctx, tx, flow.Event{Name: runEvent, Data: req})
	return "", err
}
