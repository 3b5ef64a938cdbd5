package engine

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/riverflow/flow/internal/store"
)

// doneNotifier tells AwaitRun callers that runs ended: in this process at
// once, and in every process through batched notifications on the
// flow_run_done channel (one NOTIFY per batch, sent outside the runs'
// transactions, so that finishing runs do not queue for Postgres's notify
// lock at commit).
type doneNotifier struct {
	store *store.Store // sends and listens for the notifications

	mu   sync.Mutex
	subs map[string]map[chan struct{}]struct{}

	pendingMu sync.Mutex
	pending   []string
	kick      chan struct{}
}

// notifyBatchDelay is how long ended runs gather before one notification
// tells other processes of them all.
const notifyBatchDelay = 2 * time.Millisecond

// maxNotifyPayload keeps a notification under Postgres's 8000-byte limit.
const maxNotifyPayload = 7900

func newDoneNotifier(st *store.Store) *doneNotifier {
	return &doneNotifier{store: st, subs: map[string]map[chan struct{}]struct{}{}, kick: make(chan struct{}, 1)}
}

func (d *doneNotifier) subscribe(runID string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	d.mu.Lock()
	if d.subs[runID] == nil {
		d.subs[runID] = map[chan struct{}]struct{}{}
	}
	d.subs[runID][ch] = struct{}{}
	d.mu.Unlock()
	return ch, func() {
		d.mu.Lock()
		delete(d.subs[runID], ch)
		if len(d.subs[runID]) == 0 {
			delete(d.subs, runID)
		}
		d.mu.Unlock()
	}
}

// ended records that a run this process executed has ended (committed).
func (d *doneNotifier) ended(runID string) {
	d.publish(runID)
	d.pendingMu.Lock()
	d.pending = append(d.pending, runID)
	d.pendingMu.Unlock()
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// notifyLoop sends the batched notifications until ctx ends.
func (d *doneNotifier) notifyLoop(pool *pgxpool.Pool, logger *slog.Logger) func(context.Context) {
	return func(ctx context.Context) {
		backoff := listenRetryMin
		for {
			select {
			case <-ctx.Done():
				return
			case <-d.kick:
			}
			select { // let a batch gather
			case <-ctx.Done():
				return
			case <-time.After(notifyBatchDelay):
			}
			d.pendingMu.Lock()
			ids := d.pending
			d.pending = nil
			d.pendingMu.Unlock()
			for len(ids) > 0 {
				n, size := 0, 0
				for n < len(ids) && size+len(ids[n])+1 <= maxNotifyPayload {
					size += len(ids[n]) + 1
					n++
				}
				if err := d.store.NotifyRunsDone(ctx, pool, ids[:n]); err != nil {
					if ctx.Err() != nil {
						return
					}
					// Keep the rest for the next try, soon; AwaitRun callers
					// elsewhere poll meanwhile.
					logger.WarnContext(ctx, "flow: notify ended runs; retrying", "error", err, "retry_in", backoff)
					d.requeue(ids)
					select {
					case <-ctx.Done():
						return
					case <-time.After(backoff):
					}
					backoff = min(backoff*2, listenRetryMax)
					break
				}
				backoff = listenRetryMin
				ids = ids[n:]
			}
		}
	}
}

// requeue puts back ended runs whose notification failed, before those
// that ended since, and makes the notify loop go again.
func (d *doneNotifier) requeue(ids []string) {
	d.pendingMu.Lock()
	if len(ids) > maxNotifyBacklog {
		ids = ids[len(ids)-maxNotifyBacklog:] // the oldest go: their callers poll
	}
	d.pending = append(ids[:len(ids):len(ids)], d.pending...)
	d.pendingMu.Unlock()
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// maxNotifyBacklog bounds the ended runs kept for notification while the
// database does not answer.
const maxNotifyBacklog = 10_000

func (d *doneNotifier) publish(runID string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for ch := range d.subs[runID] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// Backoff of the LISTEN connection's reconnections: soon at first, so that
// AwaitRun callers hear of ended runs again right after a brief database
// error, then less often.
const (
	listenRetryMin = 50 * time.Millisecond
	listenRetryMax = 2 * time.Second
)

// listen returns the loop that holds a dedicated LISTEN connection,
// reconnecting after errors with a short backoff, until ctx ends.
func (d *doneNotifier) listen(pool *pgxpool.Pool, logger *slog.Logger) func(context.Context) {
	return func(ctx context.Context) {
		backoff := listenRetryMin
		for ctx.Err() == nil {
			listened, err := d.listenOnce(ctx, pool)
			if ctx.Err() != nil {
				return
			}
			if listened {
				backoff = listenRetryMin
			}
			logger.WarnContext(ctx, "flow: run notification listener failed; reconnecting", "error", err, "retry_in", backoff)
			timer := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
				timer.Stop()
				return
			case <-timer.C:
			}
			backoff = min(backoff*2, listenRetryMax)
		}
	}
}

// listenOnce listens until its connection fails. listened reports whether
// it got as far as listening.
func (d *doneNotifier) listenOnce(ctx context.Context, pool *pgxpool.Pool) (listened bool, err error) {
	pc, err := pool.Acquire(ctx)
	if err != nil {
		return false, err
	}
	conn := pc.Hijack() // outside the pool's accounting for as long as it listens
	defer conn.Close(context.WithoutCancel(ctx))
	if err := d.store.ListenRunsDone(ctx, conn); err != nil {
		return false, err
	}
	// Notifications sent while no connection listened are lost: every
	// AwaitRun caller looks at its run again.
	d.publishAll()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return true, err
		}
		for _, id := range strings.Split(n.Payload, ",") {
			d.publish(id)
		}
	}
}

// publishAll wakes every AwaitRun caller, to look at its run again.
func (d *doneNotifier) publishAll() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, subs := range d.subs {
		for ch := range subs {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}
}

// SubscribeRunDone returns a channel closed when this process learns that
// run runID ended, and a function to call when done waiting (AwaitRun).
func (c *Engine) SubscribeRunDone(runID string) (<-chan struct{}, func()) {
	return c.done.subscribe(runID)
}
