package engine

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// Sleep pauses the run until the time until gives (see the root Sleep and
// SleepUntil): until is called once, with the time the step first runs; on
// replays the stored wake time holds.
func (s *Segment) Sleep(ctx context.Context, id string, until func(now time.Time) time.Time) error {
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
