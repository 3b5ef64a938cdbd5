package flow

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/riverflow/flow/internal/engine"
	"github.com/riverflow/flow/internal/registry"
	"github.com/riverflow/flow/internal/store"
)

// This file holds the read-only API that dashboards and command lines use to
// look at runs, events and functions (package flowui is one). Nothing here
// writes.

// RunQuery selects runs for CountRuns (and the deprecated ListRunsPage).
// Zero fields select everything.
type RunQuery struct {
	FunctionID string
	// EventID selects the runs an event started (and their reruns).
	EventID string
	// Status selects runs in any of these statuses (ListRunsPage only).
	Status []RunStatus
	// CreatedAfter and CreatedBefore bound the runs' creation times
	// (inclusive, exclusive). Zero: no bound.
	CreatedAfter  time.Time
	CreatedBefore time.Time
	// Before pages backwards: only runs created before the run with this ID
	// (pass RunPage.Next). ListRunsPage only.
	Before string
	// Limit caps the number of runs of a page. Defaults to 50; at most 1000.
	Limit int
}

// RunSummary is a run as a list shows it: without its output or steps, with
// the name of the event that started it.
type RunSummary struct {
	Run
	// EventName is the name of the run's triggering event ("" if the event
	// is gone).
	EventName string
}

// RunPage is a page of runs from the deprecated ListRunsPage (ListRuns
// returns a RunList).
type RunPage struct {
	// Runs are newest first. Their Output and Steps are not filled (see
	// GetRun).
	Runs []*RunSummary
	// Next is the cursor of the next (older) page, for RunQuery.Before, or
	// empty on the last page.
	Next string
}

// runIDSlack allows for a database clock that steps back between a run's
// creation time and its ID's timestamp.
const runIDSlack = time.Minute

// minIDAt returns the smallest time-ordered (version 7) UUID made at t or
// later.
func minIDAt(t time.Time) *string {
	ms := t.UnixMilli()
	if ms < 0 || ms >= 1<<48 {
		return nil
	}
	h := fmt.Sprintf("%012x", ms)
	s := h[:8] + "-" + h[8:] + "-0000-0000-000000000000"
	return &s
}

func (q RunQuery) check(op string) error {
	if err := checkFilterText(op, "FunctionID", q.FunctionID); err != nil {
		return err
	}
	if q.Before != "" && !engine.IsUUID(q.Before) {
		return fmt.Errorf("flow: %s: Before %q is not a run ID", op, q.Before)
	}
	if q.EventID != "" && !engine.IsUUID(q.EventID) {
		return fmt.Errorf("flow: %s: EventID %q is not an event ID", op, q.EventID)
	}
	for _, s := range q.Status {
		switch s {
		case RunQueued, RunRunning, RunSleeping, RunWaiting, RunCompleted, RunFailed, RunCancelled, RunSkipped:
		default:
			return fmt.Errorf("flow: %s: unknown run status %q", op, s)
		}
	}
	return nil
}

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// ListRunsPage returns a page of runs, newest first, with the names of their
// triggering events and a cursor to the next page, without the runs'
// outputs.
//
// Deprecated: Use [Client.ListRuns], the one listing of runs: RunFilter
// has the same filters, RunList.Next the same cursor, and
// RunFilter.OmitOutput leaves the outputs out. ListRunsPage calls it with a
// page of 50 runs by default, at most 1000.
func (c *Client) ListRunsPage(ctx context.Context, q RunQuery) (*RunPage, error) {
	if err := q.check("ListRunsPage"); err != nil {
		return nil, err
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 50
	}
	runs, err := c.ListRuns(ctx, RunFilter{
		FunctionID: q.FunctionID, EventID: q.EventID, Status: q.Status,
		CreatedAfter: q.CreatedAfter, CreatedBefore: q.CreatedBefore,
		Before: q.Before, Limit: min(limit, 1000), OmitOutput: true,
	})
	if err != nil {
		return nil, err
	}
	page := &RunPage{Runs: make([]*RunSummary, len(runs)), Next: runs.Next()}
	for i, r := range runs {
		page.Runs[i] = &RunSummary{Run: *r, EventName: r.EventName}
	}
	return page, nil
}

// RunCounts counts runs by status.
type RunCounts map[RunStatus]int

// Total returns the number of runs counted.
func (rc RunCounts) Total() int {
	n := 0
	for _, v := range rc {
		n += v
	}
	return n
}

// CountRuns counts the runs that q selects by status. q's Status, Before
// and Limit are ignored.
func (c *Client) CountRuns(ctx context.Context, q RunQuery) (RunCounts, error) {
	byFn, err := c.countRuns(ctx, q)
	if err != nil {
		return nil, err
	}
	out := RunCounts{}
	for _, counts := range byFn {
		for s, n := range counts {
			out[s] += n
		}
	}
	return out, nil
}

// CountRunsByFunction counts the runs that q selects by function ID and
// status. q's Status, Before and Limit are ignored.
func (c *Client) CountRunsByFunction(ctx context.Context, q RunQuery) (map[string]RunCounts, error) {
	return c.countRuns(ctx, q)
}

func (c *Client) countRuns(ctx context.Context, q RunQuery) (map[string]RunCounts, error) {
	q.Before, q.Status = "", nil
	if err := q.check("CountRuns"); err != nil {
		return nil, err
	}
	params := store.RunCountFilter{
		FunctionID: optString(q.FunctionID), EventID: optString(q.EventID),
		CreatedAfter: optTime(q.CreatedAfter), CreatedBefore: optTime(q.CreatedBefore),
	}
	if !q.CreatedAfter.IsZero() {
		params.MinID = minIDAt(q.CreatedAfter.Add(-runIDSlack))
	}
	rows, err := c.store.CountRuns(ctx, params)
	if err != nil {
		return nil, fmt.Errorf("flow: count runs: %w", err)
	}
	out := map[string]RunCounts{}
	for _, r := range rows {
		if out[r.FunctionID] == nil {
			out[r.FunctionID] = RunCounts{}
		}
		out[r.FunctionID][RunStatus(r.Status)] = int(r.N)
	}
	return out, nil
}

// EventInfo is a stored event.
type EventInfo struct {
	// ID is the event's stored ID.
	ID   string
	Name string
	// Data is the event's payload as JSON. ListEvents leaves it nil when
	// it is longer than EventFilter.MaxDataBytes.
	Data json.RawMessage
	// DataSize is the length of the data's JSON text in bytes.
	DataSize int
	// TS is when the event happened, as the sender gave it.
	TS time.Time
	// DedupeID is the sender's Event.ID, if it gave one.
	DedupeID   string
	ReceivedAt time.Time
	// Runs are the runs the event started (with their reruns), oldest
	// first, without their outputs or steps.
	Runs []*Run
	// Affected are the runs the event did not start but resumed (it was
	// the event a wait step waited for) or cancelled (a CancelOn matched),
	// oldest first. GetEvent and FindEvent fill it; ListEvents does not.
	Affected []EventEffect
}

// EventEffect is what an event did to a run it did not start.
type EventEffect struct {
	RunID      string
	FunctionID string
	// RunStatus is the run's status now.
	RunStatus RunStatus
	// Effect is "resumed" (StepID is the wait step the event resumed) or
	// "cancelled".
	Effect string
	StepID string
	At     time.Time
}

// EventFilter selects events for ListEvents.
type EventFilter struct {
	// Name selects events with this name, or, for a name ending in "*"
	// (such as "billing/*"), events whose name starts with what comes
	// before the "*". Empty: all events.
	Name string
	// Before pages backwards: only events sent before the event with this
	// ID (pass the last ID of the previous page).
	Before string
	// Limit caps the number of events returned. Defaults to 50; at most
	// 1000.
	Limit int
	// HideRunEnded leaves out the events the library sends when runs end
	// (EventFunctionFinished, EventFunctionFailed, EventFunctionCancelled).
	HideRunEnded bool
	// MaxDataBytes is the longest data ListEvents returns; longer data is
	// left out (EventInfo.DataSize still says its size; GetEvent returns
	// it). Defaults to 4 KiB.
	MaxDataBytes int
}

// maxRunsPerEvent bounds the runs ListEvents and GetEvent return per event.
const maxRunsPerEvent = 1000

// ListEvents returns events, newest first, each with the runs it started.
func (c *Client) ListEvents(ctx context.Context, f EventFilter) ([]*EventInfo, error) {
	if f.Before != "" && !engine.IsUUID(f.Before) {
		return nil, fmt.Errorf("flow: ListEvents: Before %q is not an event ID", f.Before)
	}
	if err := checkFilterText("ListEvents", "Name", f.Name); err != nil {
		return nil, err
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, 1000)
	maxData := f.MaxDataBytes
	if maxData <= 0 {
		maxData = 4 << 10
	}
	params := store.EventListFilter{
		MaxData: int32(min(maxData, 1<<30)), BeforeID: optString(f.Before), Max: int32(limit), ExcludeNames: []string{},
	}
	if f.HideRunEnded {
		params.ExcludeNames = []string{EventFunctionFinished, EventFunctionFailed, EventFunctionCancelled}
	}
	if prefix, ok := strings.CutSuffix(f.Name, "*"); ok {
		params.Prefix = prefix
	} else {
		params.Name = f.Name
	}
	rows, err := c.store.ListEvents(ctx, params)
	if err != nil {
		return nil, fmt.Errorf("flow: list events: %w", err)
	}
	out := make([]*EventInfo, len(rows))
	for i, r := range rows {
		out[i] = &EventInfo{ID: r.ID, Name: r.Name, Data: r.Data, DataSize: int(r.DataSize), TS: r.Ts, ReceivedAt: r.ReceivedAt}
		if r.DedupeID != nil {
			out[i].DedupeID = *r.DedupeID
		}
	}
	if err := c.fillEventRuns(ctx, out); err != nil {
		return nil, err
	}
	return out, nil
}

// GetEvent returns a stored event with the runs it started, or ErrNotFound.
func (c *Client) GetEvent(ctx context.Context, eventID string) (*EventInfo, error) {
	if !engine.IsUUID(eventID) {
		return nil, fmt.Errorf("%w: %q is not an event ID", ErrNotFound, eventID)
	}
	r, err := c.store.GetEvent(ctx, c.pool, eventID)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%w: event %s", ErrNotFound, eventID)
	}
	if err != nil {
		return nil, fmt.Errorf("flow: get event %s: %w", eventID, err)
	}
	ev := &EventInfo{ID: r.ID, Name: r.Name, Data: r.Data, DataSize: len(r.Data), TS: r.Ts, ReceivedAt: r.ReceivedAt}
	if r.DedupeID != nil {
		ev.DedupeID = *r.DedupeID
	}
	if err := c.fillEventRuns(ctx, []*EventInfo{ev}); err != nil {
		return nil, err
	}
	effects, err := c.store.ListEventEffects(ctx, eventID, maxRunsPerEvent)
	if err != nil {
		return nil, fmt.Errorf("flow: list runs event %s resumed or cancelled: %w", eventID, err)
	}
	for _, f := range effects {
		ev.Affected = append(ev.Affected, EventEffect{RunID: f.RunID, FunctionID: f.FunctionID,
			RunStatus: RunStatus(f.RunStatus), Effect: f.Effect, StepID: f.StepID, At: f.At})
	}
	return ev, nil
}

func (c *Client) fillEventRuns(ctx context.Context, events []*EventInfo) error {
	if len(events) == 0 {
		return nil
	}
	ids := make([]string, len(events))
	byID := make(map[string]*EventInfo, len(events))
	for i, ev := range events {
		ids[i] = ev.ID
		byID[ev.ID] = ev
	}
	rows, err := c.store.ListEventRuns(ctx, ids, int32(maxRunsPerEvent*len(events)))
	if err != nil {
		return fmt.Errorf("flow: list runs of events: %w", err)
	}
	for _, r := range rows {
		ev := byID[r.EventID]
		if ev == nil || len(ev.Runs) >= maxRunsPerEvent {
			continue
		}
		ev.Runs = append(ev.Runs, runFromRow(&store.Run{
			ID: r.ID, FunctionID: r.FunctionID, EventID: r.EventID, Status: r.Status, Attempt: r.Attempt,
			WakeAt: r.WakeAt, ParentRunID: r.ParentRunID, Error: r.Error,
			CreatedAt: r.CreatedAt, StartedAt: r.StartedAt, EndedAt: r.EndedAt,
		}))
	}
	return nil
}

// FunctionInfo describes a function: from the database's registry (written
// by every started client for the functions it defines) and, for a function
// defined on the client at hand, from its definition.
type FunctionInfo struct {
	ID   string
	Name string
	// Retries is how many times a failing step is retried.
	Retries int
	// Triggers are the function's triggers, event and cron. A function
	// registered by a version before cron triggers were stored (see
	// OptionsRegistered) shows its cron triggers only where it is defined
	// on this client.
	Triggers []TriggerInfo
	// Registered reports whether the function is in the registry (a client
	// defining it has started), and UpdatedAt when a started client
	// defining it last registered or confirmed it.
	Registered bool
	UpdatedAt  time.Time
	// HasWorker reports whether a started client defining the function
	// confirmed it within WorkerTimeout: started clients register their
	// functions at Start and confirm them every 30 seconds while they run.
	// False means no process is executing the function's runs.
	HasWorker bool
	// AwaitingWorker counts the function's runs that a worker should pick
	// up now: queued (new, woken, or waiting for a concurrency slot), or
	// suspended past their wake time. Runs awaiting a worker while
	// HasWorker is false will not move until a process defining the
	// function starts.
	AwaitingWorker int
	// Local reports whether the function is defined on this client.
	Local bool
	// OptionsRegistered reports whether the registry holds the function's
	// cron triggers, CancelOn and Timeouts (rows written by versions before
	// they were stored hold flow control only; for those, CancelOn and
	// Timeouts are known only where the function is Local).
	OptionsRegistered bool
	CancelOn          []CancelOn
	Timeouts          Timeouts
	// FlowControl describes the function's flow-control options (from the
	// registry, so for any registered function), one line each, such as
	// "Concurrency: 2 per event.data.account".
	FlowControl []string
	// Paused reports whether the function is paused (Client.PauseFunction),
	// and PausedAt since when.
	Paused   bool
	PausedAt *time.Time
}

// WorkerTimeout is how long after a started client last confirmed a
// function in the registry the function counts as having no worker
// (FunctionInfo.HasWorker). Started clients confirm their functions every
// 30 seconds, so four confirmations in a row must have been missed.
const WorkerTimeout = engine.WorkerTimeout

// TriggerInfo is one trigger of a function: an event trigger (Event, with
// its condition If) or a cron trigger (Cron).
type TriggerInfo struct {
	// Event is the event name, or a wildcard such as "billing/*".
	Event string
	// If is the event trigger's condition, if any.
	If string
	// Cron is the cron trigger's schedule.
	Cron string
}

// ListFunctions returns the functions in the registry and those defined on
// this client, ordered by ID.
func (c *Client) ListFunctions(ctx context.Context) ([]FunctionInfo, error) {
	fns, err := registry.List(ctx, c.pool)
	if err != nil {
		return nil, fmt.Errorf("flow: list functions: %w", err)
	}
	triggers, err := c.store.ListTriggers(ctx)
	if err != nil {
		return nil, fmt.Errorf("flow: list triggers: %w", err)
	}
	awaiting, err := c.store.CountRunsAwaitingWorker(ctx)
	if err != nil {
		return nil, fmt.Errorf("flow: count runs awaiting a worker: %w", err)
	}
	now := time.Now()
	byID := map[string]*FunctionInfo{}
	crons := map[string][]TriggerInfo{} // listed after the event triggers
	for _, f := range fns {
		fi := &FunctionInfo{
			ID: f.ID, Name: f.Name, Retries: f.Retries, Registered: true, UpdatedAt: f.UpdatedAt,
			HasWorker: now.Sub(f.UpdatedAt) < WorkerTimeout,
		}
		if ctl, err := engine.ParseRegistryControl(string(f.Config)); err == nil && ctl != nil {
			fi.FlowControl = describeControl(ctl)
		}
		if cfg, err := registry.DecodeConfig(f.Config); err == nil && cfg.Options != nil {
			crons[f.ID] = fi.setRegisteredOptions(cfg.Options)
		}
		byID[f.ID] = fi
	}
	for _, t := range triggers {
		fi := byID[t.FunctionID]
		if fi == nil {
			continue
		}
		name := t.EventName
		if t.IsPrefix {
			name += "*"
		}
		fi.Triggers = append(fi.Triggers, TriggerInfo{Event: name, If: t.Expression})
	}
	for id, cs := range crons {
		byID[id].Triggers = append(byID[id].Triggers, cs...)
	}
	for id, n := range awaiting {
		fi := byID[id]
		if fi == nil {
			// Runs of a function no started client ever registered (started
			// with Client.Start by a process that never started workers).
			fi = &FunctionInfo{ID: id, Name: id}
			byID[id] = fi
		}
		fi.AwaitingWorker = n
	}
	for _, fn := range c.e.Functions() {
		fi := byID[fn.ID()]
		if fi == nil {
			fi = &FunctionInfo{ID: fn.ID()}
			byID[fn.ID()] = fi
		}
		fi.Name, fi.Retries, fi.Local = fn.Name(), fn.Retries(), true
		fi.CancelOn, fi.Timeouts = nil, Timeouts(fn.Timeouts())
		for _, co := range fn.CancelOn() {
			fi.CancelOn = append(fi.CancelOn, CancelOn(co))
		}
		fi.Triggers = nil
		for _, t := range fn.Triggers() {
			fi.Triggers = append(fi.Triggers, TriggerInfo{Event: t.Event, If: t.If, Cron: t.Cron})
		}
	}
	paused, err := c.e.PausedFunctions(ctx)
	if err != nil {
		return nil, err
	}
	for id, at := range paused {
		if fi := byID[id]; fi != nil {
			fi.Paused, fi.PausedAt = true, &at
		}
	}
	out := make([]FunctionInfo, 0, len(byID))
	for _, fi := range byID {
		out = append(out, *fi)
	}
	slices.SortFunc(out, func(a, b FunctionInfo) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// setRegisteredOptions fills in the options the registry stores for display,
// CancelOn and Timeouts, and returns the cron triggers (listed after the
// event triggers).
func (fi *FunctionInfo) setRegisteredOptions(o *registry.Options) (crons []TriggerInfo) {
	fi.OptionsRegistered = true
	for _, co := range o.CancelOn {
		fi.CancelOn = append(fi.CancelOn, CancelOn(co))
	}
	if o.Timeouts != nil {
		fi.Timeouts = Timeouts{Start: o.Timeouts.Start, Finish: o.Timeouts.Finish}
	}
	for _, spec := range o.Crons {
		crons = append(crons, TriggerInfo{Cron: spec})
	}
	return crons
}
