-- Realtime: messages that functions and the app publish to a channel and
-- topic, delivered to subscribers through NOTIFY on flow_realtime.

-- Message IDs come from one sequence, taken while the publisher holds its
-- channel's lock (see flow_realtime_publish), so that within a channel the
-- IDs increase in commit order: a subscriber resuming after an ID misses
-- nothing that committed before it.
CREATE SEQUENCE flow_realtime_message_id_seq;

-- The stored messages: every durable one (Publish) and the live ones too
-- big to travel in a notification (PublishLive), kept for the realtime
-- retention window (24 hours) so that subscribers can resume.
CREATE TABLE flow_realtime_message (
    id bigint PRIMARY KEY,
    channel text NOT NULL,
    topic text NOT NULL,
    -- json, not jsonb: the publisher's bytes, as sent.
    data json NOT NULL,
    run_id uuid,
    durable boolean NOT NULL,
    created_at timestamptz NOT NULL
);

CREATE INDEX flow_realtime_message_channel_idx ON flow_realtime_message (channel, id);
CREATE INDEX flow_realtime_message_run_idx ON flow_realtime_message (run_id, id) WHERE run_id IS NOT NULL;
CREATE INDEX flow_realtime_message_created_idx ON flow_realtime_message (created_at);

-- flow_realtime_publish numbers a message in its channel's order, stores it
-- when p_durable or when it is too big for a notification, and notifies
-- flow_realtime with the message itself or, when too big, a reference to
-- it. Both take effect at the caller's commit. It returns the message ID.
--
-- The channel's lock (a transaction advisory lock on the channel's hash,
-- class 7291) is held until commit: publishers to one channel commit one
-- after the other, in ID order, and Postgres delivers their notifications
-- in commit order.
CREATE FUNCTION flow_realtime_publish(p_channel text, p_topic text, p_data json, p_run uuid, p_durable boolean, p_at timestamptz)
RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    msg_id bigint;
    payload text;
    big boolean;
BEGIN
    PERFORM pg_advisory_xact_lock(7291, hashtext(p_channel));
    msg_id := nextval('flow_realtime_message_id_seq');
    payload := json_build_object('i', msg_id, 'c', p_channel, 't', p_topic, 'r', p_run,
        'at', (extract(epoch FROM p_at) * 1000000)::bigint, 's', p_durable, 'd', p_data)::text;
    -- Postgres refuses notification payloads of 8000 bytes or more.
    big := octet_length(payload) > 7900;
    IF p_durable OR big THEN
        INSERT INTO flow_realtime_message (id, channel, topic, data, run_id, durable, created_at)
        VALUES (msg_id, p_channel, p_topic, p_data, p_run, p_durable, p_at);
    END IF;
    IF big THEN
        payload := json_build_object('i', msg_id, 'c', p_channel, 't', p_topic, 'r', p_run, 's', true, 'ref', true)::text;
    END IF;
    PERFORM pg_notify('flow_realtime', payload);
    RETURN msg_id;
END;
$$;
