package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/riverflow/flow"
)

var cancelCommand = &command{
	name:    "cancel",
	args:    "[flags] ID | -function F -status S -since T ...",
	summary: "cancel a run, or every run a filter selects",
	help: `
Cancel cancels a run that has not ended, as flow.Client.CancelRun does: a
sleeping or waiting run ends at once; a step executing in some process has its
context cancelled. Cancelling a run that has already ended changes nothing and
says so (exit status 0). ID may be the start or end of a run's ID, as for
'flow run'.

With -function, -status, -event-name, -since or -until instead of an ID, it
cancels every run they select that has not ended (flow.Client.CancelRuns): it
prints how many match and asks for confirmation unless -yes, then cancels
them a batch per transaction with a progress line per batch. Repeating it is
safe: runs already cancelled are not selected again. For example:

    flow cancel -function send-digest -status waiting -since 1h
`,
	flags: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
		dbURL := databaseFlag(fs)
		bulk := declareBulkFlags(fs)
		return func(ctx context.Context, e *env, args []string) error {
			if bulk.set() {
				if len(args) > 0 {
					return usagef("give a run ID or filter flags, not both")
				}
				f, err := bulk.filter(time.Now())
				if err != nil {
					return err
				}
				c, pool, err := e.openClient(ctx, *dbURL, "flow")
				if err != nil {
					return err
				}
				defer pool.Close()
				return runBulk(e, bulkAction{verb: "cancel", done: "cancelled", noun: "runs", call: func(o *flow.BulkOpts) (flow.BulkResult, error) {
					return c.CancelRuns(ctx, f, o)
				}}, bulk.describe(), *bulk.yes, *bulk.batch)
			}
			if len(args) != 1 {
				return usagef("want one run ID or filter flags (-function, -status, -event-name, -since, -until), got %d arguments", len(args))
			}
			c, pool, err := e.openClient(ctx, *dbURL, "flow")
			if err != nil {
				return err
			}
			defer pool.Close()
			r, err := findRun(ctx, c, args[0])
			if err != nil {
				return err
			}
			ok, err := c.CancelRun(ctx, r.ID)
			if errors.Is(err, flow.ErrNotFound) {
				return fmt.Errorf("no run %q", args[0])
			}
			if err != nil {
				return err
			}
			if ok {
				fmt.Fprintf(e.stdout, "cancelled run %s\n", r.ID)
				return nil
			}
			status := "ended"
			if r, err := c.GetRun(ctx, r.ID); err == nil {
				status = string(r.Status)
			}
			fmt.Fprintf(e.stdout, "run %s has already ended (%s); nothing to cancel\n", r.ID, status)
			return nil
		}
	},
}

var rerunCommand = &command{
	name:    "rerun",
	args:    "[flags] ID | -function F -status S -since T ...",
	summary: "start a new run of a run's function with the same event",
	help: `
Rerun starts a new run of the run's function with the same triggering event
and prints its ID. The original run is left as it is. With -from STEP, the
steps recorded before STEP keep their stored results: the new run replays them
and executes STEP and everything after it again (flow.Client.RerunFrom).
ID may be the start or end of a run's ID, as for 'flow run'; 'flow run' on
the new run says which run it reran.

The new run executes in the application's processes, on its River queue
(-queue, if the application set flow.Config.Queue).

With -function, -status, -event-name, -since or -until instead of an ID, it
reruns every run they select (flow.Client.RerunRuns), from -from if given:
it prints how many match and asks for confirmation unless -yes, then a
progress line per batch and the new runs. A run that already has a newer run
on the same event (a rerun) is skipped, so repeating it reruns nothing twice.
For example:

    flow rerun -function charge -status failed -since 24h -from charge-card
`,
	flags: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
		dbURL := databaseFlag(fs)
		queue := queueFlag(fs)
		from := fs.String("from", "", "re-execute from the step with this `ID` (as 'flow run' shows it)")
		bulk := declareBulkFlags(fs)
		return func(ctx context.Context, e *env, args []string) error {
			if bulk.set() {
				if len(args) > 0 {
					return usagef("give a run ID or filter flags, not both")
				}
				f, err := bulk.filter(time.Now())
				if err != nil {
					return err
				}
				c, pool, err := e.openClient(ctx, *dbURL, *queue)
				if err != nil {
					return err
				}
				defer pool.Close()
				return runBulk(e, bulkAction{verb: "rerun", done: "rerun", noun: "runs", call: func(o *flow.BulkOpts) (flow.BulkResult, error) {
					return c.RerunRuns(ctx, f, *from, o)
				}}, bulk.describe(), *bulk.yes, *bulk.batch)
			}
			if len(args) != 1 {
				return usagef("want one run ID or filter flags (-function, -status, -event-name, -since, -until), got %d arguments", len(args))
			}
			c, pool, err := e.openClient(ctx, *dbURL, *queue)
			if err != nil {
				return err
			}
			defer pool.Close()
			r, err := findRun(ctx, c, args[0])
			if err != nil {
				return err
			}
			var newID string
			if *from != "" {
				newID, err = c.RerunFrom(ctx, r.ID, *from)
			} else {
				newID, err = c.Rerun(ctx, r.ID)
			}
			if err != nil {
				return err
			}
			fmt.Fprintln(e.stdout, newID)
			return nil
		}
	},
}
