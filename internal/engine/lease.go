package engine

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/riverflow/flow/internal/dbsqlc"
)

// leaseSet holds the runs this client is executing, whose leases it renews.
// It is also the process's lock on each run: a segment enters it before it
// claims its run, and the resumer (resume.go) hands a run on only while no
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
		_, err := c.q.RunLeaseRenew(ctx, c.pool, &dbsqlc.RunLeaseRenewParams{
			LeaseTtl: c.cfg.LeaseTTL, IDs: ids, LeaseOwner: &c.cfg.ID,
		})
		switch {
		case err == nil:
			backoff = leaseRetryMin
		case ctx.Err() == nil:
			c.cfg.Logger.WarnContext(ctx, "flow: renew run leases; retrying", "error", err, "runs", len(ids), "retry_in", backoff)
			wait, backoff = backoff, min(backoff*2, period)
		}
	}
}

// sweepExpiredLeases hands runs whose executing client stopped renewing its
// lease (it died) to a new job, so that any client resumes them from their
// stored steps. It runs in every started client, every sweepPeriod (a second
// or LeaseTTL/2, whichever is shorter), so that a dead process's runs go on
// within about LeaseTTL plus a second of its death; soon again after a
// database error. Its statements read only running runs and running jobs,
// which are few whatever the backlog; the slot table's safety net, which
// scans more, runs every LeaseTTL/2.
func (c *Engine) sweepExpiredLeases(ctx context.Context) {
	period := sweepPeriod(c.cfg.LeaseTTL)
	backoff := leaseRetryMin
	var d time.Duration
	var lastSlots time.Time
	for {
		if d == 0 {
			d = period + time.Duration(rand.Int64N(int64(period/10)+1))
		}
		timer := time.NewTimer(d)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		d = 0
		slots := time.Since(lastSlots) >= c.cfg.LeaseTTL/2
		if err := c.sweepOnce(ctx, slots); err != nil && ctx.Err() == nil {
			c.cfg.Logger.WarnContext(ctx, "flow: sweep runs with lapsed leases; retrying", "error", err, "retry_in", backoff)
			d, backoff = backoff, min(backoff*2, period)
		} else {
			backoff = leaseRetryMin
			if slots {
				lastSlots = time.Now()
			}
		}
	}
}

// sweepPeriod is how often a client looks for runs of dead processes.
func sweepPeriod(leaseTTL time.Duration) time.Duration {
	return min(leaseTTL/2, time.Second)
}

func (c *Engine) sweepOnce(ctx context.Context, slots bool) error {
	if slots {
		// Concurrency slots held by runs that are not running (a claim whose
		// run changed under it).
		if err := c.freeDanglingSlots(ctx); err != nil {
			return err
		}
	}
	rows, err := c.q.RunListLeaseExpired(ctx, c.pool, 100)
	if err != nil {
		return err
	}
	for _, r := range rows {
		err := pgx.BeginFunc(ctx, c.pool, func(tx pgx.Tx) error {
			if _, err := c.q.RunLockLeaseExpired(ctx, tx, &dbsqlc.RunLockLeaseExpiredParams{ID: r.ID, Gen: r.Gen}); err != nil {
				return err
			}
			return c.handOn(ctx, tx, r.ID, r.Gen, r.FunctionID, r.Slotted, true)
		})
		if errors.Is(err, pgx.ErrNoRows) {
			continue // renewed, ended, or taken by another sweeper meanwhile
		}
		if err != nil {
			return fmt.Errorf("take over run %s: %w", r.ID, err)
		}
		c.cfg.Logger.WarnContext(ctx, "flow: took over run whose lease lapsed", "run_id", r.ID)
	}
	return c.sweepOrphaned(ctx)
}
