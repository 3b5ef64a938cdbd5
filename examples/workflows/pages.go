package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/riverflow/flow"
)

// sessionCookie stands in for the app's login: the index page gives every
// visitor a session, and only a visitor with one may read an execution's
// progress. A real app checks its own users and who owns the execution.
const sessionCookie = "workflows_session"

// tokenTTL is how long a realtime token lets the page subscribe. The page
// asks for a new one whenever it opens a new stream.
const tokenTTL = 10 * time.Minute

// index lists the workflows, each with its Run button, and the recent
// executions.
func (a *app) index(w http.ResponseWriter, r *http.Request) {
	if _, err := r.Cookie(sessionCookie); err != nil {
		http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: rand.Text(), Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	}
	wfs, err := listWorkflows(r.Context(), a.pool)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	execs, err := listExecutions(r.Context(), a.pool, 20)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.render(w, r, "index.html", map[string]any{
		"Workflows":  wfs,
		"Executions": execs,
		"Nodes":      nodes,
		"Base":       "http://" + r.Host,
		"Event":      runEvent,
		"EventKey":   a.eventKey,
	})
}

// run is the Run button: in one transaction of the app's database it
// inserts the execution row and sends the event that starts its run, and
// records which run that is. Commit, and the run starts; roll back, and
// neither the row nor the event exists.
func (a *app) run(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	wfID, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	execID, err := a.startExecution(ctx, wfID)
	if errors.Is(err, errNoRow) {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/executions/%d", execID), http.StatusSeeOther)
}

// startExecution is run's transaction.
func (a *app) startExecution(ctx context.Context, wfID int64) (int64, error) {
	tx, err := a.pool.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	if _, err := getWorkflow(ctx, tx, wfID); err != nil {
		return 0, err
	}
	execID, err := insertExecution(ctx, tx, wfID, "manual")
	if err != nil {
		return 0, err
	}
	runID, err := sendRun(ctx, a.client, tx, runRequest{WorkflowID: wfID, ExecutionID: execID, Source: "manual"})
	if err != nil {
		return 0, err
	}
	if runID != "" {
		if err := setExecutionRun(ctx, tx, execID, runID); err != nil {
			return 0, err
		}
	}
	return execID, tx.Commit(ctx)
}

// executionPage shows an execution's nodes; its script follows them live.
func (a *app) executionPage(w http.ResponseWriter, r *http.Request) {
	e, ok := a.loadExecution(w, r)
	if !ok {
		return
	}
	st, err := a.state(r.Context(), e)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	ai := ""
	for _, n := range st.Nodes {
		if n.ID == "sending-to-ai" {
			ai = n.Detail
		}
	}
	a.render(w, r, "execution.html", map[string]any{"Execution": e, "State": st, "AIOutput": ai})
}

// executionState answers the execution's state as JSON: the page reads it
// once its stream is open, for whatever happened before.
func (a *app) executionState(w http.ResponseWriter, r *http.Request) {
	e, ok := a.loadExecution(w, r)
	if !ok {
		return
	}
	st, err := a.state(r.Context(), e)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// executionToken issues the page a realtime token for this execution's
// channel alone, after the app's own authorization check.
func (a *app) executionToken(w http.ResponseWriter, r *http.Request) {
	e, ok := a.loadExecution(w, r)
	if !ok {
		return
	}
	if err := authorize(r, e); err != nil {
		writeJSON(w, http.StatusForbidden, map[string]string{"error": err.Error()})
		return
	}
	token, err := issueToken(a.client, executionChannel(e.ID))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"token": token, "url": "/realtime?token=" + token})
}

// authorize is the app's decision on who may follow an execution: here,
// any visitor with a session. A real app checks that its user may see it.
func authorize(r *http.Request, _ execution) error {
	if c, err := r.Cookie(sessionCookie); err != nil || c.Value == "" {
		return errors.New("no session: open the workflows page first")
	}
	return nil
}

// loadExecution reads the execution named by the path, or answers 404.
func (a *app) loadExecution(w http.ResponseWriter, r *http.Request) (execution, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		http.NotFound(w, r)
		return execution{}, false
	}
	e, err := getExecution(r.Context(), a.pool, id)
	if errors.Is(err, errNoRow) {
		http.NotFound(w, r)
		return e, false
	}
	if err != nil {
		a.fail(w, r, err)
		return e, false
	}
	return e, true
}

// executionState is what the page shows of an execution.
type executionState struct {
	ID     int64       `json:"id"`
	Status string      `json:"status"`
	RunID  string      `json:"run_id"`
	Nodes  []nodeState `json:"nodes"`
	Result string      `json:"result"`
}

// nodeState is a node as the page shows it.
type nodeState struct {
	ID     string `json:"id"`
	Label  string `json:"label"`
	Status string `json:"status"` // pending, running or done
	Detail string `json:"detail"`
}

// state reads an execution's state: its row, and its nodes from the run's
// stored steps (a node is running once its ".started" message was
// published, and done once its step completed).
func (a *app) state(ctx context.Context, e execution) (executionState, error) {
	st := executionState{ID: e.ID, Status: e.Status, RunID: e.RunID, Result: e.Result}
	steps := map[string]flow.RunStep{}
	if e.RunID != "" {
		run, err := a.client.GetRun(ctx, e.RunID)
		if err != nil && !errors.Is(err, flow.ErrNotFound) {
			return st, err
		}
		if run != nil {
			for _, s := range run.Steps {
				steps[s.ID] = s
			}
		}
	}
	for _, n := range nodes {
		ns := nodeState{ID: n.ID, Label: n.Label, Status: "pending"}
		if s, ok := steps[n.ID]; ok && s.Status == "completed" {
			ns.Status = "done"
			_ = json.Unmarshal(s.Output, &ns.Detail)
		} else if _, ok := steps[n.ID+".started"]; ok {
			ns.Status = "running"
		}
		st.Nodes = append(st.Nodes, ns)
	}
	return st, nil
}

// render executes a page template into a buffer first, so that an error
// still gives a clean 500.
func (a *app) render(w http.ResponseWriter, r *http.Request, name string, data any) {
	var buf bytes.Buffer
	if err := a.pages.ExecuteTemplate(&buf, name, data); err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	// The pages load only their own script and style, and talk only to
	// this origin (fetch and EventSource): no inline script, no framing.
	w.Header().Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = buf.WriteTo(w)
}

// fail logs err and answers 500.
func (a *app) fail(w http.ResponseWriter, r *http.Request, err error) {
	slog.Error("workflows: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	http.Error(w, "500 internal server error", http.StatusInternalServerError)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
