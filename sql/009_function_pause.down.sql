DROP INDEX IF EXISTS flow_run_paused_idx;
ALTER TABLE flow_run DROP COLUMN IF EXISTS paused_at;
DROP TABLE IF EXISTS flow_function_pause;
