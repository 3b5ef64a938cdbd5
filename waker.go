package flow

import (
	"context"
	"sync"
	"time"
)

// waker makes suspended runs runnable when their wake time comes, on time:
// River's own scheduler only promotes scheduled jobs every 5 seconds, so a
// durable sleep would otherwise wake seconds late. It keeps no per-run state
// (its memory does not grow with sleepers): it waits until the earliest wake
// time, which it reads from the database and is told of by this client's
// suspends, then wakes every due run in one statement.
type waker struct {
	c    *Client
	mu   sync.Mutex
	next time.Time
	kick chan struct{}
}

func newWaker(c *Client) *waker { return &waker{c: c, kick: make(chan struct{}, 1)} }

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

func (w *waker) run(ctx context.Context) {
	const minGap = 2 * time.Millisecond // guards against a database clock a little behind ours
	for ctx.Err() == nil {
		w.wakeDue(ctx)
		now := time.Now()
		deadline := now.Add(w.c.cfg.WakePollInterval)
		if next, err := w.c.q.RunNextWake(ctx, w.c.pool); err == nil && next != nil && next.Before(deadline) {
			deadline = *next
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

func (w *waker) wakeDue(ctx context.Context) {
	const batch = 500
	for ctx.Err() == nil {
		row, err := w.c.q.RunWakeDue(ctx, w.c.pool, batch)
		if err != nil {
			if ctx.Err() == nil {
				w.c.cfg.Logger.WarnContext(ctx, "flow: wake due runs", "error", err)
			}
			return
		}
		if row.Woken < batch {
			return
		}
	}
}
