package engine

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/riverflow/flow/internal/registry"
)

// Function is a function of the client: what the engine needs to start and
// execute its runs. The root package's flow.Function wraps it.
type Function struct {
	id       string
	name     string
	retries  int
	triggers []Trigger
	cancelOn []CancelOn
	timeouts Timeouts
	control  *registry.Control
	call     func(ctx context.Context, run *RunInput) (any, error)
}

// FunctionSpec describes a validated function for NewFunction.
type FunctionSpec struct {
	ID, Name string
	Retries  int
	Triggers []Trigger // flattened
	CancelOn []CancelOn
	Timeouts Timeouts
	Control  *registry.Control // nil: no flow control
	Call     func(ctx context.Context, in *RunInput) (any, error)
}

// NewFunction returns the engine's function for spec.
func NewFunction(spec FunctionSpec) *Function {
	return &Function{
		id:       spec.ID,
		name:     spec.Name,
		retries:  spec.Retries,
		triggers: spec.Triggers,
		cancelOn: spec.CancelOn,
		timeouts: spec.Timeouts,
		control:  spec.Control,
		call:     spec.Call,
	}
}

// ID returns the function's ID.
func (f *Function) ID() string { return f.id }

// Name returns the function's display name.
func (f *Function) Name() string { return f.name }

// Trigger is one flattened trigger of a function: an event name (a trailing
// "*" makes it a prefix) with an optional If condition, or a cron spec.
type Trigger struct{ Event, Cron, If string }

// eventPattern returns the trigger's event name and whether it is a prefix
// (a trailing "*" matches any rest).
func (t Trigger) eventPattern() (name string, isPrefix bool) {
	if p, ok := strings.CutSuffix(t.Event, "*"); ok {
		return p, true
	}
	return t.Event, false
}

// CancelOn is a condition that cancels a run (see flow.CancelOn).
type CancelOn struct {
	Event   string
	Match   string
	If      string
	Timeout time.Duration
}

// Timeouts bounds a run's time (see flow.Timeouts).
type Timeouts struct {
	Start  time.Duration
	Finish time.Duration
}

// RunInput is what a function's handler is called with: the run, its
// attempt and its triggering event (or a batch's events).
type RunInput struct {
	RunID   string
	Attempt int
	Event   StoredEvent
	Events  []StoredEvent // a batch's events; nil for one event
}

// StoredEvent is an event as stored and as encoded for expressions and
// system events.
type StoredEvent struct {
	ID       string          `json:"id"`
	Name     string          `json:"name"`
	Data     json.RawMessage `json:"data"`
	TS       time.Time       `json:"ts"`
	DedupeID string          `json:"dedupe_id,omitempty"`
}

// Retries returns how many times a failed step or run is retried.
func (f *Function) Retries() int { return f.retries }

// Triggers returns the function's flattened triggers.
func (f *Function) Triggers() []Trigger { return f.triggers }

// CancelOn returns the function's CancelOn conditions.
func (f *Function) CancelOn() []CancelOn { return f.cancelOn }

// Timeouts returns the function's timeouts.
func (f *Function) Timeouts() Timeouts { return f.timeouts }
