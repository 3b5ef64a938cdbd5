-- name: RunStart :one
-- Claims a run for the segment of the River job that carries its current gen,
-- and returns it with its triggering event. A stale job (older gen), a finished
-- run, or a run whose segment is alive elsewhere (lease not lapsed) gets no row.
-- The first segment also fixes the run's finish deadline (@finish_timeout,
-- zero for none); first_segment and queued_for let the caller apply the start
-- timeout and register CancelOn conditions once.
UPDATE flow_run r
SET status = 'running',
    job_id = @job_id,
    lease_owner = @lease_owner,
    lease_expires_at = now() + @lease_ttl::interval,
    deadline_at = CASE WHEN r.started_at IS NULL AND @finish_timeout::interval > interval '0'
                       THEN now() + @finish_timeout::interval ELSE r.deadline_at END,
    started_at = coalesce(r.started_at, now()),
    wake_at = NULL,
    updated_at = now()
FROM flow_event e
WHERE r.id = @id
    -- A queued run is never claimed before its wake time, whenever River
    -- fetched its job (RunRequeueEarly hands it to a job at that time).
    AND NOT (r.status = 'queued' AND coalesce(r.wake_at > now(), false))
    AND r.gen = @gen
    AND e.id = r.event_id
    AND (r.status IN ('queued', 'sleeping', 'waiting')
         OR (r.status = 'running' AND r.lease_expires_at < now()))
    -- Not while its function is paused: RunHoldPaused holds it instead. One
    -- probe of a table with a row per paused function (usually none).
    AND NOT EXISTS (SELECT 1 FROM flow_function_pause p WHERE p.function_id = r.function_id)
RETURNING r.id, r.function_id, r.gen, r.attempt, r.created_at, r.parent_run_id, r.deadline_at,
    (r.started_at = now())::boolean AS first_segment,
    EXISTS (SELECT 1 FROM flow_step s WHERE s.run_id = r.id) AS has_steps,
    EXISTS (SELECT 1 FROM flow_wait w WHERE w.run_id = r.id AND w.kind = 'cancel') AS has_cancel_waits,
    (now() - r.created_at)::interval AS queued_for,
    e.id AS event_id, e.name AS event_name, e.data AS event_data, e.ts AS event_ts,
    e.dedupe_id AS event_dedupe_id, e.received_at AS event_received_at,
    (r.ckey1 IS NOT NULL OR r.ckey2 IS NOT NULL)::boolean AS slotted,
    coalesce(r.batch_size, 0)::integer AS batch_size;

-- name: RunStartSlotted :one
-- RunStart for a run with concurrency keys: it claims the run only if it can
-- take a free slot of each key (skipping slots other claims and releases
-- have locked) and no parked run waits ahead of it, and takes the slots.
-- A key whose whole-run slot (chold) the run holds already, from an earlier
-- segment, needs neither: held1/held2. No row: a stale job, or no slot
-- (RunPark follows).
WITH run AS (
    SELECT r.id, r.status, r.ckey1, r.climit1, r.ckey2, r.climit2, r.order_at,
        -- CASE, so that a step-level key (chold NULL) costs no probe.
        CASE WHEN r.chold1 THEN EXISTS (SELECT 1 FROM flow_concurrency_slot h
                                        WHERE h.key = r.ckey1 AND h.n = r.cslot1 AND h.run_id = r.id)
             ELSE false END AS held1,
        CASE WHEN r.chold2 THEN EXISTS (SELECT 1 FROM flow_concurrency_slot h
                                        WHERE h.key = r.ckey2 AND h.n = r.cslot2 AND h.run_id = r.id)
             ELSE false END AS held2
    FROM flow_run r
    WHERE r.id = @id AND r.gen = @gen
        -- Not before a queued run's wake time (see RunStart).
        AND NOT (r.status = 'queued' AND coalesce(r.wake_at > now(), false))
        AND (r.status IN ('queued', 'sleeping', 'waiting')
             OR (r.status = 'running' AND r.lease_expires_at < now()))
        -- Not while its function is paused (see RunStart).
        AND NOT EXISTS (SELECT 1 FROM flow_function_pause p WHERE p.function_id = r.function_id)
),
s1 AS (
    SELECT s.key, s.n FROM flow_concurrency_slot s, run
    WHERE s.key = run.ckey1 AND s.n < run.climit1 AND s.run_id IS NULL AND run.status <> 'running' AND NOT run.held1
    ORDER BY s.key, s.n
    LIMIT 1
    FOR UPDATE OF s SKIP LOCKED
),
s2 AS (
    SELECT s.key, s.n FROM flow_concurrency_slot s, run
    WHERE s.key = run.ckey2 AND s.n < run.climit2 AND s.run_id IS NULL AND run.status <> 'running' AND NOT run.held2
    ORDER BY s.key, s.n
    LIMIT 1
    FOR UPDATE OF s SKIP LOCKED
),
ok AS (
    SELECT run.id, run.held1, run.held2 FROM run
    -- A run re-claimed after its lease lapsed never stopped running: it keeps
    -- its slots.
    WHERE run.status = 'running'
        OR ((run.held1 OR EXISTS (SELECT 1 FROM s1))
        AND (run.ckey2 IS NULL OR run.held2 OR EXISTS (SELECT 1 FROM s2))
        AND (run.held1 OR NOT EXISTS (SELECT 1 FROM flow_slot_waiter w
                        WHERE w.key = run.ckey1 AND (w.order_at, w.run_id) < (run.order_at, run.id)))
        AND (run.ckey2 IS NULL OR run.held2 OR NOT EXISTS (SELECT 1 FROM flow_slot_waiter w
                        WHERE w.key = run.ckey2 AND (w.order_at, w.run_id) < (run.order_at, run.id))))
),
taken AS (
    UPDATE flow_concurrency_slot s SET run_id = ok.id
    FROM ok, (SELECT key, n FROM s1 UNION ALL SELECT key, n FROM s2) t
    WHERE s.key = t.key AND s.n = t.n
)
UPDATE flow_run r
SET status = 'running',
    job_id = @job_id,
    lease_owner = @lease_owner,
    lease_expires_at = now() + @lease_ttl::interval,
    deadline_at = CASE WHEN r.started_at IS NULL AND @finish_timeout::interval > interval '0'
                       THEN now() + @finish_timeout::interval ELSE r.deadline_at END,
    started_at = coalesce(r.started_at, now()),
    wake_at = NULL,
    slot_wait = NULL,
    cslot1 = CASE WHEN r.status = 'running' OR ok.held1 THEN r.cslot1 ELSE (SELECT s1.n FROM s1) END,
    cslot2 = CASE WHEN r.status = 'running' OR ok.held2 THEN r.cslot2 ELSE (SELECT s2.n FROM s2) END,
    updated_at = now()
FROM flow_event e, ok
WHERE r.id = ok.id
    AND NOT (r.status = 'queued' AND coalesce(r.wake_at > now(), false))
    AND r.gen = @gen
    AND e.id = r.event_id
    AND (r.status IN ('queued', 'sleeping', 'waiting')
         OR (r.status = 'running' AND r.lease_expires_at < now()))
RETURNING r.id, r.function_id, r.gen, r.attempt, r.created_at, r.parent_run_id, r.deadline_at,
    (r.started_at = now())::boolean AS first_segment,
    EXISTS (SELECT 1 FROM flow_step s WHERE s.run_id = r.id) AS has_steps,
    EXISTS (SELECT 1 FROM flow_wait w WHERE w.run_id = r.id AND w.kind = 'cancel') AS has_cancel_waits,
    (now() - r.created_at)::interval AS queued_for,
    e.id AS event_id, e.name AS event_name, e.data AS event_data, e.ts AS event_ts,
    e.dedupe_id AS event_dedupe_id, e.received_at AS event_received_at,
    (r.ckey1 IS NOT NULL OR r.ckey2 IS NOT NULL)::boolean AS slotted,
    coalesce(r.batch_size, 0)::integer AS batch_size;

-- name: RunFence :one
-- Locks a run that the caller's segment still owns and renews its lease, for
-- the rest of the caller's transaction. No row: the segment lost the run.
-- The lease counts from the clock (after any wait for the row's lock), not
-- from the transaction's start; StepTx fences again before it commits.
UPDATE flow_run
SET lease_expires_at = clock_timestamp() + @lease_ttl::interval, updated_at = now()
WHERE id = @id AND gen = @gen AND status = 'running'
RETURNING id;

-- name: RunFinish :one
-- Ends a run its segment still owns. (AwaitRun callers are notified after
-- commit, in batches: a NOTIFY in every finishing transaction would make
-- their commits take Postgres's notify lock one at a time.)
WITH run AS (
    UPDATE flow_run
    SET status = @status,
        output = @output,
        error = sqlc.narg('error'),
        ended_at = now(),
        lease_owner = NULL,
        lease_expires_at = NULL,
        wake_at = NULL,
        updated_at = now()
    WHERE id = @id AND gen = @gen AND status = 'running'
    RETURNING id, parent_run_id, parent_step_id
),
waits AS (
    DELETE FROM flow_wait USING run WHERE flow_wait.run_id = run.id
)
-- finished_listened says whether any trigger or open wait listens for
-- flow/function.finished, so that the event is stored only when it is used.
SELECT run.id, run.parent_run_id, run.parent_step_id,
    (EXISTS (SELECT 1 FROM flow_trigger t
             WHERE t.event_name = 'flow/function.finished'
                OR (t.is_prefix AND starts_with('flow/function.finished', t.event_name)))
     OR EXISTS (SELECT 1 FROM flow_wait_path p WHERE p.event_name = 'flow/function.finished')
    )::boolean AS finished_listened
FROM run;

-- name: RunCompleteQuiet :one
-- RunFinish for the common case, in one statement: a run with no parent
-- completes, and nothing listens for flow/function.finished. No row: the
-- segment lost the run, or the full path (RunFinish) is needed. For a run
-- with concurrency keys (the trigger frees its slots), slot_waiters says
-- whether runs wait for a slot of its keys, so that the caller wakes them
-- after the commit only then; a run that parks after this looked waits, in
-- its own RunSlotWakeLocked, for this commit.
UPDATE flow_run r
SET status = 'completed',
    output = @output,
    ended_at = now(),
    lease_owner = NULL,
    lease_expires_at = NULL,
    wake_at = NULL,
    updated_at = now()
WHERE r.id = @id AND r.gen = @gen AND r.status = 'running' AND r.parent_run_id IS NULL
    AND NOT EXISTS (SELECT 1 FROM flow_wait w WHERE w.run_id = @id)
    AND NOT EXISTS (SELECT 1 FROM flow_trigger t
                    WHERE t.event_name = 'flow/function.finished'
                       OR (t.is_prefix AND starts_with('flow/function.finished', t.event_name)))
    AND NOT EXISTS (SELECT 1 FROM flow_wait_path p WHERE p.event_name = 'flow/function.finished')
RETURNING (r.ckey1 IS NOT NULL
    AND EXISTS (SELECT 1 FROM flow_slot_waiter w WHERE w.key IN (r.ckey1, r.ckey2)))::boolean AS slot_waiters;

-- name: RunNotifyDone :exec
-- Tells AwaitRun callers in every process that runs ended: @run_ids is a
-- comma-separated list.
SELECT pg_notify('flow_run_done', @run_ids::text);

-- name: RunCancel :one
-- Cancels a run that has not ended, whatever it is doing: bumping gen fences
-- a segment still executing it (its later writes fail) and makes its pending
-- job stale. Its waits go; AwaitRun callers are notified at commit.
WITH run AS (
    UPDATE flow_run
    SET status = 'cancelled',
        error = @reason,
        gen = gen + 1,
        ended_at = now(),
        wake_at = NULL,
        lease_owner = NULL,
        lease_expires_at = NULL,
        updated_at = now()
    WHERE id = @id AND status NOT IN ('completed', 'failed', 'cancelled', 'skipped')
    RETURNING id, function_id, event_id, job_id, parent_run_id, parent_step_id,
        (ckey1 IS NOT NULL OR ckey2 IS NOT NULL) AS slotted
),
waits AS (
    DELETE FROM flow_wait USING run WHERE flow_wait.run_id = run.id
)
SELECT run.id, run.function_id, run.event_id, run.job_id, run.parent_run_id, run.parent_step_id, run.slotted::boolean AS slotted
FROM run, LATERAL (SELECT pg_notify('flow_run_done', run.id::text)) AS notified;

-- name: RunSetJobs :exec
-- Records the River jobs of runs that start later (events with a future ts),
-- so that the waker can make them runnable on time.
UPDATE flow_run SET job_id = j.job_id, wake_at = @wake_at
FROM (SELECT unnest(@ids::uuid[]) AS id, unnest(@job_ids::bigint[]) AS job_id) j
WHERE flow_run.id = j.id;

-- name: RunSuspend :one
-- Suspends a run its segment still owns: the next segment belongs to @job_id,
-- which carries gen + 1. slot_waiters is RunCompleteQuiet's: whether runs
-- wait for the concurrency slots the suspended run frees. No row: the
-- segment lost the run.
UPDATE flow_run r
SET status = @status,
    gen = r.gen + 1,
    job_id = @job_id,
    wake_at = sqlc.narg('wake_at'),
    attempt = @attempt,
    lease_owner = NULL,
    lease_expires_at = NULL,
    updated_at = now()
WHERE r.id = @id AND r.gen = @gen AND r.status = 'running'
RETURNING (r.ckey1 IS NOT NULL
    AND EXISTS (SELECT 1 FROM flow_slot_waiter w WHERE w.key IN (r.ckey1, r.ckey2)))::boolean AS slot_waiters;

-- name: RunLockOpen :one
-- Locks a run that has not ended, for a sender or a finishing child run that
-- resolves one of its waiting steps. No row: the run ended.
SELECT id, status, job_id FROM flow_run
WHERE id = @id AND status IN ('queued', 'sleeping', 'waiting', 'running')
FOR UPDATE;

-- name: RunWake :exec
-- Makes a suspended run's continuation job available now and wakes River's
-- producers at commit (River sends no notification for this by itself).
WITH run AS (
    UPDATE flow_run
    SET status = 'queued', wake_at = NULL, updated_at = now()
    WHERE flow_run.id = @id AND flow_run.status IN ('sleeping', 'waiting')
    RETURNING flow_run.job_id,
        flow_job_wake(flow_run.job_id, now(), '{scheduled,available,pending}'::river_job_state[]) AS job_queue
)
SELECT flow_job_notify(run.job_queue)
FROM run WHERE run.job_queue IS NOT NULL;

-- name: RunWakeDue :one
-- Wakes every suspended run whose wake time has passed (up to @max): its
-- continuation job becomes available now, with one notification per queue.
-- Several clients may run this at once; each run is woken once. It also
-- returns, for the wake-latency metric, each woken run's function and how
-- late (seconds past its wake time) it was woken.
WITH due AS (
    SELECT id, wake_at FROM flow_run
    WHERE wake_at <= now()
    ORDER BY wake_at
    LIMIT @max
    FOR UPDATE SKIP LOCKED
),
run AS (
    UPDATE flow_run r
    SET status = CASE WHEN r.status IN ('sleeping', 'waiting') THEN 'queued' ELSE r.status END,
        wake_at = NULL,
        updated_at = now()
    FROM due
    WHERE r.id = due.id
    RETURNING r.job_id, r.function_id, extract(epoch FROM now() - due.wake_at)::float8 AS late
),
-- Every run's job in one call (flow_jobs_wake, one UPDATE), not one call
-- per run. The aggregate makes one row, which the SELECT below reads for
-- woken: a SELECT CTE runs only when it is read.
job AS (
    SELECT count(*) AS runs,
        CASE WHEN count(*) > 0 THEN flow_jobs_wake(array_agg(run.job_id), array_agg(now()),
            '{scheduled,available,pending}'::river_job_state[]) END AS queues
    FROM run
)
SELECT
    (SELECT job.runs FROM job)::integer AS woken,
    (SELECT count(*) FROM (
        SELECT flow_job_notify(q.queue)
        FROM (SELECT DISTINCT u.queue FROM job, unnest(job.queues) AS u (queue)) q
    ) n)::integer AS notified,
    (SELECT coalesce(array_agg(run.function_id), '{}') FROM run)::text[] AS function_ids,
    (SELECT coalesce(array_agg(run.late), '{}') FROM run)::float8[] AS late;

-- name: RunNextWake :one
SELECT wake_at FROM flow_run WHERE wake_at IS NOT NULL ORDER BY wake_at LIMIT 1;

-- name: RunLeaseRenew :execrows
-- Rows another transaction has locked are skipped, not waited for: a StepTx
-- holds its run's row for as long as the user's function runs, and waiting
-- for it would stall the renewal of every other run of the client until
-- their leases lapse. A skipped run is renewed by the statement that holds
-- it (they all set the lease as they commit) or by the next renewal, and
-- the sweeper skips locked rows too. The lease counts from the clock, not
-- from the transaction's start.
UPDATE flow_run f
SET lease_expires_at = clock_timestamp() + @lease_ttl::interval
FROM (SELECT r.id FROM flow_run r WHERE r.id = ANY(@ids::uuid[]) ORDER BY r.id FOR UPDATE SKIP LOCKED) l
WHERE f.id = l.id AND f.lease_owner = @lease_owner AND f.status = 'running';

-- name: RunListLeaseExpired :many
-- Runs whose executing client stopped renewing its lease (it died or lost the
-- database): the sweeper hands each to a new job.
SELECT id, gen, function_id, (ckey1 IS NOT NULL OR ckey2 IS NOT NULL)::boolean AS slotted FROM flow_run
WHERE status = 'running' AND lease_expires_at < now()
ORDER BY lease_expires_at
LIMIT @max;

-- name: RunLockLeaseExpired :one
SELECT id FROM flow_run
WHERE id = @id AND gen = @gen AND status = 'running' AND lease_expires_at < now()
FOR UPDATE SKIP LOCKED;

-- name: RunLockResumable :one
-- Locks a run whose segment, or whose claim, by job @job_id at @gen failed in
-- this client (@lease_owner) on a database error, if nothing has moved it on
-- since: it is still running on this client's lease, or still waits for that
-- job to claim it. The caller, which knows that no segment of the run
-- executes in its process any more, hands it to a new job (RunTakeover)
-- without waiting for the lease to lapse. No row: the run moved on (another
-- job or client has it, or it ended).
SELECT id, gen, function_id, (ckey1 IS NOT NULL OR ckey2 IS NOT NULL)::boolean AS slotted FROM flow_run
WHERE id = @id AND gen = @gen AND job_id = @job_id
    AND ((status = 'running' AND lease_owner = @lease_owner)
         OR status IN ('queued', 'sleeping', 'waiting'))
FOR UPDATE;

-- name: RunListOwnUnclaimed :many
-- Runs whose current job this client (@client_id, the last to fetch it) has
-- fetched but not claimed the run with: River shows the job running, the run
-- is not. A live client claims within milliseconds of its fetch, so a job
-- still so seconds later was lost with its fetch (the connection died as the
-- fetch committed), and River would retry it only after an hour: the
-- resumer hands the run on. The scan starts from River's few running jobs.
SELECT r.id, r.gen, j.id AS job_id
FROM river_job j
JOIN flow_run r ON r.id = CASE WHEN j.kind = 'flow_run' THEN (j.args->>'run_id')::uuid END AND r.job_id = j.id
WHERE j.state = 'running' AND j.queue = @queue AND j.kind = 'flow_run'
    AND j.attempted_by[array_upper(j.attempted_by, 1)] = @client_id::text
    AND r.status IN ('queued', 'sleeping', 'waiting')
LIMIT 100;

-- name: RunTakeover :exec
UPDATE flow_run
SET status = 'queued', gen = gen + 1, job_id = @job_id,
    lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
WHERE id = @id;

-- name: RunInsertChild :one
-- Creates the child run of an Invoke step. The unique index on the parent's
-- run and step makes a second insert for the same step do nothing.
INSERT INTO flow_run (id, function_id, event_id, parent_run_id, parent_step_id)
VALUES (flow_uuid_v7(), @function_id, @event_id, @parent_run_id, @parent_step_id)
ON CONFLICT (parent_run_id, parent_step_id) WHERE parent_run_id IS NOT NULL DO NOTHING
RETURNING id;

-- name: RunGetChild :one
SELECT * FROM flow_run WHERE parent_run_id = @parent_run_id AND parent_step_id = @parent_step_id;


-- name: RunGet :one
SELECT * FROM flow_run WHERE id = @id;

-- name: RunList :many
-- A page of runs, newest first (ListRuns, and through it the dashboard and
-- the command line), with their triggering event's name; the output only
-- when @with_output (a list may show none, and outputs may be large).
-- Paging is keyset on the primary key (ORDER BY id DESC, id < @before_id);
-- a filter by function or status walks its (key, id DESC) index instead.
-- @min_id is a lower bound on the ID derived from @created_after: run IDs are
-- time-ordered and never older than created_at, so the bound lets the scan
-- stop at the right place of the ID index. The caller asks for one row more
-- than a page to learn whether another page follows. The event's name is a
-- subquery, not a join: it is looked up for the page's rows only, after the
-- LIMIT, and leaves the plan of the scan alone.
SELECT r.id, r.function_id, r.event_id, r.status, r.attempt, r.wake_at, r.parent_run_id, r.error,
    r.created_at, r.started_at, r.ended_at,
    (CASE WHEN @with_output::boolean THEN r.output END)::jsonb AS output,
    coalesce((SELECT e.name FROM flow_event e WHERE e.id = r.event_id), '')::text AS event_name,
    r.paused_at
FROM flow_run r
WHERE (sqlc.narg('function_id')::text IS NULL OR r.function_id = sqlc.narg('function_id'))
    AND (sqlc.narg('event_id')::uuid IS NULL OR r.event_id = sqlc.narg('event_id'))
    AND (cardinality(@statuses::text[]) = 0 OR r.status = ANY(@statuses::text[]))
    AND (sqlc.narg('created_after')::timestamptz IS NULL OR r.created_at >= sqlc.narg('created_after'))
    AND (sqlc.narg('min_id')::uuid IS NULL OR r.id >= sqlc.narg('min_id'))
    AND (sqlc.narg('created_before')::timestamptz IS NULL OR r.created_at < sqlc.narg('created_before'))
    AND (sqlc.narg('before_id')::uuid IS NULL OR r.id < sqlc.narg('before_id'))
ORDER BY r.id DESC
LIMIT @max;

-- name: ListenRunDone :exec
-- Subscribes a dedicated connection to run-end notifications (RunFinish).
LISTEN flow_run_done;

-- name: RunInsert :one
-- Creates a queued run of one function (a cron tick, a trigger whose
-- condition passed, a rerun).
INSERT INTO flow_run (id, function_id, event_id)
VALUES (flow_uuid_v7(), @function_id, @event_id)
RETURNING id;

-- name: StepCopyBefore :exec
-- Copies a run's completed steps recorded before @step_id into another run
-- (rerun from a step).
INSERT INTO flow_step (run_id, id, seq, kind, status, attempts, output, error, wake_at, detail, started_at, ended_at)
SELECT @to_run_id, s.id, s.seq, s.kind, s.status, s.attempts, s.output, s.error, s.wake_at, s.detail, s.started_at, s.ended_at
FROM flow_step s
WHERE s.run_id = @from_run_id
    AND s.status IN ('completed', 'timed_out')
    AND s.seq < (SELECT t.seq FROM flow_step t WHERE t.run_id = @from_run_id AND t.id = @step_id);
