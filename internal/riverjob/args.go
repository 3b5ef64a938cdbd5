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
	// TraceParent is the W3C traceparent of the span that sent the run's
	// event (Send, SendTx, Start, StartTx, an Invoke step), if the sender's
	// context had one: the run's segment spans become its children. A
	// suspend carries it on to the continuation job. The first job's
	// queries append it to flow_job_args as {"tp": ...} (TraceArgsKey).
	TraceParent string `json:"tp,omitempty"`
}

// TraceArgsKey is the JSON key of RunArgs.TraceParent, which the queries
// that insert a run's first job append to flow_job_args.
const TraceArgsKey = "tp"

// Kind implements river.JobArgs.
func (RunArgs) Kind() string { return Kind }
