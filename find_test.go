package flow_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
)

// findInsert stores an event and one run of it with the given IDs (SQL:
// the test chooses IDs that share prefixes and suffixes).
func findInsert(t *testing.T, pool *pgxpool.Pool, eventID, runID string) {
	t.Helper()
	ctx := testCtx(t)
	_, err := pool.Exec(ctx, `INSERT INTO flow_event (id, name, data, ts) VALUES ($1, 'find/x', '{}', now())`, eventID)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `INSERT INTO flow_run (id, function_id, event_id, status) VALUES ($1, 'find-fn', $2, 'completed')`, runID, eventID)
	require.NoError(t, err)
}

func TestFindRunByPrefixOrSuffix(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	c := newClient(t, pool, nil)
	ctx := testCtx(t)

	const (
		runA = "01930000-0000-7000-8000-00000000aaa1"
		runB = "01930000-0000-7000-8000-00000000bbb1"
		runC = "01940000-0000-7000-8000-0000000ccc12"
		// digitsB is runB's hex digits.
		digitsB = "0193000000007000800000000000bbb1"
	)
	findInsert(t, pool, "01930000-0000-7000-8000-0000000000e1", runA)
	findInsert(t, pool, "01930000-0000-7000-8000-0000000000e2", runB)
	findInsert(t, pool, "01940000-0000-7000-8000-0000000000e3", runC)

	for partial, want := range map[string]string{
		"0194":                             runC, // a prefix
		"01940000-0000":                    runC, // with its hyphens
		"aaa1":                             runA, // a suffix, as the dashboard shows it
		"…aaa1":                            runA,
		"AAA1":                             runA, // either case
		"8000-00000000aaa1":                runA,
		"800000000000aaa1":                 runA, // hyphens optional
		"ccc12":                            runC,
		digitsB[1:]:                        runB, // every digit but the first
		digitsB[:31]:                       runB, // every digit but the last
		"01930000000070008000000000000bbb": "",   // no such ID
		"b1":                               runB,
		runB:                               runB, // the whole ID
	} {
		got, err := c.FindRun(ctx, partial)
		if want == "" {
			require.ErrorIs(t, err, flow.ErrNotFound, partial)
			continue
		}
		require.NoError(t, err, partial)
		require.Equal(t, want, got.ID, partial)
		require.Equal(t, "find-fn", got.FunctionID)
	}

	// A prefix of two runs, a suffix of two runs.
	for partial, want := range map[string][]string{
		"0193": {runA, runB},
		"1":    {runA, runB},
	} {
		_, err := c.FindRun(ctx, partial)
		require.ErrorIs(t, err, flow.ErrAmbiguousID, partial)
		var amb *flow.AmbiguousIDError
		require.True(t, errors.As(err, &amb))
		require.Equal(t, want, amb.Candidates, partial)
		require.False(t, amb.More)
		require.Contains(t, err.Error(), runA, "the message lists the candidates")
	}

	// Not found: no such digits, not hex at all, too long; GetRun takes
	// whole IDs only.
	for _, partial := range []string{"ffff", "0195", "zz", "", "a b", "0193000000007000800000000000aaa1f"} {
		_, err := c.FindRun(ctx, partial)
		require.ErrorIs(t, err, flow.ErrNotFound, partial)
	}
	_, err := c.GetRun(ctx, "aaa1")
	require.ErrorIs(t, err, flow.ErrNotFound, "GetRun keeps exact IDs")
}

func TestFindRunAmbiguousListsAtMostTen(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	c := newClient(t, pool, nil)
	for i := range 12 {
		findInsert(t, pool, fmt.Sprintf("01930000-0000-7000-8000-0000000000%02x", i), fmt.Sprintf("01930000-0000-7000-9000-0000000001%02x", i))
	}
	_, err := c.FindRun(testCtx(t), "0193")
	var amb *flow.AmbiguousIDError
	require.ErrorAs(t, err, &amb)
	require.Len(t, amb.Candidates, flow.MaxIDCandidates)
	require.True(t, amb.More)
	require.Equal(t, "01930000-0000-7000-9000-000000000100", amb.Candidates[0], "in ID order")
	require.Equal(t, "run", amb.Kind)
}

func TestFindEventByPrefixOrSuffix(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	c := newClient(t, pool, nil)
	ctx := testCtx(t)
	const (
		evA = "01930000-0000-7000-8000-0000000000a1"
		evB = "01940000-0000-7000-8000-0000000000b1"
	)
	findInsert(t, pool, evA, "01930000-0000-7000-8000-00000000aaa1")
	findInsert(t, pool, evB, "01930000-0000-7000-8000-00000000bbb1")

	ev, err := c.FindEvent(ctx, "0194")
	require.NoError(t, err)
	require.Equal(t, evB, ev.ID)
	require.Len(t, ev.Runs, 1, "FindEvent returns what GetEvent does, with the runs")
	ev, err = c.FindEvent(ctx, "00a1")
	require.NoError(t, err)
	require.Equal(t, evA, ev.ID)
	_, err = c.FindEvent(ctx, "01")
	require.ErrorIs(t, err, flow.ErrAmbiguousID)
	var amb *flow.AmbiguousIDError
	require.ErrorAs(t, err, &amb)
	require.Equal(t, "event", amb.Kind)
	require.Equal(t, []string{evA, evB}, amb.Candidates)
	_, err = c.FindEvent(ctx, "aaa1")
	require.ErrorIs(t, err, flow.ErrNotFound, "a run's ID is no event's")
}
