package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/riverflow/flow/internal/store"
)

// resumer hands back to a new job, at once, the runs whose segment (or
// claim) in this process a database error cut off: a killed connection, a
// Postgres restart. Such a run still shows as running on this client's lease
// (or still waits for the job that failed to claim it), and River's retry of
// the failed job comes a second or more later, or never, if River could not
// record the failure; without the resumer the run would wait for its lease
// to lapse and the sweeper to take it over (30 s by default).
//
// The resumer is the sweeper's takeover, done early by the one client that
// knows the run's segment has ended: the leaseSet says that no segment of
// the run executes in this process, and holds off new ones while the
// takeover runs, so two segments of one run never execute at once. The
// takeover bumps the run's gen, which fences anything left of the old
// segment and makes River's retry of the failed job a stale no-op. If the
// database does not answer yet, the resumer tries again with a short
// backoff. It also retries, the same way, waking the runs waiting for the
// concurrency slots that a run freed, when a database error cut that wake
// off; and it hands on the runs whose job this client fetched but never
// received (checkLostFetches).
type resumer struct {
	c    *Engine
	kick chan struct{}

	mu      sync.Mutex
	pending map[string]resumeEntry
	recent  map[string]resumed
	// slotWakes are runs whose wake of the runs waiting for their
	// concurrency slots failed: without a retry those would wait for their
	// recheck (slotRecheck).
	slotWakes map[string]bool
	// suspects are jobs this client fetched that had not claimed their run
	// when last looked at, by job ID (see checkLostFetches); only run uses
	// it.
	suspects map[int64]time.Time
}

// resumeEntry is a run to hand on: the gen and job whose segment failed.
type resumeEntry struct {
	gen   int32
	jobID int64
	at    time.Time // not before
}

// resumed remembers how often a run was handed on lately, so that a run
// whose segments keep failing (a database error that is not brief) backs
// off rather than spinning.
type resumed struct {
	n    int
	last time.Time
}

// Backoffs of the resumer: between tries while the database does not
// answer, and for a run handed on again within resumeWindow.
const (
	resumeRetryMin = 50 * time.Millisecond
	resumeRetryMax = 500 * time.Millisecond
	resumeWindow   = time.Minute
)

// lostFetchCheck is how often the resumer looks for jobs this client
// fetched that never claimed their run; lostFetchAfter is how long such a
// job must stay so to count as lost (a live claim takes milliseconds).
const (
	lostFetchCheck = time.Second
	lostFetchAfter = 2 * time.Second
)

func newResumer(c *Engine) *resumer {
	return &resumer{
		c: c, kick: make(chan struct{}, 1),
		pending: map[string]resumeEntry{}, recent: map[string]resumed{}, slotWakes: map[string]bool{},
		suspects: map[int64]time.Time{},
	}
}

// add records that the segment or claim of run runID by job jobID at gen
// failed.
func (r *resumer) add(runID string, gen int32, jobID int64) {
	now := time.Now()
	r.mu.Lock()
	at := now
	if h, ok := r.recent[runID]; ok && now.Sub(h.last) < resumeWindow {
		at = now.Add(min(resumeRetryMin<<min(h.n, 10), r.c.cfg.LeaseTTL))
	}
	if e, ok := r.pending[runID]; !ok || e.gen <= gen {
		r.pending[runID] = resumeEntry{gen: gen, jobID: jobID, at: at}
	}
	r.mu.Unlock()
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// addSlotWake records that waking the runs waiting for the concurrency
// slots of run runID failed.
func (r *resumer) addSlotWake(runID string) {
	r.mu.Lock()
	r.slotWakes[runID] = true
	r.mu.Unlock()
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// run hands on the recorded runs until ctx ends.
func (r *resumer) run(ctx context.Context) {
	backoff := resumeRetryMin
	var checked time.Time
	for ctx.Err() == nil {
		if time.Since(checked) >= lostFetchCheck {
			r.checkLostFetches(ctx)
			checked = time.Now()
		}
		next, failed := r.resumeDue(ctx)
		if failed {
			next = time.Now().Add(backoff)
			backoff = min(backoff*2, resumeRetryMax)
		} else {
			backoff = resumeRetryMin
		}
		wait := time.Until(checked.Add(lostFetchCheck))
		if !next.IsZero() {
			wait = min(wait, time.Until(next))
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-r.kick:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// checkLostFetches looks for the jobs this client fetched whose run is not
// running: River marked them running at the fetch, but no segment claimed
// the run. A job still so lostFetchAfter later was lost with its fetch's
// result (a connection that died as the fetch committed): River would retry
// it only after an hour (its rescuer), so it is handed on like a cut-off
// segment. (A fetch lost by a client that died is the sweeper's.)
func (r *resumer) checkLostFetches(ctx context.Context) {
	// River records its own client's ID: Config.ID, or the app's River
	// client's with Config.ExternalRiver.
	rows, err := r.c.store.ListOwnUnclaimed(ctx, r.c.cfg.Queue, r.c.river.ID())
	if err != nil {
		if ctx.Err() == nil {
			r.c.cfg.Logger.WarnContext(ctx, "flow: look for lost fetches; retrying", "error", err)
		}
		return
	}
	now := time.Now()
	seen := make(map[int64]bool, len(rows))
	for _, row := range rows {
		seen[row.JobID] = true
		first, ok := r.suspects[row.JobID]
		switch {
		case !ok:
			r.suspects[row.JobID] = now
		case now.Sub(first) >= lostFetchAfter:
			delete(r.suspects, row.JobID)
			r.add(row.ID, row.Gen, row.JobID)
		}
	}
	for id := range r.suspects {
		if !seen[id] {
			delete(r.suspects, id)
		}
	}
}

// resumeDue hands on the runs that are due. It returns when the next one is
// due (zero: none pending), and whether the database failed.
func (r *resumer) resumeDue(ctx context.Context) (next time.Time, failed bool) {
	now := time.Now()
	r.mu.Lock()
	due := map[string]resumeEntry{}
	for id, e := range r.pending {
		if e.at.After(now) {
			if next.IsZero() || e.at.Before(next) {
				next = e.at
			}
			continue
		}
		due[id] = e
	}
	for id, h := range r.recent {
		if now.Sub(h.last) >= resumeWindow {
			delete(r.recent, id)
		}
	}
	wakes := make([]string, 0, len(r.slotWakes))
	for id := range r.slotWakes {
		wakes = append(wakes, id)
	}
	r.mu.Unlock()

	for _, id := range wakes {
		if err := r.c.wakeSlotWaiters(ctx, r.c.pool, id); err != nil {
			if ctx.Err() == nil {
				r.c.cfg.Logger.WarnContext(ctx, "flow: hand on a concurrency slot; retrying", "run_id", id, "error", err)
			}
			return time.Time{}, true // the rest wait for the next try
		}
		r.mu.Lock()
		delete(r.slotWakes, id)
		r.mu.Unlock()
	}
	for id, e := range due {
		done, err := r.resumeOne(ctx, id, e)
		if err != nil {
			if ctx.Err() == nil {
				r.c.cfg.Logger.WarnContext(ctx, "flow: hand on a run cut off by a database error; retrying", "run_id", id, "error", err)
			}
			return time.Time{}, true // the rest wait for the next try
		}
		r.mu.Lock()
		if cur, ok := r.pending[id]; ok && cur == e {
			delete(r.pending, id)
		}
		if done {
			h := r.recent[id]
			if now.Sub(h.last) >= resumeWindow {
				h.n = 0
			}
			r.recent[id] = resumed{n: h.n + 1, last: time.Now()}
		}
		r.mu.Unlock()
	}
	return next, false
}

// resumeOne hands run id to a new job if nothing moved it on since its
// segment failed. done reports whether it did; an error, that the database
// failed (try again).
func (r *resumer) resumeOne(ctx context.Context, id string, e resumeEntry) (done bool, err error) {
	c := r.c
	if !c.leases.reserve(id) {
		// A segment of the run executes here: it owns the run now, and
		// records it again if it fails.
		return false, nil
	}
	defer c.leases.release(id)
	var functionID string
	err = pgx.BeginFunc(ctx, c.pool, func(tx pgx.Tx) error {
		run, err := c.store.LockResumable(ctx, tx, store.RunRef{ID: id, Gen: e.gen}, &e.jobID, c.cfg.ID)
		if err != nil {
			return err
		}
		functionID = run.FunctionID
		return c.handOn(ctx, tx, id, run.Gen, run.FunctionID, run.Slotted, true)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil // moved on: another job or client has it, or it ended
	}
	if err != nil {
		return false, fmt.Errorf("flow: hand on run %s: %w", id, err)
	}
	c.cfg.Logger.WarnContext(ctx, "flow: handed on a run cut off by a database error (its segment, claim or fetch)", "run_id", id)
	if c.metrics != nil {
		c.metrics.takeover(functionID, takeoverResumed)
	}
	return true, nil
}
