package flow

import (
	"github.com/riverflow/flow/internal/engine"
	"github.com/riverflow/flow/internal/testhook"
)

// The flowtest helpers that skip time and mock steps reach the client's
// engine through internal/testhook: nothing outside this module can.
func init() {
	testhook.EngineOf = func(c any) *engine.Engine {
		if fc, ok := c.(*Client); ok && fc != nil {
			return fc.e
		}
		return nil
	}
}
