-- Reverses 008_flow_keys.up.sql.
DROP FUNCTION IF EXISTS flow_event_ts(uuid);
