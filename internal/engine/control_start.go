package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/riverflow/flow/internal/expr"
	"github.com/riverflow/flow/internal/registry"
	"github.com/riverflow/flow/internal/store"
)

// registryControls caches the flow control parsed from the registry's
// configs, by their JSON.
var registryControls sync.Map // string -> *registry.Control

// ParseRegistryControl returns the flow control of a registry config.
func ParseRegistryControl(raw string) (*registry.Control, error) {
	if v, ok := registryControls.Load(raw); ok {
		return v.(*registry.Control), nil
	}
	ctl, err := registry.Decode([]byte(raw))
	if err != nil {
		return nil, err
	}
	if ctl != nil {
		if err := CheckControl(ctl); err != nil {
			return nil, fmt.Errorf("function config: %w", err)
		}
	}
	registryControls.Store(raw, ctl)
	return ctl, nil
}

// controlKey evaluates a key expression over the event and returns the key,
// prefixed with the function's ID and the option's name so that keys of
// different functions and options never meet, and whether the key is false.
// The value is a string as is, anything else as JSON (null is "null"); no
// expression is "". As in Inngest (docs/keys.md), a field the event lacks is
// the value false, and so is a key that fails to evaluate: rate limit,
// idempotency and singleton do not apply to an event whose key is false
// (see runKeys); the other options give such events the key "false". A key
// over Config.MaxExpressionCost is an error wrapping ErrExpressionCost.
func (c *Engine) controlKey(fnID, option, src string, body []byte) (key string, isFalse bool, err error) {
	value := ""
	if src != "" {
		value, isFalse, err = c.keyValue(fnID, option, src, body)
		if err != nil {
			return "", false, err
		}
	}
	return fnID + "\x1f" + option + "\x1f" + value, isFalse, nil
}

// keyValue is controlKey's value of a key expression, as text.
func (c *Engine) keyValue(fnID, option, src string, body []byte) (value string, isFalse bool, err error) {
	p, err := c.program(src)
	var v any
	missing := false
	if err == nil {
		v, missing, err = p.Key(body)
	}
	if errors.Is(err, expr.ErrCostLimit) {
		return "", false, c.costError(fnID, keyPlace(option), src)
	}
	if err != nil {
		c.cfg.Logger.Debug("flow: key expression failed to evaluate; the key is false", "function_id", fnID, "option", option, "expression", src, "error", err)
		missing = true
	}
	if missing {
		return "false", true, nil
	}
	switch v := v.(type) {
	case string:
		return v, false, nil
	case bool:
		if !v {
			return "false", true, nil
		}
	}
	b, _ := json.Marshal(v)
	return string(b), false, nil
}

// keyPlace names a key's option as FunctionOpts spells it, for errors.
func keyPlace(option string) string {
	switch option {
	case "idempotency":
		return "Idempotency"
	case "rate":
		return "RateLimit.Key"
	case "throttle":
		return "Throttle.Key"
	case "singleton":
		return "Singleton.Key"
	case "debounce":
		return "Debounce.Key"
	case "batch":
		return "Batch.Key"
	}
	if i, ok := strings.CutPrefix(option, "concurrency"); ok {
		return "Concurrency[" + i + "].Key"
	}
	return option
}

// runKeys are the values of a function's flow-control expressions for one
// event, evaluated before any of the run's writes so that an expression over
// Config.MaxExpressionCost fails the send before it has written anything for
// the function. The idempotency, rate and singleton keys are "" when their
// key is false for the event: as in Inngest, the option does not apply.
type runKeys struct {
	batch, idempotency, rate, throttle, singleton, debounce string
	priority                                                int64
	slots                                                   slotKeys
}

// evalRunKeys evaluates the flow-control expressions that starting a run of
// fnID for the event needs, in the order the run's start uses them. Its only
// error is one wrapping ErrExpressionCost.
func (c *Engine) evalRunKeys(fnID string, ctl *registry.Control, body []byte) (*runKeys, error) {
	k := &runKeys{}
	var err error
	key := func(option, src string) string {
		if err != nil {
			return ""
		}
		var v string
		v, _, err = c.controlKey(fnID, option, src, body)
		return v
	}
	// unlessFalse is key for the options that do not apply to an event
	// whose key is false.
	unlessFalse := func(option, src string) string {
		if err != nil {
			return ""
		}
		v, isFalse, kerr := c.controlKey(fnID, option, src, body)
		if err = kerr; isFalse {
			return ""
		}
		return v
	}
	if b := ctl.Batch; b != nil {
		k.batch = key("batch", b.Key)
	} else {
		if ctl.Idempotency != "" {
			k.idempotency = unlessFalse("idempotency", ctl.Idempotency)
		}
		if r := ctl.RateLimit; r != nil {
			k.rate = unlessFalse("rate", r.Key)
		}
		if t := ctl.Throttle; t != nil {
			k.throttle = key("throttle", t.Key)
		}
		if p := ctl.Priority; p != nil && err == nil {
			k.priority, err = c.priorityOf(fnID, p.Run, body)
		}
	}
	if err == nil {
		k.slots, err = c.concurrencyKeys(fnID, ctl, body)
	}
	if ctl.Batch == nil {
		if s := ctl.Singleton; s != nil && s.Mode != SingletonQueue {
			k.singleton = unlessFalse("singleton", s.Key)
		}
		if d := ctl.Debounce; d != nil {
			k.debounce = key("debounce", d.Key)
		}
	}
	if err != nil {
		return nil, err
	}
	return k, nil
}

// setConcurrency gives a new run its concurrency keys and limits.
func (k *runKeys) setConcurrency(params *store.ControlledRun) {
	sk := &k.slots
	params.Ckey1, params.Climit1, params.Ckey2, params.Climit2 = sk.key1, sk.limit1, sk.key2, sk.limit2
	params.Chold1, params.Chold2 = sk.hold1, sk.hold2
	params.Slots = sk.key1 != nil
}

// startControlledRun creates the run of a function with flow control for an
// event, in the sender's transaction, as its options say: it joins a batch,
// is skipped (idempotency, rate limit, singleton), postpones a debounced run,
// or starts, possibly delayed (throttle, priority), with its concurrency keys.
func (c *Engine) startControlledRun(ctx context.Context, tx pgx.Tx, fnID string, ctl *registry.Control, ev StoredEvent, body []byte) error {
	keys, err := c.evalRunKeys(fnID, ctl, body)
	if err != nil {
		return err
	}
	_, err = c.startControlledRunKeys(ctx, tx, fnID, ctl, keys, ev, startOpts{})
	return err
}

// startOpts says how a run starts: for an event (the zero value), or
// directly, by Start or Invoke (see run_start.go).
type startOpts struct {
	// direct: the run was asked for by name, not matched by an event: it
	// neither joins a batch nor is debounced (it starts alone, at once).
	direct bool
	// parentRunID and parentStepID link the child run of an Invoke step.
	parentRunID, parentStepID *string
}

// startedRun is what starting a run for an event did: the run that carries
// the event (new, a batch it joined, or a debounced run it postponed), and
// the reason if flow control skipped it (the run is then recorded as
// skipped).
type startedRun struct {
	runID   string
	skipped string
}

// startControlledRunKeys is startControlledRun with the keys evaluated.
func (c *Engine) startControlledRunKeys(ctx context.Context, tx pgx.Tx, fnID string, ctl *registry.Control, keys *runKeys, ev StoredEvent, opts startOpts) (startedRun, error) {
	runID := NewID()
	if b := ctl.Batch; b != nil && !opts.direct {
		id, err := c.joinBatch(ctx, tx, fnID, ctl, keys, ev)
		return startedRun{runID: id}, err
	}
	skip := func(reason string) (startedRun, error) {
		return startedRun{runID: runID, skipped: reason}, c.skipRun(ctx, tx, runID, fnID, ev.ID, reason)
	}
	if keys.idempotency != "" {
		held, err := c.store.ClaimIdempotency(ctx, tx, keys.idempotency, runID)
		if err != nil {
			return startedRun{}, fmt.Errorf("idempotency key: %w", err)
		}
		if held != runID {
			return skip(fmt.Sprintf("skipped: idempotency key already used by run %s in the last 24h", held))
		}
	}
	if r := ctl.RateLimit; r != nil && keys.rate != "" {
		interval := r.Period / time.Duration(r.Limit)
		err := c.store.RateLimit(ctx, tx, keys.rate, interval, interval*time.Duration(r.Limit-1))
		if errors.Is(err, pgx.ErrNoRows) {
			return skip(fmt.Sprintf("skipped: rate limit of %d per %s reached", r.Limit, r.Period))
		}
		if err != nil {
			return startedRun{}, fmt.Errorf("rate limit: %w", err)
		}
	}
	params := &store.ControlledRun{ID: runID, FunctionID: fnID, EventID: ev.ID, Queue: c.cfg.Queue,
		ParentRunID: opts.parentRunID, ParentStepID: opts.parentStepID, TraceParent: traceParentOf(ctx)}
	if d := time.Until(ev.TS); d > 0 {
		params.Delay = d // an event with a future ts starts its runs then
	}
	if t := ctl.Throttle; t != nil {
		interval := t.Period / time.Duration(t.Limit)
		delay, err := c.store.Throttle(ctx, tx, keys.throttle, interval, interval*time.Duration(t.Limit+t.Burst-1))
		if err != nil {
			return startedRun{}, fmt.Errorf("throttle: %w", err)
		}
		params.Delay = max(params.Delay, delay)
	}
	if ctl.Priority != nil {
		if secs := keys.priority; secs > 0 {
			params.Ahead = time.Duration(secs) * time.Second
		} else {
			params.Delay += time.Duration(-secs) * time.Second
		}
	}
	keys.setConcurrency(params)
	// A queue-mode Singleton has no singleton key: its run waits for a
	// whole-run concurrency slot instead (concurrencyKeys).
	if ctl.Singleton != nil && keys.singleton != "" {
		params.SingletonKey = &keys.singleton
	}
	debounceKey := keys.debounce
	debounce := ctl.Debounce
	if opts.direct {
		debounce = nil
	}
	if d := debounce; d != nil {
		params.DebounceKey = &debounceKey
		params.Delay = max(params.Delay, d.Period)
	}
	// A conflict on a debounce or singleton key is resolved and the insert
	// tried again; each round ends one conflict, so few rounds are needed.
	for range 8 {
		if d := debounce; d != nil {
			pushed, wakeAt, err := c.store.PushDebounce(ctx, tx, store.Debounce{
				Key: debounceKey, EventID: ev.ID, TS: ev.TS, Period: d.Period, Timeout: d.Timeout,
			})
			if err == nil {
				if wakeAt != nil {
					c.waker.wakeAt(*wakeAt)
				}
				return startedRun{runID: pushed}, nil
			}
			if !errors.Is(err, pgx.ErrNoRows) {
				return startedRun{}, fmt.Errorf("debounce: %w", err)
			}
		}
		created, err := c.insertControlledRun(ctx, tx, params)
		if err != nil {
			return startedRun{}, fmt.Errorf("start run: %w", err)
		}
		if created {
			return startedRun{runID: runID}, nil
		}
		if s := ctl.Singleton; s != nil && params.SingletonKey != nil {
			active, err := c.store.SingletonActive(ctx, tx, *params.SingletonKey)
			if errors.Is(err, pgx.ErrNoRows) {
				continue // it ended meanwhile
			}
			if err != nil {
				return startedRun{}, fmt.Errorf("singleton: %w", err)
			}
			if s.Mode == string(SingletonSkip) {
				return skip(fmt.Sprintf("skipped: singleton run %s is in progress", active))
			}
			if _, err := c.cancelRun(ctx, tx, active, fmt.Sprintf("cancelled: replaced by singleton run %s", runID), nil); err != nil {
				return startedRun{}, fmt.Errorf("singleton: cancel run %s: %w", active, err)
			}
		}
	}
	return startedRun{}, fmt.Errorf("start run of %q: flow-control keys kept conflicting", fnID)
}

// priorityOf evaluates a Priority.Run expression: seconds, clamped to
// ±600; 0 if it fails, an error wrapping ErrExpressionCost if it goes over
// Config.MaxExpressionCost.
func (c *Engine) priorityOf(fnID, src string, body []byte) (int64, error) {
	p, err := c.program(src)
	var secs int64
	if err == nil {
		secs, err = p.Int(body, nil)
	}
	if errors.Is(err, expr.ErrCostLimit) {
		return 0, c.costError(fnID, "Priority.Run", src)
	}
	if err != nil {
		c.cfg.Logger.Debug("flow: Priority.Run failed to evaluate; priority 0", "function_id", fnID, "expression", src, "error", err)
		return 0, nil
	}
	return min(max(secs, -maxPrioritySeconds), maxPrioritySeconds), nil
}

// insertControlledRun creates a run of a function with flow control and its
// first job. It reports false when a singleton, debounce or batch key
// conflicted and nothing was created.
func (c *Engine) insertControlledRun(ctx context.Context, tx pgx.Tx, params *store.ControlledRun) (bool, error) {
	params.Notify = params.Delay == 0 && c.insertNotify.allow()
	row, err := c.store.InsertControlledRun(ctx, tx, *params)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if row.WakeAt != nil {
		c.waker.wakeAt(*row.WakeAt)
	}
	return true, nil
}

// skipRun records a run that flow control skipped.
func (c *Engine) skipRun(ctx context.Context, tx pgx.Tx, runID, fnID, eventID, reason string) error {
	if err := c.store.InsertSkippedRun(ctx, tx, runID, fnID, eventID, reason); err != nil {
		return fmt.Errorf("record skipped run: %w", err)
	}
	return nil
}

// slotKeys are a run's concurrency keys (flow_run.ckey1, ckey2), their
// limits and whether each holds its slot for the whole run (chold1,
// chold2; nil: step-level): nil where the function has no such limit.
type slotKeys struct {
	key1, key2     *string
	limit1, limit2 *int32
	hold1, hold2   *bool
}

// any reports whether the run has a concurrency key.
func (k slotKeys) any() bool { return k.key1 != nil }

// concurrencyKeys evaluates a function's concurrency keys for an event: its
// Concurrency limits (a false key is the key "false"), then a queue-mode
// Singleton's key (a whole-run limit of 1, in the key space of singletons;
// none if the key is false: as for the other singleton modes, the run is
// then no singleton).
func (c *Engine) concurrencyKeys(fnID string, ctl *registry.Control, body []byte) (slotKeys, error) {
	var k slotKeys
	add := func(option, src string, limit int, hold, unlessFalse bool) error {
		key, isFalse, err := c.controlKey(fnID, option, src, body)
		if err != nil || (isFalse && unlessFalse) {
			return err
		}
		lim := int32(limit)
		var h *bool
		if hold {
			h = &hold
		}
		if k.key1 == nil {
			k.key1, k.limit1, k.hold1 = &key, &lim, h
		} else {
			k.key2, k.limit2, k.hold2 = &key, &lim, h
		}
		return nil
	}
	for i, cc := range ctl.Concurrency {
		if err := add("concurrency"+strconv.Itoa(i), cc.Key, cc.Limit, cc.Mode == ConcurrencyRun, false); err != nil {
			return slotKeys{}, err
		}
	}
	if s := ctl.Singleton; s != nil && s.Mode == SingletonQueue {
		if err := add("singleton", s.Key, 1, true, true); err != nil {
			return slotKeys{}, err
		}
	}
	return k, nil
}

// limitRun gives a run created outside the sender's flow-control path (a
// rerun, an invoked run) its function's concurrency keys, and reports
// whether it has any: its jobs must then claim slots. The other options
// apply to events, not to these runs.
func (c *Engine) limitRun(ctx context.Context, tx pgx.Tx, runID, fnID string, ctl *registry.Control, ev StoredEvent) (bool, error) {
	k, err := c.concurrencyKeysOf(fnID, ctl, ev)
	if err != nil || !k.any() {
		return false, err
	}
	if err := c.store.SetConcurrency(ctx, tx, store.Concurrency{
		ID: runID, Ckey1: k.key1, Climit1: k.limit1, Ckey2: k.key2, Climit2: k.limit2, Chold1: k.hold1, Chold2: k.hold2,
	}); err != nil {
		return false, fmt.Errorf("set concurrency keys: %w", err)
	}
	return true, nil
}

// concurrencyKeysOf is concurrencyKeys for a stored event (no keys when ctl
// has no concurrency limit).
func (c *Engine) concurrencyKeysOf(fnID string, ctl *registry.Control, ev StoredEvent) (slotKeys, error) {
	if !hasSlots(ctl) {
		return slotKeys{}, nil
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return slotKeys{}, err
	}
	return c.concurrencyKeys(fnID, ctl, body)
}

// hasSlots reports whether a function's runs take concurrency slots: it has
// a Concurrency limit or a queue-mode Singleton.
func hasSlots(ctl *registry.Control) bool {
	return ctl != nil && (len(ctl.Concurrency) > 0 || (ctl.Singleton != nil && ctl.Singleton.Mode == SingletonQueue))
}

// controlFor returns a function's flow control: its definition's, if this
// client has it, else the registry's.
func (c *Engine) controlFor(ctx context.Context, db store.DB, fnID string) (*registry.Control, error) {
	if fn := c.function(fnID); fn != nil {
		return fn.control, nil
	}
	raw, ok, err := registry.LoadConfig(ctx, db, fnID)
	if err != nil || !ok {
		return nil, err
	}
	return ParseRegistryControl(string(raw))
}

func ptrInt32(v int32) *int32 { return &v }
