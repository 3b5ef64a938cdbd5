package flow

import (
	"fmt"
	"strings"

	"github.com/riverflow/flow/internal/engine"
)

// Trigger says what starts a function's runs: an event name (EventTrigger),
// a schedule (CronTrigger), or several of these (Triggers).
type Trigger struct {
	event  string
	cron   string
	ifExpr string
	many   []Trigger
}

// EventTrigger starts a run for every event with this exact name, or, for a
// name ending in "/*" or ".*" (such as "billing/*"), for every event whose
// name starts with what comes before the "*".
func EventTrigger(name string) Trigger { return Trigger{event: name} }

// If adds a condition to an event trigger: a CEL expression over event (the
// incoming event, with its name, data, id and ts) that must be true for the
// event to start a run, such as `event.data.plan == "pro"`. A missing field
// is null. The expression is checked by CreateFunction (its type must be
// bool, or a value from the event's JSON, which must then be a bool: else
// the event starts no run and a warning is logged) and evaluated by the
// sender, in its transaction; one over Config.MaxExpressionCost fails the
// send with ErrExpressionCost.
func (t Trigger) If(expr string) Trigger {
	t.ifExpr = expr
	return t
}

// CronTrigger starts a run on a schedule: five-field cron syntax or a
// descriptor such as "@hourly", with an optional "TZ=Area/City " prefix.
// The spec is checked by CreateFunction. Each tick starts one run across all
// processes (River's elected leader fires it), whose event is a
// "flow/scheduled.timer" event with ScheduledTimer data.
func CronTrigger(spec string) Trigger { return Trigger{cron: spec} }

// Triggers combines several triggers: the function runs for any of them.
// Triggers() with none makes a function that runs only when invoked (Invoke).
func Triggers(ts ...Trigger) Trigger {
	if ts == nil {
		ts = []Trigger{}
	}
	return Trigger{many: ts}
}

// NoTrigger makes a function that no event or schedule starts: only Start
// (or StartTx, StartFunction) and Invoke run it, so an invoke-only child
// needs no event name that anyone could send. It is Triggers() with none.
// The dashboard and ListFunctions show such a function with no triggers.
func NoTrigger() Trigger { return Triggers() }

// flatten returns the single triggers in t.
func (t Trigger) flatten() []Trigger {
	if t.many == nil {
		return []Trigger{t}
	}
	var out []Trigger
	for _, m := range t.many {
		out = append(out, m.flatten()...)
	}
	return out
}

func (t Trigger) validate() error {
	switch {
	case t.event != "" && t.cron != "":
		return fmt.Errorf("a trigger has both an event and a cron spec")
	case t.event != "":
		name := t.event
		if prefix, ok := strings.CutSuffix(name, "*"); ok {
			if !strings.HasSuffix(prefix, "/") && !strings.HasSuffix(prefix, ".") || len(prefix) < 2 {
				return fmt.Errorf("event trigger %q: a wildcard must be a whole last segment, as in \"billing/*\" or \"user.*\"", name)
			}
			name = prefix + "x"
		}
		if err := validateEventName(name); err != nil {
			return fmt.Errorf("event trigger %q: %w", t.event, err)
		}
		if err := engine.CheckCondition(t.ifExpr); err != nil {
			return fmt.Errorf("event trigger %q: If: %w", t.event, err)
		}
	case t.cron != "" && t.ifExpr != "":
		return fmt.Errorf("cron trigger %q: If applies to event triggers only", t.cron)
	case t.cron != "":
		if _, err := engine.ParseCron(t.cron); err != nil {
			return fmt.Errorf("cron trigger %q: %w", t.cron, err)
		}
	default:
		return fmt.Errorf("an empty trigger (use EventTrigger or CronTrigger, or NoTrigger for a function started only by Start or Invoke)")
	}
	return nil
}
