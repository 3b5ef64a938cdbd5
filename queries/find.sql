-- name: RunFindByPartialID :many
-- (Find queries only read: they serve FindRun, the command line and the
-- dashboard's search.) Up to @max runs whose ID's hex digits start with a
-- prefix (a range of the primary key, @lo to @hi) or end with a suffix (a
-- range of flow_run_id_suffix_idx: @rev_lo is the suffix reversed, @rev_hi
-- the same followed by 'g', past every hex digit; ~>=~ and ~<~ compare
-- bytes, as the index's text_pattern_ops does).
SELECT id FROM (
    (SELECT r.id FROM flow_run r WHERE r.id BETWEEN @lo::uuid AND @hi::uuid ORDER BY r.id LIMIT @max)
    UNION
    (SELECT r.id FROM flow_run r
     WHERE reverse(replace(r.id::text, '-', '')) ~>=~ @rev_lo::text
        AND reverse(replace(r.id::text, '-', '')) ~<~ @rev_hi::text
     LIMIT @max)
) found
ORDER BY id
LIMIT @max;

-- name: EventFindByPartialID :many
-- RunFindByPartialID for events (flow_event_id_suffix_idx).
SELECT id FROM (
    (SELECT e.id FROM flow_event e WHERE e.id BETWEEN @lo::uuid AND @hi::uuid ORDER BY e.id LIMIT @max)
    UNION
    (SELECT e.id FROM flow_event e
     WHERE reverse(replace(e.id::text, '-', '')) ~>=~ @rev_lo::text
        AND reverse(replace(e.id::text, '-', '')) ~<~ @rev_hi::text
     LIMIT @max)
) found
ORDER BY id
LIMIT @max;
