-- riverflow schema, version 9: pausing a function (Client.PauseFunction).
--
-- flow_function_pause holds the paused functions, one row each, and nothing
-- else: every claim of a run probes it by primary key (RunStart), so it stays
-- as small as the number of paused functions, usually none. A row here stops
-- the function's runs at their next claim, in every process at once: events
-- are still stored and their runs created, queued; executing runs stop at
-- their next step boundary; runs that become due wait. ResumeFunction deletes
-- the row and hands the held runs to River in their order.
CREATE TABLE IF NOT EXISTS flow_function_pause (
    function_id text PRIMARY KEY,
    paused_at timestamptz NOT NULL DEFAULT now()
);

-- paused_at is set on a run whose claim was refused because its function was
-- paused (RunParkPaused): the run keeps its status (queued, sleeping,
-- waiting) and its place, and waits for ResumeFunction; NULL otherwise.
ALTER TABLE flow_run ADD COLUMN IF NOT EXISTS paused_at timestamptz;

-- ResumeFunction finds a function's held runs by this index, which holds only
-- them: the updates of unpaused runs never touch it.
CREATE INDEX IF NOT EXISTS flow_run_paused_idx ON flow_run (function_id) WHERE paused_at IS NOT NULL;
