package riverjob

// Kind is the kind of the one River job that executes runs: each job is one
// segment of a run.
const Kind = "flow_run"

// RunArgs are the args of a job of [Kind]. Gen fences the run: a job whose
// gen is not the run's current one is stale and does nothing. The SQL side
// builds the same JSON in flow_job_args (sql/004); assumption 9 checks that
// the two agree.
type RunArgs struct {
	RunID string `json:"run_id"`
	Gen   int32  `json:"gen"`
	// FunctionID lets the worker find the function's options before it
	// claims the run (optional: older jobs lack it).
	FunctionID string `json:"fn,omitempty"`
	// Slots says that the run has concurrency keys: its segments claim a
	// slot before they execute.
	Slots bool `json:"slots,omitempty"`
}

// Kind implements river.JobArgs.
func (RunArgs) Kind() string { return Kind }
