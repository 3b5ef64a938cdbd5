package riverjob_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow/flowtest"
	"github.com/riverflow/flow/internal/dbsqlc"
)

// The statements that write many of River's jobs at once, each in a
// transaction rolled back afterwards: RunWakeDue waking 500 sleeping runs,
// and an event that starts 20 runs (EventInsertAndStartRuns). Each calls an
// array writer once (flow_jobs_wake, flow_jobs_insert); a call per row cost
// 2.5 times as much (sql/004_river_job_owner.up.sql).
func BenchmarkJobWriters(b *testing.B) {
	pool := flowtest.Pool(b)
	ctx := context.Background()
	q := dbsqlc.New()
	inTx := func(b *testing.B, setup func(tx pgx.Tx), measured func(tx pgx.Tx)) {
		for b.Loop() {
			b.StopTimer()
			tx, err := pool.Begin(ctx)
			require.NoError(b, err)
			setup(tx)
			b.StartTimer()
			measured(tx)
			b.StopTimer()
			require.NoError(b, tx.Rollback(ctx))
			b.StartTimer()
		}
	}
	b.Run("RunWakeDue500", func(b *testing.B) {
		inTx(b, func(tx pgx.Tx) {
			_, err := tx.Exec(ctx, `
				WITH j AS (
					INSERT INTO river_job (args, kind, max_attempts, queue, scheduled_at, state)
					SELECT '{}'::jsonb, 'flow_run', 25, $1, now() + interval '1 hour', 'scheduled'
					FROM generate_series(1, 500)
					RETURNING id
				)
				INSERT INTO flow_run (id, function_id, event_id, status, job_id, wake_at)
				SELECT gen_random_uuid(), 'f', gen_random_uuid(), 'sleeping', id, now() - interval '1 second' FROM j`,
				assumeQueue)
			require.NoError(b, err)
		}, func(tx pgx.Tx) {
			row, err := q.RunWakeDue(ctx, tx, 500)
			require.NoError(b, err)
			require.Equal(b, int32(500), row.Woken)
		})
	})
	b.Run("EventStartRuns20", func(b *testing.B) {
		inTx(b, func(tx pgx.Tx) {
			_, err := tx.Exec(ctx, `INSERT INTO flow_trigger (function_id, event_name) SELECT 'f' || i, 'e' FROM generate_series(1, 20) i`)
			require.NoError(b, err)
		}, func(tx pgx.Tx) {
			row, err := q.EventInsertAndStartRuns(ctx, tx, &dbsqlc.EventInsertAndStartRunsParams{
				Name: "e", ID: newUUID(), Data: []byte(`{}`), Ts: time.Now(), Queue: assumeQueue, Notify: true,
			})
			require.NoError(b, err)
			require.Len(b, row.RunIds, 20)
		})
	})
}
