package store_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow/internal/store"
)

// The group commit never puts two saves of one step of one run in one
// statement: the second waits for the next batch, and the rest keep their
// order. A batch holds at most MaxStepBatch saves.
func TestTakeStepBatch(t *testing.T) {
	t.Parallel()
	k := func(run, step string) store.StepKey { return store.StepKey{RunID: run, StepID: step} }
	batch, rest := store.TakeStepBatch([]store.StepKey{
		k("r1", "a"), k("r2", "a"), k("r1", "a"), k("r1", "b"), k("r2", "a"), k("r3", "a"),
	})
	require.Equal(t, []store.StepKey{k("r1", "a"), k("r2", "a"), k("r1", "b"), k("r3", "a")}, batch)
	require.Equal(t, []store.StepKey{k("r1", "a"), k("r2", "a")}, rest)

	var queue []store.StepKey
	for i := range store.MaxStepBatch + 3 {
		queue = append(queue, k(fmt.Sprint("r", i), "a"))
	}
	batch, rest = store.TakeStepBatch(queue)
	require.Equal(t, queue[:store.MaxStepBatch], batch)
	require.Equal(t, queue[store.MaxStepBatch:], rest)
}

// One statement of the group commit fences each step by its segment's gen:
// a stale segment's step is not stored, beside the owner's.
func TestSaveCompletedStepsFencesEachGen(t *testing.T) {
	t.Parallel()
	b := setup(t)
	run := b.newRun(t, "group/gen")
	b.claim(t, run)
	stale := store.RunRef{ID: run.ID, Gen: run.Gen - 1}
	now := time.Now()
	step := func(r store.RunRef, id string) store.CompletedStep {
		return store.CompletedStep{Run: r, ID: id, Kind: "run", Seq: 1, Attempts: 1, Output: []byte(`"stored"`), StartedAt: now, EndedAt: now}
	}
	got, err := b.store.SaveCompletedSteps(b.ctx, []store.CompletedStep{step(stale, "x"), step(run, "y"), step(stale, "z"), step(run, "z")})
	require.NoError(t, err)
	require.ElementsMatch(t, []store.SavedStep{
		{RunID: run.ID, Gen: stale.Gen, ID: "x"},
		{RunID: run.ID, Gen: run.Gen, ID: "y", Owned: true, Saved: true},
		{RunID: run.ID, Gen: stale.Gen, ID: "z"},
		{RunID: run.ID, Gen: run.Gen, ID: "z", Owned: true, Saved: true},
	}, got)
	steps, err := b.store.ListSteps(b.ctx, run.ID)
	require.NoError(t, err)
	var ids []string
	for _, st := range steps {
		ids = append(ids, st.ID)
	}
	require.ElementsMatch(t, []string{"y", "z"}, ids)
}

// Steps saved at once by many segments, some of them two segments of one
// run (the stale one loses), each get their own outcome.
func TestSaveStepGroupedConcurrently(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const runs, steps = 4, 25
	refs := make([]store.RunRef, runs)
	for i := range refs {
		refs[i] = b.newRun(t, fmt.Sprint("group/concurrent-", i))
		b.claim(t, refs[i])
	}
	type result struct {
		stale bool
		out   store.SaveOutcome
		err   error
	}
	results := make(chan result, runs*steps*2)
	var wg sync.WaitGroup
	for _, run := range refs {
		for j := range steps {
			for _, stale := range []bool{false, true} {
				wg.Go(func() {
					r := run
					if stale {
						r.Gen++
					}
					out, err := b.store.SaveStep(b.ctx, r, completed(fmt.Sprint("s", j), int32(j), `1`))
					results <- result{stale: stale, out: out, err: err}
				})
			}
		}
	}
	wg.Wait()
	close(results)
	for res := range results {
		require.NoError(t, res.err)
		if res.stale {
			require.Equal(t, store.SaveLost, res.out)
		} else {
			require.Equal(t, store.SaveStored, res.out)
		}
	}
	for _, run := range refs {
		stored, err := b.store.ListSteps(b.ctx, run.ID)
		require.NoError(t, err)
		require.Len(t, stored, steps)
	}
}

// A step whose row the database refuses for good fails alone, whatever
// steps share its group statement: the group falls back to one statement
// per step. (Many saves at once, so that groups of several form.)
func TestSaveStepGroupedRefusedRowFailsAlone(t *testing.T) {
	t.Parallel()
	b := setup(t)
	run := b.newRun(t, "group/fallback")
	b.claim(t, run)
	var wg sync.WaitGroup
	const saves = 64
	bad := func(i int) bool { return i%16 == 3 }
	errs := make([]error, saves)
	outs := make([]store.SaveOutcome, saves)
	for i := range errs {
		out := `"ok"`
		if bad(i) {
			out = `"\u0000"` // jsonb cannot hold a NUL character
		}
		wg.Go(func() { outs[i], errs[i] = b.store.SaveStep(b.ctx, run, completed(fmt.Sprint("s", i), int32(i), out)) })
	}
	wg.Wait()
	for i, err := range errs {
		if bad(i) {
			require.Error(t, err, "the refused row of step %d", i)
			continue
		}
		require.NoError(t, err, "step %d", i)
		require.Equal(t, store.SaveStored, outs[i])
	}
	stored, err := b.store.ListSteps(b.ctx, run.ID)
	require.NoError(t, err)
	require.Len(t, stored, saves-4)
}
