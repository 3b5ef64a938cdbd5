-- name: RunDeleteEnded :execrows
-- Deletes up to @max runs that ended before @before, with their steps and
-- waits. Runs of other processes' sweeps are skipped, not waited for.
WITH doomed AS (
    SELECT r.id FROM flow_run r
    WHERE r.status IN ('completed', 'failed', 'cancelled', 'skipped') AND r.ended_at < @before::timestamptz
    LIMIT @max
    FOR UPDATE SKIP LOCKED
),
steps AS (
    DELETE FROM flow_step USING doomed WHERE flow_step.run_id = doomed.id
),
waits AS (
    DELETE FROM flow_wait USING doomed WHERE flow_wait.run_id = doomed.id
),
batch_events AS (
    DELETE FROM flow_run_event USING doomed WHERE flow_run_event.run_id = doomed.id
),
attempts AS (
    DELETE FROM flow_step_attempt USING doomed WHERE flow_step_attempt.run_id = doomed.id
),
reruns AS (
    DELETE FROM flow_rerun USING doomed WHERE flow_rerun.run_id = doomed.id
),
effects AS (
    DELETE FROM flow_event_effect USING doomed WHERE flow_event_effect.run_id = doomed.id
)
DELETE FROM flow_run USING doomed WHERE flow_run.id = doomed.id;

-- name: EventDeleteOld :execrows
-- Deletes up to @max events received before @before that no remaining run
-- refers to, with the claims on their senders' IDs: an ID whose event is
-- gone is forgotten (a claim that a later event holds is kept), so that
-- resending it stores a new event rather than answering with the deleted
-- event's ID.
WITH doomed AS (
    SELECT e.id, e.dedupe_id FROM flow_event e
    WHERE e.received_at < @before::timestamptz
        AND NOT EXISTS (SELECT 1 FROM flow_run r WHERE r.event_id = e.id)
        AND NOT EXISTS (SELECT 1 FROM flow_run_event b WHERE b.event_id = e.id)
    LIMIT @max
    FOR UPDATE SKIP LOCKED
),
claims AS (
    DELETE FROM flow_event_dedupe d USING doomed
    WHERE d.dedupe_id = doomed.dedupe_id AND d.event_id = doomed.id
),
effects AS (
    DELETE FROM flow_event_effect f USING doomed WHERE f.event_id = doomed.id
)
DELETE FROM flow_event USING doomed WHERE flow_event.id = doomed.id;

-- name: EventDedupeDeleteExpired :execrows
DELETE FROM flow_event_dedupe WHERE seen_at < now() - interval '24 hours';

-- name: LimitDeleteIdle :execrows
-- Deletes throttle and rate-limit state that no longer limits anything (its
-- theoretical arrival time has passed).
DELETE FROM flow_limit WHERE tat < now() - interval '1 minute';

-- name: IdempotencyDeleteExpired :execrows
DELETE FROM flow_idempotency WHERE seen_at < now() - interval '24 hours';
