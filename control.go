package flow

import (
	"fmt"
	"time"

	"github.com/riverflow/flow/internal/engine"
	"github.com/riverflow/flow/internal/registry"
)

// Concurrency limits how many runs of a function execute at once: Limit runs
// per value of Key, a CEL expression over the triggering event such as
// "event.data.accountId" (empty: one limit for the whole function). For
// every option, a key evaluates to its value as text (a string as is,
// anything else as JSON: null is "null", apart from ""). As in Inngest, a
// field the event lacks, or a key that fails to evaluate, is the value
// false: RateLimit, Idempotency and Singleton do not apply to an event whose
// key is false, while Concurrency, Throttle, Debounce and Batch give such
// events the key "false" (docs/keys.md has the whole table). By default
// (ConcurrencyStep), as in Inngest, a run counts only while it executes:
// sleeping and waiting runs hold no slot. With Mode ConcurrencyRun a run
// holds its slot from its first step to its end, sleeping, waiting and
// retrying included. The limit holds across every process working the
// queue. Runs over it wait, in order (see Priority), and the first of them
// starts as soon as a slot frees.
type Concurrency struct {
	Limit int
	Key   string
	// Mode says when a run holds its slot. Defaults to ConcurrencyStep.
	Mode ConcurrencyMode
}

// ConcurrencyMode says when a run counts against a Concurrency limit.
type ConcurrencyMode string

const (
	// ConcurrencyStep counts a run only while it executes: a run that
	// sleeps, waits for an event or an invoked run, or waits to retry a
	// step frees its slot, and takes one again (waiting in line if there is
	// none) when it goes on. Inngest's concurrency limits count this way,
	// and so does a Concurrency whose Mode is empty.
	ConcurrencyStep ConcurrencyMode = engine.ConcurrencyStep
	// ConcurrencyRun counts a run for its whole life: it takes its slot when
	// it first starts executing, keeps it while it sleeps, waits, backs off
	// before a retry or is handed to another process, and frees it once,
	// when it ends (completed, failed, cancelled, timed out). Use it for
	// "one order per customer at a time": with Limit 1 per customer, the
	// second order's first step runs only once the first order has ended.
	// Runs waiting for a slot start in order. A run that invokes a function
	// limited by the same key and mode with Limit 1 waits for itself
	// forever: give the child another key.
	ConcurrencyRun ConcurrencyMode = engine.ConcurrencyRun
)

// Throttle spreads the starts of a function's runs over time: Limit starts
// per Period (one every Period/Limit), with Burst more allowed at once on top
// of Limit after a quiet spell, per value of Key (a CEL expression over the
// event; empty: one throttle for the function). Runs over the throttle are
// delayed, in order; none is dropped.
type Throttle struct {
	Limit  int
	Period time.Duration
	Burst  int
	Key    string
}

// RateLimit drops the events over a limit: at most Limit runs start per
// Period per value of Key (the allowance refills evenly, one every
// Period/Limit). An event over the limit starts no run; the run it would
// have started is recorded as skipped, with the reason. An event whose key
// is false or missing is not rate limited, as in Inngest.
type RateLimit struct {
	Limit  int
	Period time.Duration
	Key    string
}

// Debounce delays a run until matching events stop coming: each event with
// the same Key value pushes the start back to Period after it, and the run
// receives the latest event by Event.TS. As in Inngest, an event older than
// the one the run holds, arriving later, changes nothing: neither the event
// nor the start. Timeout, if set, caps the delay after the first event.
type Debounce struct {
	Period  time.Duration
	Key     string
	Timeout time.Duration
}

// Batch gives one run up to MaxSize events, in Input.Events: the run starts
// when the batch is full, or Timeout after its first event. Key (a CEL
// expression) batches events with the same value together.
type Batch struct {
	MaxSize int
	Timeout time.Duration
	Key     string
}

// Priority moves runs ahead in the queue: Run is a CEL expression over the
// event giving seconds (an integer from -600 to 600). A run with priority N
// starts before runs of the queue queued up to N seconds before it (and
// before them among runs waiting for a concurrency slot); a negative N delays
// its start by -N seconds.
type Priority struct {
	Run string
}

// SingletonMode says what a singleton function does with an event that
// arrives while a run of its key is in progress.
type SingletonMode string

const (
	// SingletonSkip records the new run as skipped.
	SingletonSkip SingletonMode = engine.SingletonSkip
	// SingletonCancel cancels the run in progress (an executing step has its
	// context cancelled) and starts the new one.
	SingletonCancel SingletonMode = engine.SingletonCancel
	// SingletonQueue keeps the new run queued until the run in progress
	// ends, then starts it: runs of one key execute one after another, in
	// order, none skipped or cancelled. It is a Concurrency limit of 1 per
	// Key in ConcurrencyRun mode, and takes one of the two concurrency keys
	// a function may have. Inngest has no such mode.
	SingletonQueue SingletonMode = engine.SingletonQueue
)

// Singleton allows one run in progress (not ended) per value of Key. An event
// whose key is false or missing is no singleton: its run starts as if the
// function had no Singleton, as in Inngest.
type Singleton struct {
	Key  string
	Mode SingletonMode
}

// controlConfig is a function's flow control as the engine reads it: the
// registry's stored type, so that any process sending events applies the
// same flow control as the process that defines the function.
type controlConfig = registry.Control

// controlOf returns a function's flow control, or nil if it has none. It is
// the one conversion of the public option structs to the stored ones.
func controlOf(opts FunctionOpts) *controlConfig {
	c := &controlConfig{Idempotency: opts.Idempotency}
	for _, cc := range opts.Concurrency {
		mode := string(cc.Mode)
		if cc.Mode == ConcurrencyStep {
			mode = "" // stored as before modes existed
		}
		c.Concurrency = append(c.Concurrency, registry.Concurrency{Limit: cc.Limit, Key: cc.Key, Mode: mode})
	}
	if t := opts.Throttle; t != nil {
		c.Throttle = &registry.Throttle{Limit: t.Limit, Period: t.Period, Burst: t.Burst, Key: t.Key}
	}
	if r := opts.RateLimit; r != nil {
		c.RateLimit = &registry.RateLimit{Limit: r.Limit, Period: r.Period, Key: r.Key}
	}
	if d := opts.Debounce; d != nil {
		c.Debounce = &registry.Debounce{Period: d.Period, Key: d.Key, Timeout: d.Timeout}
	}
	if b := opts.Batch; b != nil {
		c.Batch = &registry.Batch{MaxSize: b.MaxSize, Timeout: b.Timeout, Key: b.Key}
	}
	if p := opts.Priority; p != nil {
		c.Priority = &registry.Priority{Run: p.Run}
	}
	if s := opts.Singleton; s != nil {
		c.Singleton = &registry.Singleton{Key: s.Key, Mode: string(s.Mode)}
	}
	if len(c.Concurrency) == 0 && c.Throttle == nil && c.RateLimit == nil && c.Debounce == nil &&
		c.Batch == nil && c.Priority == nil && c.Idempotency == "" && c.Singleton == nil {
		return nil
	}
	return c
}

// validateControl checks a function's flow control and the combinations of
// options that cannot work together, naming the clash.
func validateControl(opts FunctionOpts, c *controlConfig) error {
	if c == nil {
		return nil
	}
	if err := engine.CheckControl(c); err != nil {
		return fmt.Errorf("%w %q: %v", ErrInvalidFunction, opts.ID, err)
	}
	if c.Batch != nil {
		// As in Inngest: a batch run has many events, so options that look at
		// one event, or that act per event, do not apply.
		clash := ""
		switch {
		case c.Idempotency != "":
			clash = "Idempotency"
		case c.RateLimit != nil:
			clash = "RateLimit"
		case c.Debounce != nil:
			clash = "Debounce"
		case c.Singleton != nil:
			clash = "Singleton"
		case c.Priority != nil:
			clash = "Priority"
		case len(opts.CancelOn) > 0:
			clash = "CancelOn"
		}
		if clash != "" {
			return fmt.Errorf("%w %q: Batch cannot be combined with %s (a batch run has many events)", ErrInvalidFunction, opts.ID, clash)
		}
	}
	return nil
}

// describeControl returns the options in words, one line each, for listings.
func describeControl(c *controlConfig) []string {
	per := func(key string) string {
		if key == "" {
			return ""
		}
		return " per " + key
	}
	var out []string
	for _, cc := range c.Concurrency {
		line := fmt.Sprintf("Concurrency: %d%s", cc.Limit, per(cc.Key))
		if cc.Mode == engine.ConcurrencyRun {
			line += ", held for the whole run"
		}
		out = append(out, line)
	}
	if t := c.Throttle; t != nil {
		out = append(out, fmt.Sprintf("Throttle: %d per %s, burst %d%s", t.Limit, t.Period, t.Burst, per(t.Key)))
	}
	if r := c.RateLimit; r != nil {
		out = append(out, fmt.Sprintf("Rate limit: %d per %s%s", r.Limit, r.Period, per(r.Key)))
	}
	if d := c.Debounce; d != nil {
		line := fmt.Sprintf("Debounce: %s%s", d.Period, per(d.Key))
		if d.Timeout > 0 {
			line += fmt.Sprintf(", at most %s", d.Timeout)
		}
		out = append(out, line)
	}
	if b := c.Batch; b != nil {
		out = append(out, fmt.Sprintf("Batch: up to %d events or %s%s", b.MaxSize, b.Timeout, per(b.Key)))
	}
	if p := c.Priority; p != nil {
		out = append(out, "Priority: "+p.Run)
	}
	if c.Idempotency != "" {
		out = append(out, "Idempotency: "+c.Idempotency)
	}
	if s := c.Singleton; s != nil {
		out = append(out, fmt.Sprintf("Singleton (%s)%s", s.Mode, per(s.Key)))
	}
	return out
}
