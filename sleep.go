package flow

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// Sleep pauses the run for d, durably: the run's segment ends, and it
// resumes from a scheduled River job once d has passed, in whichever process
// is running then. A sleeping run holds no worker, goroutine or connection.
// The wake time is fixed when the step first runs. Functions must return a
// non-nil error from Sleep unchanged.
func Sleep(ctx context.Context, id string, d time.Duration) error {
	return sleepStep(ctx, id, func(now time.Time) time.Time { return now.Add(max(d, 0)) })
}

// SleepUntil pauses the run until t, durably, as Sleep does. A time in the
// past returns at once. A time outside the years 1 to 9999 fails the step
// with an error wrapping ErrInvalidTime.
func SleepUntil(ctx context.Context, id string, t time.Time) error {
	return sleepStep(ctx, id, func(time.Time) time.Time { return t })
}

func sleepStep(ctx context.Context, id string, until func(now time.Time) time.Time) error {
	s, err := segmentFrom(ctx)
	if err != nil {
		return err
	}
	sid, st, seq, err := s.begin(ctx, id, kindSleep)
	if err != nil {
		return err
	}
	now := time.Now()
	var wake time.Time
	if st != nil {
		if st.Status == stepCompleted || st.WakeAt == nil {
			return nil
		}
		wake = *st.WakeAt
	} else {
		wake = until(now).UTC()
		if err := checkTime(sid, "wake time", wake); err != nil {
			return err
		}
	}
	rec := stepRecord{id: sid, seq: seq, kind: kindSleep, attempts: 1, wakeAt: &wake, startedAt: now}
	if st != nil {
		rec.startedAt = st.StartedAt
	}
	if !wake.After(now) {
		// Over: any replay would find the same, so the record waits for
		// the segment's next write rather than costing a commit now.
		rec.status, rec.endedAt = stepCompleted, &now
		s.deferSave(rec)
		return nil
	}
	if st != nil {
		// Woken early (by another step's event): keep sleeping.
		s.suspendFor(ctx, suspension{wakeAt: &wake})
		return errSuspended
	}
	rec.status = stepSleeping
	s.suspendFor(ctx, suspension{wakeAt: &wake, save: func(ctx context.Context, tx pgx.Tx) error {
		return s.saveTx(ctx, tx, rec)
	}})
	return errSuspended
}
