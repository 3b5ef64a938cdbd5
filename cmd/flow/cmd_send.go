package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/riverflow/flow"
)

var sendCommand = &command{
	name:    "send",
	args:    "[flags] NAME [JSON]",
	summary: "send an event and show the runs it started, resumed or cancelled",
	help: `
Send stores an event named NAME with JSON as its data (default {}) and starts
the runs of the functions it triggers, as flow.Client.Send does. It prints the
event's ID and the ID and function of each run it started ("run"), then the
runs it resumed (a wait step waited for it: "resumed", with the step) and
cancelled (a CancelOn matched it: "cancelled"). The runs execute in the
application's processes (those that started a flow.Client), not here.

With -id, an event whose ID was seen in the last 24 hours is accepted and
ignored; send then prints the first event's ID and its runs.
`,
	flags: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
		dbURL := databaseFlag(fs)
		queue := queueFlag(fs)
		id := fs.String("id", "", "deduplication `ID` of the event (flow.Event.ID)")
		ts := fs.String("ts", "", "when the event happened, as RFC 3339 (default now); a future time delays its runs")
		asJSON := fs.Bool("json", false, "print JSON")
		return func(ctx context.Context, e *env, args []string) error {
			if len(args) < 1 || len(args) > 2 {
				return usagef("want an event name and optionally its JSON data, got %d arguments", len(args))
			}
			data := json.RawMessage(`{}`)
			if len(args) == 2 {
				if !json.Valid([]byte(args[1])) {
					return usagef("the event data is not valid JSON: %s", oneLine(args[1], 80))
				}
				data = json.RawMessage(args[1])
			}
			ev := flow.Event{ID: *id, Name: args[0], Data: data}
			if *ts != "" {
				t, err := time.Parse(time.RFC3339Nano, *ts)
				if err != nil {
					return usagef("invalid -ts %q: want RFC 3339, such as 2025-01-02T15:04:05Z", *ts)
				}
				ev.TS = t
			}

			c, pool, err := e.openClient(ctx, *dbURL, *queue)
			if err != nil {
				return err
			}
			defer pool.Close()
			ids, err := c.Send(ctx, ev)
			if errors.Is(err, flow.ErrInvalidEvent) || errors.Is(err, flow.ErrEventTooLarge) {
				return usagef("%v", err)
			}
			if err != nil {
				return err
			}
			runs, err := c.ListRuns(ctx, flow.RunFilter{EventID: ids[0], Limit: 1000})
			if err != nil {
				return err
			}
			// The waits it resumed and the runs it cancelled (CancelOn),
			// in Send's transaction: they are there when Send returns.
			stored, err := c.GetEvent(ctx, ids[0])
			if err != nil {
				return err
			}

			if *asJSON {
				type runRef struct {
					ID         string `json:"id"`
					FunctionID string `json:"function_id"`
				}
				out := struct {
					EventID   string         `json:"event_id"`
					Runs      []runRef       `json:"runs"`
					Resumed   []eventRunJSON `json:"resumed"`
					Cancelled []eventRunJSON `json:"cancelled"`
				}{EventID: ids[0], Runs: []runRef{}}
				for i := len(runs) - 1; i >= 0; i-- {
					out.Runs = append(out.Runs, runRef{ID: runs[i].ID, FunctionID: runs[i].FunctionID})
				}
				_, out.Resumed, out.Cancelled = eventRunsJSON(nil, stored.Affected)
				return writeJSON(e.stdout, out)
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintf(tw, "event\t%s\t%s\n", ids[0], ev.Name)
			for i := len(runs) - 1; i >= 0; i-- { // oldest first
				fmt.Fprintf(tw, "run\t%s\t%s\n", runs[i].ID, runs[i].FunctionID)
			}
			for _, f := range stored.Affected {
				if f.Effect == "cancelled" {
					fmt.Fprintf(tw, "cancelled\t%s\t%s\n", f.RunID, f.FunctionID)
				} else {
					fmt.Fprintf(tw, "resumed\t%s\t%s\tstep %s\n", f.RunID, f.FunctionID, f.StepID)
				}
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			switch {
			case len(runs) == 0 && len(stored.Affected) == 0:
				fmt.Fprintln(e.stderr, "no runs started: no registered function is triggered by this event, and no waiting run wanted it")
			case len(runs) == 0:
				fmt.Fprintln(e.stderr, "no runs started (no registered function is triggered by this event)")
			}
			return nil
		}
	},
}
