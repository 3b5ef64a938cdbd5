-- Flow control (FunctionOpts.Concurrency, Throttle, RateLimit, Debounce,
-- Batch, Priority, Idempotency, Singleton). Runs of functions with flow
-- control are created by the sender through these queries, in its
-- transaction; times come from clock_timestamp(), so that a long
-- transaction does not see an old now().

-- name: RunInsertControlled :one
-- Creates a run of a function with flow control and its first River job.
-- The run starts after @delay (a throttle, debounce, batch timeout, future
-- event ts or negative priority; the waker makes it runnable then), and its
-- job sorts @ahead earlier among the queue's available jobs (a positive
-- priority: River takes jobs in scheduled_at order). A delayed run's job is
-- scheduled at the run's wake time, never earlier: River's scheduler makes a
-- job available up to 5 s before its scheduled_at and River's fetch takes it
-- at scheduled_at, so a job scheduled @ahead of its wake time would start
-- the run early (internal/riverjob/doc.go, assumptions 3 and 4). A conflict on a
-- singleton, debounce or batch key creates nothing and returns no row.
-- @parent_run_id and @parent_step_id link the child run of an Invoke step
-- (NULL for other runs). @trace_parent, the sender's W3C traceparent (NULL
-- for none), goes into the job's args as RunArgs.TraceParent.
WITH run AS (
    INSERT INTO flow_run (id, function_id, event_id, job_id, wake_at, order_at,
        ckey1, climit1, ckey2, climit2, chold1, chold2, singleton_key, debounce_key, batch_key, batch_size,
        parent_run_id, parent_step_id)
    SELECT @id::uuid, @function_id::text, @event_id::uuid, flow_job_next_id(),
        CASE WHEN @delay::interval > '0 s'::interval THEN clock_timestamp() + sqlc.arg('delay')::interval END,
        clock_timestamp() + sqlc.arg('delay')::interval - sqlc.arg('ahead')::interval,
        sqlc.narg('ckey1')::text, sqlc.narg('climit1')::integer, sqlc.narg('ckey2')::text, sqlc.narg('climit2')::integer,
        sqlc.narg('chold1')::boolean, sqlc.narg('chold2')::boolean,
        sqlc.narg('singleton_key')::text, sqlc.narg('debounce_key')::text, sqlc.narg('batch_key')::text,
        sqlc.narg('batch_size')::integer,
        sqlc.narg('parent_run_id')::uuid, sqlc.narg('parent_step_id')::text
    ON CONFLICT DO NOTHING
    RETURNING id, function_id, event_id, job_id, wake_at, order_at, batch_key,
        flow_job_insert(job_id, flow_job_args(id, 0, function_id, @slots::boolean)
                || CASE WHEN sqlc.narg('trace_parent')::text IS NULL THEN '{}'::jsonb
                        ELSE jsonb_build_object('tp', sqlc.narg('trace_parent')::text) END, @queue::text,
            coalesce(wake_at, order_at), wake_at IS NULL) AS job_state
),
batch_event AS (
    INSERT INTO flow_run_event (run_id, seq, event_id)
    SELECT run.id, 1, run.event_id FROM run WHERE run.batch_key IS NOT NULL
),
-- The slots of the run's concurrency keys, made once per key (and again
-- when the limit grows).
slots AS (
    SELECT flow_slot_ensure(sqlc.narg('ckey1')::text, sqlc.narg('climit1')::integer),
        flow_slot_ensure(sqlc.narg('ckey2')::text, sqlc.narg('climit2')::integer)
),
notified AS (
    SELECT flow_job_notify(@queue::text)
    WHERE @notify::boolean AND EXISTS (SELECT 1 FROM run WHERE run.job_state = 'available')
)
SELECT run.id, run.wake_at, (SELECT count(*) FROM notified)::integer AS notified,
    (SELECT count(*) FROM slots)::integer AS slot_keys
FROM run;

-- name: RunInsertSkipped :exec
-- Records a run that flow control skipped (a rate limit, an idempotency key
-- used already, a singleton run in progress), with the reason in error.
-- AwaitRun callers are notified at commit.
WITH run AS (
    INSERT INTO flow_run (id, function_id, event_id, status, error, ended_at)
    VALUES (@id, @function_id, @event_id, 'skipped', @reason, now())
    RETURNING id
)
SELECT pg_notify('flow_run_done', run.id::text) FROM run;

-- name: RunSingletonActive :one
-- The run of a singleton key that has not ended.
SELECT id FROM flow_run
WHERE singleton_key = sqlc.arg('singleton_key') AND status IN ('queued', 'running', 'sleeping', 'waiting');

-- name: DebouncePush :one
-- Gives a debounced run that has not started a newer event and postpones
-- its start to @period from now, but no later than @timeout after its first
-- event (zero: no cap). The run keeps the latest event by timestamp, as
-- Inngest's does (updateDebounce.lua): an event whose @ts is older than the
-- run's event's changes nothing, neither the event nor the start time. No
-- row: no such run (it started, or there is none).
WITH run AS (
    UPDATE flow_run r
    SET event_id = CASE WHEN flow_event_ts(r.event_id) > sqlc.arg('ts')::timestamptz THEN r.event_id ELSE sqlc.arg('event_id') END,
        wake_at = CASE WHEN flow_event_ts(r.event_id) > @ts::timestamptz THEN r.wake_at
                       WHEN @timeout::interval > '0 s'::interval
                       THEN least(clock_timestamp() + sqlc.arg('period')::interval, r.created_at + sqlc.arg('timeout')::interval)
                       ELSE clock_timestamp() + sqlc.arg('period')::interval END,
        order_at = CASE WHEN flow_event_ts(r.event_id) > @ts::timestamptz THEN r.order_at
                        WHEN @timeout::interval > '0 s'::interval
                        THEN least(clock_timestamp() + sqlc.arg('period')::interval, r.created_at + sqlc.arg('timeout')::interval)
                        ELSE clock_timestamp() + sqlc.arg('period')::interval END,
        updated_at = now()
    -- flow_event_ts, not a join or a subquery: after waiting for the run's
    -- lock, the update sees the run as a concurrent push left it, whose
    -- event the statement's own snapshot may not see.
    WHERE r.debounce_key = sqlc.arg('debounce_key') AND r.status = 'queued' AND r.wake_at IS NOT NULL
    -- The run's job moves to the new time (flow_job_move) whether it is
    -- still scheduled or River's scheduler has made it available already (it
    -- does so up to 5 s early, keeping scheduled_at, and River's fetch then
    -- waits for scheduled_at). A job River has fetched already (running) is
    -- left alone: its segment finds the run not due and hands it to a new
    -- job at the run's wake time (RunRequeueEarly), so the run never starts
    -- before it. A kept run's job stays where it is.
    RETURNING r.id, r.job_id, r.wake_at,
        CASE WHEN r.event_id = sqlc.arg('event_id') THEN flow_job_move(r.job_id, r.wake_at) END AS job_moved
)
SELECT run.id, run.wake_at FROM run;

-- name: BatchAppend :one
-- Adds an event to the open batch of a key, if there is one with room. The
-- event that fills it makes the run runnable now, and wakes River's
-- producers: its job becomes available now whether it is still scheduled,
-- River's scheduler has made it available already for its timeout (keeping
-- the later scheduled_at, which River's fetch would wait for), or River
-- waits to retry it after a failed claim. A job River has fetched
-- (running) needs nothing: its segment claims the run and sees the whole
-- batch. No row: no open batch.
WITH run AS (
    UPDATE flow_run r
    SET batch_size = r.batch_size + 1,
        wake_at = CASE WHEN r.batch_size + 1 >= sqlc.arg('max_size')::integer THEN NULL ELSE r.wake_at END,
        updated_at = now()
    WHERE r.batch_key = sqlc.arg('batch_key') AND r.status = 'queued' AND r.wake_at IS NOT NULL
        AND r.batch_size < sqlc.arg('max_size')::integer
    RETURNING r.id, r.job_id, r.batch_size, r.wake_at,
        CASE WHEN r.wake_at IS NULL
             THEN flow_job_wake(r.job_id, now(), '{scheduled,available,retryable}'::river_job_state[]) END AS job_queue
),
batch_event AS (
    INSERT INTO flow_run_event (run_id, seq, event_id)
    SELECT run.id, run.batch_size, @event_id FROM run
)
SELECT run.id, run.batch_size,
    (SELECT count(*) FROM (
        SELECT flow_job_notify(q.queue)
        FROM (SELECT DISTINCT job_queue AS queue FROM run WHERE job_queue IS NOT NULL) q
    ) n)::integer AS notified
FROM run;

-- name: BatchEvents :many
-- The events of a batch run, in arrival order.
SELECT e.* FROM flow_run_event b JOIN flow_event e ON e.id = b.event_id
WHERE b.run_id = sqlc.arg('run_id')
ORDER BY b.seq;

-- name: LimitThrottle :one
-- Reserves a start for a throttled run with the generic cell rate algorithm
-- and returns how long the run must wait for it: @interval is Period/Limit,
-- @tolerance how far ahead of now starts may be booked without waiting
-- (Limit+Burst-1 intervals). Starts are booked in order, so delayed runs
-- start in the order they were sent.
INSERT INTO flow_limit AS l (key, tat) VALUES (@key, clock_timestamp() + sqlc.arg('interval')::interval)
ON CONFLICT (key) DO UPDATE SET tat = greatest(l.tat, clock_timestamp()) + sqlc.arg('interval')::interval
RETURNING greatest(l.tat - sqlc.arg('interval')::interval - sqlc.arg('tolerance')::interval - clock_timestamp(), '0 s'::interval)::interval AS delay;

-- name: LimitRate :one
-- Admits an event under a rate limit with the generic cell rate algorithm:
-- a row if admitted (and counted), none if over the limit. @interval is
-- Period/Limit and @tolerance (Limit-1) intervals, so Limit events may come
-- at once and the allowance refills one every interval.
INSERT INTO flow_limit AS l (key, tat) VALUES (@key, clock_timestamp() + sqlc.arg('interval')::interval)
ON CONFLICT (key) DO UPDATE SET tat = greatest(l.tat, clock_timestamp()) + sqlc.arg('interval')::interval
WHERE greatest(l.tat, clock_timestamp()) - clock_timestamp() <= sqlc.arg('tolerance')::interval
RETURNING l.key;

-- name: IdempotencyClaim :one
-- Claims an idempotency key for 24 hours for run @run_id and returns the run
-- that holds it: @run_id, or an earlier run's ID when the key was used.
INSERT INTO flow_idempotency AS i (key, run_id, seen_at)
VALUES (@key, @run_id, now())
ON CONFLICT (key) DO UPDATE
SET run_id = CASE WHEN i.seen_at < now() - interval '24 hours' THEN excluded.run_id ELSE i.run_id END,
    seen_at = CASE WHEN i.seen_at < now() - interval '24 hours' THEN excluded.seen_at ELSE i.seen_at END
RETURNING run_id;

-- name: RunPark :one
-- Parks a run whose segment found no free slot (RunStartSlotted gave no
-- row): it waits, queued, in the line of the key that had no free slot
-- (flow_slot_waiter), for a run that frees one to make its new job (gen + 1)
-- runnable (flow_slot_wake); the job is also scheduled @recheck from now, in
-- case. The caller then calls RunSlotWakeLocked itself. No row: the job was
-- stale.
WITH run AS (
    UPDATE flow_run r
    SET status = 'queued',
        gen = r.gen + 1,
        job_id = flow_job_next_id(),
        -- The key it waits for: key 2 if key 1 has a free slot or the run
        -- holds one of key 1 for its whole life (chold1) already.
        slot_wait = CASE WHEN (EXISTS (SELECT 1 FROM flow_concurrency_slot s
                                       WHERE s.key = r.ckey1 AND s.n < r.climit1 AND s.run_id IS NULL)
                               OR EXISTS (SELECT 1 FROM flow_concurrency_slot s
                                          WHERE r.chold1 AND s.key = r.ckey1 AND s.n = r.cslot1 AND s.run_id = r.id))
                              AND r.ckey2 IS NOT NULL THEN 2 ELSE 1 END,
        wake_at = NULL,
        lease_owner = NULL,
        lease_expires_at = NULL,
        updated_at = now()
    WHERE r.id = @id AND r.gen = @gen
        -- A queued run that is not due yet does not park: RunRequeueEarly
        -- hands it to a job at its wake time.
        AND NOT (r.status = 'queued' AND coalesce(r.wake_at > now(), false))
        AND (r.status IN ('queued', 'sleeping', 'waiting')
             OR (r.status = 'running' AND r.lease_expires_at < now()))
    RETURNING r.id, r.gen, r.job_id, r.function_id, r.created_at, r.started_at, r.order_at, r.slot_wait,
        CASE WHEN r.slot_wait = 1 THEN r.ckey1 ELSE r.ckey2 END AS wait_key,
        CASE WHEN r.slot_wait = 1 THEN r.ckey2 ELSE r.ckey1 END AS other_key,
        flow_job_insert(r.job_id, flow_job_args(r.id, r.gen, r.function_id, true), @queue::text,
            clock_timestamp() + sqlc.arg('recheck')::interval, false) AS job_state
),
other AS (
    DELETE FROM flow_slot_waiter w USING run
    WHERE w.key = run.other_key AND w.order_at = run.order_at AND w.run_id = run.id
),
waiter AS (
    INSERT INTO flow_slot_waiter (key, order_at, run_id)
    SELECT run.wait_key, run.order_at, run.id FROM run
    ON CONFLICT DO NOTHING
)
SELECT run.id, (run.started_at IS NULL)::boolean AS never_started,
    (now() - run.created_at)::interval AS queued_for
FROM run;

-- name: RunSlotWake :one
-- Makes runnable the oldest runs waiting for a slot of run @id's keys, one
-- per free slot (see flow_slot_wake).
SELECT flow_slot_wake(@id)::integer AS woken;

-- name: SlotFreeDangling :many
-- Frees slots held by runs that are not running (a claim whose run changed
-- under it), other than the whole-run slot (chold) a run that has not ended
-- holds as its own (cslot): the lease sweeper's safety net. It returns the
-- keys of the freed slots, for SlotWakeKeys in the same transaction.
UPDATE flow_concurrency_slot s SET run_id = NULL
FROM (SELECT c.key, c.n FROM flow_concurrency_slot c
      WHERE c.run_id IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM flow_run r
                          WHERE r.id = c.run_id
                              AND (r.status = 'running'
                                   OR (r.status IN ('queued', 'sleeping', 'waiting')
                                       AND ((r.chold1 AND r.ckey1 = c.key AND r.cslot1 = c.n)
                                            OR (r.chold2 AND r.ckey2 = c.key AND r.cslot2 = c.n)))))
      FOR UPDATE OF c SKIP LOCKED) d
WHERE s.key = d.key AND s.n = d.n
RETURNING s.key;

-- name: SlotWakeKeys :one
-- Makes runnable the oldest runs parked for the given concurrency keys, one
-- per free slot: flow_slot_wake, called with the first parked run of each
-- key (a run that waits for a key has it as ckey1 or ckey2).
SELECT coalesce(sum(flow_slot_wake(w.run_id)), 0)::integer AS woken
FROM (SELECT DISTINCT ON (w.key) w.run_id FROM flow_slot_waiter w
      WHERE w.key = ANY(@keys::text[])
      ORDER BY w.key, w.order_at, w.run_id) w;

-- name: RunSlotWakeLocked :one
-- RunSlotWake for a run that has just parked: it first waits for the claims
-- and releases in flight on its keys' slots (locking them), so that it sees
-- a slot freed by a release that did not see this run parked.
SELECT count(*)::integer AS locked, flow_slot_wake(@id)::integer AS woken
FROM (SELECT 1 FROM flow_concurrency_slot s, flow_run r
      WHERE r.id = @id AND s.key IN (r.ckey1, r.ckey2)
      FOR UPDATE OF s) l;

-- name: RunSetConcurrency :exec
-- Gives a run created outside the sender's flow-control path (a rerun, an
-- invoked run) its function's concurrency keys, so that it takes slots like
-- the others; it waits in line from now.
WITH run AS (
    UPDATE flow_run
    SET ckey1 = sqlc.narg('ckey1')::text, climit1 = sqlc.narg('climit1')::integer,
        ckey2 = sqlc.narg('ckey2')::text, climit2 = sqlc.narg('climit2')::integer,
        chold1 = sqlc.narg('chold1')::boolean, chold2 = sqlc.narg('chold2')::boolean,
        order_at = clock_timestamp()
    WHERE id = @id
    RETURNING id
)
SELECT flow_slot_ensure(sqlc.narg('ckey1')::text, sqlc.narg('climit1')::integer),
    flow_slot_ensure(sqlc.narg('ckey2')::text, sqlc.narg('climit2')::integer)
FROM run;

-- name: RunRequeueEarly :one
-- Hands a queued run that is not due yet (wake_at in the future) from the
-- job at @gen, which River fetched before the run's wake time, to a new job
-- (gen + 1) scheduled at that time; the old job then ends doing nothing.
-- River fetches a job before its run is due when an event postponed the run
-- (a debounce) after River's scheduler had made the job available, or
-- after River had fetched it. No row: the job is stale, or the run is due.
WITH run AS (
    UPDATE flow_run r
    SET gen = r.gen + 1,
        job_id = flow_job_next_id(),
        updated_at = now()
    WHERE r.id = @id AND r.gen = @gen AND r.status = 'queued' AND r.wake_at > clock_timestamp()
    RETURNING r.id, r.gen, r.job_id, r.function_id, r.wake_at,
        flow_job_insert(r.job_id, flow_job_args(r.id, r.gen, r.function_id, r.ckey1 IS NOT NULL OR r.ckey2 IS NOT NULL),
            @queue::text, r.wake_at, false) AS job_state
)
SELECT run.id, run.wake_at::timestamptz AS wake_at FROM run;

-- name: RunQueuedAtGen :one
-- The run, if it is queued and its current gen is @gen: a job that could
-- not claim it still owns it.
SELECT id FROM flow_run WHERE id = @id AND gen = @gen AND status = 'queued';
