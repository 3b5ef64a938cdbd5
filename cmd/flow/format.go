package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/riverflow/flow"
)

// warnLogger logs warnings and errors to w.
func warnLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

const timeLayout = "2006-01-02 15:04:05"

// fmtTime formats t in local time, to the second.
func fmtTime(t time.Time) string { return t.Local().Format(timeLayout) }

// fmtDur formats a duration briefly: 0ms, 850ms, 1.2s, 42s, 3m12s, 2h05m.
func fmtDur(d time.Duration) string {
	if d < 0 {
		return "-" + fmtDur(-d)
	}
	if d < time.Second {
		return fmt.Sprintf("%dms", d.Milliseconds())
	}
	if d < 10*time.Second {
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	if d = d.Round(time.Second); d < time.Minute {
		return fmt.Sprintf("%ds", int(d.Seconds()))
	}
	if d < time.Hour {
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	d = d.Round(time.Minute)
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

// fmtWhen formats t in local time briefly: without the date if it is now's,
// without the year if it is now's.
func fmtWhen(t, now time.Time) string {
	t, now = t.Local(), now.Local()
	switch {
	case t.Year() != now.Year():
		return t.Format(timeLayout)
	case t.YearDay() != now.YearDay():
		return t.Format("Jan 2 15:04:05")
	default:
		return t.Format("15:04:05")
	}
}

// runError is a run's error for display: without the library's prefix and
// the run's own ID, which is shown next to it.
func runError(r *flow.Run) string {
	return strings.ReplaceAll(strings.TrimPrefix(r.Error, "flow: "), " of run "+r.ID, "")
}

// runStart is when a run's timeline starts: its first execution, or its
// creation if it has not started.
func runStart(r *flow.Run) time.Time {
	if r.StartedAt != nil {
		return *r.StartedAt
	}
	return r.CreatedAt
}

// runDuration is how long a run has taken: from its first execution to its
// end, or to now (with an ellipsis) if it has not ended. "-" if it has not
// started.
func runDuration(r *flow.Run, now time.Time) string {
	if r.StartedAt == nil {
		return "-"
	}
	if r.EndedAt != nil {
		return fmtDur(r.EndedAt.Sub(*r.StartedAt))
	}
	return fmtDur(now.Sub(*r.StartedAt)) + "…"
}

// oneLine makes s fit one line of at most max characters: newlines and tabs
// become spaces and a longer text is cut with an ellipsis.
func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if max <= 0 || utf8.RuneCountInString(s) <= max {
		return s
	}
	r := []rune(s)
	return string(r[:max-1]) + "…"
}

// compactJSON returns raw without insignificant whitespace.
func compactJSON(raw json.RawMessage) string {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return string(raw)
	}
	return b.String()
}

// bar draws a span of a timeline width characters wide that covers
// [start, end) of [t0, t1): filled for a span that is over, shaded for one
// still going on.
func bar(t0, t1, start, end time.Time, ongoing bool, width int) string {
	total := t1.Sub(t0)
	cells := make([]rune, width)
	for i := range cells {
		cells[i] = ' '
	}
	if total <= 0 {
		total = 1
	}
	from := int(float64(start.Sub(t0)) / float64(total) * float64(width))
	to := int(float64(end.Sub(t0))/float64(total)*float64(width) + 0.999)
	from = min(max(from, 0), width-1)
	to = min(max(to, from+1), width)
	fill := '█'
	if ongoing {
		fill = '░'
	}
	for i := from; i < to; i++ {
		cells[i] = fill
	}
	return "|" + string(cells) + "|"
}

// The JSON shapes of -json output.

type runJSON struct {
	ID               string          `json:"id"`
	FunctionID       string          `json:"function_id"`
	EventID          string          `json:"event_id"`
	Status           flow.RunStatus  `json:"status"`
	Paused           bool            `json:"paused,omitempty"`
	Output           json.RawMessage `json:"output,omitempty"`
	Error            string          `json:"error,omitempty"`
	Attempt          int             `json:"attempt"`
	WakeAt           *time.Time      `json:"wake_at,omitempty"`
	ParentRunID      string          `json:"parent_run_id,omitempty"`
	RerunOf          string          `json:"rerun_of,omitempty"`
	RerunFromStep    string          `json:"rerun_from_step,omitempty"`
	CancelledByEvent string          `json:"cancelled_by_event,omitempty"`
	CreatedAt        time.Time       `json:"created_at"`
	StartedAt        *time.Time      `json:"started_at,omitempty"`
	EndedAt          *time.Time      `json:"ended_at,omitempty"`
	Steps            []stepJSON      `json:"steps,omitempty"`
}

type stepJSON struct {
	ID             string          `json:"id"`
	Kind           string          `json:"kind"`
	Status         string          `json:"status"`
	Attempts       int             `json:"attempts"`
	Output         json.RawMessage `json:"output,omitempty"`
	Error          string          `json:"error,omitempty"`
	WakeAt         *time.Time      `json:"wake_at,omitempty"`
	Detail         json.RawMessage `json:"detail,omitempty"`
	StartedAt      time.Time       `json:"started_at"`
	EndedAt        *time.Time      `json:"ended_at,omitempty"`
	FailedAttempts []attemptJSON   `json:"failed_attempts,omitempty"`
	EventID        string          `json:"event_id,omitempty"`
}

type attemptJSON struct {
	Attempt    int       `json:"attempt"`
	StartedAt  time.Time `json:"started_at"`
	EndedAt    time.Time `json:"ended_at"`
	DurationMS int64     `json:"duration_ms"`
	Error      string    `json:"error"`
}

func toRunJSON(r *flow.Run) runJSON {
	out := runJSON{
		ID: r.ID, FunctionID: r.FunctionID, EventID: r.EventID, Status: r.Status, Paused: r.Paused, Output: r.Output,
		Error: r.Error, Attempt: r.Attempt, WakeAt: r.WakeAt, ParentRunID: r.ParentRunID,
		CreatedAt: r.CreatedAt, StartedAt: r.StartedAt, EndedAt: r.EndedAt,
		RerunOf: r.RerunOf, RerunFromStep: r.RerunFromStep, CancelledByEvent: r.CancelledByEvent,
	}
	for _, st := range r.Steps {
		sj := stepJSON{
			ID: st.ID, Kind: st.Kind, Status: st.Status, Attempts: st.Attempts, Output: st.Output,
			Error: st.Error, WakeAt: st.WakeAt, Detail: st.Detail, StartedAt: st.StartedAt, EndedAt: st.EndedAt,
			EventID: st.EventID,
		}
		for _, a := range st.FailedAttempts {
			sj.FailedAttempts = append(sj.FailedAttempts, attemptJSON{Attempt: a.Attempt, StartedAt: a.StartedAt,
				EndedAt: a.EndedAt, DurationMS: a.Duration().Milliseconds(), Error: a.Error})
		}
		out.Steps = append(out.Steps, sj)
	}
	return out
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// runStatus is a run's status as the tables show it: "queued (paused)" for a
// run its function's pause holds.
func runStatus(r *flow.Run) string {
	if r.Paused {
		return string(r.Status) + " (paused)"
	}
	return string(r.Status)
}
