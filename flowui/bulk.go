package flowui

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/riverflow/flow"
)

// Bulk actions: cancel or rerun the runs selected on the runs page, or all
// the runs its filter matches, and replay a function's past events. A POST
// without confirm=1 shows what would be done (a dry run's count) with a
// form to confirm it; with confirm=1 the action runs, and the page streams
// a progress line per batch as it commits.

// bulkActions are the values of the runs page's "do" buttons.
var bulkActions = map[string]struct{ verb, done string }{
	"cancel":     {"Cancel", "Cancelled"},
	"cancel-all": {"Cancel", "Cancelled"},
	"rerun":      {"Rerun", "Rerun"},
	"rerun-all":  {"Rerun", "Rerun"},
	"replay":     {"Replay", "Replayed"},
}

// bulkData is what the confirmation and progress pages show.
type bulkData struct {
	Do      string
	Verb    string
	Done    string
	Noun    string // "runs" or "events"
	What    string // the selection, in words
	Total   int
	Hidden  []option // the form fields that carry the selection to the confirmation
	BackURL string
}

// bulkRequest is a bulk action's form, checked.
type bulkRequest struct {
	do       string
	filter   flow.BulkFilter
	step     string // rerun from this step
	function string // replay
	from, to time.Time
	data     bulkData
}

func (h *handler) bulk(w http.ResponseWriter, r *request) {
	br, msg := parseBulk(r.PostForm, time.Now())
	if msg != "" {
		h.badRequest(w, r, msg)
		return
	}
	ctx := r.Context()
	if r.PostForm.Get("confirm") != "1" {
		res, err := br.call(ctx, h.c, &flow.BulkOpts{DryRun: true})
		if err != nil {
			h.bulkFail(w, r, err)
			return
		}
		br.data.Total = res.Total
		h.render(w, r, http.StatusOK, "bulk-confirm", br.data.Verb+" "+br.data.Noun, &br.data)
		return
	}
	h.bulkRun(w, r, br)
}

// bulkFail answers an action's error: the library's refusal of a filter or
// an unknown function is the user's to fix.
func (h *handler) bulkFail(w http.ResponseWriter, r *request, err error) {
	switch {
	case errors.Is(err, flow.ErrNotFound):
		h.renderError(w, r, http.StatusNotFound, "Not found", strings.ReplaceAll(err.Error(), "flow: ", ""))
	case strings.Contains(err.Error(), "empty filter"):
		h.badRequest(w, r, "Choose a filter first (a function, statuses, a time range or an event): the dashboard does not act on every run at once.")
	default:
		h.fail(w, r, err)
	}
}

// bulkRun runs the confirmed action and streams its progress. The action
// goes on if the browser leaves: each batch commits on its own, and a
// repeated action skips what is done.
func (h *handler) bulkRun(w http.ResponseWriter, r *request, br bulkRequest) {
	pd := &pageData{App: h.opts.Title, Title: br.data.Verb + " " + br.data.Noun, Page: "bulk", Base: r.base, Version: h.version, D: &br.data}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	if err := h.tmpl.ExecuteTemplate(w, "bulk-progress-head", pd); err != nil {
		h.opts.Logger.ErrorContext(r.Context(), "flowui: render page", "page", "bulk-progress-head", "error", err)
		return
	}
	_ = rc.Flush()
	ctx := context.WithoutCancel(r.Context())
	res, err := br.call(ctx, h.c, &flow.BulkOpts{Progress: func(p flow.BulkProgress) {
		if p.Done+p.Skipped == 0 {
			return
		}
		fmt.Fprintf(w, "<li class=\"bulk-step\">%s %d of %d (%d skipped)</li>\n", br.data.Done, p.Done, p.Total, p.Skipped)
		_ = rc.Flush()
	}})
	result := bulkResultData{Data: &br.data, Done: res.Done, Skipped: res.Skipped, RunIDs: res.RunIDs}
	if err != nil {
		h.opts.Logger.ErrorContext(ctx, "flowui: bulk action failed", "do", br.do, "error", err)
		result.Error = strings.ReplaceAll(err.Error(), "flow: ", "")
	}
	pd.D = &result
	if err := h.tmpl.ExecuteTemplate(w, "bulk-progress-foot", pd); err != nil {
		h.opts.Logger.ErrorContext(ctx, "flowui: render page", "page", "bulk-progress-foot", "error", err)
	}
}

// bulkResultData is the end of the progress page.
type bulkResultData struct {
	Data    *bulkData
	Done    int
	Skipped int
	RunIDs  []string
	Error   string
}

// More returns how many new runs are not listed (the page lists 100).
func (d *bulkResultData) More() int { return max(0, len(d.RunIDs)-100) }

// Listed returns the new runs the page lists.
func (d *bulkResultData) Listed() []string { return d.RunIDs[:min(len(d.RunIDs), 100)] }

func (br bulkRequest) call(ctx context.Context, c *flow.Client, opts *flow.BulkOpts) (flow.BulkResult, error) {
	switch br.do {
	case "cancel", "cancel-all":
		return c.CancelRuns(ctx, br.filter, opts)
	case "rerun", "rerun-all":
		return c.RerunRuns(ctx, br.filter, br.step, opts)
	default:
		return c.Replay(ctx, br.function, br.from, br.to, &flow.ReplayOpts{BulkOpts: *opts})
	}
}

// parseBulk reads a bulk action's form; msg says what is wrong with it.
func parseBulk(form url.Values, now time.Time) (br bulkRequest, msg string) {
	br.do = form.Get("do")
	a, ok := bulkActions[br.do]
	if !ok {
		return br, "Unknown action " + quote(br.do) + "."
	}
	br.data = bulkData{Do: br.do, Verb: a.verb, Done: a.done, Noun: "runs", BackURL: "runs"}
	hidden := func(name, value string) {
		if value != "" {
			br.data.Hidden = append(br.data.Hidden, option{Value: value, Label: name})
		}
	}
	hidden("do", br.do)
	if br.do == "replay" {
		br.function = strings.TrimSpace(form.Get("function"))
		if br.function == "" {
			return br, "Replay needs a function."
		}
		since := form.Get("since")
		d, ok := sinceDurations[since]
		switch {
		case form.Get("from") != "":
			t, ok := parseTime(form.Get("from"))
			if !ok {
				return br, "From: " + quote(form.Get("from")) + " is not a time."
			}
			br.from = t
		case ok:
			br.from = now.Add(-d)
		default:
			return br, "Replay needs a time range."
		}
		br.to = now
		if to := form.Get("to"); to != "" {
			t, ok := parseTime(to)
			if !ok {
				return br, "To: " + quote(to) + " is not a time."
			}
			br.to = t
		}
		br.data.Noun = "events"
		br.data.What = fmt.Sprintf("events of function %s received from %s to %s that started no run of it",
			br.function, br.from.UTC().Format(time.DateTime), br.to.UTC().Format(time.DateTime))
		br.data.BackURL = "functions"
		hidden("function", br.function)
		hidden("from", br.from.UTC().Format(time.RFC3339Nano))
		hidden("to", br.to.UTC().Format(time.RFC3339Nano))
		return br, ""
	}
	if strings.HasPrefix(br.do, "rerun") {
		br.step = strings.TrimSpace(form.Get("step"))
		hidden("step", br.step)
	}
	if !strings.HasSuffix(br.do, "-all") {
		for _, id := range form["run"] {
			if !isUUID(id) {
				return br, "Not a run ID: " + quote(id) + "."
			}
			br.filter.RunIDs = append(br.filter.RunIDs, id)
			hidden("run", id)
		}
		if len(br.filter.RunIDs) == 0 {
			return br, "Select runs first."
		}
		br.data.What = fmt.Sprintf("%d selected", len(br.filter.RunIDs))
		return br, ""
	}
	f, rq, err := parseRunsFilter(form)
	if err != nil {
		return br, err.Error()
	}
	br.filter = flow.BulkFilter{
		FunctionID: rq.FunctionID, EventID: rq.EventID, Status: rq.Status,
		CreatedAfter: rq.CreatedAfter, CreatedBefore: rq.CreatedBefore,
	}
	// The confirmation carries absolute times, so that it acts on the
	// range it counted.
	hidden("function", f.Function)
	hidden("event", f.Event)
	for _, s := range f.Status {
		hidden("status", s)
	}
	var what []string
	if f.Function != "" {
		what = append(what, "function "+f.Function)
	}
	if len(f.Status) > 0 {
		what = append(what, "status "+strings.Join(f.Status, ", "))
	}
	if f.Event != "" {
		what = append(what, "event "+f.Event)
	}
	if !rq.CreatedAfter.IsZero() {
		hidden("from", rq.CreatedAfter.UTC().Format(time.RFC3339Nano))
		what = append(what, "created from "+rq.CreatedAfter.UTC().Format(time.DateTime))
	}
	if !rq.CreatedBefore.IsZero() {
		hidden("to", rq.CreatedBefore.UTC().Format(time.RFC3339Nano))
		what = append(what, "created before "+rq.CreatedBefore.UTC().Format(time.DateTime))
	}
	br.data.What = "all matching: " + strings.Join(what, "; ")
	f.Before = ""
	br.data.BackURL = f.url()
	return br, ""
}
