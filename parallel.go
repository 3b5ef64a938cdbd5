package flow

import (
	"context"
	"fmt"
	"strconv"
	"sync"

	"github.com/riverflow/flow/internal/engine"
)

// Parallel runs fns concurrently, each in its own goroutine with its own
// branch of the run, and returns their results in order once all have
// returned. Steps in different branches run concurrently; when a step of one
// branch pauses (a sleep, a wait, a retry), the other branches go on, and the
// run resumes once its earliest pause ends. Give the steps of different
// branches distinct IDs: repeats of one ID are numbered in call order, which
// concurrent branches do not fix.
//
// If any branch paused, Parallel returns the pause error, which the function
// must return unchanged; otherwise it returns the first branch error in
// branch order (nil if none), with every result.
func Parallel[T any](ctx context.Context, fns ...func(ctx context.Context) (T, error)) ([]T, error) {
	parent := engine.BranchOf(ctx)
	results := make([]T, len(fns))
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	for i, fn := range fns {
		b := strconv.Itoa(i)
		if parent != "" {
			b = parent + "." + b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if r := recover(); r != nil {
					errs[i] = panicError(r)
				}
			}()
			results[i], errs[i] = fn(engine.WithBranch(ctx, b))
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if IsSuspend(err) {
			return results, err
		}
	}
	for _, err := range errs {
		if err != nil {
			return results, err
		}
	}
	return results, nil
}

// panicError turns a panic in a Parallel branch into the branch's error, as
// a panic in a handler fails the attempt instead of the process.
func panicError(r any) error {
	return fmt.Errorf("flow: Parallel branch panicked: %v", r)
}
