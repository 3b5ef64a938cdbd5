package store_test

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverflow/flow/flowtest"
	"github.com/riverflow/flow/internal/store"
)

// BenchmarkSaveStep stores completed steps through the group commit: one
// segment at a time (each step its own commit), and many at once (steps
// share commits).
func BenchmarkSaveStep(b *testing.B) {
	ctx := context.Background()
	pool := flowtest.Pool(b)
	st := store.New(pool, time.Minute)
	bundle := &testBundle{ctx: ctx, pool: pool, store: st}
	newClaimed := func(i int) store.RunRef {
		run := bundle.newRun(b, fmt.Sprint("bench/save-", i))
		bundle.claim(b, run)
		return run
	}
	out := []byte(`{"ok":true}`)

	b.Run("serial", func(b *testing.B) {
		run := newClaimed(0)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			now := time.Now()
			r := store.StepRecord{ID: fmt.Sprint("s", i), Seq: int32(i), Kind: "run", Status: "completed", Attempts: 1, Output: out, StartedAt: now, EndedAt: &now}
			if _, err := st.SaveStep(ctx, run, r); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("parallel", func(b *testing.B) {
		const parallelism = 4
		b.SetParallelism(parallelism)
		claimed := make([]store.RunRef, parallelism*runtime.GOMAXPROCS(0))
		for i := range claimed {
			claimed[i] = newClaimed(i + 1)
		}
		var next atomic.Int32
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			run := claimed[next.Add(1)-1]
			i := 0
			for pb.Next() {
				now := time.Now()
				r := store.StepRecord{ID: fmt.Sprint("s", i), Seq: int32(i), Kind: "run", Status: "completed", Attempts: 1, Output: out, StartedAt: now, EndedAt: &now}
				if _, err := st.SaveStep(ctx, run, r); err != nil {
					b.Error(err)
					return
				}
				i++
			}
		})
	})
}
