package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/riverflow/flow"
)

var cancelCommand = &command{
	name:    "cancel",
	args:    "[flags] ID",
	summary: "cancel a run that has not ended",
	help: `
Cancel cancels a run that has not ended, as flow.Client.CancelRun does: a
sleeping or waiting run ends at once; a step executing in some process has its
context cancelled. Cancelling a run that has already ended changes nothing and
says so (exit status 0). ID may be the start or end of a run's ID, as for
'flow run'.
`,
	flags: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
		dbURL := databaseFlag(fs)
		return func(ctx context.Context, e *env, args []string) error {
			if len(args) != 1 {
				return usagef("want one run ID, got %d arguments", len(args))
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
	args:    "[flags] ID",
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
`,
	flags: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
		dbURL := databaseFlag(fs)
		queue := queueFlag(fs)
		from := fs.String("from", "", "re-execute from the step with this `ID` (as 'flow run' shows it)")
		return func(ctx context.Context, e *env, args []string) error {
			if len(args) != 1 {
				return usagef("want one run ID, got %d arguments", len(args))
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
