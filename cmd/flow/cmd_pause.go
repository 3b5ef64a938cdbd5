package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/riverflow/flow"
)

var pauseCommand = &command{
	name:    "pause",
	args:    "[flags] FUNCTION",
	summary: "pause a function: its runs wait until it is resumed",
	help: `
Pause pauses a function in every process of the application, as
flow.Client.PauseFunction does: its events are still stored and start runs,
but the runs stay queued (shown "paused"); a run executing a step stops at its
next step boundary; sleeping and waiting runs that become due wait too; cron
ticks are skipped. Cancellation and timeouts still apply. "flow resume"
starts the held runs again, oldest first. Pausing a paused function changes
nothing.
`,
	flags: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
		dbURL := databaseFlag(fs)
		return func(ctx context.Context, e *env, args []string) error {
			if len(args) != 1 {
				return usagef("want one function ID, got %d arguments", len(args))
			}
			c, pool, err := e.openClient(ctx, *dbURL, "flow")
			if err != nil {
				return err
			}
			defer pool.Close()
			if err := c.PauseFunction(ctx, args[0]); errors.Is(err, flow.ErrNotFound) {
				return fmt.Errorf("no function %q (a function is known once a process defining it has started)", args[0])
			} else if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "paused function %s\n", args[0])
			return nil
		}
	},
}

var resumeCommand = &command{
	name:    "resume",
	args:    "[flags] FUNCTION",
	summary: "resume a paused function and start the runs it held",
	help: `
Resume resumes a paused function, as flow.Client.ResumeFunction does: the
runs its pause held go on, oldest first (Priority respected), each from its
last stored step, in the application's processes. Resuming a function that is
not paused changes nothing.
`,
	flags: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
		dbURL := databaseFlag(fs)
		return func(ctx context.Context, e *env, args []string) error {
			if len(args) != 1 {
				return usagef("want one function ID, got %d arguments", len(args))
			}
			c, pool, err := e.openClient(ctx, *dbURL, "flow")
			if err != nil {
				return err
			}
			defer pool.Close()
			if err := c.ResumeFunction(ctx, args[0]); errors.Is(err, flow.ErrNotFound) {
				return fmt.Errorf("no function %q (a function is known once a process defining it has started)", args[0])
			} else if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "resumed function %s\n", args[0])
			return nil
		}
	},
}
