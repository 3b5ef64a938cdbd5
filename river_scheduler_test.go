package flow_test

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/stretchr/testify/require"
)

// riverScheduleAt runs River's scheduler statement (JobSchedule) as River's
// leader does every 5 s, its look-ahead reaching horizon (River passes now +
// 5 s). internal/riverjob tests what it does to our jobs (assumption 3).
func riverScheduleAt(t *testing.T, pool *pgxpool.Pool, horizon time.Time) []int64 {
	t.Helper()
	res, err := riverpgxv5.New(pool).GetExecutor().JobSchedule(testCtx(t), &riverdriver.JobScheduleParams{Max: 10_000, Now: &horizon})
	require.NoError(t, err)
	var ids []int64
	for _, r := range res {
		require.False(t, r.ConflictDiscarded)
		ids = append(ids, r.Job.ID)
	}
	return ids
}

// riverSchedule runs River's scheduler statement now, with its 5 s look-ahead.
func riverSchedule(t *testing.T, pool *pgxpool.Pool) []int64 {
	t.Helper()
	return riverScheduleAt(t, pool, time.Now().Add(5*time.Second))
}
