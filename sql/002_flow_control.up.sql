-- riverflow schema, version 2: flow control (FunctionOpts.Concurrency,
-- Throttle, RateLimit, Debounce, Batch, Priority, Idempotency, Singleton).
-- Idempotent, like version 1.

-- A trigger of a function with flow control starts its runs through the
-- sender's flow-control path instead of the send statement's direct insert.
ALTER TABLE flow_trigger ADD COLUMN IF NOT EXISTS controlled boolean NOT NULL DEFAULT false;

-- ckey1/ckey2 are a run's concurrency keys (the function's ID, the limit's
-- index and the key's value) and climit1/climit2 their limits: a run may
-- execute while fewer than climit runs with the same key are running.
ALTER TABLE flow_run ADD COLUMN IF NOT EXISTS ckey1 text;
ALTER TABLE flow_run ADD COLUMN IF NOT EXISTS climit1 integer;
ALTER TABLE flow_run ADD COLUMN IF NOT EXISTS ckey2 text;
ALTER TABLE flow_run ADD COLUMN IF NOT EXISTS climit2 integer;
-- cslot1/cslot2 are the slots (flow_concurrency_slot.n) a running run holds.
ALTER TABLE flow_run ADD COLUMN IF NOT EXISTS cslot1 integer;
ALTER TABLE flow_run ADD COLUMN IF NOT EXISTS cslot2 integer;
-- slot_wait is set while a queued run waits (parked) for a free slot of its
-- key 1 or 2; the run that frees a slot makes the oldest waiter runnable.
-- Waiters are served in order: a run may not take a slot while a waiter
-- ahead of it waits.
ALTER TABLE flow_run ADD COLUMN IF NOT EXISTS slot_wait smallint;
-- order_at orders the runs that wait for a slot: the run's creation, moved
-- earlier by FunctionOpts.Priority.
ALTER TABLE flow_run ADD COLUMN IF NOT EXISTS order_at timestamptz;
-- singleton_key: at most one run per key has not ended (FunctionOpts.Singleton).
ALTER TABLE flow_run ADD COLUMN IF NOT EXISTS singleton_key text;
-- debounce_key: the run that a matching event postpones and gives its event to,
-- until it starts (FunctionOpts.Debounce).
ALTER TABLE flow_run ADD COLUMN IF NOT EXISTS debounce_key text;
-- batch_key and batch_size: the open batch that matching events join until it
-- is full or its timeout passes (FunctionOpts.Batch).
ALTER TABLE flow_run ADD COLUMN IF NOT EXISTS batch_key text;
ALTER TABLE flow_run ADD COLUMN IF NOT EXISTS batch_size integer;

-- flow_concurrency_slot holds the slots of each concurrency key: rows 0 to
-- limit-1 (made when a run with the key is created), each free (run_id
-- NULL) or held by a running run. A claim takes a free one with SKIP LOCKED,
-- so claims of one key do not queue behind each other; the trigger below
-- frees a run's slots in the transaction that stops it running.
CREATE TABLE IF NOT EXISTS flow_concurrency_slot (
    key text NOT NULL,
    n integer NOT NULL,
    run_id uuid,
    PRIMARY KEY (key, n)
-- A few slots per page, so that claims and releases of one key do not all
-- queue for one page's lock.
) WITH (fillfactor = 10);

-- flow_slot_ensure makes the slot rows 0 to lim-1 of a concurrency key (one
-- probe when they exist).
CREATE OR REPLACE FUNCTION flow_slot_ensure(p_key text, lim integer)
RETURNS void LANGUAGE sql VOLATILE AS $$
    INSERT INTO flow_concurrency_slot (key, n)
    SELECT p_key, generate_series(0, lim - 1)
    WHERE p_key IS NOT NULL
        AND NOT EXISTS (SELECT 1 FROM flow_concurrency_slot s WHERE s.key = p_key AND s.n = lim - 1)
    ON CONFLICT DO NOTHING;
$$;

-- flow_slot_waiter lists the parked runs of each concurrency key in the
-- order they are served (a small table, so that the probes of every claim
-- and release stay cheap whatever the size of flow_run).
CREATE TABLE IF NOT EXISTS flow_slot_waiter (
    key text NOT NULL,
    order_at timestamptz NOT NULL,
    run_id uuid NOT NULL,
    PRIMARY KEY (key, order_at, run_id)
);

CREATE OR REPLACE FUNCTION flow_slot_free_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status = 'running' THEN
        UPDATE flow_concurrency_slot SET run_id = NULL
        WHERE ((key = NEW.ckey1 AND n = NEW.cslot1) OR (key = NEW.ckey2 AND n = NEW.cslot2)) AND run_id = NEW.id;
    END IF;
    IF NEW.status <> 'queued' THEN
        DELETE FROM flow_slot_waiter
        WHERE key IN (NEW.ckey1, NEW.ckey2) AND order_at = NEW.order_at AND run_id = NEW.id;
    END IF;
    RETURN NULL;
END
$$;

-- A run's slots are freed when it stops running, and its place in line
-- goes when it leaves the queue (it starts, or is cancelled).
DROP TRIGGER IF EXISTS flow_run_slot_free ON flow_run;
CREATE TRIGGER flow_run_slot_free AFTER UPDATE OF status ON flow_run
    FOR EACH ROW WHEN (NEW.ckey1 IS NOT NULL AND OLD.status IS DISTINCT FROM NEW.status
                       AND (OLD.status IN ('running', 'queued')))
    EXECUTE FUNCTION flow_slot_free_trigger();

CREATE UNIQUE INDEX IF NOT EXISTS flow_run_singleton_idx ON flow_run (singleton_key)
    WHERE singleton_key IS NOT NULL AND status IN ('queued', 'running', 'sleeping', 'waiting');
-- A debounced or batching run is open to more events while its start is
-- still scheduled (wake_at set); the waker, a full batch or a start closes it.
CREATE UNIQUE INDEX IF NOT EXISTS flow_run_debounce_idx ON flow_run (debounce_key)
    WHERE debounce_key IS NOT NULL AND status = 'queued' AND wake_at IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS flow_run_batch_idx ON flow_run (batch_key)
    WHERE batch_key IS NOT NULL AND status = 'queued' AND wake_at IS NOT NULL;

-- flow_run_event lists the events of a batch run, in arrival order.
CREATE TABLE IF NOT EXISTS flow_run_event (
    run_id uuid NOT NULL,
    seq integer NOT NULL,
    event_id uuid NOT NULL,
    PRIMARY KEY (run_id, seq)
);
CREATE INDEX IF NOT EXISTS flow_run_event_event_idx ON flow_run_event (event_id);

-- flow_limit holds the state of throttles and rate limits, one row per
-- function and key: tat is the generic cell rate algorithm's theoretical
-- arrival time.
CREATE TABLE IF NOT EXISTS flow_limit (
    key text PRIMARY KEY,
    tat timestamptz NOT NULL
);

-- flow_idempotency remembers the idempotency keys of runs for 24 hours.
CREATE TABLE IF NOT EXISTS flow_idempotency (
    key text PRIMARY KEY,
    run_id uuid NOT NULL,
    seen_at timestamptz NOT NULL DEFAULT now()
);

-- flow_slot_wake makes runnable the oldest runs waiting for a slot of run
-- p_run's concurrency keys (parked: slot_wait set), as many as the key has
-- free slots, and wakes River's producers. A run that frees a slot calls it
-- after its change committed, and so does a run that parked: of the two, at
-- least one sees both the free slot and the parked run.
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
    -- that of its run, not the back of the queue.
    job AS (
        UPDATE river_job SET state = 'available', scheduled_at = least(next.order_at, now())
        FROM next
        WHERE river_job.id = next.job_id AND river_job.state = 'scheduled'
        RETURNING river_job.queue
    )
    SELECT count(*), min(job.queue) INTO woken, q FROM job;
    IF woken > 0 THEN
        PERFORM pg_notify(current_schema() || '.river_insert', json_build_object('queue', q)::text);
    END IF;
    RETURN woken;
END
$$;
