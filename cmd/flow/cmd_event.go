package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/riverflow/flow"
)

var eventCommand = &command{
	name:    "event",
	args:    "[flags] ID",
	summary: "show an event and the runs it started, resumed or cancelled",
	help: `
Event shows a stored event: its name, times and data, the runs it started,
and the runs it did not start but resumed (it was the event a wait step waited
for) or cancelled (a CancelOn matched it), each with its function and status.

ID is the event's ID, or its start or end (with or without hyphens) if no
other event's ID starts or ends so.
`,
	flags: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
		dbURL := databaseFlag(fs)
		asJSON := fs.Bool("json", false, "print JSON")
		return func(ctx context.Context, e *env, args []string) error {
			if len(args) != 1 {
				return usagef("want one event ID, got %d arguments", len(args))
			}
			c, pool, err := e.openClient(ctx, *dbURL, "flow")
			if err != nil {
				return err
			}
			defer pool.Close()
			ev, err := findEvent(ctx, c, args[0])
			if err != nil {
				return err
			}
			if *asJSON {
				return writeJSON(e.stdout, toEventJSON(ev))
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
			row := func(label, value string) { fmt.Fprintf(tw, "%s\t%s\n", label, value) }
			row("Event:", ev.ID)
			row("Name:", ev.Name)
			if ev.DedupeID != "" {
				row("Sender's ID:", ev.DedupeID)
			}
			row("Time:", fmtTime(ev.TS))
			row("Received:", fmtTime(ev.ReceivedAt))
			row("Data:", oneLine(compactJSON(ev.Data), valueWidth))
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintln(e.stdout)
			return writeEventRuns(e.stdout, ev.Runs, ev.Affected, true)
		}
	},
}

// writeEventRuns prints the runs an event started, resumed and cancelled,
// one a line: what it did, the run, its function, its status (withStatus)
// and, for a resumed run, the wait step.
func writeEventRuns(w io.Writer, started []*flow.Run, affected []flow.EventEffect, withStatus bool) error {
	if len(started) == 0 && len(affected) == 0 {
		_, err := fmt.Fprintln(w, "No runs started, resumed or cancelled.")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	line := func(what, runID, fn string, status flow.RunStatus, step string) {
		if withStatus {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", what, runID, fn, status, step)
		} else {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", what, runID, fn, step)
		}
	}
	for _, r := range started {
		line("started", r.ID, r.FunctionID, r.Status, "")
	}
	for _, f := range affected {
		step := ""
		if f.StepID != "" {
			step = "step " + f.StepID
		}
		line(f.Effect, f.RunID, f.FunctionID, f.RunStatus, step)
	}
	return tw.Flush()
}

// The JSON shape of 'flow event -json'.

type eventJSON struct {
	ID         string          `json:"id"`
	Name       string          `json:"name"`
	DedupeID   string          `json:"dedupe_id,omitempty"`
	TS         time.Time       `json:"ts"`
	ReceivedAt time.Time       `json:"received_at"`
	Data       json.RawMessage `json:"data"`
	Started    []eventRunJSON  `json:"started"`
	Resumed    []eventRunJSON  `json:"resumed"`
	Cancelled  []eventRunJSON  `json:"cancelled"`
}

type eventRunJSON struct {
	ID         string         `json:"id"`
	FunctionID string         `json:"function_id"`
	Status     flow.RunStatus `json:"status,omitempty"`
	StepID     string         `json:"step_id,omitempty"`
}

func toEventJSON(ev *flow.EventInfo) eventJSON {
	out := eventJSON{ID: ev.ID, Name: ev.Name, DedupeID: ev.DedupeID, TS: ev.TS, ReceivedAt: ev.ReceivedAt, Data: ev.Data}
	out.Started, out.Resumed, out.Cancelled = eventRunsJSON(ev.Runs, ev.Affected)
	return out
}

// eventRunsJSON sorts an event's runs into those it started, resumed and
// cancelled (never nil: JSON lists them as []).
func eventRunsJSON(runs []*flow.Run, affected []flow.EventEffect) (started, resumed, cancelled []eventRunJSON) {
	started, resumed, cancelled = []eventRunJSON{}, []eventRunJSON{}, []eventRunJSON{}
	for _, r := range runs {
		started = append(started, eventRunJSON{ID: r.ID, FunctionID: r.FunctionID, Status: r.Status})
	}
	for _, f := range affected {
		j := eventRunJSON{ID: f.RunID, FunctionID: f.FunctionID, Status: f.RunStatus, StepID: f.StepID}
		if f.Effect == "cancelled" {
			cancelled = append(cancelled, j)
		} else {
			resumed = append(resumed, j)
		}
	}
	return started, resumed, cancelled
}
