package engine

import (
	"errors"
	"fmt"

	"github.com/riverflow/flow/internal/expr"
)

// defaultMaxExpressionCost is Config.MaxExpressionCost's default. Measured
// (internal/expr's tests and BenchmarkCostLimitQuadratic): a single pass
// such as `event.data.l.exists(x, x == 1)` costs about 6 per list item, so
// this lets a pass over some 150,000 items, or string functions over the
// largest event, through; the quadratic `l.all(x, l.all(y, x + y >= 0))`
// over 3,000 items (63 million) stops after a sixtieth of its work, tens of
// milliseconds instead of seconds.
const defaultMaxExpressionCost = 1_000_000

// CheckExpression compiles a CEL expression (cached), so that a bad one is
// an error where it is declared, with its position. "" is no expression.
func CheckExpression(src string) error {
	if src == "" {
		return nil
	}
	_, err := expr.Cached(src, defaultMaxExpressionCost)
	return err
}

// CheckCondition is CheckExpression for a condition (an If): its type must
// also be bool, or dyn (a value from the events' JSON, checked when
// evaluated); a condition of another type could never hold.
func CheckCondition(src string) error {
	if src == "" {
		return nil
	}
	p, err := expr.Cached(src, defaultMaxExpressionCost)
	if err != nil {
		return err
	}
	if p.CheckBool() != nil {
		return fmt.Errorf("expr: %q: a condition must be a bool, but its type is %s", src, p.Type())
	}
	return nil
}

// program returns the compiled expression with the client's cost limit.
func (c *Engine) program(src string) (*expr.Program, error) {
	return expr.Cached(src, uint64(c.cfg.MaxExpressionCost))
}

// evalCondition evaluates a condition over event (a run's triggering event,
// or the incoming event for a trigger) and async (an incoming event; nil for
// triggers). An empty condition holds. The only error it returns is an
// evaluation stopped by Config.MaxExpressionCost (wrapping
// expr.ErrCostLimit), for the caller to name the expression with costError.
// Any other failure counts as false: a result that is not a bool (nor null)
// is logged as a warning, since the condition can never hold for such
// events; other evaluation errors (a missing list index, a type mismatch in
// the event's data) at debug level, as event data is not logged above it.
func (c *Engine) evalCondition(src string, event, async []byte) (bool, error) {
	if src == "" {
		return true, nil
	}
	p, err := c.program(src)
	if err != nil {
		c.cfg.Logger.Warn("flow: invalid condition; treated as false", "expression", src, "error", err)
		return false, nil
	}
	ok, err := p.Bool(event, async)
	switch {
	case errors.Is(err, expr.ErrCostLimit):
		return false, err
	case errors.Is(err, expr.ErrNotBool):
		c.cfg.Logger.Warn("flow: condition is not a bool; treated as false", "expression", src, "error", err)
	case err != nil:
		c.cfg.Logger.Debug("flow: condition failed to evaluate; treated as false", "expression", src, "error", err)
	}
	return ok, nil
}

// costError is the error of an expression whose evaluation went over
// Config.MaxExpressionCost: it names the function, the expression's place
// (such as "trigger If" or "Concurrency[0].Key") and the limit.
func (c *Engine) costError(fnID, place, src string) error {
	return fmt.Errorf("%w: function %q: %s %q: over the limit of %d (Config.MaxExpressionCost)",
		ErrExpressionCost, fnID, place, src, c.cfg.MaxExpressionCost)
}
