package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/riverflow/flow"
)

// bulkFlags are the flags that select runs for a bulk cancel or rerun.
type bulkFlags struct {
	function, status, eventName, since, until *string
	yes                                       *bool
	batch                                     *int
}

func declareBulkFlags(fs *flag.FlagSet) *bulkFlags {
	return &bulkFlags{
		function:  fs.String("function", "", "select the runs of the function with this `ID`"),
		status:    fs.String("status", "", "select runs with these `statuses`, comma-separated: "+joinStatuses(allStatuses)),
		eventName: fs.String("event-name", "", "select the runs whose triggering event has this `name`"),
		since:     fs.String("since", "", "select runs created since `T`: a duration ago (1h, 30m) or an RFC 3339 time"),
		until:     fs.String("until", "", "select runs created before `T`: a duration ago or an RFC 3339 time"),
		yes:       fs.Bool("yes", false, "do it without asking for confirmation"),
		batch:     fs.Int("batch", 200, "handle `N` runs per transaction"),
	}
}

// set reports whether any selecting flag was given.
func (b *bulkFlags) set() bool {
	return *b.function != "" || *b.status != "" || *b.eventName != "" || *b.since != "" || *b.until != ""
}

// filter returns the selection the flags describe, as of now.
func (b *bulkFlags) filter(now time.Time) (flow.BulkFilter, error) {
	f := flow.BulkFilter{FunctionID: *b.function, EventName: *b.eventName}
	if *b.status != "" {
		for s := range strings.SplitSeq(*b.status, ",") {
			st := flow.RunStatus(strings.TrimSpace(s))
			if !slices.Contains(allStatuses, st) {
				return f, usagef("unknown status %q (want %s)", st, joinStatuses(allStatuses))
			}
			f.Status = append(f.Status, st)
		}
	}
	var err error
	if f.CreatedAfter, err = parseSince("since", *b.since, now); err != nil {
		return f, err
	}
	if f.CreatedBefore, err = parseSince("until", *b.until, now); err != nil {
		return f, err
	}
	if *b.batch < 1 || *b.batch > 10_000 {
		return f, usagef("-batch must be between 1 and 10000, got %d", *b.batch)
	}
	return f, nil
}

// describe says in words what the flags select.
func (b *bulkFlags) describe() string {
	var parts []string
	add := func(name, v string) {
		if v != "" {
			parts = append(parts, name+" "+v)
		}
	}
	add("function", *b.function)
	add("status", *b.status)
	add("event", *b.eventName)
	add("since", *b.since)
	add("until", *b.until)
	return strings.Join(parts, ", ")
}

// parseSince reads a -since or -until value: "" (no bound), a duration ago,
// or an RFC 3339 time.
func parseSince(flagName, v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(v); err == nil {
		if d < 0 {
			return time.Time{}, usagef("-%s %s: want a positive duration (how long ago)", flagName, v)
		}
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, usagef("-%s %q: want a duration ago (1h, 30m) or an RFC 3339 time (2026-01-02T15:04:05Z)", flagName, v)
	}
	return t, nil
}

// confirm asks the question on stdout and reads the answer: only "y" or
// "yes" goes ahead.
func confirm(e *env, question string) bool {
	fmt.Fprintf(e.stdout, "%s [y/N] ", question)
	line, _ := bufio.NewReader(e.stdin).ReadString('\n')
	answer := strings.ToLower(strings.TrimSpace(line))
	if answer == "y" || answer == "yes" {
		return true
	}
	fmt.Fprintln(e.stdout, "nothing done")
	return false
}

// bulkAction is one of the bulk commands: its verb for messages and its
// call into the client.
type bulkAction struct {
	verb, done, noun string // "cancel", "cancelled", "runs"
	call             func(opts *flow.BulkOpts) (flow.BulkResult, error)
}

// runBulk counts the selection (what, in words), asks for confirmation
// unless yes, and runs the action with a progress line per batch.
func runBulk(e *env, a bulkAction, what string, yes bool, batch int) error {
	dry, err := a.call(&flow.BulkOpts{DryRun: true})
	if err != nil {
		return err
	}
	if dry.Total == 0 {
		fmt.Fprintf(e.stdout, "nothing to %s: no %s match (%s)\n", a.verb, a.noun, what)
		return nil
	}
	fmt.Fprintf(e.stdout, "%d %s match (%s)\n", dry.Total, a.noun, what)
	if !yes && !confirm(e, fmt.Sprintf("%s them?", upperFirst(a.verb))) {
		return nil
	}
	res, err := a.call(&flow.BulkOpts{BatchSize: batch, Progress: func(p flow.BulkProgress) {
		if p.Done+p.Skipped > 0 {
			fmt.Fprintf(e.stdout, "%s %d of %d (%d skipped)\n", a.done, p.Done, p.Total, p.Skipped)
		}
	}})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s %d %s, skipped %d\n", a.done, res.Done, a.noun, res.Skipped)
	for _, id := range res.RunIDs {
		fmt.Fprintf(e.stdout, "run %s\n", id)
	}
	return nil
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

var replayCommand = &command{
	name:    "replay",
	args:    "-function ID -since T [flags]",
	summary: "start a function for past events that match its trigger",
	help: `
Replay starts a function for the stored events received in a time range that
match its trigger (name and If), as flow.Client.Replay does: flow control
applies as to a sent event. Events that already started a run of the
function are skipped unless -all.

Use it after deploying a new function: events sent before any process had
registered it started no run of it. The function must be registered (a
process that defines it has started once).

It prints how many events match and asks for confirmation unless -yes, then a
progress line per batch and the runs it started.
`,
	flags: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
		dbURL := databaseFlag(fs)
		queue := queueFlag(fs)
		function := fs.String("function", "", "the `ID` of the function to start (required)")
		since := fs.String("since", "", "events received since `T`: a duration ago (1h, 30m) or an RFC 3339 time (required)")
		until := fs.String("until", "", "events received before `T` (a duration ago or an RFC 3339 time); default now")
		all := fs.Bool("all", false, "also events that already started a run of the function")
		yes := fs.Bool("yes", false, "do it without asking for confirmation")
		batch := fs.Int("batch", 200, "handle `N` events per transaction")
		return func(ctx context.Context, e *env, args []string) error {
			if len(args) > 0 {
				return usagef("unexpected arguments: %q", args)
			}
			if *function == "" || *since == "" {
				return usagef("-function and -since are required")
			}
			if *batch < 1 || *batch > 10_000 {
				return usagef("-batch must be between 1 and 10000, got %d", *batch)
			}
			now := time.Now()
			from, err := parseSince("since", *since, now)
			if err != nil {
				return err
			}
			to, err := parseSince("until", *until, now)
			if err != nil {
				return err
			}
			if to.IsZero() {
				to = now
			}
			c, pool, err := e.openClient(ctx, *dbURL, *queue)
			if err != nil {
				return err
			}
			defer pool.Close()
			what := fmt.Sprintf("function %s, since %s", *function, *since)
			if *until != "" {
				what += ", until " + *until
			}
			return runBulk(e, bulkAction{verb: "replay", done: "replayed", noun: "events", call: func(o *flow.BulkOpts) (flow.BulkResult, error) {
				return c.Replay(ctx, *function, from, to, &flow.ReplayOpts{BulkOpts: *o, IncludeStarted: *all})
			}}, what, *yes, *batch)
		}
	},
}
