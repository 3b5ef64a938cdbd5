package flow_test

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
)

type sysevData struct {
	ID    string `json:"id"`
	Fail  bool   `json:"fail,omitempty"`
	Sleep bool   `json:"sleep,omitempty"`
}

// sysevStored is a system event as stored.
type sysevStored struct {
	ID   string
	Name string
	Data flow.RunEnded
}

// sysevEventsAbout returns the stored system events about a run, by name.
func sysevEventsAbout(t *testing.T, pool *pgxpool.Pool, runID string) map[string][]sysevStored {
	t.Helper()
	rows, err := pool.Query(testCtx(t), `SELECT id::text, name, data FROM flow_event
		WHERE name LIKE 'flow/function.%' AND data->>'run_id' = $1 ORDER BY received_at, id`, runID)
	require.NoError(t, err)
	defer rows.Close()
	out := map[string][]sysevStored{}
	for rows.Next() {
		var ev sysevStored
		var data []byte
		require.NoError(t, rows.Scan(&ev.ID, &ev.Name, &data))
		require.NoError(t, json.Unmarshal(data, &ev.Data), "data of %s: %s", ev.Name, data)
		out[ev.Name] = append(out[ev.Name], ev)
	}
	require.NoError(t, rows.Err())
	return out
}

// sysevEventsOfFunction counts the stored system events about runs of a
// function.
func sysevEventsOfFunction(t *testing.T, pool *pgxpool.Pool, functionID string) int {
	t.Helper()
	var n int
	require.NoError(t, pool.QueryRow(testCtx(t), `SELECT count(*) FROM flow_event
		WHERE name LIKE 'flow/function.%' AND data->>'function_id' = $1`, functionID).Scan(&n))
	return n
}

// sysevNames returns the names of events by name, sorted, with repeats.
func sysevNames(evs map[string][]sysevStored) []string {
	var out []string
	for name, list := range evs {
		for range list {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// sysevRuns returns the runs of a function, waiting for each to end.
func sysevRuns(t *testing.T, c *flow.Client, functionID string) []*flow.Run {
	t.Helper()
	ctx := testCtx(t)
	runs, err := c.ListRuns(ctx, flow.RunFilter{FunctionID: functionID})
	require.NoError(t, err)
	out := make([]*flow.Run, len(runs))
	for i, r := range runs {
		out[i], err = c.AwaitRun(ctx, r.ID)
		require.NoError(t, err)
	}
	return out
}

// sysevTrigger returns a run's triggering event as stored.
func sysevTrigger(t *testing.T, pool *pgxpool.Pool, run *flow.Run) (name string, data json.RawMessage) {
	t.Helper()
	require.NoError(t, pool.QueryRow(testCtx(t), `SELECT name, data FROM flow_event WHERE id = $1`, run.EventID).Scan(&name, &data))
	return name, data
}

// sysevCheckEnded checks the RunEnded data of a system event about run.
func sysevCheckEnded(t *testing.T, pool *pgxpool.Pool, run *flow.Run, got flow.RunEnded) {
	t.Helper()
	require.Equal(t, run.FunctionID, got.FunctionID)
	require.Equal(t, run.ID, got.RunID)
	require.Equal(t, run.Status, got.Status)
	require.Equal(t, run.Error, got.Error)
	if len(run.Output) > 0 {
		require.JSONEq(t, string(run.Output), string(got.Output))
	} else {
		require.Empty(t, got.Output)
	}
	name, data := sysevTrigger(t, pool, run)
	require.Equal(t, run.EventID, got.Event.ID)
	require.Equal(t, name, got.Event.Name)
	require.JSONEq(t, string(data), string(got.Event.Data))
	require.False(t, got.Event.TS.IsZero())
}

func TestSystemEventsOnRunEnd(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	c := flowtest.ClientOn(t, pool, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "sysev-end", Retries: flow.Ptr(0)}, flow.EventTrigger("sysev/run"),
			func(ctx context.Context, in flow.Input[sysevData]) (any, error) {
				switch {
				case in.Event.Data.Fail:
					return nil, errors.New("boom " + in.Event.Data.ID)
				case in.Event.Data.Sleep:
					if err := flow.Sleep(ctx, "nap", time.Minute); err != nil {
						return nil, err
					}
				}
				return map[string]any{"x": 1, "id": in.Event.Data.ID}, nil
			})
		require.NoError(t, err)
		// flow/function.finished is stored while something listens for it.
		_, err = flow.CreateFunction(c, flow.FunctionOpts{ID: "sysev-listener"},
			flow.EventTrigger(flow.EventFunctionFinished).If(`event.data.function_id == "nobody"`),
			func(ctx context.Context, in flow.Input[flow.RunEnded]) (any, error) { return nil, nil })
		require.NoError(t, err)
	})
	ctx := testCtx(t)

	completed := awaitOnly(t, c, flow.Event{Name: "sysev/run", Data: sysevData{ID: "ok"}})
	require.Equal(t, flow.RunCompleted, completed.Status, completed.Error)
	evs := sysevEventsAbout(t, pool, completed.ID)
	require.Equal(t, []string{flow.EventFunctionFinished}, sysevNames(evs))
	sysevCheckEnded(t, pool, completed, evs[flow.EventFunctionFinished][0].Data)
	require.JSONEq(t, `{"x":1,"id":"ok"}`, string(evs[flow.EventFunctionFinished][0].Data.Output))

	failed := awaitOnly(t, c, flow.Event{Name: "sysev/run", Data: sysevData{ID: "bad", Fail: true}})
	require.Equal(t, flow.RunFailed, failed.Status)
	require.Contains(t, failed.Error, "boom bad")
	evs = sysevEventsAbout(t, pool, failed.ID)
	require.Equal(t, []string{flow.EventFunctionFailed, flow.EventFunctionFinished}, sysevNames(evs))
	for _, list := range evs {
		sysevCheckEnded(t, pool, failed, list[0].Data)
	}

	sleeper := sendOne(t, c, flow.Event{Name: "sysev/run", Data: sysevData{ID: "nap", Sleep: true}})[0]
	cancelUntilStatus(t, c, sleeper, flow.RunSleeping)
	require.Empty(t, sysevEventsAbout(t, pool, sleeper), "a run that has not ended has system events")
	ok, err := c.CancelRun(ctx, sleeper)
	require.NoError(t, err)
	require.True(t, ok)
	cancelled := cancelAwait(t, c, sleeper, flow.RunCancelled)
	evs = sysevEventsAbout(t, pool, sleeper)
	require.Equal(t, []string{flow.EventFunctionCancelled, flow.EventFunctionFinished}, sysevNames(evs))
	for _, list := range evs {
		sysevCheckEnded(t, pool, cancelled, list[0].Data)
	}

	// Applications cannot send them.
	_, err = c.Send(ctx, flow.Event{Name: flow.EventFunctionFinished, Data: flow.RunEnded{RunID: completed.ID}})
	require.ErrorIs(t, err, flow.ErrInvalidEvent)
}

func TestSystemEventsTriggerFunctions(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	var mu sync.Mutex
	watched := map[string][]flow.RunEnded{} // watcher function -> the events its runs got
	watcher := func(id string) func(ctx context.Context, in flow.Input[flow.RunEnded]) (any, error) {
		return func(ctx context.Context, in flow.Input[flow.RunEnded]) (any, error) {
			if in.Event.Name != flow.EventFunctionFinished {
				return nil, flow.NonRetriable(errors.New("unexpected event " + in.Event.Name))
			}
			mu.Lock()
			watched[id] = append(watched[id], in.Event.Data)
			mu.Unlock()
			return in.Event.Data.RunID, nil
		}
	}

	c := flowtest.ClientOn(t, pool, testConfig(), func(c *flow.Client) {
		for _, id := range []string{"sysev-x", "sysev-y"} {
			_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: id}, flow.EventTrigger(id+"/go"),
				func(ctx context.Context, in flow.Input[sysevData]) (any, error) { return in.Event.Data.ID, nil })
			require.NoError(t, err)
		}
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "sysev-watch-x"},
			flow.EventTrigger(flow.EventFunctionFinished).If(`event.data.function_id == "sysev-x"`), watcher("sysev-watch-x"))
		require.NoError(t, err)
		// A watcher of every run's end: if its own runs sent system events, it
		// would trigger itself forever.
		_, err = flow.CreateFunction(c, flow.FunctionOpts{ID: "sysev-watch-all"},
			flow.EventTrigger(flow.EventFunctionFinished), watcher("sysev-watch-all"))
		require.NoError(t, err)
	})

	x := awaitOnly(t, c, flow.Event{Name: "sysev-x/go", Data: sysevData{ID: "x1"}})
	require.Equal(t, flow.RunCompleted, x.Status, x.Error)
	y := awaitOnly(t, c, flow.Event{Name: "sysev-y/go", Data: sysevData{ID: "y1"}})
	require.Equal(t, flow.RunCompleted, y.Status, y.Error)

	// The watchers' runs start in the transaction that ends the watched run.
	watchX := sysevRuns(t, c, "sysev-watch-x")
	require.Len(t, watchX, 1, "the filtered watcher runs for sysev-x's runs only")
	require.Equal(t, flow.RunCompleted, watchX[0].Status, watchX[0].Error)
	require.JSONEq(t, `"`+x.ID+`"`, string(watchX[0].Output))
	watchAll := sysevRuns(t, c, "sysev-watch-all")
	require.Len(t, watchAll, 2, "the unfiltered watcher runs once per watched run, and not for watchers' runs")
	var outputs []string
	for _, r := range watchAll {
		require.Equal(t, flow.RunCompleted, r.Status, r.Error)
		var s string
		require.NoError(t, r.DecodeOutput(&s))
		outputs = append(outputs, s)
	}
	require.ElementsMatch(t, []string{x.ID, y.ID}, outputs)

	mu.Lock()
	require.Len(t, watched["sysev-watch-x"], 1)
	sysevCheckEnded(t, pool, x, watched["sysev-watch-x"][0])
	mu.Unlock()

	// No loop: the watchers' own ends sent no system events and started no
	// runs.
	require.Equal(t, 0, sysevEventsOfFunction(t, pool, "sysev-watch-x"))
	require.Equal(t, 0, sysevEventsOfFunction(t, pool, "sysev-watch-all"))
	require.Len(t, sysevRuns(t, c, "sysev-watch-x"), 1)
	require.Len(t, sysevRuns(t, c, "sysev-watch-all"), 2)
}

func TestOnFailure(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	var mu sync.Mutex
	calls := map[string][]flow.Input[flow.RunEnded]{} // failed run ID -> OnFailure calls

	c := flowtest.ClientOn(t, pool, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{
			ID:      "sysev-onfail",
			Retries: flow.Ptr(0),
			OnFailure: func(ctx context.Context, in flow.Input[flow.RunEnded]) (any, error) {
				mu.Lock()
				calls[in.Event.Data.RunID] = append(calls[in.Event.Data.RunID], in)
				mu.Unlock()
				return "handled " + in.Event.Data.RunID, nil
			},
		}, flow.EventTrigger("sysev/onfail"),
			func(ctx context.Context, in flow.Input[sysevData]) (any, error) {
				switch {
				case in.Event.Data.Fail:
					return nil, errors.New("boom " + in.Event.Data.ID)
				case in.Event.Data.Sleep:
					if err := flow.Sleep(ctx, "nap", time.Minute); err != nil {
						return nil, err
					}
				}
				return "fine", nil
			})
		require.NoError(t, err)
	})
	ctx := testCtx(t)

	fail1 := awaitOnly(t, c, flow.Event{Name: "sysev/onfail", Data: sysevData{ID: "f1", Fail: true}})
	require.Equal(t, flow.RunFailed, fail1.Status)
	fail2 := awaitOnly(t, c, flow.Event{Name: "sysev/onfail", Data: sysevData{ID: "f2", Fail: true}})
	require.Equal(t, flow.RunFailed, fail2.Status)
	ok := awaitOnly(t, c, flow.Event{Name: "sysev/onfail", Data: sysevData{ID: "ok"}})
	require.Equal(t, flow.RunCompleted, ok.Status, ok.Error)
	napper := sendOne(t, c, flow.Event{Name: "sysev/onfail", Data: sysevData{ID: "nap", Sleep: true}})[0]
	cancelUntilStatus(t, c, napper, flow.RunSleeping)
	cancelled, err := c.CancelRun(ctx, napper)
	require.NoError(t, err)
	require.True(t, cancelled)
	cancelAwait(t, c, napper, flow.RunCancelled)

	// One failure run per failed run, none for the completed or cancelled
	// ones (their ends start runs in the ending transaction).
	handlers := sysevRuns(t, c, "sysev-onfail-failure")
	require.Len(t, handlers, 2)
	var outputs []string
	for _, r := range handlers {
		require.Equal(t, flow.RunCompleted, r.Status, r.Error)
		var s string
		require.NoError(t, r.DecodeOutput(&s))
		outputs = append(outputs, s)
	}
	require.ElementsMatch(t, []string{"handled " + fail1.ID, "handled " + fail2.ID}, outputs)

	mu.Lock()
	defer mu.Unlock()
	require.Len(t, calls, 2, "OnFailure calls: %v", calls)
	for _, failed := range []*flow.Run{fail1, fail2} {
		require.Len(t, calls[failed.ID], 1, "OnFailure runs once per failed run")
		in := calls[failed.ID][0]
		require.Equal(t, flow.EventFunctionFailed, in.Event.Name)
		sysevCheckEnded(t, pool, failed, in.Event.Data)
		require.Equal(t, flow.RunFailed, in.Event.Data.Status)
		require.Contains(t, in.Event.Data.Error, "boom")
		var trigger sysevData
		require.NoError(t, json.Unmarshal(in.Event.Data.Event.Data, &trigger))
		require.True(t, trigger.Fail)
	}
}

func TestOnFailureHandlerFails(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	var mu sync.Mutex
	var calls []string

	c := flowtest.ClientOn(t, pool, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{
			ID:      "sysev-onfail2",
			Retries: flow.Ptr(0),
			OnFailure: func(ctx context.Context, in flow.Input[flow.RunEnded]) (any, error) {
				mu.Lock()
				calls = append(calls, in.Event.Data.RunID)
				mu.Unlock()
				return nil, errors.New("the failure handler broke")
			},
		}, flow.EventTrigger("sysev/onfail2"),
			func(ctx context.Context, in flow.Input[sysevData]) (any, error) {
				return nil, errors.New("boom")
			})
		require.NoError(t, err)
	})
	ctx := testCtx(t)

	failed := awaitOnly(t, c, flow.Event{Name: "sysev/onfail2", Data: sysevData{ID: "f"}})
	require.Equal(t, flow.RunFailed, failed.Status)
	handlers := sysevRuns(t, c, "sysev-onfail2-failure")
	require.Len(t, handlers, 1)
	require.Equal(t, flow.RunFailed, handlers[0].Status)
	require.Contains(t, handlers[0].Error, "the failure handler broke")

	// The failed handler run started nothing more.
	require.Equal(t, 0, sysevEventsOfFunction(t, pool, "sysev-onfail2-failure"))
	all, err := c.ListRuns(ctx, flow.RunFilter{})
	require.NoError(t, err)
	require.Len(t, all, 2, "runs: the failed run and its one failure run")
	require.Len(t, sysevRuns(t, c, "sysev-onfail2-failure"), 1)
	mu.Lock()
	require.Equal(t, []string{failed.ID}, calls)
	mu.Unlock()
}

func TestSystemEventsFinishedOnlyWhenListened(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	c := flowtest.ClientOn(t, pool, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "sysev-quiet", Retries: flow.Ptr(0)}, flow.EventTrigger("sysev/quiet"),
			func(ctx context.Context, in flow.Input[sysevData]) (any, error) {
				if in.Event.Data.Fail {
					return nil, errors.New("boom")
				}
				return "ok", nil
			})
		require.NoError(t, err)
	})

	completed := awaitOnly(t, c, flow.Event{Name: "sysev/quiet", Data: sysevData{ID: "ok"}})
	require.Equal(t, flow.RunCompleted, completed.Status)
	require.Empty(t, sysevNames(sysevEventsAbout(t, pool, completed.ID)), "nobody listens for flow/function.finished")

	failed := awaitOnly(t, c, flow.Event{Name: "sysev/quiet", Data: sysevData{ID: "bad", Fail: true}})
	require.Equal(t, flow.RunFailed, failed.Status)
	require.Equal(t, []string{flow.EventFunctionFailed}, sysevNames(sysevEventsAbout(t, pool, failed.ID)),
		"failures are always stored")
}
