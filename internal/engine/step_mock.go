package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// stepMocks are the results tests put in place of steps' functions
// (flowtest.MockStep, which alone reaches MockStep): a mocked step does not
// call its function; the mock is stored as its result. A client that was
// never given a mock pays one atomic load per step.
type stepMocks struct {
	set atomic.Bool
	mu  sync.Mutex
	m   map[stepMockKey]stepMock
}

type stepMockKey struct{ fn, step string }

type stepMock struct {
	out json.RawMessage
	err error
}

// MockStep makes the step stepID (the stored ID, with ":n" for the nth
// repeat) of the function fnID return the JSON value out (nil: no value)
// and err instead of
// calling its function, from its next execution on: a step that has already
// completed keeps its stored result. err, if not nil, is the step's error, as
// if its function had returned it (retried as any step error is, unless it is
// NonRetriable). A later mock of the same step replaces the earlier one.
func (c *Engine) MockStep(fnID, stepID string, out []byte, err error) error {
	if c.function(fnID) == nil {
		ids := make([]string, 0)
		for _, fn := range c.sortedFunctions() {
			ids = append(ids, fmt.Sprintf("%q", fn.id))
		}
		known := "none"
		if len(ids) > 0 {
			known = strings.Join(ids, ", ")
		}
		return fmt.Errorf("%w: MockStep: no function %q on this client (its functions: %s)", ErrNotFound, fnID, known)
	}
	if err := checkStepID(stepID); err != nil {
		return fmt.Errorf("%w (MockStep of function %q)", errors.Unwrap(err), fnID)
	}
	if out != nil && !json.Valid(out) {
		return fmt.Errorf("flow: MockStep of step %q of function %q: the value is not valid JSON", stepID, fnID)
	}
	m := &c.mocks
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil {
		m.m = map[stepMockKey]stepMock{}
	}
	mock := stepMock{err: err}
	if out != nil {
		mock.out = slices.Clone(out)
	}
	m.m[stepMockKey{fnID, stepID}] = mock
	m.set.Store(true)
	return nil
}

// lookup returns the mock of step sid of function fn, if a test set one.
func (m *stepMocks) lookup(fn, sid string) (stepMock, bool) {
	if !m.set.Load() {
		return stepMock{}, false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	mock, ok := m.m[stepMockKey{fn, sid}]
	return mock, ok
}
