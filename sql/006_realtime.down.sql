DROP FUNCTION IF EXISTS flow_realtime_publish(text, text, json, uuid, boolean, timestamptz);
DROP TABLE IF EXISTS flow_realtime_message;
DROP SEQUENCE IF EXISTS flow_realtime_message_id_seq;
