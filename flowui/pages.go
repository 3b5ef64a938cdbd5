package flowui

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/riverflow/flow"
)

// pageData is what every page's template gets.
type pageData struct {
	App      string
	Title    string
	Page     string
	Base     string
	Version  string
	CSRF     string
	ReadOnly bool
	RiverUI  string
	D        any
}

// hasForms names the templates with action forms, which need a form token.
var hasForms = map[string]bool{"run": true, "run-live": true, "send": true, "runs": true, "functions": true, "bulk-confirm": true}

// render writes the page or fragment template tmpl with status. The page is
// rendered into a buffer first, so that a template error is a clean 500.
func (h *handler) render(w http.ResponseWriter, r *request, status int, tmpl, title string, d any) {
	pd := &pageData{
		App: h.opts.Title, Title: title, Page: tmpl, Base: r.base, Version: h.version,
		ReadOnly: h.opts.ReadOnly, RiverUI: h.opts.RiverUIURL, D: d,
	}
	if hasForms[tmpl] && !h.opts.ReadOnly {
		pd.CSRF = h.csrfToken(w, r)
	}
	var buf bytes.Buffer
	if err := h.tmpl.ExecuteTemplate(&buf, tmpl, pd); err != nil {
		h.opts.Logger.ErrorContext(r.Context(), "flowui: render page", "page", tmpl, "error", err)
		http.Error(w, "500 internal error", http.StatusInternalServerError)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// isFragment reports whether the request is a live refresh of part of a
// page.
func isFragment(r *request) bool { return r.URL.Query().Get("fragment") == "1" }

// renderLive renders a page, or its live part for a refresh. stop tells the
// page's script that the part will not change any more.
func (h *handler) renderLive(w http.ResponseWriter, r *request, page, fragment, title string, d any, stop bool) {
	if isFragment(r) {
		if stop {
			w.Header().Set("X-Flowui-Poll", "stop")
		}
		h.render(w, r, http.StatusOK, fragment, title, d)
		return
	}
	h.render(w, r, http.StatusOK, page, title, d)
}

type errorData struct {
	Status  int
	Heading string
	Message string
}

func (h *handler) renderError(w http.ResponseWriter, r *request, status int, heading, msg string) {
	h.render(w, r, status, "error", heading, &errorData{Status: status, Heading: heading, Message: msg})
}

func (h *handler) notFound(w http.ResponseWriter, r *request) {
	h.renderError(w, r, http.StatusNotFound, "Not found", "There is nothing at this address.")
}

func (h *handler) badRequest(w http.ResponseWriter, r *request, msg string) {
	h.renderError(w, r, http.StatusBadRequest, "Bad request", msg)
}

// fail answers an error from the client: 404 for ErrNotFound, else 500
// (logged; the page does not show internals).
func (h *handler) fail(w http.ResponseWriter, r *request, err error) {
	if errors.Is(err, flow.ErrNotFound) {
		h.renderError(w, r, http.StatusNotFound, "Not found", "No such run, event or function. It may have been deleted after its retention period.")
		return
	}
	if r.Context().Err() != nil {
		return // the client went away
	}
	h.opts.Logger.ErrorContext(r.Context(), "flowui: request failed", "path", r.local, "error", err)
	h.renderError(w, r, http.StatusInternalServerError, "Error", "The dashboard could not load this page. The service's logs say why.")
}

// Runs.

var allStatuses = []flow.RunStatus{
	flow.RunQueued, flow.RunRunning, flow.RunSleeping, flow.RunWaiting,
	flow.RunCompleted, flow.RunFailed, flow.RunCancelled, flow.RunSkipped,
}

type option struct{ Value, Label string }

var sinceOptions = []option{
	{"", "Any time"}, {"15m", "Last 15 minutes"}, {"1h", "Last hour"}, {"6h", "Last 6 hours"},
	{"24h", "Last 24 hours"}, {"7d", "Last 7 days"}, {"30d", "Last 30 days"},
}

var sinceDurations = map[string]time.Duration{
	"15m": 15 * time.Minute, "1h": time.Hour, "6h": 6 * time.Hour,
	"24h": 24 * time.Hour, "7d": 7 * 24 * time.Hour, "30d": 30 * 24 * time.Hour,
}

// runsFilter is the runs page's query string.
type runsFilter struct {
	Function string
	Status   []string
	Since    string
	From     string
	To       string
	Event    string
	Before   string
	Limit    string
}

// timeLayouts are the forms the From and To filters accept, in UTC unless
// they carry a zone (the browser's datetime-local input sends the first
// two).
var timeLayouts = []string{"2006-01-02T15:04", "2006-01-02T15:04:05", time.RFC3339, "2006-01-02"}

func parseTime(s string) (time.Time, bool) {
	for _, l := range timeLayouts {
		if t, err := time.ParseInLocation(l, s, time.UTC); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

func parseRunsFilter(q url.Values) (runsFilter, flow.RunFilter, error) {
	f := runsFilter{
		Function: strings.TrimSpace(q.Get("function")), Since: q.Get("since"),
		From: strings.TrimSpace(q.Get("from")), To: strings.TrimSpace(q.Get("to")),
		Event: strings.TrimSpace(q.Get("event")), Before: q.Get("before"),
	}
	rq := flow.RunFilter{FunctionID: f.Function, EventID: f.Event, Before: f.Before, Limit: 50, OmitOutput: true}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 500 {
			//lint:ignore ST1005 the dashboard shows this message to a person as it is, as a sentence (handler.runs passes it to badRequest)
			return f, rq, errors.New("The page size must be a number from 1 to 500.")
		}
		f.Limit, rq.Limit = l, n
	}
	for _, s := range q["status"] {
		if s == "" {
			continue
		}
		if !slices.Contains(allStatuses, flow.RunStatus(s)) {
			return f, rq, errors.New("Unknown status " + quote(s) + ".")
		}
		if !slices.Contains(f.Status, s) {
			f.Status = append(f.Status, s)
			rq.Status = append(rq.Status, flow.RunStatus(s))
		}
	}
	if f.Since != "" {
		d, ok := sinceDurations[f.Since]
		if !ok {
			return f, rq, errors.New("Unknown time range " + quote(f.Since) + ".")
		}
		rq.CreatedAfter = time.Now().Add(-d)
	}
	if f.From != "" {
		t, ok := parseTime(f.From)
		if !ok {
			return f, rq, errors.New("From: " + quote(f.From) + " is not a time such as 2006-01-02T15:04 (UTC).")
		}
		if t.After(rq.CreatedAfter) {
			rq.CreatedAfter = t
		}
	}
	if f.To != "" {
		t, ok := parseTime(f.To)
		if !ok {
			return f, rq, errors.New("To: " + quote(f.To) + " is not a time such as 2006-01-02T15:04 (UTC).")
		}
		rq.CreatedBefore = t
	}
	if f.Before != "" && !isUUID(f.Before) {
		//lint:ignore ST1005 the dashboard shows this message to a person as it is, as a sentence (handler.runs passes it to badRequest)
		return f, rq, errors.New("The page cursor is not a run ID.")
	}
	if f.Event != "" && !isUUID(f.Event) {
		//lint:ignore ST1005 the dashboard shows this message to a person as it is, as a sentence (handler.runs passes it to badRequest)
		return f, rq, errors.New("The event filter is not an event ID.")
	}
	return f, rq, nil
}

func quote(s string) string {
	b, _ := json.Marshal(shortText(80, s))
	return string(b)
}

// isUUID reports whether s looks like a UUID, so that nothing else reaches
// a query.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return false
			}
		case !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'):
			return false
		}
	}
	return true
}

// url returns the runs page's URL for the filter.
func (f runsFilter) url(extra ...string) string {
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("function", f.Function)
	for _, s := range f.Status {
		q.Add("status", s)
	}
	set("since", f.Since)
	set("from", f.From)
	set("to", f.To)
	set("event", f.Event)
	set("before", f.Before)
	set("limit", f.Limit)
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	if len(q) == 0 {
		return "runs"
	}
	return "runs?" + q.Encode()
}

// chip is a status filter with its count.
type chip struct {
	Status string
	Label  string
	N      int
	URL    string
	Active bool
}

type runsData struct {
	F         runsFilter
	Functions []string
	Since     []option
	Runs      []*flow.Run
	Chips     []chip
	Filtered  bool
	PollURL   string
	OlderURL  string
	NewestURL string
	ClearURL  string
	TimeRange bool
	// NoWorker are the functions whose runs wait for a worker while no
	// running process defines them.
	NoWorker []flow.FunctionInfo
}

func (h *handler) runs(w http.ResponseWriter, r *request) {
	f, rq, err := parseRunsFilter(r.URL.Query())
	if err != nil {
		h.badRequest(w, r, err.Error())
		return
	}
	ctx := r.Context()
	runs, err := h.c.ListRuns(ctx, rq)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	counts, err := h.counts.get(ctx, h.c, f, flow.RunQuery{
		FunctionID: rq.FunctionID, EventID: rq.EventID, CreatedAfter: rq.CreatedAfter, CreatedBefore: rq.CreatedBefore,
	})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	d := &runsData{
		F: f, Since: sinceOptions, Runs: runs,
		Filtered:  f.Function != "" || len(f.Status) > 0 || f.Since != "" || f.From != "" || f.To != "" || f.Event != "",
		TimeRange: f.From != "" || f.To != "",
	}
	noPage := f
	noPage.Before = ""
	d.PollURL = noPage.url("fragment", "1")
	if f.Before != "" {
		d.PollURL = f.url("fragment", "1")
		d.NewestURL = noPage.url()
	}
	if next := runs.Next(); next != "" {
		older := f
		older.Before = next
		d.OlderURL = older.url()
	}
	d.ClearURL = "runs"
	all := noPage
	all.Status = nil
	d.Chips = append(d.Chips, chip{Label: "All", N: counts.Total(), URL: all.url(), Active: len(f.Status) == 0})
	for _, s := range allStatuses {
		one := all
		one.Status = []string{string(s)}
		d.Chips = append(d.Chips, chip{
			Status: string(s), Label: string(s), N: counts[s], URL: one.url(),
			Active: slices.Contains(f.Status, string(s)),
		})
	}
	if !isFragment(r) {
		fns, err := h.c.ListFunctions(ctx)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		for _, fn := range fns {
			d.Functions = append(d.Functions, fn.ID)
		}
		d.NoWorker = withoutWorker(fns)
		if f.Function != "" && !slices.Contains(d.Functions, f.Function) {
			d.Functions = append(d.Functions, f.Function)
		}
	}
	h.renderLive(w, r, "runs", "runs-live", "Runs", d, false)
}

// A run.

func (h *handler) run(w http.ResponseWriter, r *request) {
	id := r.segs[1]
	run, err := h.c.GetRun(r.Context(), id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	ev, err := h.c.GetEvent(r.Context(), run.EventID)
	if err != nil && !errors.Is(err, flow.ErrNotFound) {
		h.fail(w, r, err)
		return
	}
	v := newRunView(run, ev, h.opts.ReadOnly)
	h.renderLive(w, r, "run", "run-live", "Run "+shortID(run.ID), v, v.Ended)
}

// runRaw serves a whole value of a run: ?part=output|error, or of one of
// its steps (?step=ID&part=output|error|detail).
func (h *handler) runRaw(w http.ResponseWriter, r *request) {
	run, err := h.c.GetRun(r.Context(), r.segs[1])
	if err != nil {
		h.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	part := q.Get("part")
	if !q.Has("step") {
		switch part {
		case "output":
			writeRaw(w, r, run.Output, "")
		case "error":
			writeRaw(w, r, nil, run.Error)
		default:
			h.notFound(w, r)
		}
		return
	}
	for _, st := range run.Steps {
		if st.ID != q.Get("step") {
			continue
		}
		switch part {
		case "output":
			writeRaw(w, r, st.Output, "")
		case "error":
			writeRaw(w, r, nil, st.Error)
		case "detail":
			writeRaw(w, r, st.Detail, "")
		default:
			h.notFound(w, r)
		}
		return
	}
	h.notFound(w, r)
}

// writeRaw serves a JSON value (indented) or a text, as a document that
// cannot run anything.
func writeRaw(w http.ResponseWriter, r *request, raw []byte, text string) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", "default-src 'none'; sandbox; frame-ancestors 'none'")
	hd.Set("Cache-Control", "no-store")
	if raw == nil && text == "" {
		hd.Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte("(no value)\n"))
		return
	}
	if raw != nil {
		var buf bytes.Buffer
		if json.Indent(&buf, raw, "", "  ") == nil {
			raw = buf.Bytes()
		}
		hd.Set("Content-Type", "application/json; charset=utf-8")
		_, _ = w.Write(raw)
		return
	}
	hd.Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte(text))
}

// Actions.

func (h *handler) cancel(w http.ResponseWriter, r *request) {
	id := r.segs[1]
	if _, err := h.c.CancelRun(r.Context(), id); err != nil {
		h.fail(w, r, err)
		return
	}
	redirect(w, r, "runs/"+id)
}

func (h *handler) rerun(w http.ResponseWriter, r *request) {
	ctx := r.Context()
	run, err := h.c.GetRun(ctx, r.segs[1])
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if run.ParentRunID != "" {
		h.renderError(w, r, http.StatusConflict, "Cannot rerun",
			"This run was started by Invoke from run "+run.ParentRunID+": rerun its parent run instead.")
		return
	}
	var newID string
	if step := r.PostForm.Get("step"); step != "" {
		if !slices.ContainsFunc(run.Steps, func(s flow.RunStep) bool { return s.ID == step }) {
			h.renderError(w, r, http.StatusNotFound, "Not found", "The run has no step "+quote(step)+".")
			return
		}
		newID, err = h.c.RerunFrom(ctx, run.ID, step)
	} else {
		newID, err = h.c.Rerun(ctx, run.ID)
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	redirect(w, r, "runs/"+newID)
}

// Events.

type eventsData struct {
	Name      string
	ShowEnded bool
	Events    []*flow.EventInfo
	PollURL   string
	OlderURL  string
	NewestURL string
	Filtered  bool
}

func eventsURL(name string, showEnded bool, extra ...string) string {
	q := url.Values{}
	if name != "" {
		q.Set("name", name)
	}
	if showEnded {
		q.Set("ended", "1")
	}
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	if len(q) == 0 {
		return "events"
	}
	return "events?" + q.Encode()
}

func (h *handler) events(w http.ResponseWriter, r *request) {
	q := r.URL.Query()
	d := &eventsData{Name: strings.TrimSpace(q.Get("name")), ShowEnded: q.Get("ended") == "1"}
	before := q.Get("before")
	if before != "" && !isUUID(before) {
		h.badRequest(w, r, "The page cursor is not an event ID.")
		return
	}
	const limit = 50
	evs, err := h.c.ListEvents(r.Context(), flow.EventFilter{
		Name: d.Name, Before: before, Limit: limit, HideRunEnded: !d.ShowEnded, MaxDataBytes: 1 << 10,
	})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	d.Events = evs
	d.Filtered = d.Name != ""
	if before != "" {
		d.PollURL = eventsURL(d.Name, d.ShowEnded, "before", before, "fragment", "1")
		d.NewestURL = eventsURL(d.Name, d.ShowEnded)
	} else {
		d.PollURL = eventsURL(d.Name, d.ShowEnded, "fragment", "1")
	}
	if len(evs) == limit {
		d.OlderURL = eventsURL(d.Name, d.ShowEnded, "before", evs[len(evs)-1].ID)
	}
	h.renderLive(w, r, "events", "events-live", "Events", d, false)
}

type eventData struct {
	Event     *flow.EventInfo
	Data      value
	ResendURL string
	Ended     bool
}

func (h *handler) event(w http.ResponseWriter, r *request) {
	ev, err := h.c.GetEvent(r.Context(), r.segs[1])
	if err != nil {
		h.fail(w, r, err)
		return
	}
	d := &eventData{Event: ev, Data: jsonValue(ev.Data, "events/"+ev.ID+"/raw"), Ended: true}
	for _, run := range ev.Runs {
		d.Ended = d.Ended && run.Status.Ended()
	}
	if !h.opts.ReadOnly && len(ev.Data) <= maxShown && !strings.HasPrefix(ev.Name, "flow/") {
		d.ResendURL = "send?" + url.Values{"name": {ev.Name}, "data": {jsonValue(ev.Data, "").Text}}.Encode()
	}
	h.renderLive(w, r, "event", "event-live", "Event "+ev.Name, d, d.Ended)
}

func (h *handler) eventRaw(w http.ResponseWriter, r *request) {
	ev, err := h.c.GetEvent(r.Context(), r.segs[1])
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeRaw(w, r, ev.Data, "")
}

// Functions.

type functionRow struct {
	flow.FunctionInfo
	Chips []chip
	Total int
}

// pauseFunction pauses the function named by the form's "function" field
// (Client.PauseFunction) and shows the functions again.
func (h *handler) pauseFunction(w http.ResponseWriter, r *request) {
	if err := h.c.PauseFunction(r.Context(), r.PostForm.Get("function")); err != nil {
		h.fail(w, r, err)
		return
	}
	redirect(w, r, "functions")
}

// resumeFunction resumes the function named by the form's "function" field
// (Client.ResumeFunction) and shows the functions again.
func (h *handler) resumeFunction(w http.ResponseWriter, r *request) {
	if err := h.c.ResumeFunction(r.Context(), r.PostForm.Get("function")); err != nil {
		h.fail(w, r, err)
		return
	}
	redirect(w, r, "functions")
}

type functionsData struct {
	Functions     []functionRow
	NoWorker      []flow.FunctionInfo
	WorkerTimeout time.Duration
	// ReplaySince are the time ranges a function's replay form offers.
	ReplaySince []option
}

// withoutWorker returns the functions with runs awaiting a worker and no
// running process defining them.
func withoutWorker(fns []flow.FunctionInfo) []flow.FunctionInfo {
	var out []flow.FunctionInfo
	for _, fn := range fns {
		if !fn.HasWorker && fn.AwaitingWorker > 0 {
			out = append(out, fn)
		}
	}
	return out
}

func (h *handler) functions(w http.ResponseWriter, r *request) {
	ctx := r.Context()
	fns, err := h.c.ListFunctions(ctx)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	counts, err := h.c.CountRunsByFunction(ctx, flow.RunQuery{CreatedAfter: time.Now().Add(-24 * time.Hour)})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	d := &functionsData{NoWorker: withoutWorker(fns), WorkerTimeout: flow.WorkerTimeout, ReplaySince: sinceOptions[1:]}
	for _, fn := range fns {
		row := functionRow{FunctionInfo: fn}
		c := counts[fn.ID]
		row.Total = c.Total()
		for _, s := range allStatuses {
			if c[s] > 0 {
				f := runsFilter{Function: fn.ID, Since: "24h", Status: []string{string(s)}}
				row.Chips = append(row.Chips, chip{Status: string(s), Label: string(s), N: c[s], URL: f.url()})
			}
		}
		d.Functions = append(d.Functions, row)
	}
	h.render(w, r, http.StatusOK, "functions", "Functions", d)
}

// Sending events.

type sendData struct {
	Name       string
	Data       string
	DedupeID   string
	Error      string
	EventNames []string
}

func (h *handler) sendForm(w http.ResponseWriter, r *request) {
	if h.opts.ReadOnly {
		h.renderError(w, r, http.StatusForbidden, "Read-only", "This dashboard is read-only: it cannot send events.")
		return
	}
	q := r.URL.Query()
	d := &sendData{Name: q.Get("name"), Data: q.Get("data")}
	if d.Data == "" {
		d.Data = "{}"
	}
	h.renderSend(w, r, http.StatusOK, d)
}

func (h *handler) renderSend(w http.ResponseWriter, r *request, status int, d *sendData) {
	if fns, err := h.c.ListFunctions(r.Context()); err == nil {
		for _, fn := range fns {
			for _, t := range fn.Triggers {
				if t.Event != "" && !strings.HasSuffix(t.Event, "*") && !slices.Contains(d.EventNames, t.Event) {
					d.EventNames = append(d.EventNames, t.Event)
				}
			}
		}
		slices.Sort(d.EventNames)
	}
	h.render(w, r, status, "send", "Send an event", d)
}

func (h *handler) send(w http.ResponseWriter, r *request) {
	d := &sendData{
		Name: strings.TrimSpace(r.PostForm.Get("name")), Data: r.PostForm.Get("data"),
		DedupeID: strings.TrimSpace(r.PostForm.Get("id")),
	}
	data := strings.TrimSpace(d.Data)
	if data == "" {
		data = "{}"
	}
	if !json.Valid([]byte(data)) {
		var v any
		err := json.Unmarshal([]byte(data), &v)
		d.Error = "The data is not valid JSON: " + err.Error()
		h.renderSend(w, r, http.StatusUnprocessableEntity, d)
		return
	}
	ids, err := h.c.Send(r.Context(), flow.Event{ID: d.DedupeID, Name: d.Name, Data: json.RawMessage(data)})
	if errors.Is(err, flow.ErrInvalidEvent) || errors.Is(err, flow.ErrEventTooLarge) {
		d.Error = err.Error()
		h.renderSend(w, r, http.StatusUnprocessableEntity, d)
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	redirect(w, r, "events/"+ids[0])
}

// Static files.

func (h *handler) serveStatic(w http.ResponseWriter, r *request) {
	f, ok := h.static[r.segs[1]]
	if !ok {
		h.notFound(w, r)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", f.contentType)
	if r.URL.Query().Get("v") == h.version {
		hd.Set("Cache-Control", "private, max-age=31536000, immutable")
	} else {
		hd.Set("Cache-Control", "no-cache")
	}
	_, _ = w.Write(f.body)
}

// countCache keeps the status counts of the runs page for a few seconds, so
// that open pages refreshing every second do not count the runs table every
// second each.
type countCache struct {
	mu      sync.Mutex
	entries map[string]countEntry
}

type countEntry struct {
	counts flow.RunCounts
	at     time.Time
}

const (
	countTTL        = 5 * time.Second
	countCacheLimit = 256
)

func (cc *countCache) get(ctx context.Context, c *flow.Client, f runsFilter, rq flow.RunQuery) (flow.RunCounts, error) {
	// Relative time ranges are keyed by their name: their bounds move.
	key := strings.Join([]string{f.Function, f.Event, f.Since, f.From, f.To}, "\x00")
	now := time.Now()
	cc.mu.Lock()
	e, ok := cc.entries[key]
	cc.mu.Unlock()
	if ok && now.Sub(e.at) < countTTL {
		return e.counts, nil
	}
	counts, err := c.CountRuns(ctx, rq)
	if err != nil {
		return nil, err
	}
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.entries == nil || len(cc.entries) >= countCacheLimit {
		cc.entries = map[string]countEntry{}
	}
	cc.entries[key] = countEntry{counts: counts, at: now}
	return counts, nil
}
