// Package riverjob is the one room that writes River's job table.
//
// River's job table, river_job, belongs to River: its scheduler, fetch,
// completer, rescuer and cleaner write the same rows as we do. Every
// statement of ours that writes river_job directly is a bet on what River
// does to those rows. The bets are written down here, numbered; each has a
// test in assumptions_test.go against the pinned River, after Migrate. When
// River is upgraded, re-read its code for each of them and run those tests.
//
// The scheduler, rescuer and cleaner are also tested as services, on a
// running River client (maintenance_test.go).
//
// River version: github.com/riverqueue/river v0.51.2, with its pgx driver
// riverdriver/riverpgxv5 v0.51.2 (River's migration line "main", version 6
// or later on Postgres).
//
//  1. Columns. river_job has id bigint (default nextval of
//     river_job_id_seq), args jsonb, kind text, max_attempts smallint, queue
//     text, scheduled_at timestamptz and state river_job_state; every other
//     column has a default River reads back as a fresh job would have it
//     (attempt 0, priority 1, metadata {}, tags {}, no errors, no unique
//     key). Our inserts write only those seven columns, taking the id from
//     river_job_id_seq first so that flow_run.job_id names the job in the
//     same statement.
//  2. States. river_job_state has the values available, scheduled, pending,
//     running, retryable, completed, cancelled and discarded. We make jobs
//     available or scheduled, and move a job only while it is scheduled,
//     available, pending or (a full batch's) retryable: never one that is
//     running (River owns it until its completer writes the outcome) or
//     finalized.
//  3. Scheduler. River's leader runs JobSchedule every 5 s with a 5 s
//     look-ahead: scheduled (and retryable) jobs whose scheduled_at is within
//     the next 5 s become available early, keeping their scheduled_at (it
//     notifies producers only for those already due). It leaves available
//     and running jobs alone, and discards none of ours (they have no unique
//     key). So a statement that moves a pending job's time, or wakes it, must
//     handle an available job as well as a scheduled one.
//  4. Fetch. A producer takes (JobGetAvailable) only available jobs whose
//     scheduled_at has passed, in priority, scheduled_at, id order, and makes
//     them running with attempt + 1. An available job with a future
//     scheduled_at waits for it; a job we wake gets scheduled_at = now. But
//     a job fetched at its scheduled time may find its run postponed
//     meanwhile (a debounce): the claim refuses a queued run before its wake
//     time and hands it to a new job then (internal/engine/run_claim.go).
//  5. Completer. River writes a job's outcome (completed, retryable,
//     snoozed...) asynchronously, after Work returns, with
//     JobSetStateIfRunningMany, which changes only a job still running; so
//     does JobCompleteTx, which returns no error and the unchanged row for a
//     job that is not running (check the state). A job we moved was never
//     running, and a segment's old job completing late is harmless: the run
//     belongs to the job of its current gen.
//  6. Rescuer. River's leader moves jobs running for longer than
//     RescueStuckJobsAfter (1 h by default) to retryable or discarded
//     (JobGetStuck, JobRescueMany); it touches no other state. It ignores a
//     stuck job whose worker's Timeout is negative: the run worker's is -1
//     (a segment runs as long as its steps), so River never rescues our run
//     jobs, and the lease sweeper alone hands on a dead process's runs. A
//     job of a kind the rescuing client has no worker for is discarded: an
//     app's River client must register our workers (riverext.AddWorkers).
//  7. Cleaner. River's leader deletes completed, cancelled and discarded
//     jobs finalized before their retention period (JobDeleteBefore), never
//     a scheduled, available, pending or running one: a run's pending job is
//     never deleted under it, and a statement that addresses a run's ended
//     job by flow_run.job_id after the cleaner finds no row and does nothing.
//  8. Notifier. River's producers LISTEN on "<schema>.river_insert" (schema:
//     current_schema() of River's connection, River's Config.Schema being
//     empty) and fetch at once on a payload {"queue": q} naming their queue.
//     River sends it for its own inserts of available jobs, and not for rows
//     written by SQL (no trigger since its migration 004), nor for JobRetry.
//     So every statement of ours that makes a job available sends it, with
//     pg_notify(current_schema() || '.river_insert', ...) in the same
//     transaction (delivered at commit).
//  9. Args. The args we write in SQL, {"run_id", "gen", "fn", "slots"}, are
//     RunArgs as River's insert encodes it (encoding/json), with kind
//     flow_run, max_attempts 25 (River's default) and the client's queue, as
//     River's own inserts of RunArgs have them. The queries that insert a
//     run's first job may append {"tp": ...} (RunArgs.TraceParent) to
//     flow_job_args; River keeps args as the JSON it is given.
//
// The SQL that writes river_job directly is the functions of
// sql/004_river_job_owner.up.sql; every query and PL/pgSQL function of the
// library that inserts, wakes, moves or deletes a run's job, or wakes
// River's producers, calls them. What each function assumes:
//
//   - flow_job_next_id: the job's id from river_job_id_seq, taken before the
//     insert so that flow_run.job_id names it (1).
//   - flow_job_args: the args, as River encodes RunArgs (9).
//   - flow_job_insert: inserts a job of kind flow_run with max_attempts 25,
//     available or scheduled, the other columns left to their defaults (1,
//     3, 4, 9).
//   - flow_jobs_insert: flow_job_insert for many jobs in one INSERT, all
//     available or all scheduled at one time (1, 3, 4, 9); for statements
//     that insert many jobs (no query calls it yet: see
//     EventInsertAndStartRuns below).
//   - flow_job_wake: makes a job available at a given time if it is in one
//     of the given states, never a running or finalized one (2, 3, 5, 7).
//   - flow_jobs_wake: flow_job_wake for many jobs in one UPDATE, each at its
//     own time; it returns the queue of each job it woke (2, 3, 5, 7).
//   - flow_job_move: moves a scheduled or early-available job's time, back
//     to scheduled if it is due later (3); a running job is left to the
//     claim's check (4, 5).
//   - flow_job_delete: deletes jobs the calling transaction inserted (1).
//   - flow_job_notify: the notification River's producers act on (8).
//
// A statement that writes many jobs calls the array forms once, with the
// arrays of its rows (array_agg), not a one-row form once per row: waking
// 500 runs with a call per row took 2.5 times as long as one UPDATE. The
// array forms hand a single job to the one-row forms, whose plans Postgres
// keeps (the array statement's plan is made anew at every call, which
// costs a single row twice as much).
//
// Their callers, and the states they pass:
//
//   - EventInsertAndStartRuns (queries/event.sql): inserts each new run's
//     first job with flow_job_insert in the runs' RETURNING list, available
//     now, or scheduled at the event's future ts, and notifies. Most events
//     start one run, and for one the aggregate an array call needs cost the
//     send 7-10% (bench section 1), so this statement calls the one-row form
//     per run.
//   - EventUndoInsert (queries/event.sql): deletes the jobs that
//     EventInsertAndStartRuns inserted earlier in the same transaction, by
//     flow_run.job_id, when that SendTx then fails.
//   - RunInsertControlled (queries/control.sql): inserts the first job of a
//     run with flow control, available now (ordered earlier by a priority)
//     or scheduled at the run's wake time, never earlier, and notifies.
//   - DebouncePush (queries/control.sql): moves the job of a debounced run to
//     its new wake time.
//   - BatchAppend (queries/control.sql): makes the job of a full batch
//     available now, scheduled, already available or retryable, and
//     notifies.
//   - RunPark (queries/control.sql): inserts the job of a run waiting for a
//     concurrency slot, scheduled at its recheck time; flow_slot_wake
//     (sql/004) makes the jobs of the runs it lets through available in one
//     call of flow_jobs_wake when slots free, scheduled or already
//     available, and notifies.
//   - RunRequeueEarly (queries/control.sql): inserts a job scheduled at the
//     wake time of a run whose job River fetched too early.
//   - RunWake (queries/run.sql): makes a suspended run's job available now,
//     from scheduled, available or pending, and notifies.
//   - RunWakeDue (queries/run.sql): the same for every due run, in one call
//     of flow_jobs_wake, with one notification per queue.
//   - RunShiftDueTimes (queries/timeskip.sql; tests only, through
//     flowtest.Advance): moves the job of every suspended run with the run's
//     new wake time (flow_job_move, one call per run in an aggregate that
//     the result reads); a due run is then woken by RunWakeDue.
//
// A one-row call sits in the RETURNING list of the statement's
// data-modifying CTE, which runs to completion whatever reads it. An array
// call sits in a SELECT CTE that aggregates the rows (one output row,
// always), and the statement's result reads that row unconditionally
// (run_ids, woken): Postgres runs a SELECT CTE only as far as its reader
// reads, and not at all if nothing reads it, or if the only reader is
// filtered out by a parameter (WHERE @notify). callers_test.go checks both
// statements.
//
// Statements that only read river_job, and what each assumes:
//
//   - RunListOrphaned and RunLockOrphaned (queries/orphan.sql): a job River
//     fetched stays running, with attempted_at set at the fetch, until its
//     completer writes the outcome (4, 5), and the rescuer leaves it alone
//     for an hour (6); so a running job over a still-queued run, older than
//     LeaseTTL, was fetched by a process that died before its claim.
//   - RunListOwnUnclaimed (queries/run.sql): River appends the fetching
//     client's ID to attempted_by (internal/engine/resumer.go).
//
// River's own inserts and cancels go through [Inserter] (run_suspend.go,
// takeover.go, step_invoke.go, run_rerun.go, run_end.go, cron.go and
// event_send.go of internal/engine call it) and JobCompleteTx through
// [CompleteTx] (cron.go): they are
// River's API, not bets; CompleteTx checks the completed state (5).
package riverjob
