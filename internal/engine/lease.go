package engine

import (
	"context"
	"sync"
	"time"
)

// leaseSet holds the runs this client is executing, whose leases it renews.
// It is also the process's lock on each run: a segment enters it before it
// claims its run, and the resumer (resumer.go) hands a run on only while no
// segment of it is here, keeping new ones out meanwhile.
type leaseSet struct {
	mu       sync.Mutex
	ids      map[string]int
	resuming map[string]bool
}

func newLeaseSet() *leaseSet {
	return &leaseSet{ids: map[string]int{}, resuming: map[string]bool{}}
}

// enter records a segment of run id that is about to claim its run. It
// returns false, recording nothing, while the resumer hands the run on.
func (l *leaseSet) enter(id string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.resuming[id] {
		return false
	}
	l.ids[id]++
	return true
}

func (l *leaseSet) remove(id string) {
	l.mu.Lock()
	if l.ids[id]--; l.ids[id] <= 0 {
		delete(l.ids, id)
	}
	l.mu.Unlock()
}

// reserve reports whether no segment of run id executes in this process, and
// if so keeps new ones out (enter fails) until release.
func (l *leaseSet) reserve(id string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ids[id] > 0 || l.resuming[id] {
		return false
	}
	l.resuming[id] = true
	return true
}

func (l *leaseSet) release(id string) {
	l.mu.Lock()
	delete(l.resuming, id)
	l.mu.Unlock()
}

func (l *leaseSet) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, 0, len(l.ids))
	for id := range l.ids {
		out = append(out, id)
	}
	return out
}

// leaseRetryMin is the first delay before a lease renewal or a sweep that
// the database failed is tried again; the delay doubles up to the loop's
// usual period. A brief outage then costs no lease.
const leaseRetryMin = 50 * time.Millisecond

// renewLeases keeps the leases of this client's executing runs alive, every
// LeaseTTL/3, however long their steps take; soon again after a database
// error. A run whose row another transaction holds (a StepTx in progress) is
// skipped, not waited for: the statement holding it sets the lease as it
// commits, and the next renewal tries again (RunLeaseRenew).
func (c *Engine) renewLeases(ctx context.Context) {
	period := c.cfg.LeaseTTL / 3
	wait, backoff := period, leaseRetryMin
	for {
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		wait = period
		ids := c.leases.list()
		if len(ids) == 0 {
			continue
		}
		_, err := c.store.RenewLeases(ctx, c.cfg.ID, ids)
		switch {
		case err == nil:
			backoff = leaseRetryMin
		case ctx.Err() == nil:
			c.cfg.Logger.WarnContext(ctx, "flow: renew run leases; retrying", "error", err, "runs", len(ids), "retry_in", backoff)
			wait, backoff = backoff, min(backoff*2, period)
		}
	}
}
