DROP FUNCTION IF EXISTS flow_slot_ensure(text, integer);
DROP FUNCTION IF EXISTS flow_slot_wake(uuid);
DROP TRIGGER IF EXISTS flow_run_slot_free ON flow_run;
DROP FUNCTION IF EXISTS flow_slot_free_trigger();
DROP TABLE IF EXISTS flow_concurrency_slot;
DROP TABLE IF EXISTS flow_idempotency;
DROP TABLE IF EXISTS flow_limit;
DROP TABLE IF EXISTS flow_run_event;
DROP INDEX IF EXISTS flow_run_batch_idx;
DROP INDEX IF EXISTS flow_run_debounce_idx;
DROP INDEX IF EXISTS flow_run_singleton_idx;
DROP TABLE IF EXISTS flow_slot_waiter;
ALTER TABLE flow_run DROP COLUMN IF EXISTS batch_size, DROP COLUMN IF EXISTS batch_key,
    DROP COLUMN IF EXISTS debounce_key, DROP COLUMN IF EXISTS singleton_key, DROP COLUMN IF EXISTS order_at,
    DROP COLUMN IF EXISTS slot_wait, DROP COLUMN IF EXISTS climit2, DROP COLUMN IF EXISTS cslot2, DROP COLUMN IF EXISTS cslot1, DROP COLUMN IF EXISTS ckey2,
    DROP COLUMN IF EXISTS climit1, DROP COLUMN IF EXISTS ckey1;
ALTER TABLE flow_trigger DROP COLUMN IF EXISTS controlled;
