DROP INDEX IF EXISTS flow_event_id_suffix_idx;
DROP INDEX IF EXISTS flow_run_id_suffix_idx;
DROP TABLE IF EXISTS flow_event_effect;
DROP TABLE IF EXISTS flow_rerun;
DROP TABLE IF EXISTS flow_step_attempt;
