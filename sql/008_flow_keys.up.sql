-- Debounce keeps the latest event by timestamp (Inngest's rule).

-- flow_event_ts returns an event's ts as committed now, not as of the
-- calling statement's start: a VOLATILE plpgsql function reads with a fresh
-- snapshot. DebouncePush compares a debounced run's event with the incoming
-- one after waiting for the run's row lock, when the run may hold an event
-- that a concurrent sender committed after the statement began.
CREATE OR REPLACE FUNCTION flow_event_ts(p_event uuid)
RETURNS timestamptz LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    RETURN (SELECT ts FROM flow_event WHERE id = p_event);
END;
$$;
