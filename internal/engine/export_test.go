package engine

import (
	"context"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// WorkCronTick works one tick of functionID's cron trigger spec as River's
// periodic job would, with a job row that River never fetched (tests of the
// paths that do not complete it).
func (c *Engine) WorkCronTick(ctx context.Context, functionID, spec string, tick time.Time) error {
	job := &river.Job[cronArgs]{
		JobRow: &rivertype.JobRow{ID: -1, Kind: cronArgs{}.Kind(), State: rivertype.JobStateRunning},
		Args:   cronArgs{FunctionID: functionID, Cron: spec, Tick: tick},
	}
	return (&cronWorker{c: c}).Work(ctx, job)
}
