package flow

import (
	"context"
	"time"

	"github.com/riverflow/flow/internal/engine"
	"github.com/riverflow/flow/internal/registry"
	"github.com/riverflow/flow/internal/store"
)

// ParseCron exposes the parsing of CronTrigger specs to the package's tests:
// the schedule it returns is the one River's periodic job follows.
var ParseCron = engine.ParseCron

// TakeStepBatch runs the step batcher's choice of its next batch over a
// queue of saves, given as (run ID, step ID) pairs, and returns the pairs of
// the batch and of the rest, in order.
func TakeStepBatch(queue [][2]string) (batch, rest [][2]string) {
	keys := make([]store.StepKey, len(queue))
	for i, p := range queue {
		keys[i] = store.StepKey{RunID: p[0], StepID: p[1]}
	}
	b, r := store.TakeStepBatch(keys)
	pairs := func(ks []store.StepKey) (out [][2]string) {
		for _, k := range ks {
			out = append(out, [2]string{k.RunID, k.StepID})
		}
		return out
	}
	return pairs(b), pairs(r)
}

// MaxStepBatch is how many steps one group commit stores at most.
const MaxStepBatch = store.MaxStepBatch

// StoredStep is what the group step store reports for one step.
type StoredStep struct {
	Gen          int32
	ID           string
	Owned, Saved bool
}

// StoreCompletedSteps stores completed steps of one run through the group
// step store's statement, each for the segment of its gen, as several
// segments of the run in one batch would.
func (c *Client) StoreCompletedSteps(ctx context.Context, runID string, gens []int32, ids []string) ([]StoredStep, error) {
	now := time.Now()
	steps := make([]store.CompletedStep, len(ids))
	for i := range ids {
		steps[i] = store.CompletedStep{Run: store.RunRef{ID: runID, Gen: gens[i]}, ID: ids[i], Kind: "run",
			Seq: int32(100 + i), Attempts: 1, Output: []byte(`"stored"`), StartedAt: now, EndedAt: now}
	}
	rows, err := c.store.SaveCompletedSteps(ctx, steps)
	var out []StoredStep
	for _, r := range rows {
		out = append(out, StoredStep{Gen: r.Gen, ID: r.ID, Owned: r.Owned, Saved: r.Saved})
	}
	return out, err
}

// StoredConfig is what the function registry stores in flow_function.config
// for a function created with opts.
func StoredConfig(opts FunctionOpts) []byte { return registry.Encode(controlOf(opts)) }
