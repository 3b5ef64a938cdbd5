package flow

import "github.com/riverflow/flow/internal/engine"

// ScheduledTimer is the data of the "flow/scheduled.timer" event that starts
// a cron trigger's runs: the trigger's Cron spec, the FunctionID it belongs
// to, and the Tick (the scheduled time, in UTC, to the second) it fired for.
type ScheduledTimer = engine.ScheduledTimer
