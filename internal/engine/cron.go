package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/robfig/cron/v3"

	"github.com/riverflow/flow/internal/riverjob"
	"github.com/riverflow/flow/internal/store"
)

// eventScheduled names the event a cron trigger's run receives.
const eventScheduled = "flow/scheduled.timer"

// cronArgs are the args of the River periodic job that fires one cron
// trigger of one function. Tick makes the job unique per tick, so a tick is
// fired once even if leadership changes hands at that moment.
type cronArgs struct {
	FunctionID string    `json:"function_id" river:"unique"`
	Cron       string    `json:"cron" river:"unique"`
	Tick       time.Time `json:"tick" river:"unique"`
}

// Kind implements river.JobArgs.
func (cronArgs) Kind() string { return "flow_cron" }

// ScheduledTimer is the data of the "flow/scheduled.timer" event that starts
// a cron trigger's runs.
type ScheduledTimer struct {
	Cron       string    `json:"cron"`
	FunctionID string    `json:"function_id"`
	Tick       time.Time `json:"tick"`
}

// ParseCron parses a CronTrigger spec (five fields or a descriptor, with an
// optional TZ= or CRON_TZ= prefix) into the schedule River's periodic job
// follows.
func ParseCron(spec string) (interface{ Next(time.Time) time.Time }, error) {
	if rest, ok := strings.CutPrefix(spec, "CRON_TZ="); ok {
		spec = "TZ=" + rest
	}
	if rest, ok := strings.CutPrefix(spec, "TZ="); ok {
		// robfig/cron slices up to the first space and panics without one.
		zone, sched, _ := strings.Cut(rest, " ")
		if strings.TrimSpace(sched) == "" {
			return nil, fmt.Errorf("a TZ=%s prefix must be followed by a schedule", zone)
		}
	}
	return cronParser.Parse(spec)
}

// cronParser parses CronTrigger specs: five fields or a descriptor, with an
// optional TZ= or CRON_TZ= prefix.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// addCronJobs registers a River periodic job per cron trigger. River runs
// periodic jobs on its elected leader only, so each tick fires once across
// all processes.
func (c *Engine) addCronJobs(fns []*Function) error {
	for _, fn := range fns {
		for _, t := range fn.triggers {
			if t.Cron == "" {
				continue
			}
			sched, err := ParseCron(t.Cron)
			if err != nil {
				return fmt.Errorf("flow: cron trigger %q of %q: %w", t.Cron, fn.id, err)
			}
			fnID, spec := fn.id, t.Cron
			_, err = c.river.PeriodicJobs().AddSafely(river.NewPeriodicJob(sched, func() (river.JobArgs, *river.InsertOpts) {
				tick := time.Now().UTC().Truncate(time.Second)
				return cronArgs{FunctionID: fnID, Cron: spec, Tick: tick}, &river.InsertOpts{
					Queue:      c.cfg.Queue,
					UniqueOpts: river.UniqueOpts{ByArgs: true},
				}
			}, &river.PeriodicJobOpts{ID: cronJobID(fnID, spec)}))
			if err != nil {
				return fmt.Errorf("flow: cron trigger %q of %q: %w", t.Cron, fn.id, err)
			}
		}
	}
	return nil
}

// cronJobID names a cron trigger's periodic job (River allows few characters
// in IDs, so the spec is hashed).
func cronJobID(fnID, spec string) string {
	h := fnv.New64a()
	_, _ = h.Write([]byte(fnID + "\x00" + spec))
	return fmt.Sprintf("flow_cron:%x", h.Sum64())
}

type cronWorker struct {
	river.WorkerDefaults[cronArgs]
	c *Engine
}

// Work starts the function's run for one tick, with a scheduled-timer event,
// in the transaction that completes the periodic job.
func (w *cronWorker) Work(ctx context.Context, job *river.Job[cronArgs]) error {
	c := w.c
	// A paused function's ticks are skipped, not queued for the resume, as
	// Inngest does: a resume does not fire every tick it missed at once.
	if _, err := c.store.FunctionPausedAt(ctx, c.pool, job.Args.FunctionID); err == nil {
		c.cfg.Logger.InfoContext(ctx, "flow: cron tick skipped: the function is paused",
			"function_id", job.Args.FunctionID, "cron", job.Args.Cron, "tick", job.Args.Tick)
		return nil
	} else if !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("flow: cron %q of %q: look up its pause: %w", job.Args.Cron, job.Args.FunctionID, err)
	}
	data, _ := json.Marshal(ScheduledTimer{Cron: job.Args.Cron, FunctionID: job.Args.FunctionID, Tick: job.Args.Tick})
	return pgx.BeginFunc(ctx, c.pool, func(tx pgx.Tx) error {
		eventID := NewID()
		if err := c.store.InsertEvent(ctx, tx, store.Event{ID: eventID, Name: eventScheduled, Data: data, Ts: job.Args.Tick}); err != nil {
			return fmt.Errorf("flow: cron %q of %q: store event: %w", job.Args.Cron, job.Args.FunctionID, err)
		}
		if fn := c.function(job.Args.FunctionID); fn != nil && fn.control != nil {
			// Flow control applies to cron runs too (a singleton cron does
			// not overlap itself).
			ev := StoredEvent{ID: eventID, Name: eventScheduled, Data: data, TS: job.Args.Tick}
			body, _ := json.Marshal(ev)
			if err := c.startControlledRun(ctx, tx, fn.id, fn.control, ev, body); err != nil {
				return fmt.Errorf("flow: cron %q of %q: start run: %w", job.Args.Cron, job.Args.FunctionID, err)
			}
		} else {
			runID, err := c.store.InsertRun(ctx, tx, job.Args.FunctionID, eventID)
			if err != nil {
				return fmt.Errorf("flow: cron %q of %q: start run: %w", job.Args.Cron, job.Args.FunctionID, err)
			}
			if _, err := c.jobs.InsertTx(ctx, tx, runArgs{RunID: runID, FunctionID: job.Args.FunctionID}, riverjob.Start{}); err != nil {
				return fmt.Errorf("flow: cron %q of %q: insert run job: %w", job.Args.Cron, job.Args.FunctionID, err)
			}
		}
		err := riverjob.CompleteTx(ctx, tx, job)
		if errors.Is(err, riverjob.ErrNotRunning) {
			return fmt.Errorf("flow: cron job %d left running before it completed", job.ID)
		}
		return err
	})
}
