package engine

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// waker makes suspended runs runnable when their wake time comes, on time:
// River's own scheduler only promotes scheduled jobs every 5 seconds, so a
// durable sleep would otherwise wake seconds late. It keeps no per-run state
// (its memory does not grow with sleepers): it waits until the earliest wake
// time, which it reads from the database and is told of (wakeAt) by this
// client's writes that set one (suspends, delayed or debounced starts, runs
// claimed early), then wakes every due run, up to 500 a statement.
type waker struct {
	c    *Engine
	mu   sync.Mutex
	next time.Time
	kick chan struct{}
}

func newWaker(c *Engine) *waker { return &waker{c: c, kick: make(chan struct{}, 1)} }

// wakeAt tells the waker that a run is due at t.
func (w *waker) wakeAt(t time.Time) {
	w.mu.Lock()
	if w.next.IsZero() || t.Before(w.next) {
		w.next = t
	}
	w.mu.Unlock()
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// Backoff of the waker while the database does not answer: it tries again
// soon (a wake-up due meanwhile must not wait a whole WakePollInterval),
// then less often, up to WakePollInterval.
const wakeRetryMin = 20 * time.Millisecond

func (w *waker) run(ctx context.Context) {
	const minGap = 2 * time.Millisecond // guards against a database clock a little behind ours
	backoff := wakeRetryMin
	for ctx.Err() == nil {
		now := time.Now()
		deadline := now.Add(w.c.cfg.WakePollInterval)
		err := w.wakeDue(ctx)
		if err == nil {
			var next *time.Time
			next, err = w.c.store.NextWake(ctx)
			switch {
			case errors.Is(err, pgx.ErrNoRows):
				err = nil // no run sleeps
			case err == nil && next != nil && next.Before(deadline):
				deadline = *next
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			w.c.cfg.Logger.WarnContext(ctx, "flow: wake due runs; retrying", "error", err, "retry_in", backoff)
			deadline = now.Add(backoff)
			backoff = min(backoff*2, w.c.cfg.WakePollInterval)
		} else {
			backoff = wakeRetryMin
		}
		deadline = maxTime(deadline, now.Add(minGap))
		for waiting := true; waiting; {
			timer := time.NewTimer(time.Until(deadline))
			select {
			case <-ctx.Done():
				timer.Stop()
				return
			case <-timer.C:
				waiting = false
			case <-w.kick:
				timer.Stop()
				w.mu.Lock()
				t := w.next
				w.next = time.Time{}
				w.mu.Unlock()
				if !t.IsZero() && t.Before(deadline) {
					deadline = maxTime(t, time.Now().Add(minGap))
				}
			}
		}
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// wakeDue wakes every run that is due, in batches.
func (w *waker) wakeDue(ctx context.Context) error {
	const batch = 500
	for ctx.Err() == nil {
		woken, err := w.c.store.WakeDueRuns(ctx, batch)
		if err != nil {
			return err
		}
		if m := w.c.metrics; m != nil {
			for i, fn := range woken.FunctionIDs {
				m.wakeLate(fn, woken.Late[i])
			}
		}
		if woken.Woken < batch {
			return nil
		}
	}
	return nil
}
