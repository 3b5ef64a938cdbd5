-- name: RealtimePublish :one
-- Numbers, stores when needed and notifies one message (see
-- flow_realtime_publish); in the caller's transaction for a durable publish.
SELECT flow_realtime_publish(@channel::text, @topic::text, @data::json, sqlc.narg('run_id')::uuid, @durable::boolean, @at::timestamptz)::bigint AS id;

-- name: RealtimeMessageGet :one
-- A stored message, for a notification that only referred to it.
SELECT id, channel, topic, data, run_id, created_at FROM flow_realtime_message WHERE id = @id::bigint;

-- name: RealtimeChannelAfter :many
-- The stored messages of a channel after @after_id, in order, optionally of
-- some topics only (an empty @topics means all): a subscriber catching up.
SELECT id, channel, topic, data, run_id, created_at FROM flow_realtime_message
WHERE channel = @channel::text AND id > @after_id::bigint
    AND (cardinality(@topics::text[]) = 0 OR topic = ANY(@topics::text[]))
ORDER BY id
LIMIT @max::integer;

-- name: RealtimeRunAfter :many
-- The stored messages a run published after @after_id, on any channel.
SELECT id, channel, topic, data, run_id, created_at FROM flow_realtime_message
WHERE run_id = @run_id::uuid AND id > @after_id::bigint
    AND (cardinality(@topics::text[]) = 0 OR topic = ANY(@topics::text[]))
ORDER BY id
LIMIT @max::integer;

-- name: RealtimeChannelLastID :one
-- The newest stored message ID of a channel (0 for none): where a new
-- subscriber that has seen nothing would catch up from.
SELECT coalesce(max(id), 0)::bigint AS id FROM flow_realtime_message WHERE channel = @channel::text;

-- name: RealtimeRunLastID :one
SELECT coalesce(max(id), 0)::bigint AS id FROM flow_realtime_message WHERE run_id = @run_id::uuid;

-- name: RealtimeDeleteOld :execrows
-- Deletes up to @max stored messages created before @before.
DELETE FROM flow_realtime_message
WHERE id IN (SELECT id FROM flow_realtime_message WHERE created_at < @before::timestamptz LIMIT @max::integer);

-- name: ListenRealtime :exec
LISTEN flow_realtime;
