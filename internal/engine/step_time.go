package engine

import (
	"fmt"
	"time"
)

// The stored times' range: within Postgres's timestamptz range (4713 BC to
// 294276 AD), and narrowed to the years that RFC 3339 (and so JSON) can
// write.
var (
	minStoredTime = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	maxStoredTime = time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)
)

// checkTime returns an error wrapping ErrInvalidTime if t, a time of step
// stepID described by what, cannot be stored.
func checkTime(stepID, what string, t time.Time) error {
	if t.Before(minStoredTime) || t.After(maxStoredTime) {
		return NonRetriable(fmt.Errorf("%w: step %q: %s %s is outside the years 1 to 9999", ErrInvalidTime, stepID, what, t.UTC().Format(time.RFC3339)))
	}
	return nil
}
