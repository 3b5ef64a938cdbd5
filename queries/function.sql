-- name: FunctionUpsert :exec
-- Registers a function a worker process defines, so that any process's
-- events start it.
INSERT INTO flow_function (id, name, retries, config, updated_at)
VALUES (@id, @name, @retries, @config, now())
ON CONFLICT (id) DO UPDATE
SET name = excluded.name, retries = excluded.retries, config = excluded.config, updated_at = now();

-- name: TriggerDeleteByFunction :exec
DELETE FROM flow_trigger WHERE function_id = @function_id;

-- name: TriggerInsertMany :exec
INSERT INTO flow_trigger (function_id, event_name, is_prefix, expression, controlled)
SELECT @function_id::text, unnest(@event_names::text[]), unnest(@is_prefixes::boolean[]), unnest(@expressions::text[]), @controlled::boolean
ON CONFLICT DO NOTHING;

-- name: FunctionList :many
SELECT * FROM flow_function ORDER BY id;

-- name: FunctionConfig :one
-- A registered function's config (its flow control).
SELECT config FROM flow_function WHERE id = @id;
