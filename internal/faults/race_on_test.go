//go:build race

package faults

import "time"

// raceSlack is added to the time bounds of the suite when the race detector,
// which slows the code it instruments several times over, is on.
const raceSlack = 3 * time.Second
