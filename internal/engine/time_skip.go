package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/riverflow/flow/internal/store"
)

// idlePoll is how often Advance looks whether the runs it woke have
// suspended again or ended.
const idlePoll = 5 * time.Millisecond

// Advance skips time for every run in the engine's database (flowtest.Advance,
// the only caller): the sleeps, wait and invoke timeouts, retries, delayed
// starts and finish deadlines due within d fire now, in due order, as if d
// had passed, and every later due time comes d closer.
//
// It moves time in hops: each hop waits until no run executes or is ready
// to, then moves every stored due time earlier by the time to the earliest
// one (so that it is due now) and wakes the runs due. A run woken by one hop
// executes, and stores its next sleep or wait, before the next hop: a 24 h
// sleep followed by a 72 h wait both fire within Advance(96 h). Once no due
// time is left within d, the last hop moves the rest of d and Advance
// returns, with no run executing or ready to. Nothing runs in the
// background: time moves only while Advance is called.
//
// The engine must be started (it executes the runs it wakes); ctx bounds
// the waits for runs to settle.
func (c *Engine) Advance(ctx context.Context, d time.Duration) error {
	if d < 0 {
		return fmt.Errorf("flow: Advance: negative duration %s: time only moves forward", d)
	}
	if !c.running() {
		return errors.New("flow: Advance: client not started: start it first (flowtest.Client returns a started client), so that it executes the runs that skipping time wakes")
	}
	remaining := d
	for {
		if err := c.awaitIdle(ctx); err != nil {
			return err
		}
		next, err := c.store.NextWake(ctx)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("flow: Advance: read the next wake time: %w", err)
		}
		if next == nil || time.Until(*next) > remaining {
			if remaining > 0 {
				if _, err := c.store.ShiftDueTimes(ctx, remaining); err != nil {
					return fmt.Errorf("flow: Advance: move due times by %s: %w", remaining, err)
				}
			}
			return nil
		}
		if hop := time.Until(*next); hop > 0 {
			if _, err := c.store.ShiftDueTimes(ctx, hop); err != nil {
				return fmt.Errorf("flow: Advance: move due times by %s: %w", hop, err)
			}
			remaining -= hop
		}
		if err := c.waker.wakeDue(ctx); err != nil {
			return fmt.Errorf("flow: Advance: wake due runs: %w", err)
		}
	}
}

// running reports whether the engine was started and not stopped.
func (c *Engine) running() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stop != nil
}

// awaitIdle waits until no run in the database executes or is ready to
// (see store.ListBusyRuns): time must not move under a run that is
// computing its next wake time. When ctx ends first, the error names the
// runs last seen busy.
func (c *Engine) awaitIdle(ctx context.Context) error {
	tick := time.NewTicker(idlePoll)
	defer tick.Stop()
	var busy []store.BusyRun
	for {
		list, err := c.store.ListBusyRuns(ctx, 5)
		switch {
		case err != nil && ctx.Err() == nil:
			return fmt.Errorf("flow: Advance: list executing runs: %w", err)
		case err == nil && len(list) == 0:
			return nil
		case err == nil:
			busy = list
		}
		select {
		case <-ctx.Done():
			if len(busy) == 0 {
				return fmt.Errorf("flow: Advance: %w", context.Cause(ctx))
			}
			names := make([]string, len(busy))
			for i, r := range busy {
				names[i] = fmt.Sprintf("%s (function %q, %s)", r.ID, r.FunctionID, r.Status)
			}
			return fmt.Errorf("flow: Advance: runs still executing or ready to execute: %s: time moves only once no run executes; is each function defined on a started client? (%w)",
				strings.Join(names, ", "), context.Cause(ctx))
		case <-tick.C:
		}
	}
}
