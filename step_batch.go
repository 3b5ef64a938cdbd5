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
		n := min(len(b.queue), maxStepBatch)
		if n == 0 {
			b.running--
			b.mu.Unlock()
			return
		}
		batch := b.queue[:n:n]
		b.queue = b.queue[n:]
		b.mu.Unlock()
		b.flush(batch)
	}
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
	outs := make(map[[2]string]saveOutcome, len(rows))
	for _, row := range rows {
		switch {
		case !row.Owned:
			outs[[2]string{row.RunID, row.ID}] = saveLost
		case !row.Saved:
			outs[[2]string{row.RunID, row.ID}] = saveRefused
		default:
			outs[[2]string{row.RunID, row.ID}] = saveStored
		}
	}
	for _, req := range batch {
		out, ok := outs[[2]string{req.s.run.ID, req.r.id}]
		if !ok && err == nil {
			out = saveLost
		}
		req.done <- stepSaved{out: out, err: err}
	}
}
