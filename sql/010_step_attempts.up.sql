-- What the dashboard and the command line show beyond a run's current state:
-- every failed attempt of a step, where a rerun came from, which events
-- resumed or cancelled which runs, and a way to find a run or an event by
-- the end of its ID.

-- flow_step_attempt keeps each failed attempt of a step (a step that
-- succeeds at once writes none: the step's own row says all). The step's row
-- keeps only its last error.
CREATE TABLE IF NOT EXISTS flow_step_attempt (
    run_id uuid NOT NULL,
    step_id text NOT NULL,
    attempt integer NOT NULL,
    started_at timestamptz NOT NULL,
    ended_at timestamptz NOT NULL,
    error text NOT NULL,
    PRIMARY KEY (run_id, step_id, attempt)
);

-- flow_rerun says which run a rerun reran, and from which step ('' for
-- from the top).
CREATE TABLE IF NOT EXISTS flow_rerun (
    run_id uuid PRIMARY KEY,
    rerun_of uuid NOT NULL,
    from_step text NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS flow_rerun_of_idx ON flow_rerun (rerun_of);

-- flow_event_effect records what an event did to runs it did not start:
-- resumed a wait (step_id is the wait step) or cancelled the run (CancelOn).
CREATE TABLE IF NOT EXISTS flow_event_effect (
    event_id uuid NOT NULL,
    run_id uuid NOT NULL,
    step_id text NOT NULL DEFAULT '',
    -- resumed or cancelled
    effect text NOT NULL,
    at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, run_id, step_id)
);
CREATE INDEX IF NOT EXISTS flow_event_effect_run_idx ON flow_event_effect (run_id);

-- Finding a run or an event by the end of its ID (the dashboard shows ID
-- suffixes): an index on the ID's hex digits reversed, compared byte by
-- byte (text_pattern_ops), turns a suffix into a range. A prefix is a range of the primary key.
CREATE INDEX IF NOT EXISTS flow_run_id_suffix_idx ON flow_run (reverse(replace(id::text, '-', '')) text_pattern_ops);
CREATE INDEX IF NOT EXISTS flow_event_id_suffix_idx ON flow_event (reverse(replace(id::text, '-', '')) text_pattern_ops);
