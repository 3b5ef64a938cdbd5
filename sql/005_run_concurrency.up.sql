-- riverflow schema, version 5: whole-run concurrency
-- (flow.Concurrency{Mode: flow.ConcurrencyRun}, and Singleton's queue mode).
-- Idempotent, like the earlier versions.

-- chold1/chold2 say that the run holds the slot of its key 1 or 2 for its
-- whole life: taken when the run first starts executing, kept while it
-- sleeps, waits, backs off before a retry, is parked or taken over, and
-- freed once, when it ends. NULL (or false) is the default step-level
-- counting: a slot is held only while a segment executes.
ALTER TABLE flow_run ADD COLUMN IF NOT EXISTS chold1 boolean;
ALTER TABLE flow_run ADD COLUMN IF NOT EXISTS chold2 boolean;

-- flow_slot_free_trigger frees a run's slots: the step-level ones when it
-- stops running, the whole-run ones (chold) only when it ends; and its
-- place in line goes when it leaves the queue (it starts, or ends).
CREATE OR REPLACE FUNCTION flow_slot_free_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status NOT IN ('queued', 'running', 'sleeping', 'waiting') THEN
        -- The run ended: every slot it holds goes, whatever the mode.
        UPDATE flow_concurrency_slot SET run_id = NULL
        WHERE ((key = NEW.ckey1 AND n = NEW.cslot1) OR (key = NEW.ckey2 AND n = NEW.cslot2)) AND run_id = NEW.id;
    ELSIF OLD.status = 'running' THEN
        -- It stopped running: its step-level slots go, its whole-run ones stay.
        UPDATE flow_concurrency_slot SET run_id = NULL
        WHERE ((key = NEW.ckey1 AND n = NEW.cslot1 AND NEW.chold1 IS NOT TRUE)
               OR (key = NEW.ckey2 AND n = NEW.cslot2 AND NEW.chold2 IS NOT TRUE)) AND run_id = NEW.id;
    END IF;
    IF NEW.status <> 'queued' THEN
        DELETE FROM flow_slot_waiter
        WHERE key IN (NEW.ckey1, NEW.ckey2) AND order_at = NEW.order_at AND run_id = NEW.id;
    END IF;
    RETURN NULL;
END
$$;

-- The trigger fires, as before, when a run leaves running or the queue; and
-- for a run holding a whole-run slot, on any change of status, so that its
-- end frees the slot even if it ends sleeping or waiting (a cancel, a
-- timeout).
DROP TRIGGER IF EXISTS flow_run_slot_free ON flow_run;
CREATE TRIGGER flow_run_slot_free AFTER UPDATE OF status ON flow_run
    FOR EACH ROW WHEN (NEW.ckey1 IS NOT NULL AND OLD.status IS DISTINCT FROM NEW.status
                       AND (OLD.status IN ('running', 'queued') OR NEW.chold1 OR NEW.chold2))
    EXECUTE FUNCTION flow_slot_free_trigger();
