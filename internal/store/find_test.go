package store_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow/flowtest"
	"github.com/riverflow/flow/internal/store"
)

// findFill stores n runs (and one event) with random v4 IDs, as a store
// that has run for a while holds.
func findFill(tb testing.TB, ctx context.Context, b *testBundle, n int) {
	tb.Helper()
	_, err := b.pool.Exec(ctx, `INSERT INTO flow_event (id, name, data, ts) VALUES ('00000000-0000-4000-8000-000000000001', 'find/x', '{}', now())`)
	require.NoError(tb, err)
	_, err = b.pool.Exec(ctx, `INSERT INTO flow_run (id, function_id, event_id, status)
		SELECT gen_random_uuid(), 'find-fn', '00000000-0000-4000-8000-000000000001', 'completed' FROM generate_series(1, $1)`, n)
	require.NoError(tb, err)
	_, err = b.pool.Exec(ctx, `ANALYZE flow_run`)
	require.NoError(tb, err)
}

// TestFindRunsUsesIndexes: over 20,000 runs, a prefix and a suffix each find
// their one run, and the plan reads indexes, not the table.
func TestFindRunsUsesIndexes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := flowtest.Pool(t)
	b := &testBundle{ctx: ctx, pool: pool, store: store.New(pool, 0)}
	findFill(t, ctx, b, 20_000)
	var id string
	require.NoError(t, pool.QueryRow(ctx, `SELECT id FROM flow_run ORDER BY id OFFSET 777 LIMIT 1`).Scan(&id))
	digits := strings.ReplaceAll(id, "-", "")

	for _, part := range []string{digits[:12], digits[20:]} {
		got, err := b.store.FindRuns(ctx, store.NewIDRange(part), 11)
		require.NoError(t, err)
		require.Equal(t, []string{id}, got, part)
	}

	// The plan of the query FindRuns runs (queries/find.sql), with its
	// parameters as the store computes them for a 12-digit suffix.
	var plan strings.Builder
	rows, err := pool.Query(ctx, `EXPLAIN SELECT id FROM (
		(SELECT r.id FROM flow_run r WHERE r.id BETWEEN $1::uuid AND $2::uuid ORDER BY r.id LIMIT 11)
		UNION
		(SELECT r.id FROM flow_run r
		 WHERE reverse(replace(r.id::text, '-', '')) ~>=~ $3::text
		    AND reverse(replace(r.id::text, '-', '')) ~<~ $4::text
		 LIMIT 11)) found ORDER BY id LIMIT 11`,
		"00000000-0000-0000-0000-000000000000", "00000000-0000-0000-0000-000000000000", reverse(digits[20:]), reverse(digits[20:])+"g")
	require.NoError(t, err)
	for rows.Next() {
		var line string
		require.NoError(t, rows.Scan(&line))
		plan.WriteString(line + "\n")
	}
	require.NoError(t, rows.Err())
	t.Log(plan.String())
	require.Contains(t, plan.String(), "flow_run_id_suffix_idx", "a suffix reads the reversed-ID index")
	require.Contains(t, plan.String(), "flow_run_pkey", "a prefix reads the primary key")
	require.NotContains(t, plan.String(), "Seq Scan")
}

func reverse(s string) string {
	b := []byte(s)
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	return string(b)
}

// BenchmarkFindRuns finds one run by a 12-digit prefix and by a 12-digit
// suffix among 100,000 runs.
func BenchmarkFindRuns(bm *testing.B) {
	ctx := context.Background()
	pool := flowtest.Pool(bm)
	b := &testBundle{ctx: ctx, pool: pool, store: store.New(pool, 0)}
	findFill(bm, ctx, b, 100_000)
	var id string
	require.NoError(bm, pool.QueryRow(ctx, `SELECT id FROM flow_run ORDER BY id OFFSET 50000 LIMIT 1`).Scan(&id))
	digits := strings.ReplaceAll(id, "-", "")
	// For comparison: the suffix as a filter over the whole table, what
	// the lookup costs without the reversed-ID index.
	bm.Run("suffix-without-index", func(bm *testing.B) {
		for bm.Loop() {
			var n int
			if err := pool.QueryRow(ctx, `SELECT count(*) FROM flow_run WHERE replace(id::text, '-', '') LIKE '%' || $1`, digits[20:]).Scan(&n); err != nil || n != 1 {
				bm.Fatal(n, err)
			}
		}
	})
	for name, part := range map[string]string{"prefix": digits[:12], "suffix": digits[20:]} {
		bm.Run(name, func(bm *testing.B) {
			r := store.NewIDRange(part)
			for bm.Loop() {
				got, err := b.store.FindRuns(ctx, r, 11)
				if err != nil || len(got) != 1 {
					bm.Fatal(got, err)
				}
			}
		})
	}
}
