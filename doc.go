// Package flow gives a Go service durable, event-driven functions in its own
// Postgres database, running in-process on River: what Inngest gives a
// TypeScript app through a hosted platform, with no extra server.
//
// # Events and functions
//
// A function is created on a [Client] with [CreateFunction] and a [Trigger];
// every event sent with [Client.Send] or [Client.SendTx] whose name matches
// starts a run of it. SendTx writes the event and its runs in the caller's
// own transaction: they exist if and only if it commits.
//
//	client, _ := flow.NewClient(pool, nil)
//	flow.CreateFunction(client, flow.FunctionOpts{ID: "onboard"}, flow.EventTrigger("user/signed.up"),
//		func(ctx context.Context, in flow.Input[SignedUp]) (any, error) { ... })
//	client.Start(ctx)
//	client.SendTx(ctx, tx, flow.Event{Name: "user/signed.up", Data: SignedUp{...}})
//
// [Client.SendWithRuns] also returns the runs each event started. [Define]
// creates a typed function handle ([Func]); [Start] and [StartTx] start a run
// of it directly with data, and [Func.Invoke] runs it as a child of another
// run, both checked at compile time. A function made with [NoTrigger] is
// started only these ways. Over HTTP, package eventapi accepts events as
// Inngest's event API does (POST /e/{key}), with event keys from
// [Client.CreateEventKey].
//
// # Steps
//
// A run executes its handler from the top each time it resumes. Steps make
// that safe: [Step] runs its function once and stores the result, which
// later executions get back at once; [StepTx] also commits the step's own
// database writes with its result. [Sleep], [SleepUntil], [WaitForEvent] and
// [Invoke] pause the run durably: the segment ends, nothing is held in
// memory, and a River job resumes the run when its time, event or child run
// comes. [SendEvent] sends events exactly once.
//
// A step that returns an error is retried with backoff (FunctionOpts.Retries
// times, 4 by default); after the last attempt the function receives a
// [*StepError], together with the value the step returned with its last
// error (stored, the same on every replay), as in Inngest. Steps that pause return an error the function must return
// unchanged, as in:
//
//	if err := flow.Sleep(ctx, "wait-a-day", 24*time.Hour); err != nil {
//		return nil, err
//	}
//
// Step IDs must be unique within a run; a repeated ID (in a loop) gets the
// first suffix ":1", ":2", ... that no earlier step of the run has, so it
// never takes an ID you named yourself, and a stored step result never
// changes. IDs must be non-empty UTF-8 without NUL bytes (see
// [ErrInvalidStepID]). The function must call the same steps in
// the same order on every execution: a replay that meets a different kind of
// step at a recorded ID fails the run with a [*NonDeterminismError].
//
// # Reliability
//
// Each change of a run's state happens in a transaction that checks the run
// still belongs to the River job executing it (a generation number fences
// stale jobs). The client executing a run renews a lease on it; if the
// process dies, another started client takes the run over once the lease
// lapses (Config.LeaseTTL, 30 s by default) and resumes it from its stored
// steps. That includes a run whose job the dead process had only fetched
// from River. A run cut off by a database error in a live process (killed
// connections, a Postgres restart) is handed on by that process as soon as
// the database answers again, without waiting for its lease. A step whose
// result was not stored runs again; a stored step never does, and a value
// Postgres refuses fails its step once. Wake-ups do not wait for River's
// polling: a matched event makes the run's job available in the sender's
// transaction and notifies River's producers at commit, and a waker in each
// client makes sleeping runs runnable at their wake time.
//
// # Flow control
//
// [FunctionOpts] limits and shapes a function's runs, with state in Postgres
// so that it holds across every process: [Concurrency] (runs executing at
// once, per CEL key; with [ConcurrencyRun], runs in progress, sleeping and
// waiting included), [Throttle], [RateLimit], [Debounce], [Batch],
// [Priority], an idempotency key and [Singleton]. Runs that flow control
// turns away are recorded with status [RunSkipped]. A key that is false or
// names a missing field switches RateLimit, Idempotency and Singleton off for
// that event, as in Inngest.
//
// # Realtime
//
// [Publish] sends a message to a channel and topic from a run as a durable
// step: it is numbered, stored and notified in the step's transaction, so it
// is sent once even when later steps retry. [PublishLive] and
// [Client.Publish] are the cheap form: one statement, notified at once,
// stored only when over Postgres's notification limit. Subscribers get a
// channel's messages in order: [Client.Subscribe], or [Client.SubscribeAfter]
// to resume after a [Message] ID from the messages stored in the last 24
// hours. A subscriber that falls 1,024 messages behind loses live messages
// ([ErrMessagesDropped] says how many) but never durable ones. Browsers read
// a channel through [Client.RealtimeHandler] (Server-Sent Events) with a
// token from [Client.RealtimeToken], issued after the app's own
// authorization.
//
// # Inspecting runs
//
// [Client.GetRun], [Client.ListRuns] and [Client.AwaitRun] show each run's
// status, output or error, and its steps with their attempts, timings and
// outputs. [Client.ListRuns] is the one listing of runs: a [RunFilter]
// selects them, newest first, and [RunList.Next] is the cursor of the next
// page.
//
// [Client.FindRun] and [Client.FindEvent] take any unique prefix or suffix
// of an ID's text (hyphens optional); a partial ID that fits several returns
// an [*AmbiguousIDError] with the candidates. A run's steps keep each failed
// attempt ([RunStep.FailedAttempts]); a rerun names its origin
// ([Run.RerunOf]); a wait names the event that resumed it
// ([RunStep.EventID]); an event lists the runs it resumed or cancelled
// ([EventInfo.Affected]).
//
// # Operating
//
// [Client.PauseFunction] holds a function's runs in every process until
// [Client.ResumeFunction] starts them, oldest first. [Client.CancelRuns] and
// [Client.RerunRuns] act on every run a [BulkFilter] selects, a batch per
// transaction, calling [BulkOpts].Progress after each; repeating a call after
// an interruption does nothing twice. [Client.Replay] starts a function for
// the stored events that match its trigger in a time range, such as events
// sent before the function was deployed. Migrate applies River's migrations
// and then the library's; an application whose own tool owns the schema takes
// the SQL from [MigrationVersions] or "flow migrate-get" instead (River's
// first), and Start fails with [ErrNotMigrated] ("run flow.Migrate (schema
// version X, need Y)") on a schema that is missing or behind.
//
// # Testing
//
// Package flowtest finds or starts a Postgres for tests and gives each test
// its own migrated database, a started client with the test's functions
// (flowtest.Client, or flowtest.ClientOn for a pool of your own), and waits
// for a run to end or to reach a status (flowtest.RunEvent,
// flowtest.AwaitStatus). flowtest.Advance skips time, so that a test of a
// 24-hour sleep and a 72-hour wait takes a fraction of a second;
// flowtest.AwaitWaiting stops at a wait before the test sends its event; and
// flowtest.MockStep replaces a step's result.
package flow
