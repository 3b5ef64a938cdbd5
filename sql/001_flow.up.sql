-- riverflow schema, version 1. River's own tables come from River's migrations
-- (flow.Migrate runs them first); these are the library's.

-- flow_uuid_v7 returns a time-ordered UUID (version 7), so that IDs sort by
-- creation time and index inserts stay local.
CREATE OR REPLACE FUNCTION flow_uuid_v7() RETURNS uuid
LANGUAGE sql VOLATILE AS $$
    SELECT encode(
        set_bit(set_bit(
            overlay(uuid_send(gen_random_uuid())
                PLACING substring(int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
                FROM 1 FOR 6),
            52, 1), 53, 1), 'hex')::uuid
$$;

-- flow_function is the registry of the functions that worker processes define,
-- so that a process that only sends events still starts the right runs.
CREATE TABLE IF NOT EXISTS flow_function (
    id text PRIMARY KEY,
    name text NOT NULL,
    retries integer NOT NULL,
    config jsonb NOT NULL DEFAULT '{}',
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- flow_trigger holds each function's event triggers: an exact event name, or
-- for a wildcard trigger such as "billing/*" the prefix "billing/".
CREATE TABLE IF NOT EXISTS flow_trigger (
    function_id text NOT NULL,
    event_name text NOT NULL,
    is_prefix boolean NOT NULL DEFAULT false,
    expression text NOT NULL DEFAULT '',
    PRIMARY KEY (function_id, event_name, is_prefix)
);
CREATE INDEX IF NOT EXISTS flow_trigger_event_name_idx ON flow_trigger (event_name);

CREATE TABLE IF NOT EXISTS flow_event (
    id uuid PRIMARY KEY,
    name text NOT NULL,
    data jsonb NOT NULL,
    ts timestamptz NOT NULL,
    -- dedupe_id is the sender's Event.ID, when it gave one.
    dedupe_id text,
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS flow_event_name_received_idx ON flow_event (name, received_at);
CREATE INDEX IF NOT EXISTS flow_event_received_idx ON flow_event (received_at);

-- flow_event_dedupe remembers event IDs given by senders, so that an event whose
-- ID was seen in the last 24 hours is stored once and starts no second run.
CREATE TABLE IF NOT EXISTS flow_event_dedupe (
    dedupe_id text PRIMARY KEY,
    event_id uuid NOT NULL,
    seen_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS flow_run (
    id uuid PRIMARY KEY,
    function_id text NOT NULL,
    event_id uuid NOT NULL,
    -- queued, running, sleeping, waiting, completed, failed, cancelled
    status text NOT NULL DEFAULT 'queued',
    -- gen fences the run: only the River job whose args carry the current gen
    -- may execute it. Every suspend and takeover increments it.
    gen integer NOT NULL DEFAULT 0,
    -- job_id is the River job that will continue a suspended run.
    job_id bigint,
    -- attempt counts failed attempts of the function body outside steps.
    attempt integer NOT NULL DEFAULT 0,
    -- wake_at is when a suspended run must be made runnable; cleared once woken.
    wake_at timestamptz,
    -- deadline_at is when the run is cancelled if it has not ended
    -- (FunctionOpts.Timeouts.Finish).
    deadline_at timestamptz,
    lease_owner text,
    lease_expires_at timestamptz,
    parent_run_id uuid,
    parent_step_id text,
    output jsonb,
    error text,
    created_at timestamptz NOT NULL DEFAULT now(),
    started_at timestamptz,
    ended_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now()
-- Room on each page lets the frequent updates that touch no indexed column
-- (step stores renewing the lease) be HOT updates, with no index writes.
) WITH (fillfactor = 70);
CREATE INDEX IF NOT EXISTS flow_run_function_idx ON flow_run (function_id, id DESC);
CREATE INDEX IF NOT EXISTS flow_run_event_idx ON flow_run (event_id);
CREATE INDEX IF NOT EXISTS flow_run_status_idx ON flow_run (status, id DESC);
CREATE INDEX IF NOT EXISTS flow_run_wake_idx ON flow_run (wake_at) WHERE wake_at IS NOT NULL;
-- A child run started by Invoke is keyed by its parent's run and step, so a
-- replay can never start it twice.
CREATE UNIQUE INDEX IF NOT EXISTS flow_run_parent_idx ON flow_run (parent_run_id, parent_step_id) WHERE parent_run_id IS NOT NULL;

CREATE TABLE IF NOT EXISTS flow_step (
    run_id uuid NOT NULL,
    -- id is the step ID the function gave, with ":n" for its nth repeat.
    id text NOT NULL,
    seq integer NOT NULL,
    -- run, sleep, wait, send, invoke
    kind text NOT NULL,
    -- completed, failed, errored (will retry), sleeping, waiting, timed_out
    status text NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    output jsonb,
    error text,
    -- wake_at: end of a sleep, timeout of a wait or invoke, time of the next retry.
    wake_at timestamptz,
    -- detail describes what a wait or invoke waits for, for display.
    detail jsonb,
    started_at timestamptz NOT NULL DEFAULT now(),
    ended_at timestamptz,
    PRIMARY KEY (run_id, id)
);

-- flow_wait holds the open waits of WaitForEvent steps and the CancelOn
-- conditions of running runs.
CREATE TABLE IF NOT EXISTS flow_wait (
    run_id uuid NOT NULL,
    -- step_id is the waiting step's ID, or "cancel:<n>" for CancelOn n.
    step_id text NOT NULL,
    -- alt numbers the events a wait for any of several events waits for.
    alt integer NOT NULL DEFAULT 0,
    -- kind: wait (resume the step) or cancel (cancel the run).
    kind text NOT NULL DEFAULT 'wait',
    event_name text NOT NULL,
    -- match_path is a dotted path such as "data.userId", or '' to match any
    -- event of that name; match_value is the triggering event's value there.
    match_path text NOT NULL DEFAULT '',
    match_value jsonb,
    -- expression is a CEL condition over event (the run's trigger) and
    -- async (the incoming event), evaluated by the sender.
    expression text NOT NULL DEFAULT '',
    -- expires_at: a wait's timeout; NULL for a CancelOn with no Timeout.
    expires_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, step_id, alt)
);
CREATE INDEX IF NOT EXISTS flow_wait_match_idx ON flow_wait (event_name, match_path, match_value);

-- flow_wait_path lists the match paths in use per event name, so that a sent
-- event is matched against waits by index, one probe per path.
CREATE TABLE IF NOT EXISTS flow_wait_path (
    event_name text NOT NULL,
    match_path text NOT NULL,
    PRIMARY KEY (event_name, match_path)
);
