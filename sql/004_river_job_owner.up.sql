-- riverflow schema, version 4: River's job table has one owner. Every
-- statement of the library that writes river_job, or wakes River's
-- producers, calls the functions below; the job args' JSON shape is spelled
-- once, here (Go: internal/riverjob.RunArgs). The bets these functions make
-- on River v0.51.2 are written down, numbered, in internal/riverjob/doc.go
-- and tested there. Idempotent, like versions 1 to 3.
--
-- The small ones are LANGUAGE sql, a single SELECT, so that Postgres inlines
-- them into the calling statement; the writers are plpgsql, whose plans
-- Postgres caches for the session (a SQL function's are made anew for every
-- statement that calls it). A statement that inserts or wakes many jobs
-- calls the array forms (flow_jobs_insert, flow_jobs_wake) once, with the
-- arrays of its rows, not the one-row forms once per row: waking 500 runs
-- with a call per row took 2.5 times as long as one UPDATE.

-- flow_job_next_id takes the ID of a job about to be inserted, so that
-- flow_run.job_id can name the job in the same statement (assumption 1).
CREATE OR REPLACE FUNCTION flow_job_next_id()
RETURNS bigint LANGUAGE sql VOLATILE AS $$
    SELECT nextval('river_job_id_seq')
$$;

-- flow_job_args is the args of a run's job as River's insert encodes
-- RunArgs (encoding/json, slots omitted when false): assumption 9.
CREATE OR REPLACE FUNCTION flow_job_args(p_run uuid, p_gen integer, p_fn text, p_slots boolean)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('run_id', p_run, 'gen', p_gen, 'fn', p_fn)
        || CASE WHEN p_slots THEN '{"slots": true}'::jsonb ELSE '{}'::jsonb END
$$;

-- flow_job_notify wakes River's producers of queue p_queue at commit, as
-- River's own insert does (assumption 8).
CREATE OR REPLACE FUNCTION flow_job_notify(p_queue text)
RETURNS void LANGUAGE sql VOLATILE AS $$
    SELECT pg_notify(current_schema() || '.river_insert', json_build_object('queue', p_queue)::text)
$$;

-- flow_job_insert inserts job p_id (from flow_job_next_id) of a run with
-- args p_args on p_queue, the row River's insert would write (kind
-- flow_run, River's default max_attempts 25, every other column left to its
-- default): available at p_at if p_available, else scheduled at p_at
-- (assumptions 1, 3, 4, 9). It returns the job's state. The caller notifies
-- (flow_job_notify) for an available one.
CREATE OR REPLACE FUNCTION flow_job_insert(p_id bigint, p_args jsonb, p_queue text, p_at timestamptz, p_available boolean)
RETURNS river_job_state LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    s river_job_state;
BEGIN
    INSERT INTO river_job (id, args, kind, max_attempts, queue, scheduled_at, state)
    VALUES (p_id, p_args, 'flow_run', 25, p_queue, p_at,
        (CASE WHEN p_available THEN 'available' ELSE 'scheduled' END)::river_job_state)
    RETURNING river_job.state INTO s;
    RETURN s;
END
$$;

-- flow_jobs_insert is flow_job_insert for many jobs in one INSERT: job
-- p_ids[i] with args p_args[i], all available or all scheduled at p_at as
-- p_available says. A statement that starts many runs calls it once, with
-- the arrays of its rows, rather than flow_job_insert once per row. It
-- returns the states of the jobs it inserted ('{}' for none). One job goes
-- to flow_job_insert, whose plan Postgres keeps: this INSERT's is made anew
-- at every call (its row count depends on the arrays), which costs a
-- single-row call twice as much.
CREATE OR REPLACE FUNCTION flow_jobs_insert(p_ids bigint[], p_args jsonb[], p_queue text, p_at timestamptz, p_available boolean)
RETURNS river_job_state[] LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    s river_job_state[];
BEGIN
    IF coalesce(cardinality(p_ids), 0) = 0 THEN
        RETURN '{}';
    ELSIF cardinality(p_ids) = 1 THEN
        RETURN ARRAY[flow_job_insert(p_ids[1], p_args[1], p_queue, p_at, p_available)];
    END IF;
    WITH job AS (
        INSERT INTO river_job (id, args, kind, max_attempts, queue, scheduled_at, state)
        SELECT j.id, j.args, 'flow_run', 25, p_queue, p_at,
            (CASE WHEN p_available THEN 'available' ELSE 'scheduled' END)::river_job_state
        FROM unnest(p_ids, p_args) AS j (id, args)
        RETURNING river_job.state
    )
    SELECT array_agg(job.state) INTO s FROM job;
    RETURN coalesce(s, '{}');
END
$$;

-- flow_job_wake makes job p_id available at p_at (now, or earlier to keep
-- its place in River's scheduled_at order) if its state is one of p_from,
-- and returns its queue, for flow_job_notify; NULL if it was not woken (no
-- such job, or River owns it: assumptions 2, 3, 5, 7).
CREATE OR REPLACE FUNCTION flow_job_wake(p_id bigint, p_at timestamptz, p_from river_job_state[])
RETURNS text LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    q text;
BEGIN
    UPDATE river_job SET state = 'available', scheduled_at = p_at
    WHERE river_job.id = p_id AND river_job.state = ANY(p_from)
    RETURNING river_job.queue INTO q;
    RETURN q;
END
$$;

-- flow_jobs_wake is flow_job_wake for many jobs in one UPDATE: job
-- p_ids[i] becomes available at p_at[i] if its state is one of p_from. A
-- statement that wakes many runs calls it once, with the arrays of its
-- rows, rather than flow_job_wake once per row. It returns the queues of
-- the jobs it woke, one per job ('{}' for none), for flow_job_notify. One
-- job goes to flow_job_wake, as in flow_jobs_insert.
CREATE OR REPLACE FUNCTION flow_jobs_wake(p_ids bigint[], p_at timestamptz[], p_from river_job_state[])
RETURNS text[] LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    q text[];
BEGIN
    IF coalesce(cardinality(p_ids), 0) = 0 THEN
        RETURN '{}';
    ELSIF cardinality(p_ids) = 1 THEN
        RETURN array_remove(ARRAY[flow_job_wake(p_ids[1], p_at[1], p_from)], NULL);
    END IF;
    WITH job AS (
        UPDATE river_job SET state = 'available', scheduled_at = w.at
        FROM unnest(p_ids, p_at) AS w (id, at)
        WHERE river_job.id = w.id AND river_job.state = ANY(p_from)
        RETURNING river_job.queue
    )
    SELECT array_agg(job.queue) INTO q FROM job;
    RETURN coalesce(q, '{}');
END
$$;

-- flow_job_move moves the time of job p_id, still scheduled or made
-- available early by River's scheduler, to p_at: a job due later goes back
-- to scheduled, as River would have it (assumption 3). A job River has
-- fetched (running) or finalized is left alone. It returns whether the job
-- moved.
CREATE OR REPLACE FUNCTION flow_job_move(p_id bigint, p_at timestamptz)
RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    UPDATE river_job
    SET scheduled_at = p_at,
        state = (CASE WHEN p_at > clock_timestamp() THEN 'scheduled' ELSE river_job.state END)::river_job_state
    WHERE river_job.id = p_id AND river_job.state IN ('scheduled', 'available');
    RETURN FOUND;
END
$$;

-- flow_job_delete deletes jobs p_ids that the calling transaction inserted
-- and no River component has seen (assumption 1). It returns how many.
CREATE OR REPLACE FUNCTION flow_job_delete(p_ids bigint[])
RETURNS integer LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    n integer;
BEGIN
    DELETE FROM river_job WHERE river_job.id = ANY(p_ids);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

-- flow_slot_wake as in version 3, its job wakes and notification through
-- flow_jobs_wake and flow_job_notify.
CREATE OR REPLACE FUNCTION flow_slot_wake(p_run uuid)
RETURNS integer LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    r record;
    woken integer;
    q text;
BEGIN
    SELECT f.ckey1, f.climit1, f.ckey2, f.climit2 INTO r FROM flow_run f WHERE f.id = p_run;
    IF NOT FOUND OR r.ckey1 IS NULL THEN
        RETURN 0;
    END IF;
    -- The common case, with no run waiting, in one probe per key.
    IF NOT EXISTS (SELECT 1 FROM flow_slot_waiter w WHERE w.key IN (r.ckey1, r.ckey2)) THEN
        RETURN 0;
    END IF;
    WITH keys AS (
        SELECT 1 AS slot, r.ckey1 AS key, r.climit1 AS lim
        UNION ALL
        SELECT 2, r.ckey2, r.climit2 WHERE r.ckey2 IS NOT NULL
    ),
    free AS (
        SELECT k.slot, k.key, (SELECT count(*) FROM flow_concurrency_slot s
                               WHERE s.key = k.key AND s.n < k.lim AND s.run_id IS NULL) AS n
        FROM keys k
    ),
    next AS (
        SELECT o.job_id, o.order_at FROM free f, LATERAL (
            SELECT w.run_id FROM flow_slot_waiter w WHERE w.key = f.key ORDER BY w.order_at, w.run_id LIMIT f.n
        ) w
        JOIN flow_run o ON o.id = w.run_id
    ),
    -- A woken run's job keeps its place in River's queue (scheduled_at order):
    -- that of its run, not the back of the queue. River's scheduler may
    -- have made the job available already, ahead of its recheck time
    -- (keeping that later scheduled_at, which River's fetch waits for): it
    -- is woken all the same. All the jobs in one call (flow_jobs_wake); the
    -- aggregate makes one row, which the SELECT INTO reads.
    job AS (
        SELECT CASE WHEN count(*) > 0 THEN flow_jobs_wake(array_agg(next.job_id),
            array_agg(least(next.order_at, now())), '{scheduled,available}') ELSE '{}' END AS queues
        FROM next
    )
    SELECT cardinality(job.queues), (SELECT min(u.queue) FROM unnest(job.queues) AS u (queue))
    INTO woken, q FROM job;
    IF woken > 0 THEN
        PERFORM flow_job_notify(q);
    END IF;
    RETURN woken;
END
$$;
