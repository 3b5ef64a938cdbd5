package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow/internal/store"
)

// A completed run that nothing listens for ends in one statement, without
// calling then; once a function listens for flow/function.finished, the
// end takes the full path and then runs in its transaction.
func TestFinishRunQuietAndFull(t *testing.T) {
	t.Parallel()
	b := setup(t)
	quiet := b.newRun(t, "end/quiet")
	b.claim(t, quiet)
	called := false
	never := func(context.Context, pgx.Tx, store.EndedRun) error { called = true; return nil }
	ended, err := b.store.FinishRun(b.ctx, store.Finish{Run: quiet, Status: "completed", Output: []byte(`1`), MayBeQuiet: true}, never)
	require.NoError(t, err)
	require.True(t, ended.Quiet)
	require.False(t, called, "the quiet path has nothing for then")
	status, _ := b.runStatus(t, quiet.ID)
	require.Equal(t, "completed", status)

	b.newRun(t, "end/listener", "flow/function.finished") // a function that listens
	full := b.newRun(t, "end/full")
	b.claim(t, full)
	ended, err = b.store.FinishRun(b.ctx, store.Finish{Run: full, Status: "completed", Output: []byte(`2`), MayBeQuiet: true},
		func(ctx context.Context, tx pgx.Tx, e store.EndedRun) error {
			called = true
			require.True(t, e.FinishedListened)
			run, err := b.store.GetRun(ctx, tx, full.ID)
			require.NoError(t, err)
			require.Equal(t, "completed", run.Status, "then sees the end in its transaction")
			return nil
		})
	require.NoError(t, err)
	require.True(t, called)
	require.False(t, ended.Quiet)
	require.True(t, ended.FinishedListened)
}

// A failed run, or one with a parent, takes the full path even when it may
// be quiet; an error of then rolls the end back; a stale segment ends
// nothing (ErrLost).
func TestFinishRunFull(t *testing.T) {
	t.Parallel()
	b := setup(t)
	parent := b.newRun(t, "end/parent")
	run := b.newRun(t, "end/child")
	childID, err := b.store.InsertChildRun(b.ctx, b.pool, "end/child", b.eventOf(t, run.ID), parent.ID, "invoke")
	require.NoError(t, err)
	_, err = b.store.InsertChildRun(b.ctx, b.pool, "end/child", b.eventOf(t, run.ID), parent.ID, "invoke")
	require.ErrorIs(t, err, pgx.ErrNoRows, "one child per Invoke step")
	child := store.RunRef{ID: childID}
	b.claim(t, child)

	_, err = b.store.FinishRun(b.ctx, store.Finish{Run: store.RunRef{ID: childID, Gen: 1}, Status: "completed", MayBeQuiet: true}, nil)
	require.ErrorIs(t, err, store.ErrLost)

	boom := errors.New("boom")
	_, err = b.store.FinishRun(b.ctx, store.Finish{Run: child, Status: "completed", Output: []byte(`3`), MayBeQuiet: true},
		func(context.Context, pgx.Tx, store.EndedRun) error { return boom })
	require.ErrorIs(t, err, boom)
	status, _ := b.runStatus(t, childID)
	require.Equal(t, "running", status, "then's error rolled the end back")

	ended, err := b.store.FinishRun(b.ctx, store.Finish{Run: child, Status: "completed", Output: []byte(`3`), MayBeQuiet: true}, nil)
	require.NoError(t, err)
	require.False(t, ended.Quiet, "a child run resumes its parent: the full path")
	require.Equal(t, parent.ID, *ended.ParentRunID)
	require.Equal(t, "invoke", *ended.ParentStepID)

	b.claim(t, run)
	msg := "failed"
	ended, err = b.store.FinishRun(b.ctx, store.Finish{Run: run, Status: "failed", Error: &msg, MayBeQuiet: true}, nil)
	require.NoError(t, err)
	require.False(t, ended.Quiet)
	got, err := b.store.GetRun(b.ctx, b.pool, run.ID)
	require.NoError(t, err)
	require.Equal(t, "failed", got.Status)
	require.Equal(t, "failed", *got.Error)
}

// CancelRun ends a run that has not ended and returns what the caller
// needs for the rest of the cancel; a run that ended gets no row.
func TestCancelRun(t *testing.T) {
	t.Parallel()
	b := setup(t)
	run := b.newRun(t, "end/cancel")
	b.claim(t, run)
	var ended store.EndedRun
	err := pgx.BeginFunc(b.ctx, b.pool, func(tx pgx.Tx) error {
		var err error
		ended, err = b.store.CancelRun(b.ctx, tx, run.ID, "stop")
		return err
	})
	require.NoError(t, err)
	require.Equal(t, "end/cancel", ended.FunctionID)
	require.Equal(t, b.eventOf(t, run.ID), ended.EventID)
	require.NotNil(t, ended.JobID)
	require.Equal(t, int64(1), *ended.JobID)
	require.False(t, ended.Slotted)
	got, err := b.store.GetRun(b.ctx, b.pool, run.ID)
	require.NoError(t, err)
	require.Equal(t, "cancelled", got.Status)
	require.Equal(t, "stop", *got.Error)

	err = pgx.BeginFunc(b.ctx, b.pool, func(tx pgx.Tx) error {
		_, err := b.store.CancelRun(b.ctx, tx, run.ID, "again")
		return err
	})
	require.ErrorIs(t, err, pgx.ErrNoRows)
}

// SuspendRun pauses a run its segment owns and hands it to the
// continuation job, one gen on; a stale segment suspends nothing.
func TestSuspendRun(t *testing.T) {
	t.Parallel()
	b := setup(t)
	run := b.newRun(t, "end/suspend")
	b.claim(t, run)
	wake := time.Now().Add(time.Hour)
	suspend := func(p store.Suspend) error {
		return pgx.BeginFunc(b.ctx, b.pool, func(tx pgx.Tx) error {
			_, err := b.store.SuspendRun(b.ctx, tx, p)
			return err
		})
	}
	require.ErrorIs(t, suspend(store.Suspend{Run: store.RunRef{ID: run.ID, Gen: run.Gen + 1}, Status: "sleeping", JobID: 7, WakeAt: &wake}), pgx.ErrNoRows)
	require.NoError(t, suspend(store.Suspend{Run: run, Status: "sleeping", JobID: 7, WakeAt: &wake}))
	got, err := b.store.GetRun(b.ctx, b.pool, run.ID)
	require.NoError(t, err)
	require.Equal(t, "sleeping", got.Status)
	require.Equal(t, run.Gen+1, got.Gen)
	require.Equal(t, int64(7), *got.JobID)
	require.WithinDuration(t, wake, *got.WakeAt, time.Millisecond)
	next, err := b.store.NextWake(b.ctx)
	require.NoError(t, err)
	require.WithinDuration(t, wake, *next, time.Millisecond)
}
