DROP TABLE IF EXISTS flow_event_key;
