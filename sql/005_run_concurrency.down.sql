-- Restores version 2's slot trigger and drops the whole-run columns. Runs
-- that held a whole-run slot while not running lose it: the lease sweeper
-- frees such slots (SlotFreeDangling) once this is applied.

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

DROP TRIGGER IF EXISTS flow_run_slot_free ON flow_run;
CREATE TRIGGER flow_run_slot_free AFTER UPDATE OF status ON flow_run
    FOR EACH ROW WHEN (NEW.ckey1 IS NOT NULL AND OLD.status IS DISTINCT FROM NEW.status
                       AND (OLD.status IN ('running', 'queued')))
    EXECUTE FUNCTION flow_slot_free_trigger();

ALTER TABLE flow_run DROP COLUMN IF EXISTS chold2, DROP COLUMN IF EXISTS chold1;
