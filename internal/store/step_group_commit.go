package store

import (
	"context"
	"sync"
	"time"

	"github.com/riverflow/flow/internal/dberr"
	"github.com/riverflow/flow/internal/dbsqlc"
)

// groupCommit stores the completed steps of the runs a client executes in
// groups: while one group's statement is in flight, the steps completed
// meanwhile gather and go together in the next. Each step still returns to
// its function only once its row has committed, so the durability of a step
// is unchanged; what is shared is the statement and the commit (group commit
// across runs). A lone step goes at once, with no added wait.
//
// It was the root package's stepBatcher before the engine moved, now keyed by RunRef
// instead of the segment.
type groupCommit struct {
	s *Store

	mu      sync.Mutex
	queue   []*stepSave
	running int // flushing goroutines, at most maxStepFlushers
}

type stepSave struct {
	run  RunRef
	r    StepRecord
	done chan stepSaved
}

type stepSaved struct {
	out SaveOutcome
	err error
}

// MaxStepBatch is how many steps one group commit stores at most.
const MaxStepBatch = 256

// maxStepFlushers bounds the group statements in flight at once.
const maxStepFlushers = 4

// save stores a completed step of run and waits for its commit.
func (b *groupCommit) save(run RunRef, r StepRecord) (SaveOutcome, error) {
	req := &stepSave{run: run, r: r, done: make(chan stepSaved, 1)}
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

func (b *groupCommit) loop() {
	for {
		b.mu.Lock()
		if len(b.queue) == 0 {
			b.running--
			b.mu.Unlock()
			return
		}
		var batch []*stepSave
		batch, b.queue = takeStepBatch(b.queue, saveKey)
		b.mu.Unlock()
		b.flush(batch)
	}
}

// StepKey names one step of one run.
type StepKey struct {
	RunID  string
	StepID string
}

// savedKey names one step of one segment's run: the outcome of a save is
// the segment's (its gen's).
type savedKey struct {
	runID string
	gen   int32
	id    string
}

func saveKey(req *stepSave) StepKey { return StepKey{RunID: req.run.ID, StepID: req.r.ID} }

// TakeStepBatch splits a queue of step saves into the next batch of the
// group commit and the rest, in queue order: see takeStepBatch.
func TakeStepBatch(queue []StepKey) (batch, rest []StepKey) {
	return takeStepBatch(queue, func(k StepKey) StepKey { return k })
}

// takeStepBatch splits queue into the next batch, up to MaxStepBatch saves
// in queue order, and the rest. A batch never holds two saves of one step of
// one run (a segment that lost its run and the one that took it over, both
// in this process): one statement cannot write a row twice, and the whole
// batch would fail. The second waits for the next batch.
func takeStepBatch[T any](queue []T, key func(T) StepKey) (batch, rest []T) {
	seen := make(map[StepKey]bool, min(len(queue), MaxStepBatch))
	for _, req := range queue {
		k := key(req)
		if len(batch) == MaxStepBatch || seen[k] {
			rest = append(rest, req)
			continue
		}
		seen[k] = true
		batch = append(batch, req)
	}
	return batch, rest
}

func (b *groupCommit) flush(batch []*stepSave) {
	p := &dbsqlc.StepSaveCompletedManyParams{LeaseTtl: b.s.leaseTTL}
	for _, req := range batch {
		r := req.r
		p.RunIds = append(p.RunIds, req.run.ID)
		p.Gens = append(p.Gens, req.run.Gen)
		p.IDs = append(p.IDs, r.ID)
		p.Seqs = append(p.Seqs, r.Seq)
		p.Kinds = append(p.Kinds, r.Kind)
		p.Attempts = append(p.Attempts, r.Attempts)
		p.Outputs = append(p.Outputs, r.Output)
		p.StartedAts = append(p.StartedAts, r.StartedAt)
		p.EndedAts = append(p.EndedAts, *r.EndedAt)
	}
	// A statement that hangs must not hold its segments forever: past this,
	// they end interrupted and the run's lease hands it on.
	ctx, cancel := context.WithTimeout(context.Background(), max(b.s.leaseTTL, time.Minute))
	defer cancel()
	rows, err := b.s.q.StepSaveCompletedMany(ctx, b.s.pool, p)
	if err != nil && len(batch) > 1 && dberr.IsPermanent(err) {
		// One step's row is refused (say, a result jsonb cannot hold): store
		// each on its own, so that only that step fails.
		for _, req := range batch {
			b.flush([]*stepSave{req})
		}
		return
	}
	outs := make(map[savedKey]SaveOutcome, len(rows))
	for _, row := range rows {
		k := savedKey{row.RunID, row.Gen, row.ID}
		switch {
		case !row.Owned:
			outs[k] = SaveLost
		case !row.Saved:
			outs[k] = SaveRefused
		case row.Paused:
			outs[k] = SavePaused
		default:
			outs[k] = SaveStored
		}
	}
	for _, req := range batch {
		out, ok := outs[savedKey{req.run.ID, req.run.Gen, req.r.ID}]
		if !ok && err == nil {
			out = SaveLost
		}
		req.done <- stepSaved{out: out, err: err}
	}
}

// CompletedStep is a completed step to store for the segment of Run.
type CompletedStep struct {
	Run       RunRef
	ID        string
	Kind      string
	Seq       int32
	Attempts  int32
	Output    []byte
	StartedAt time.Time
	EndedAt   time.Time
}

// SavedStep is what became of one step of SaveCompletedSteps: Owned false,
// its segment lost the run; Saved false (with Owned), the step already has a
// final row, left as it is.
type SavedStep struct {
	RunID string
	Gen   int32
	ID    string
	Owned bool
	Saved bool
}

// SaveCompletedSteps stores completed steps, of one run or several, in the
// one statement the group commit uses, each if the segment of its gen still
// owns its run; it returns one SavedStep per step. Tests use it to reach
// the statement with the batches they need.
func (s *Store) SaveCompletedSteps(ctx context.Context, steps []CompletedStep) ([]SavedStep, error) {
	p := &dbsqlc.StepSaveCompletedManyParams{LeaseTtl: s.leaseTTL}
	for _, st := range steps {
		p.RunIds = append(p.RunIds, st.Run.ID)
		p.Gens = append(p.Gens, st.Run.Gen)
		p.IDs = append(p.IDs, st.ID)
		p.Seqs = append(p.Seqs, st.Seq)
		p.Kinds = append(p.Kinds, st.Kind)
		p.Attempts = append(p.Attempts, st.Attempts)
		p.Outputs = append(p.Outputs, st.Output)
		p.StartedAts = append(p.StartedAts, st.StartedAt)
		p.EndedAts = append(p.EndedAts, st.EndedAt)
	}
	rows, err := s.q.StepSaveCompletedMany(ctx, s.pool, p)
	if err != nil {
		return nil, err
	}
	out := make([]SavedStep, len(rows))
	for i, r := range rows {
		out[i] = SavedStep{RunID: r.RunID, Gen: r.Gen, ID: r.ID, Owned: r.Owned, Saved: r.Saved}
	}
	return out, nil
}
