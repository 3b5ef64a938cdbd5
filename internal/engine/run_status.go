package engine

// RunStatus is where a run stands: the engine's copy of flow.RunStatus, with
// the same values (the root converts with flow.RunStatus(s)).
type RunStatus string

// The statuses of a run (see flow.RunStatus's constants).
const (
	RunQueued    RunStatus = "queued"
	RunRunning   RunStatus = "running"
	RunSleeping  RunStatus = "sleeping"
	RunWaiting   RunStatus = "waiting"
	RunCompleted RunStatus = "completed"
	RunFailed    RunStatus = "failed"
	RunCancelled RunStatus = "cancelled"
	RunSkipped   RunStatus = "skipped"
)

// Ended reports whether the status is final.
func (s RunStatus) Ended() bool {
	return s == RunCompleted || s == RunFailed || s == RunCancelled || s == RunSkipped
}
