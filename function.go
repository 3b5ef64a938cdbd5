package flow

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"time"

	"github.com/riverflow/flow/internal/engine"
)

// FunctionOpts configures a function.
type FunctionOpts struct {
	// ID identifies the function across processes and deploys: runs and the
	// function registry refer to it. Required: letters, digits, and - _ . /
	// : characters, at most 128.
	ID string

	// Name is shown in run listings. Defaults to ID.
	Name string

	// Retries is how many times a failing step (and the function's own code
	// outside steps) is retried after its first attempt, so Retries+1
	// attempts in all. Nil means the default, 4, as in Inngest; use Ptr(0) for
	// none. At most 20.
	Retries *int

	// CancelOn cancels a run when a matching event arrives (at most 5
	// conditions). Conditions are registered when the run first executes; an
	// event that arrived between the trigger and then also counts.
	CancelOn []CancelOn

	// Timeouts cancels runs that wait too long to start or take too long to
	// finish.
	Timeouts Timeouts

	// Concurrency limits how many runs execute at once, across processes
	// (at most two limits, such as one for the function and one per
	// account; a Singleton in SingletonQueue mode takes one of the two).
	Concurrency []Concurrency

	// Throttle delays run starts over a rate; none is dropped.
	Throttle *Throttle

	// RateLimit skips the runs of events over a rate.
	RateLimit *RateLimit

	// Debounce delays a run until matching events stop coming, and gives it
	// the last one.
	Debounce *Debounce

	// Batch gives one run many events (Input.Events).
	Batch *Batch

	// Priority moves runs ahead of (or behind) others in the queue.
	Priority *Priority

	// Idempotency is a CEL expression over the event, such as
	// "event.data.orderId": at most one run per value in 24 hours; later
	// events with the same value are recorded as skipped runs. (An event's
	// ID deduplicates across all functions; this key, per function.) An
	// event whose key is false or missing has no idempotency key, as in
	// Inngest, where Idempotency is a rate limit of 1 per 24 hours.
	Idempotency string

	// Singleton allows one run in progress per key.
	Singleton *Singleton

	// OnFailure, if set, runs once for every run of this function that
	// fails for good, as a function of its own (ID "<ID>-failure", with
	// steps, retries and its own runs) triggered by the run's
	// "flow/function.failed" event. Inngest's Go SDK lacks it.
	OnFailure func(ctx context.Context, in Input[RunEnded]) (any, error)
}

// CancelOn is a condition that cancels a run: an event named Event, matching
// the run's triggering event on Match (a path such as "data.orderId") and
// satisfying If (a CEL condition over event, the trigger, and async, the
// incoming event), within Timeout of the run's start (zero: for the whole
// run).
//
// A run whose triggering event has no value (or null) at Match does not
// register the condition (it could only match events lacking the value
// too), and a warning is logged; the run goes on. An If over
// Config.MaxExpressionCost does not cancel, with a warning.
type CancelOn struct {
	Event   string
	Match   string
	If      string
	Timeout time.Duration
}

// Timeouts bounds a run's life. A run past either is cancelled (not failed),
// with the reason in its Error.
type Timeouts struct {
	// Start is how long a run may wait to start executing. Zero: no limit.
	Start time.Duration
	// Finish is how long a run may take from its first execution to its end,
	// sleeps and waits included. A step executing at the deadline sees its
	// context cancelled. Zero: no limit.
	Finish time.Duration
}

// Ptr returns a pointer to v, for optional fields such as
// FunctionOpts.Retries.
func Ptr[T any](v T) *T { return &v }

// Input is what a function's handler receives.
type Input[T any] struct {
	// Event is the event that started the run: for a run started by Start,
	// a "flow/function.started" event, and for one started by Invoke, a
	// "flow/function.invoked" event, whose Data is the data passed.
	Event TypedEvent[T]
	// Events holds every event of the run: the events of a batch (see
	// FunctionOpts.Batch) in arrival order, or just Event. Event is the
	// first of a batch.
	Events []TypedEvent[T]
	// RunID identifies the run.
	RunID string
	// Attempt counts the failed attempts of the function's code outside
	// steps, from 0.
	Attempt int
}

// Function is a function created with CreateFunction. Pass it to Invoke to
// run it as a child of another run.
type Function struct {
	def *engine.Function
	c   *Client
}

// ID returns the function's ID.
func (f *Function) ID() string { return f.def.ID() }

// Name returns the function's display name.
func (f *Function) Name() string { return f.def.Name() }

var functionIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}$`)

// CreateFunction defines a durable function on the client and returns it.
// The handler runs from the top each time the run resumes; steps it has
// already completed return their stored results at once. Invalid options, a
// bad trigger, or an ID the client already has are errors here. Functions
// must be created before Start; Start registers them in the database so
// that events sent by any process start them.
func CreateFunction[T any](c *Client, opts FunctionOpts, trigger Trigger, handler func(ctx context.Context, in Input[T]) (any, error)) (*Function, error) {
	if c == nil {
		return nil, fmt.Errorf("%w: nil client", ErrInvalidFunction)
	}
	if handler == nil {
		return nil, fmt.Errorf("%w %q: nil handler", ErrInvalidFunction, opts.ID)
	}
	if !functionIDRE.MatchString(opts.ID) {
		return nil, fmt.Errorf("%w: ID %q must be 1 to 128 letters, digits, or - _ . / : characters, starting with a letter or digit", ErrInvalidFunction, opts.ID)
	}
	retries := 4
	if opts.Retries != nil {
		retries = *opts.Retries
	}
	if retries < 0 || retries > 20 {
		return nil, fmt.Errorf("%w %q: Retries must be between 0 and 20, got %d", ErrInvalidFunction, opts.ID, retries)
	}
	triggers := trigger.flatten()
	if len(triggers) > 10 {
		return nil, fmt.Errorf("%w %q: at most 10 triggers, got %d", ErrInvalidFunction, opts.ID, len(triggers))
	}
	seen := map[string]bool{}
	for _, t := range triggers {
		if err := t.validate(); err != nil {
			return nil, fmt.Errorf("%w %q: %v", ErrInvalidFunction, opts.ID, err)
		}
		key := t.event + "\x00" + t.cron + "\x00" + t.ifExpr
		if seen[key] {
			return nil, fmt.Errorf("%w %q: duplicate trigger %q", ErrInvalidFunction, opts.ID, t.event+t.cron)
		}
		seen[key] = true
	}
	if err := validateLifecycle(opts); err != nil {
		return nil, err
	}
	control := controlOf(opts)
	if err := validateControl(opts, control); err != nil {
		return nil, err
	}
	name := opts.Name
	if name == "" {
		name = opts.ID
	}
	specTriggers := make([]engine.Trigger, len(triggers))
	for i, t := range triggers {
		specTriggers[i] = engine.Trigger{Event: t.event, Cron: t.cron, If: t.ifExpr}
	}
	var cancelOn []engine.CancelOn
	for _, co := range opts.CancelOn {
		cancelOn = append(cancelOn, engine.CancelOn(co))
	}
	def, err := c.e.AddFunction(engine.FunctionSpec{
		ID:       opts.ID,
		Name:     name,
		Retries:  retries,
		Triggers: specTriggers,
		CancelOn: cancelOn,
		Timeouts: engine.Timeouts(opts.Timeouts),
		Control:  control,
		Call: func(ctx context.Context, in *engine.RunInput) (any, error) {
			ev, err := decodeEvent[T](in.Event)
			if err != nil {
				return nil, NonRetriable(err)
			}
			events := []TypedEvent[T]{ev}
			if len(in.Events) > 0 {
				events = make([]TypedEvent[T], len(in.Events))
				for i, se := range in.Events {
					if events[i], err = decodeEvent[T](se); err != nil {
						return nil, NonRetriable(err)
					}
				}
			}
			return handler(ctx, Input[T]{Event: ev, Events: events, RunID: in.RunID, Attempt: in.Attempt})
		},
	})
	if err != nil {
		return nil, err
	}
	if opts.OnFailure != nil {
		if err := addFailureHandler(c, opts); err != nil {
			c.e.RemoveFunction(opts.ID)
			return nil, err
		}
	}
	return &Function{def: def, c: c}, nil
}

func validateLifecycle(opts FunctionOpts) error {
	if len(opts.CancelOn) > 5 {
		return fmt.Errorf("%w %q: at most 5 CancelOn conditions, got %d", ErrInvalidFunction, opts.ID, len(opts.CancelOn))
	}
	for i, co := range opts.CancelOn {
		if err := validateEventName(co.Event); err != nil {
			return fmt.Errorf("%w %q: CancelOn[%d]: %v", ErrInvalidFunction, opts.ID, i, err)
		}
		if err := validateMatch(co.Match); err != nil {
			return fmt.Errorf("%w %q: CancelOn[%d]: %v", ErrInvalidFunction, opts.ID, i, err)
		}
		if co.Timeout < 0 {
			return fmt.Errorf("%w %q: CancelOn[%d]: negative Timeout %s", ErrInvalidFunction, opts.ID, i, co.Timeout)
		}
		if err := engine.CheckCondition(co.If); err != nil {
			return fmt.Errorf("%w %q: CancelOn[%d].If: %v", ErrInvalidFunction, opts.ID, i, err)
		}
	}
	if opts.Timeouts.Start < 0 || opts.Timeouts.Finish < 0 {
		return fmt.Errorf("%w %q: negative Timeouts", ErrInvalidFunction, opts.ID)
	}
	return nil
}

func decodeEvent[T any](ev engine.StoredEvent) (TypedEvent[T], error) {
	out := TypedEvent[T]{ID: ev.ID, Name: ev.Name, TS: ev.TS, DedupeID: ev.DedupeID}
	if len(ev.Data) > 0 && string(ev.Data) != "null" {
		if err := json.Unmarshal(ev.Data, &out.Data); err != nil {
			return out, fmt.Errorf("flow: decode data of event %q (%s) into %T: %w", ev.Name, ev.ID, out.Data, err)
		}
	}
	return out, nil
}
