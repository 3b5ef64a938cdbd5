-- Event keys authenticate senders of the HTTP event API (package eventapi):
-- POST /e/{key}. A key is shown once, when it is created; the table keeps
-- only its SHA-256 hash, so that a copy of the database does not hand out
-- working keys, and a short prefix of it, so that a person can tell keys
-- apart in a list.
CREATE TABLE IF NOT EXISTS flow_event_key (
    id uuid PRIMARY KEY DEFAULT flow_uuid_v7(),
    name text NOT NULL,
    prefix text NOT NULL,
    hash bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);

-- Every request looks its key up by hash.
CREATE UNIQUE INDEX IF NOT EXISTS flow_event_key_hash ON flow_event_key (hash);
