-- name: EventKeyInsert :one
-- Stores a new event key by its hash; the key itself is never stored.
INSERT INTO flow_event_key (name, prefix, hash)
VALUES (@name, @prefix, @hash)
RETURNING id, name, prefix, created_at, revoked_at;

-- name: EventKeyList :many
-- Every key, revoked ones included, oldest first.
SELECT id, name, prefix, created_at, revoked_at
FROM flow_event_key
ORDER BY id;

-- name: EventKeyRevoke :one
-- Revokes a key; revoking it again keeps the first revocation time.
UPDATE flow_event_key SET revoked_at = coalesce(revoked_at, now())
WHERE id = @id
RETURNING id, name, prefix, created_at, revoked_at;

-- name: EventKeyFindActive :one
-- The key with this hash, if it has not been revoked.
SELECT id, name, prefix, created_at, revoked_at
FROM flow_event_key
WHERE hash = @hash AND revoked_at IS NULL;
