package flowtest

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/riverflow/flow"
)

// MockStep replaces the result of step stepID of the function fnID on c with
// value and err: from now on, when a run of the function executes that step,
// the step's function is not called and value (encoded as JSON, as a step's
// result is) is stored and returned as its result, as if the function had
// returned value, err. Call it before the run reaches the step: before the
// event is sent, or while the run sleeps or waits. A step that has already
// completed keeps its stored result; a later MockStep of the same step
// replaces the mock.
//
// stepID is the stored step ID: the ID given to flow.Step or flow.StepTx,
// with ":1", ":2", ... for its repeats (mock each repeat by its own ID).
// Only these two kinds of step can be mocked. A non-nil err fails the
// attempt as the function's error would: it is retried with backoff unless
// it is wrapped with [flow.NonRetriable], and once the step has failed for
// good the function gets a *flow.StepError (with value, as the value
// returned with the last error, if value is not nil).
//
// Mocks live in c, the client of a test: they cannot be set on a client
// outside tests, since flowtest alone reaches them. MockStep fails the test
// if c defines no function fnID, stepID is not a valid step ID, or value
// does not encode as JSON.
func MockStep(tb testing.TB, c *flow.Client, fnID, stepID string, value any, err error) {
	tb.Helper()
	if e := mockStep(c, fnID, stepID, value, err); e != nil {
		tb.Fatalf("flowtest: %v", e)
	}
}

func mockStep(c *flow.Client, fnID, stepID string, value any, stepErr error) error {
	e, err := engineOf(c)
	if err != nil {
		return err
	}
	var out []byte
	if value != nil {
		if out, err = json.Marshal(value); err != nil {
			return fmt.Errorf("flow: MockStep of step %q of function %q: encode the value as JSON: %w", stepID, fnID, err)
		}
	}
	return e.MockStep(fnID, stepID, out, stepErr)
}
