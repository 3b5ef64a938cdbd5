package store

import (
	"context"
	"strings"

	"github.com/riverflow/flow/internal/dbsqlc"
)

// IDRange is what a partial ID selects: the IDs whose 32 hex digits start
// with it (a range of the primary key) or end with it (a range of the
// reversed-ID index).
type IDRange struct {
	lo, hi, revLo, revHi string
}

// NewIDRange returns the range of digits, 1 to 32 lower-case hex digits
// (the caller checks them).
func NewIDRange(digits string) IDRange {
	pad := func(fill string) string {
		s := digits + strings.Repeat(fill, 32-len(digits))
		return s[0:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:]
	}
	rev := []byte(digits)
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	// 'g' sorts after every hex digit, byte by byte: every reversed ID
	// starting with rev lies in [rev, rev+"g").
	return IDRange{lo: pad("0"), hi: pad("f"), revLo: string(rev), revHi: string(rev) + "g"}
}

// FindRuns returns up to max IDs of runs in r, in ID order.
func (s *Store) FindRuns(ctx context.Context, r IDRange, max int32) ([]string, error) {
	return s.q.RunFindByPartialID(ctx, s.pool, &dbsqlc.RunFindByPartialIDParams{
		Lo: r.lo, Hi: r.hi, RevLo: r.revLo, RevHi: r.revHi, Max: max,
	})
}

// FindEvents returns up to max IDs of events in r, in ID order.
func (s *Store) FindEvents(ctx context.Context, r IDRange, max int32) ([]string, error) {
	return s.q.EventFindByPartialID(ctx, s.pool, &dbsqlc.EventFindByPartialIDParams{
		Lo: r.lo, Hi: r.hi, RevLo: r.revLo, RevHi: r.revHi, Max: max,
	})
}
