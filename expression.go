package flow

import (
	"log/slog"

	"github.com/riverflow/flow/internal/expr"
)

// checkExpression compiles a CEL condition (cached), so that a bad one is an
// error where it is declared, with its position. "" is no condition.
func checkExpression(src string) error {
	if src == "" {
		return nil
	}
	_, err := expr.Cached(src)
	return err
}

// evalCondition evaluates a condition over event (a run's triggering event,
// or the incoming event for a trigger) and async (an incoming event; nil for
// triggers). An error counts as false, logged at debug level (event data is
// not logged above it).
func evalCondition(logger *slog.Logger, src string, event, async []byte) bool {
	if src == "" {
		return true
	}
	p, err := expr.Cached(src)
	if err != nil {
		logger.Warn("flow: invalid condition", "expression", src, "error", err)
		return false
	}
	ok, err := p.Bool(event, async)
	if err != nil {
		logger.Debug("flow: condition failed to evaluate; treated as false", "expression", src, "error", err)
		return false
	}
	return ok
}
