package flow

import (
	"context"
	"time"

	"github.com/riverflow/flow/internal/dbsqlc"
	"github.com/riverflow/flow/internal/registry"
)

// ParseCron exposes the parsing of CronTrigger specs to the package's tests:
// the schedule it returns is the one River's periodic job follows.
var ParseCron = parseCron

// TakeStepBatch runs the step batcher's choice of its next batch over a
// queue of saves, given as (run ID, step ID) pairs, and returns the pairs of
// the batch and of the rest, in order.
func TakeStepBatch(queue [][2]string) (batch, rest [][2]string) {
	saves := make([]*stepSave, len(queue))
	for i, p := range queue {
		saves[i] = &stepSave{s: &segment{run: &dbsqlc.RunStartRow{ID: p[0]}}, r: stepRecord{id: p[1]}}
	}
	b, r := takeStepBatch(saves)
	pairs := func(ss []*stepSave) (out [][2]string) {
		for _, s := range ss {
			out = append(out, [2]string{s.s.run.ID, s.r.id})
		}
		return out
	}
	return pairs(b), pairs(r)
}

// MaxStepBatch is how many steps one group commit stores at most.
const MaxStepBatch = maxStepBatch

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
	p := &dbsqlc.StepSaveCompletedManyParams{LeaseTtl: c.cfg.LeaseTTL}
	now := time.Now()
	for i := range ids {
		p.RunIds = append(p.RunIds, runID)
		p.Gens = append(p.Gens, gens[i])
		p.IDs = append(p.IDs, ids[i])
		p.Seqs = append(p.Seqs, int32(100+i))
		p.Kinds = append(p.Kinds, kindRun)
		p.Attempts = append(p.Attempts, 1)
		p.Outputs = append(p.Outputs, []byte(`"stored"`))
		p.StartedAts = append(p.StartedAts, now)
		p.EndedAts = append(p.EndedAts, now)
	}
	rows, err := c.q.StepSaveCompletedMany(ctx, c.pool, p)
	var out []StoredStep
	for _, r := range rows {
		out = append(out, StoredStep{Gen: r.Gen, ID: r.ID, Owned: r.Owned, Saved: r.Saved})
	}
	return out, err
}

// StoredConfig is what the function registry stores in flow_function.config
// for a function created with opts.
func StoredConfig(opts FunctionOpts) []byte { return registry.Encode(controlOf(opts)) }
