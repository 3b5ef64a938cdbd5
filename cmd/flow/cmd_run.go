package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/riverflow/flow"
)

var runCommand = &command{
	name:    "run",
	args:    "[flags] ID",
	summary: "show a run and its steps as a timeline",
	help: `
Run shows a run: its function, status, event, times, output and error, then
its steps in the order they first ran, as a timeline: each step's ID, kind,
status, attempts, when it started (from the run's first execution; negative
for a result kept from the run it reran from), how long it took, a bar placing
it in the run, and its output or error (cut to one line; -json shows them
whole). A wait shows the event it waits for and until when, then the event it
got; a sleep, until when; an invoke, the run it waits for; a step that failed
an attempt, its error and when it is retried, and under it each failed
attempt: when it started, how long it took and its error. A rerun says which
run it reran, and from which step; a wait that an event resumed, which event.

ID is the run's ID, or its start or end (with or without hyphens) if no other
run's ID starts or ends so: the dashboard shows the last 12 digits.
`,
	flags: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
		dbURL := databaseFlag(fs)
		asJSON := fs.Bool("json", false, "print JSON, with outputs and errors whole")
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
			if *asJSON {
				return writeJSON(e.stdout, toRunJSON(r))
			}
			return writeRun(e, r, time.Now())
		}
	},
}

const (
	barWidth   = 24
	noteWidth  = 72
	valueWidth = 100
)

// writeRun prints a run's header and its steps as a timeline.
func writeRun(e *env, r *flow.Run, now time.Time) error {
	truncated := false
	cut := func(s string, n int) string {
		out := oneLine(s, n)
		truncated = truncated || out != strings.Join(strings.Fields(s), " ")
		return out
	}

	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	row := func(label, value string) { fmt.Fprintf(tw, "%s\t%s\n", label, value) }
	row("Run:", r.ID)
	row("Function:", r.FunctionID)
	row("Status:", runStatus(r))
	row("Event:", r.EventID)
	if r.ParentRunID != "" {
		row("Invoked by:", "run "+r.ParentRunID)
	}
	if r.RerunOf != "" {
		from := "from the top"
		if r.RerunFromStep != "" {
			from = "from step " + r.RerunFromStep
		}
		row("Rerun of:", fmt.Sprintf("run %s (%s)", r.RerunOf, from))
	}
	if r.CancelledByEvent != "" {
		row("Cancelled by:", "event "+r.CancelledByEvent)
	}
	row("Created:", fmtTime(r.CreatedAt))
	if r.StartedAt != nil {
		row("Started:", fmt.Sprintf("%s (+%s)", fmtTime(*r.StartedAt), fmtDur(r.StartedAt.Sub(r.CreatedAt))))
	}
	if r.EndedAt != nil {
		row("Ended:", fmtTime(*r.EndedAt))
	}
	row("Duration:", runDuration(r, now))
	if r.Attempt > 0 {
		row("Attempts:", fmt.Sprintf("%d failed outside steps", r.Attempt))
	}
	if r.WakeAt != nil && !r.Status.Ended() {
		row("Wakes at:", fmt.Sprintf("%s (in %s)", fmtTime(*r.WakeAt), fmtDur(r.WakeAt.Sub(now))))
	}
	if len(r.Output) > 0 {
		row("Output:", cut(compactJSON(r.Output), valueWidth))
	}
	if r.Error != "" {
		row("Error:", cut(runError(r), valueWidth))
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintln(e.stdout)
	if len(r.Steps) == 0 {
		fmt.Fprintln(e.stdout, "No steps.")
		return nil
	}

	// The timeline spans the run's first execution to its end (or now).
	t0 := runStart(r)
	t1 := now
	if r.EndedAt != nil {
		t1 = *r.EndedAt
	}
	for _, st := range r.Steps {
		if st.EndedAt != nil && st.EndedAt.After(t1) {
			t1 = *st.EndedAt
		}
	}

	tw = tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STEP\tKIND\tSTATUS\tATTEMPTS\tSTART\tDURATION\tTIMELINE\tOUTPUT / ERROR")
	for _, st := range r.Steps {
		end, ongoing := now, true
		if st.EndedAt != nil {
			end, ongoing = *st.EndedAt, false
		}
		if r.Status.Ended() && ongoing { // cancelled mid-step
			end = t1
		}
		dur := fmtDur(end.Sub(st.StartedAt))
		if ongoing && !r.Status.Ended() {
			dur += "…"
		}
		offset := "+" + fmtDur(st.StartedAt.Sub(t0))
		timeline := bar(t0, t1, st.StartedAt, end, ongoing && !r.Status.Ended(), barWidth)
		if end.Before(t0) {
			// A result kept from the run this one reran from (rerun -from).
			offset = fmtDur(st.StartedAt.Sub(t0))
			timeline = "|" + strings.Repeat(" ", barWidth) + "|"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n",
			st.ID, st.Kind, st.Status, st.Attempts, offset, dur, timeline, cut(stepNote(st, now), noteWidth))
		for _, a := range st.FailedAttempts {
			fmt.Fprintf(tw, "  attempt %d\t\tfailed\t\t+%s\t%s\t%s\t%s\n",
				a.Attempt, fmtDur(a.StartedAt.Sub(t0)), fmtDur(a.Duration()), bar(t0, t1, a.StartedAt, a.EndedAt, false, barWidth),
				cut("error: "+a.Error, noteWidth))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if truncated {
		fmt.Fprintf(e.stdout, "\nLong values are cut; 'flow run -json %s' shows them whole.\n", r.ID)
	}
	return nil
}

// stepNote is the last column of a step's row: what it waits for, its
// error, or its output.
func stepNote(st flow.RunStep, now time.Time) string {
	until := func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return " until " + fmtWhen(*t, now)
	}
	switch st.Status {
	case "errored":
		return fmt.Sprintf("error: %s; retry%s", st.Error, strings.Replace(until(st.WakeAt), " until", " at", 1))
	case "failed":
		return "error: " + st.Error
	}
	switch st.Kind {
	case "wait":
		what := describeWait(st.Detail)
		switch st.Status {
		case "waiting":
			return what + until(st.WakeAt)
		case "timed_out":
			return "timed out: " + what
		case "completed":
			if st.EventID != "" {
				// The event's last 12 digits find it: 'flow event …' + them.
				return "event …" + st.EventID[max(len(st.EventID)-12, 0):] + ": " + describeEvent(st.Output)
			}
			return describeEvent(st.Output)
		}
	case "sleep":
		if st.Status == "sleeping" {
			return "sleeping" + until(st.WakeAt)
		}
		return "slept" + until(st.WakeAt)
	case "invoke":
		what := describeInvoke(st.Detail)
		switch st.Status {
		case "waiting":
			return what + until(st.WakeAt)
		case "timed_out":
			return "timed out: " + what
		}
	}
	if st.Error != "" {
		return "error: " + st.Error
	}
	if len(st.Output) > 0 {
		return compactJSON(st.Output)
	}
	return ""
}

// describeWait describes a wait's detail: the event (or events) it waits
// for, with their match and condition.
func describeWait(detail json.RawMessage) string {
	type waitDetail struct {
		Event string `json:"event"`
		Match string `json:"match"`
		If    string `json:"if"`
	}
	var ws []waitDetail
	if err := json.Unmarshal(detail, &ws); err != nil {
		var w waitDetail
		if err := json.Unmarshal(detail, &w); err != nil || w.Event == "" {
			return "an event"
		}
		ws = []waitDetail{w}
	}
	parts := make([]string, 0, len(ws))
	for _, w := range ws {
		s := "event " + w.Event
		var conds []string
		if w.Match != "" {
			conds = append(conds, "match "+w.Match)
		}
		if w.If != "" {
			conds = append(conds, "if "+w.If)
		}
		if len(conds) > 0 {
			s += " (" + strings.Join(conds, ", ") + ")"
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		return "an event"
	}
	return strings.Join(parts, " or ")
}

// describeEvent describes the event a wait received: its name and data.
func describeEvent(output json.RawMessage) string {
	var ev struct {
		Name string          `json:"name"`
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(output, &ev); err != nil || ev.Name == "" {
		return compactJSON(output)
	}
	return ev.Name + " " + compactJSON(ev.Data)
}

// describeInvoke describes an invoke's detail: the function and child run.
func describeInvoke(detail json.RawMessage) string {
	var d struct {
		FunctionID string `json:"function_id"`
		ChildRunID string `json:"child_run_id"`
	}
	if err := json.Unmarshal(detail, &d); err != nil || d.FunctionID == "" {
		return "an invoked run"
	}
	return fmt.Sprintf("run %s of function %s", d.ChildRunID, d.FunctionID)
}
