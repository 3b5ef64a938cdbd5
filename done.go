package flow

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/riverflow/flow/internal/dbsqlc"
)

// doneNotifier tells AwaitRun callers in this process that a run ended, from
// the notifications RunFinish sends at commit.
type doneNotifier struct {
	mu   sync.Mutex
	subs map[string]map[chan struct{}]struct{}
}

func newDoneNotifier() *doneNotifier {
	return &doneNotifier{subs: map[string]map[chan struct{}]struct{}{}}
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

// listen returns the loop that holds a dedicated LISTEN connection,
// reconnecting after errors, until ctx ends.
func (d *doneNotifier) listen(pool *pgxpool.Pool, logger *slog.Logger) func(context.Context) {
	return func(ctx context.Context) {
		for ctx.Err() == nil {
			err := d.listenOnce(ctx, pool)
			if ctx.Err() != nil {
				return
			}
			logger.WarnContext(ctx, "flow: run notification listener failed; reconnecting", "error", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

func (d *doneNotifier) listenOnce(ctx context.Context, pool *pgxpool.Pool) error {
	pc, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	conn := pc.Hijack() // outside the pool's accounting for as long as it listens
	defer conn.Close(context.WithoutCancel(ctx))
	if err := dbsqlc.New().ListenRunDone(ctx, conn); err != nil {
		return err
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		d.publish(n.Payload)
	}
}
