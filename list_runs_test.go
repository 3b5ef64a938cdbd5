package flow_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
)

// listClient returns a stopped client, with the function "list-a" on event
// "list/a" and "list-b" on "list/b" in the registry (a start registered
// them): the runs that its sends create stay queued, so tests set up any
// listing they need.
func listClient(t *testing.T) (*flow.Client, *pgxpool.Pool) {
	t.Helper()
	pool := flowtest.Pool(t)
	c := newClient(t, pool, nil)
	for _, name := range []string{"a", "b"} {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "list-" + name}, flow.EventTrigger("list/"+name),
			func(ctx context.Context, in flow.Input[any]) (any, error) { return nil, nil })
		require.NoError(t, err)
	}
	require.NoError(t, c.Start(testCtx(t)))
	require.NoError(t, c.Stop(testCtx(t)))
	return c, pool
}

// sendRuns sends n events named name in one call and returns the IDs of the
// runs they started.
func sendRuns(t *testing.T, c *flow.Client, name string, n int) []string {
	t.Helper()
	ctx := testCtx(t)
	events := make([]flow.Event, n)
	for i := range events {
		events[i] = flow.Event{Name: name}
	}
	ids, err := c.Send(ctx, events...)
	require.NoError(t, err)
	var runIDs []string
	for _, id := range ids {
		runs, err := c.ListRuns(ctx, flow.RunFilter{EventID: id})
		require.NoError(t, err)
		require.Len(t, runs, 1)
		runIDs = append(runIDs, runs[0].ID)
	}
	return runIDs
}

func listIDs(runs []*flow.Run) []string {
	out := make([]string, len(runs))
	for i, r := range runs {
		out[i] = r.ID
	}
	return out
}

// pageAll pages through f's runs with Next and returns each page's IDs.
func pageAll(t *testing.T, c *flow.Client, f flow.RunFilter) [][]string {
	t.Helper()
	var pages [][]string
	for {
		runs, err := c.ListRuns(testCtx(t), f)
		require.NoError(t, err)
		pages = append(pages, listIDs(runs))
		if runs.Next() == "" {
			return pages
		}
		require.Equal(t, runs[len(runs)-1].ID, runs.Next(), "the cursor is the page's last run")
		require.Less(t, len(pages), 100, "paging does not end")
		f.Before = runs.Next()
	}
}

func TestListRunsPagesThroughMoreThanAPage(t *testing.T) {
	t.Parallel()
	c, _ := listClient(t)
	ctx := testCtx(t)
	sendRuns(t, c, "list/a", 250)

	all, err := c.ListRuns(ctx, flow.RunFilter{Limit: 1000})
	require.NoError(t, err)
	require.Len(t, all, 250)
	require.Empty(t, all.Next(), "one page holds every run: no next page")
	for i := 1; i < len(all); i++ {
		require.Greater(t, all[i-1].ID, all[i].ID, "newest (greatest ID) first")
	}

	// The default page is 100 runs, and says that more follow.
	first, err := c.ListRuns(ctx, flow.RunFilter{})
	require.NoError(t, err)
	require.Len(t, first, 100)
	require.Equal(t, all[99].ID, first.Next())

	// Following Next sees every run once, in order; the short last page
	// says it is the last.
	pages := pageAll(t, c, flow.RunFilter{})
	require.Len(t, pages, 3)
	require.Len(t, pages[0], 100)
	require.Len(t, pages[1], 100)
	require.Len(t, pages[2], 50)
	require.Equal(t, listIDs(all), append(append(pages[0], pages[1]...), pages[2]...))

	// A full last page also says it is the last: no empty page to fetch.
	pages = pageAll(t, c, flow.RunFilter{Limit: 125})
	require.Len(t, pages, 2)
	require.Equal(t, listIDs(all), append(pages[0], pages[1]...))

	// Pages appended to each other keep the last one's cursor.
	p1, err := c.ListRuns(ctx, flow.RunFilter{Limit: 200})
	require.NoError(t, err)
	p2, err := c.ListRuns(ctx, flow.RunFilter{Limit: 20, Before: p1.Next()})
	require.NoError(t, err)
	joined := append(p1, p2...)
	require.Equal(t, all[219].ID, joined.Next())
	require.Empty(t, joined[:10].Next(), "a re-sliced page has no cursor")
}

func TestListRunsEachFilter(t *testing.T) {
	t.Parallel()
	c, pool := listClient(t)
	ctx := testCtx(t)

	// Two batches in distinct instants: a1 a1 a1 b1 b1, then a2 a2 a2 b2 b2.
	a1 := sendRuns(t, c, "list/a", 3)
	b1 := sendRuns(t, c, "list/b", 2)
	runNextMilli()
	a2 := sendRuns(t, c, "list/a", 3)
	b2 := sendRuns(t, c, "list/b", 2)

	all, err := c.ListRuns(ctx, flow.RunFilter{})
	require.NoError(t, err)
	require.Len(t, all, 10)
	newestFirst := func(ids ...[]string) []string {
		var want []string
		for _, r := range all {
			for _, set := range ids {
				for _, id := range set {
					if r.ID == id {
						want = append(want, id)
					}
				}
			}
		}
		return want
	}
	list := func(t *testing.T, f flow.RunFilter) []string {
		t.Helper()
		runs, err := c.ListRuns(testCtx(t), f)
		require.NoError(t, err)
		return listIDs(runs)
	}

	// Statuses and outputs, set directly: the listing only reads.
	_, err = pool.Exec(ctx, `UPDATE flow_run SET status = 'failed', error = 'boom' WHERE id = ANY($1::uuid[])`, []string{a1[0], b2[1]})
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `UPDATE flow_run SET status = 'completed', output = '{"ok":true}' WHERE id = ANY($1::uuid[])`, a2)
	require.NoError(t, err)

	t.Run("FunctionID", func(t *testing.T) {
		t.Parallel()
		require.Equal(t, newestFirst(a1, a2), list(t, flow.RunFilter{FunctionID: "list-a"}))
		require.Equal(t, newestFirst(b1, b2), list(t, flow.RunFilter{FunctionID: "list-b"}))
		require.Empty(t, list(t, flow.RunFilter{FunctionID: "nope"}))
	})
	t.Run("EventID", func(t *testing.T) {
		t.Parallel()
		ctx := testCtx(t) // not the parent's: it may run out while parallel subtests wait their turn
		run, err := c.GetRun(ctx, b1[1])
		require.NoError(t, err)
		require.Equal(t, []string{b1[1]}, list(t, flow.RunFilter{EventID: run.EventID}))
	})
	t.Run("Status", func(t *testing.T) {
		t.Parallel()
		require.Equal(t, newestFirst([]string{a1[0], b2[1]}), list(t, flow.RunFilter{Status: []flow.RunStatus{flow.RunFailed}}))
		require.Equal(t, newestFirst(a2, []string{a1[0], b2[1]}),
			list(t, flow.RunFilter{Status: []flow.RunStatus{flow.RunFailed, flow.RunCompleted}}))
		require.Equal(t, newestFirst([]string{a1[0]}), list(t, flow.RunFilter{FunctionID: "list-a", Status: []flow.RunStatus{flow.RunFailed}}))
	})
	t.Run("CreatedAfterAndBefore", func(t *testing.T) {
		t.Parallel()
		ctx := testCtx(t) // not the parent's: it may run out while parallel subtests wait their turn
		second, err := c.GetRun(ctx, a2[0])
		require.NoError(t, err)
		first, err := c.GetRun(ctx, b1[0])
		require.NoError(t, err)
		require.True(t, second.CreatedAt.After(first.CreatedAt), "the batches were created in distinct instants")
		require.Equal(t, newestFirst(a2, b2), list(t, flow.RunFilter{CreatedAfter: second.CreatedAt}))
		require.Equal(t, newestFirst(a1, b1), list(t, flow.RunFilter{CreatedBefore: second.CreatedAt}))
		require.Equal(t, newestFirst(b1), list(t, flow.RunFilter{CreatedAfter: first.CreatedAt, CreatedBefore: second.CreatedAt, FunctionID: "list-b"}))
		require.Empty(t, list(t, flow.RunFilter{CreatedAfter: time.Now().Add(time.Hour)}))
		require.Empty(t, list(t, flow.RunFilter{CreatedBefore: time.Now().Add(-time.Hour)}))
	})
	t.Run("BeforeAndLimit", func(t *testing.T) {
		t.Parallel()
		ids := listIDs(all)
		require.Equal(t, ids[:3], list(t, flow.RunFilter{Limit: 3}))
		require.Equal(t, ids[5:], list(t, flow.RunFilter{Before: ids[4]}))
		require.Empty(t, list(t, flow.RunFilter{Before: ids[9]}))
		// A filter pages too: list-a's runs two at a time.
		pages := pageAll(t, c, flow.RunFilter{FunctionID: "list-a", Limit: 2})
		want := newestFirst(a1, a2)
		require.Equal(t, [][]string{want[:2], want[2:4], want[4:]}, pages)
	})
	t.Run("OutputAndEventName", func(t *testing.T) {
		t.Parallel()
		ctx := testCtx(t) // not the parent's: it may run out while parallel subtests wait their turn
		runs, err := c.ListRuns(ctx, flow.RunFilter{Status: []flow.RunStatus{flow.RunCompleted}})
		require.NoError(t, err)
		require.Len(t, runs, 3)
		for _, r := range runs {
			require.JSONEq(t, `{"ok":true}`, string(r.Output), "ListRuns returns outputs")
			require.Equal(t, "list/a", r.EventName)
			require.Nil(t, r.Steps)
		}
		runs, err = c.ListRuns(ctx, flow.RunFilter{Status: []flow.RunStatus{flow.RunCompleted}, OmitOutput: true})
		require.NoError(t, err)
		require.Len(t, runs, 3)
		for _, r := range runs {
			require.Nil(t, r.Output, "OmitOutput leaves outputs out")
			require.Equal(t, "list/a", r.EventName)
		}
		failed, err := c.ListRuns(ctx, flow.RunFilter{FunctionID: "list-b", Status: []flow.RunStatus{flow.RunFailed}})
		require.NoError(t, err)
		require.Len(t, failed, 1)
		require.Equal(t, "boom", failed[0].Error)
		require.Equal(t, "list/b", failed[0].EventName)
	})
}

// TestListRunsPageIsListRuns checks that the deprecated ListRunsPage gives
// the rows, event names and cursors of ListRuns with the same filters.
func TestListRunsPageIsListRuns(t *testing.T) {
	t.Parallel()
	c, pool := listClient(t)
	ctx := testCtx(t)
	sendRuns(t, c, "list/a", 40)
	runNextMilli()
	sendRuns(t, c, "list/b", 30)
	_, err := pool.Exec(ctx, `UPDATE flow_run SET status = 'completed', output = '1' WHERE function_id = 'list-b'`)
	require.NoError(t, err)
	newest, err := c.ListRuns(ctx, flow.RunFilter{Limit: 1})
	require.NoError(t, err)

	queries := []flow.RunQuery{
		{},
		{Limit: 7},
		{FunctionID: "list-a", Limit: 15},
		{Status: []flow.RunStatus{flow.RunCompleted}, Limit: 8},
		{CreatedAfter: newest[0].CreatedAt, Limit: 9},
		{CreatedBefore: newest[0].CreatedAt, Limit: 11},
		{EventID: newest[0].EventID},
	}
	for _, q := range queries {
		f := flow.RunFilter{
			FunctionID: q.FunctionID, EventID: q.EventID, Status: q.Status,
			CreatedAfter: q.CreatedAfter, CreatedBefore: q.CreatedBefore,
			Limit: q.Limit, OmitOutput: true,
		}
		if f.Limit == 0 {
			f.Limit = 50 // ListRunsPage's default page
		}
		pages := 0
		for {
			page, err := c.ListRunsPage(ctx, q)
			require.NoError(t, err)
			runs, err := c.ListRuns(ctx, f)
			require.NoError(t, err)
			require.Equal(t, len(runs), len(page.Runs), "query %+v", q)
			for i, r := range runs {
				require.Equal(t, *r, page.Runs[i].Run, "query %+v", q)
				require.Equal(t, r.EventName, page.Runs[i].EventName)
				require.NotEmpty(t, page.Runs[i].EventName)
				require.Nil(t, page.Runs[i].Output, "ListRunsPage leaves outputs out")
			}
			require.Equal(t, runs.Next(), page.Next, "query %+v", q)
			pages++
			if page.Next == "" {
				break
			}
			q.Before, f.Before = page.Next, page.Next
		}
		require.Positive(t, pages)
	}

	// ListRunsPage's default page is 50 runs; ListRuns' is 100.
	page, err := c.ListRunsPage(ctx, flow.RunQuery{})
	require.NoError(t, err)
	require.Len(t, page.Runs, 50)
	require.NotEmpty(t, page.Next)
	runs, err := c.ListRuns(ctx, flow.RunFilter{})
	require.NoError(t, err)
	require.Len(t, runs, 70)
	require.Empty(t, runs.Next())
}
