// Package testhook lets package flowtest reach the engine behind a
// flow.Client, for the helpers that skip time and mock steps, without
// giving the Client an exported method that production code could call.
// Being internal, it can be imported only from within the module.
package testhook

import "github.com/riverflow/flow/internal/engine"

// EngineOf returns the engine of c, a *flow.Client, or nil if c is not one.
// Package flow sets it when it is initialised (flow imports this package;
// this package cannot import flow).
var EngineOf func(c any) *engine.Engine
