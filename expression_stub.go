package flow

import (
	"errors"
	"log/slog"
)

// Temporary until internal/expr lands.
func checkExpression(src string) error {
	if src != "" {
		return errors.New("expressions are not supported yet")
	}
	return nil
}

func evalCondition(_ *slog.Logger, src string, event, async []byte) bool { return src == "" }
