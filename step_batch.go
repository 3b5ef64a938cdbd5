package flow

import (
	"context"
	"sync"
	"time"

	"github.com/riverflow/flow/internal/dbsqlc"
)

// stepBatcher stores the completed steps of the runs a client executes in
// groups: while one group's statement is in flight, the steps completed
// meanwhile gather and go together in the next. Each step still returns to
// its function only once its row has committed, so the durability of a step
// is unchanged; what is shared is the statement and the commit (group commit
// across runs). A lone step goes at once, with no added wait.
type stepBatcher struct {
	c *Client

	mu      sync.Mutex
	queue   []*stepSave
	running int // flushing goroutines, at most maxStepFlushers
}

type stepSave struct {
	s    *segment
	r    stepRecord
	done chan stepSaved
}

type stepSaved struct {
	out saveOutcome
	err error
}

// maxStepBatch bounds one statement's rows; maxStepFlushers the statements
// in flight at once.
const (
	maxStepBatch    = 256
	maxStepFlushers = 4
)

// save stores a completed step of s and waits for its commit.
func (b *stepBatcher) save(s *segment, r stepRecord) (saveOutcome, error) {
	req := &stepSave{s: s, r: r, done: make(chan stepSaved, 1)}
	b.mu.Lock()
	b.queue = append(b.queue, req)
	if b.running < maxStepFlushers {
		b.running++
		go b.loop()
	}
	b.mu.Unlock()
	res := <-req.done
	return res.out, res.err
}

func (b *stepBatcher) loop() {
	for {
		b.mu.Lock()
		if len(b.queue) == 0 {
			b.running--
			b.mu.Unlock()
			return
		}
		var batch []*stepSave
		batch, b.queue = takeStepBatch(b.queue)
		b.mu.Unlock()
		b.flush(batch)
	}
}

// stepKey names one step of one segment's run.
type stepKey struct {
	runID string
	gen   int32
	id    string
}

func (r *stepSave) key() stepKey { return stepKey{r.s.run.ID, r.s.run.Gen, r.r.id} }

// takeStepBatch splits queue into the next batch, up to maxStepBatch saves
// in queue order, and the rest. A batch never holds two saves of one step of
// one run (a segment that lost its run and the one that took it over, both
// in this process): one statement cannot write a row twice, and the whole
// batch would fail. The second waits for the next batch.
func takeStepBatch(queue []*stepSave) (batch, rest []*stepSave) {
	seen := make(map[[2]string]bool, min(len(queue), maxStepBatch))
	for _, req := range queue {
		k := [2]string{req.s.run.ID, req.r.id}
		if len(batch) == maxStepBatch || seen[k] {
			rest = append(rest, req)
			continue
		}
		seen[k] = true
		batch = append(batch, req)
	}
	return batch, rest
}

func (b *stepBatcher) flush(batch []*stepSave) {
	p := &dbsqlc.StepSaveCompletedManyParams{LeaseTtl: b.c.cfg.LeaseTTL}
	for _, req := range batch {
		r := req.r
		p.RunIds = append(p.RunIds, req.s.run.ID)
		p.Gens = append(p.Gens, req.s.run.Gen)
		p.IDs = append(p.IDs, r.id)
		p.Seqs = append(p.Seqs, r.seq)
		p.Kinds = append(p.Kinds, r.kind)
		p.Attempts = append(p.Attempts, r.attempts)
		p.Outputs = append(p.Outputs, r.output)
		p.StartedAts = append(p.StartedAts, r.startedAt)
		p.EndedAts = append(p.EndedAts, *r.endedAt)
	}
	// A statement that hangs must not hold its segments forever: past this,
	// they end interrupted and the run's lease hands it on.
	ctx, cancel := context.WithTimeout(context.Background(), max(b.c.cfg.LeaseTTL, time.Minute))
	defer cancel()
	rows, err := b.c.q.StepSaveCompletedMany(ctx, b.c.pool, p)
	if err != nil && len(batch) > 1 && isPermanentDBError(err) {
		// One step's row is refused (say, a result jsonb cannot hold): store
		// each on its own, so that only that step fails.
		for _, req := range batch {
			b.flush([]*stepSave{req})
		}
		return
	}
	outs := make(map[stepKey]saveOutcome, len(rows))
	for _, row := range rows {
		k := stepKey{row.RunID, row.Gen, row.ID}
		switch {
		case !row.Owned:
			outs[k] = saveLost
		case !row.Saved:
			outs[k] = saveRefused
		default:
			outs[k] = saveStored
		}
	}
	for _, req := range batch {
		out, ok := outs[req.key()]
		if !ok && err == nil {
			out = saveLost
		}
		req.done <- stepSaved{out: out, err: err}
	}
}
