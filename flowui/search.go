package flowui

import (
	"errors"
	"net/http"
	"strings"

	"github.com/riverflow/flow"
)

// searchData is the search page: what was asked, and the runs and events
// it fits when it fits more than one (or none).
type searchData struct {
	Query      string
	Runs       []string
	MoreRuns   bool
	Events     []string
	MoreEvents bool
}

// search finds a run or an event by any unique start or end of its ID (the
// search box; the pages show the last 12 digits). One match: a redirect to
// its page. Several: a page listing them. None: a 404 page saying so.
func (h *handler) search(w http.ResponseWriter, r *request) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	if q == "" {
		redirect(w, r, "runs")
		return
	}
	d := &searchData{Query: q}
	var amb *flow.AmbiguousIDError
	run, runErr := h.c.FindRun(r.Context(), q)
	switch {
	case errors.As(runErr, &amb):
		d.Runs, d.MoreRuns = amb.Candidates, amb.More
	case runErr == nil:
		d.Runs = []string{run.ID}
	case !errors.Is(runErr, flow.ErrNotFound):
		h.fail(w, r, runErr)
		return
	}
	ev, evErr := h.c.FindEvent(r.Context(), q)
	switch {
	case errors.As(evErr, &amb):
		d.Events, d.MoreEvents = amb.Candidates, amb.More
	case evErr == nil:
		d.Events = []string{ev.ID}
	case !errors.Is(evErr, flow.ErrNotFound):
		h.fail(w, r, evErr)
		return
	}
	switch {
	case len(d.Runs) == 1 && len(d.Events) == 0:
		redirect(w, r, "runs/"+d.Runs[0])
	case len(d.Events) == 1 && len(d.Runs) == 0:
		redirect(w, r, "events/"+d.Events[0])
	case len(d.Runs) == 0 && len(d.Events) == 0:
		h.render(w, r, http.StatusNotFound, "search", "Search", d)
	default:
		h.render(w, r, http.StatusOK, "search", "Search", d)
	}
}
