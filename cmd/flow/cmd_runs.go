package main

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/riverflow/flow"
)

var allStatuses = []flow.RunStatus{
	flow.RunQueued, flow.RunRunning, flow.RunSleeping, flow.RunWaiting,
	flow.RunCompleted, flow.RunFailed, flow.RunCancelled, flow.RunSkipped,
}

var runsCommand = &command{
	name:    "runs",
	args:    "[flags]",
	summary: "list runs, newest first",
	help: `
Runs lists runs, newest first: ID, function, status, when it was created, how
long it took (from its first execution to its end, or to now with "…" if it
has not ended) and its error, cut to one line.

To page back, pass the last ID shown to -before; when older runs follow, the
table is followed (on stderr) by the -before flag that shows them.
`,
	flags: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
		dbURL := databaseFlag(fs)
		function := fs.String("function", "", "only runs of the function with this `ID`")
		event := fs.String("event", "", "only runs started by the event with this `ID`")
		status := fs.String("status", "", "only runs with these `statuses`, comma-separated: "+joinStatuses(allStatuses))
		before := fs.String("before", "", "only runs created before the run with this `ID` (paging)")
		limit := fs.Int("limit", 50, "show at most `N` runs")
		asJSON := fs.Bool("json", false, "print JSON")
		return func(ctx context.Context, e *env, args []string) error {
			if len(args) > 0 {
				return usagef("unexpected arguments: %q", args)
			}
			if *limit < 1 || *limit > 10_000 {
				return usagef("-limit must be between 1 and 10000, got %d", *limit)
			}
			filter := flow.RunFilter{FunctionID: *function, EventID: *event, Before: *before, Limit: *limit}
			if *status != "" {
				for s := range strings.SplitSeq(*status, ",") {
					st := flow.RunStatus(strings.TrimSpace(s))
					if !slices.Contains(allStatuses, st) {
						return usagef("unknown status %q (want %s)", st, joinStatuses(allStatuses))
					}
					filter.Status = append(filter.Status, st)
				}
			}

			c, pool, err := e.openClient(ctx, *dbURL, "flow")
			if err != nil {
				return err
			}
			defer pool.Close()
			runs, err := c.ListRuns(ctx, filter)
			if err != nil {
				return err
			}

			if *asJSON {
				out := make([]runJSON, len(runs))
				for i, r := range runs {
					out[i] = toRunJSON(r)
				}
				return writeJSON(e.stdout, out)
			}
			if len(runs) == 0 {
				fmt.Fprintln(e.stderr, "no runs")
				return nil
			}
			if err := writeRunsTable(e, runs, time.Now()); err != nil {
				return err
			}
			if next := runs.Next(); next != "" {
				fmt.Fprintf(e.stderr, "older runs: -before %s\n", next)
			}
			return nil
		}
	},
}

func writeRunsTable(e *env, runs []*flow.Run, now time.Time) error {
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tFUNCTION\tSTATUS\tCREATED\tDURATION\tERROR")
	for _, r := range runs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.FunctionID, runStatus(r), fmtTime(r.CreatedAt),
			runDuration(r, now), oneLine(runError(r), 60))
	}
	return tw.Flush()
}

func joinStatuses(ss []flow.RunStatus) string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = string(s)
	}
	return strings.Join(parts, ",")
}
