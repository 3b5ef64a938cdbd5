// Package engine executes the runs of a riverflow client: it claims runs, executes their
// segments, stores their steps, and runs the background services that keep them moving.
// The root package flow is its façade; users never import this package.
package engine

import "errors"

// The sentinel errors of the public API. The root package re-exports each
// under the same name (flow.ErrNotFound is engine.ErrNotFound), so errors.Is
// works on errors from either side; their documentation is there.
var (
	ErrNotFound           = errors.New("flow: not found")
	ErrEventTimeout       = errors.New("flow: timed out waiting for event")
	ErrInvokeTimeout      = errors.New("flow: timed out waiting for invoked function")
	ErrInvalidEvent       = errors.New("flow: invalid event")
	ErrEventTooLarge      = errors.New("flow: event too large")
	ErrStepOutputTooLarge = errors.New("flow: step output too large")
	ErrTooManySteps       = errors.New("flow: too many steps in run")
	ErrDuplicateFunction  = errors.New("flow: duplicate function ID")
	ErrInvalidFunction    = errors.New("flow: invalid function")
	ErrExpressionCost     = errors.New("flow: expression over its cost limit")
	ErrMatchMissing       = errors.New("flow: triggering event has no value at the Match path")
	ErrNotInRun           = errors.New("flow: step called outside a function run")
	ErrInvalidStepID      = errors.New("flow: invalid step ID")
	ErrInvalidTime        = errors.New("flow: time out of range")
	ErrNotMigrated        = errors.New("flow: the database is not migrated: run flow.Migrate (or `flow migrate`) first")
)
