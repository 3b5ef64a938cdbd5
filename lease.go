package flow

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
type leaseSet struct {
	mu  sync.Mutex
	ids map[string]int
}

func newLeaseSet() *leaseSet { return &leaseSet{ids: map[string]int{}} }

func (l *leaseSet) add(id string) {
	l.mu.Lock()
	l.ids[id]++
	l.mu.Unlock()
}

func (l *leaseSet) remove(id string) {
	l.mu.Lock()
	if l.ids[id]--; l.ids[id] <= 0 {
		delete(l.ids, id)
	}
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

// renewLeases keeps the leases of this client's executing runs alive, every
// LeaseTTL/3, however long their steps take.
func (c *Client) renewLeases(ctx context.Context) {
	ticker := time.NewTicker(c.cfg.LeaseTTL / 3)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		ids := c.leases.list()
		if len(ids) == 0 {
			continue
		}
		if _, err := c.q.RunLeaseRenew(ctx, c.pool, &dbsqlc.RunLeaseRenewParams{
			LeaseTtl: c.cfg.LeaseTTL, IDs: ids, LeaseOwner: &c.cfg.ID,
		}); err != nil && ctx.Err() == nil {
			c.cfg.Logger.WarnContext(ctx, "flow: renew run leases", "error", err, "runs", len(ids))
		}
	}
}

// sweepExpiredLeases hands runs whose executing client stopped renewing its
// lease (it died) to a new job, so that any client resumes them from their
// stored steps. It runs in every started client, every LeaseTTL/2 or so.
func (c *Client) sweepExpiredLeases(ctx context.Context) {
	for {
		d := c.cfg.LeaseTTL/2 + time.Duration(rand.Int64N(int64(c.cfg.LeaseTTL/10)+1))
		select {
		case <-ctx.Done():
			return
		case <-time.After(d):
		}
		if err := c.sweepOnce(ctx); err != nil && ctx.Err() == nil {
			c.cfg.Logger.WarnContext(ctx, "flow: sweep runs with lapsed leases", "error", err)
		}
	}
}

func (c *Client) sweepOnce(ctx context.Context) error {
	// Concurrency slots held by runs that are not running (a claim whose run
	// changed under it).
	if _, err := c.q.SlotFreeDangling(ctx, c.pool); err != nil {
		return fmt.Errorf("free dangling concurrency slots: %w", err)
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
			res, err := c.river.InsertTx(ctx, tx, runArgs{RunID: r.ID, Gen: r.Gen + 1, FunctionID: r.FunctionID, Slots: r.Slotted}, c.insertOpts(time.Time{}))
			if err != nil {
				return err
			}
			if err := c.q.RunTakeover(ctx, tx, &dbsqlc.RunTakeoverParams{JobID: &res.Job.ID, ID: r.ID}); err != nil {
				return err
			}
			if r.Slotted {
				return c.wakeSlotWaiters(ctx, tx, r.ID)
			}
			return nil
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
