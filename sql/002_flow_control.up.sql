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
-- slot_wait is set while a queued run waits for a free slot of its key 1 or
-- 2 (from its creation, and again when it parks); the run that frees a slot
-- makes the oldest waiter runnable. Waiters are served in order: a run may
-- not take a slot that a waiter ahead of it is owed.
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

CREATE INDEX IF NOT EXISTS flow_run_ckey1_running_idx ON flow_run (ckey1) WHERE ckey1 IS NOT NULL AND status = 'running';
CREATE INDEX IF NOT EXISTS flow_run_ckey2_running_idx ON flow_run (ckey2) WHERE ckey2 IS NOT NULL AND status = 'running';
CREATE INDEX IF NOT EXISTS flow_run_ckey1_wait_idx ON flow_run (ckey1, order_at, id) WHERE slot_wait = 1 AND status = 'queued' AND wake_at IS NULL;
CREATE INDEX IF NOT EXISTS flow_run_ckey2_wait_idx ON flow_run (ckey2, order_at, id) WHERE slot_wait = 2 AND status = 'queued' AND wake_at IS NULL;
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

-- flow_slot_free reports whether a run may take a slot of its concurrency key
-- number slot (1 or 2): the key's running runs, and the runs waiting for one
-- of its slots that are ahead of this one (they are owed the next slots),
-- are together fewer than lim. A run with no key there is always free.
CREATE OR REPLACE FUNCTION flow_slot_free(run_id uuid, key text, lim integer, slot integer, order_at timestamptz)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT key IS NULL OR (CASE slot
        WHEN 1 THEN
            (SELECT count(*) FROM (
                SELECT 1 FROM flow_run o WHERE o.ckey1 = key AND o.status = 'running' AND o.id <> run_id
                UNION ALL
                (SELECT 1 FROM flow_run o
                 WHERE o.ckey1 = key AND o.slot_wait = 1 AND o.status = 'queued' AND o.wake_at IS NULL
                     AND (o.order_at, o.id) < (flow_slot_free.order_at, run_id)
                 LIMIT lim)
            ) taken)
        ELSE
            (SELECT count(*) FROM (
                SELECT 1 FROM flow_run o WHERE o.ckey2 = key AND o.status = 'running' AND o.id <> run_id
                UNION ALL
                (SELECT 1 FROM flow_run o
                 WHERE o.ckey2 = key AND o.slot_wait = 2 AND o.status = 'queued' AND o.wake_at IS NULL
                     AND (o.order_at, o.id) < (flow_slot_free.order_at, run_id)
                 LIMIT lim)
            ) taken)
        END) < lim
$$;
