package flow_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
)

// storeTheirs stores a completed step stepID with output "theirs" for a run,
// as another writer would, behind the segment's back.
func storeTheirs(ctx context.Context, pool *pgxpool.Pool, runID, stepID string) error {
	_, err := pool.Exec(ctx, `INSERT INTO flow_step (run_id, id, seq, kind, status, attempts, output, started_at, ended_at)
		VALUES ($1, $2, 1000, 'run', 'completed', 1, '"theirs"', now(), now())`, runID, stepID)
	return err
}

// A completed step's stored result never changes: every way a segment writes
// a step row refuses to replace a final one, and the run fails loudly.
func TestStepStoreRefusesToReplaceFinalStep(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	handlers := map[string]func(ctx context.Context, runID string) (any, error){
		// A completed step, stored with others' (group commit).
		"step": func(ctx context.Context, runID string) (any, error) {
			return flow.Step(ctx, "x", func(ctx context.Context) (string, error) {
				return "mine", storeTheirs(ctx, pool, runID, "x")
			})
		},
		// A completed step stored with a replayed sleep's end (in one
		// fenced transaction).
		"after-sleep": func(ctx context.Context, runID string) (any, error) {
			if err := flow.Sleep(ctx, "nap", time.Millisecond); err != nil {
				return nil, err
			}
			return flow.Step(ctx, "x", func(ctx context.Context) (string, error) {
				return "mine", storeTheirs(ctx, pool, runID, "x")
			})
		},
		// A step that failed for good, stored on its own.
		"step-failed": func(ctx context.Context, runID string) (any, error) {
			return flow.Step(ctx, "x", func(ctx context.Context) (string, error) {
				if err := storeTheirs(ctx, pool, runID, "x"); err != nil {
					return "", err
				}
				return "", flow.NonRetriable(errors.New("mine failed"))
			})
		},
		// A StepTx's result, in the step's own transaction.
		"steptx": func(ctx context.Context, runID string) (any, error) {
			return flow.StepTx(ctx, "x", func(ctx context.Context, tx pgx.Tx) (string, error) {
				if _, err := tx.Exec(ctx, `INSERT INTO steptx_effect VALUES (1)`); err != nil {
					return "", err
				}
				return "mine", storeTheirs(ctx, pool, runID, "x")
			})
		},
		// A sleep's row, in the suspending transaction.
		"sleep": func(ctx context.Context, runID string) (any, error) {
			if _, err := flow.Step(ctx, "pre", func(ctx context.Context) (int, error) {
				return 1, storeTheirs(ctx, pool, runID, "x")
			}); err != nil {
				return nil, err
			}
			return nil, flow.Sleep(ctx, "x", 10*time.Millisecond)
		},
		// A retry's errored row, in the suspending transaction.
		"step-errored": func(ctx context.Context, runID string) (any, error) {
			return flow.Step(ctx, "x", func(ctx context.Context) (string, error) {
				if err := storeTheirs(ctx, pool, runID, "x"); err != nil {
					return "", err
				}
				return "", errors.New("mine failed, retry me")
			})
		},
	}
	var entered counter
	ctx := testCtx(t)
	_, err := pool.Exec(ctx, `CREATE TABLE steptx_effect (n int)`)
	require.NoError(t, err)
	c := flowtest.ClientOn(t, pool, testConfig(), func(c *flow.Client) {
		for name, h := range handlers {
			_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: name}, flow.EventTrigger("test/final-"+name),
				func(ctx context.Context, in flow.Input[any]) (any, error) {
					entered.add(name)
					return h(ctx, in.RunID)
				})
			require.NoError(t, err)
		}
	})

	for name := range handlers {
		ids := sendOne(t, c, flow.Event{Name: "test/final-" + name})
		run := awaitRun(t, c, ids[0], 30*time.Second)
		require.Equal(t, flow.RunFailed, run.Status, "%s: a refused write fails the run; error: %s", name, run.Error)
		require.Contains(t, run.Error, `step "x"`, name)
		require.Contains(t, run.Error, "refusing to replace", name)
		st := stepByID(t, run, "x")
		require.Equal(t, "completed", st.Status, name)
		require.JSONEq(t, `"theirs"`, string(st.Output), "%s: the stored result must not change", name)
		segments := 1
		if name == "after-sleep" {
			segments = 2
		}
		require.Equal(t, segments, entered.get(name), name)
	}
	var effects int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM steptx_effect`).Scan(&effects))
	require.Zero(t, effects, "the refused StepTx's own writes roll back with it")
}

// A step result Postgres refuses to store (jsonb has no \u0000) fails the
// step with the database's message, at once: the body never runs again.
func TestStepOutputPostgresRefusesFailsStepOnce(t *testing.T) {
	t.Parallel()
	var calls, others atomic.Int32
	var stepErr atomic.Pointer[flow.StepError]

	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "nul-output"}, flow.EventTrigger("test/nul-output"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				_, err := flow.Step(ctx, "nul", func(ctx context.Context) (map[string]string, error) {
					calls.Add(1)
					return map[string]string{"s": "a\x00b"}, nil
				})
				var se *flow.StepError
				if errors.As(err, &se) {
					stepErr.Store(se)
				}
				return nil, err
			})
		require.NoError(t, err)
		// Good runs whose steps complete alongside: a bad row in a shared
		// (group commit) statement must not fail them.
		_, err = flow.CreateFunction(c, flow.FunctionOpts{ID: "good-output"}, flow.EventTrigger("test/good-output"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				return flow.Step(ctx, "good", func(ctx context.Context) (string, error) {
					others.Add(1)
					return "fine", nil
				})
			})
		require.NoError(t, err)
	})

	evs := []flow.Event{{Name: "test/nul-output"}}
	for range 30 {
		evs = append(evs, flow.Event{Name: "test/good-output"})
	}
	ctx := testCtx(t)
	ids, err := c.Send(ctx, evs...)
	require.NoError(t, err)
	var bad string
	var good []string
	for i, id := range ids {
		runs, err := c.ListRuns(ctx, flow.RunFilter{EventID: id})
		require.NoError(t, err)
		require.Len(t, runs, 1)
		if i == 0 {
			bad = runs[0].ID
		} else {
			good = append(good, runs[0].ID)
		}
	}
	run := awaitRun(t, c, bad, 30*time.Second)
	require.Equal(t, flow.RunFailed, run.Status, run.Error)
	require.EqualValues(t, 1, calls.Load(), "the step body must not run again")
	se := stepErr.Load()
	require.NotNil(t, se, "the function gets a *StepError")
	require.Contains(t, se.Message, "\\u0000", "the database's message")
	st := stepByID(t, run, "nul")
	require.Equal(t, "failed", st.Status)
	require.Contains(t, st.Error, "\\u0000")
	require.Contains(t, run.Error, "\\u0000")
	for _, id := range good {
		run := awaitRun(t, c, id, 30*time.Second)
		require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	}
	require.EqualValues(t, len(good), others.Load(), "each good step runs once")
}

// Text Postgres cannot store in an error message (NUL, invalid UTF-8) or a
// function output it refuses must fail the run once, with a readable error,
// never loop.
func TestUnstorableErrorAndOutputFailRunOnce(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	var child *flow.Function // created with the client, before any handler runs
	var entered counter
	handlers := map[string]func(ctx context.Context) (any, error){
		"send-data": func(ctx context.Context) (any, error) {
			return flow.SendEvent(ctx, "send", flow.Event{Name: "test/never", Data: map[string]string{"s": "nul\x00"}})
		},
		"invoke-data": func(ctx context.Context) (any, error) {
			return flow.Invoke[string](ctx, "invoke", child, map[string]string{"s": "nul\x00"}, flow.InvokeOpts{})
		},
		"step-error": func(ctx context.Context) (any, error) {
			return flow.Step(ctx, "s", func(ctx context.Context) (int, error) {
				return 0, flow.NonRetriable(errors.New("nul\x00 and \xff"))
			})
		},
		"step-error-retried": func(ctx context.Context) (any, error) {
			return flow.Step(ctx, "s", func(ctx context.Context) (int, error) {
				return 0, errors.New("nul\x00 and \xff")
			})
		},
		"function-error": func(ctx context.Context) (any, error) {
			return nil, flow.NonRetriable(errors.New("nul\x00 and \xff"))
		},
		"function-output": func(ctx context.Context) (any, error) {
			return map[string]string{"s": "nul\x00"}, nil
		},
	}
	c := flowtest.ClientOn(t, pool, testConfig(), func(c *flow.Client) {
		var err error
		child, err = flow.CreateFunction(c, flow.FunctionOpts{ID: "child"}, flow.EventTrigger("test/never"),
			func(ctx context.Context, in flow.Input[any]) (any, error) { return "child", nil })
		require.NoError(t, err)
		for name, h := range handlers {
			_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: name, Retries: flow.Ptr(1)}, flow.EventTrigger("test/unstorable-"+name),
				func(ctx context.Context, in flow.Input[any]) (any, error) {
					entered.add(name)
					return h(ctx)
				})
			require.NoError(t, err)
		}
	})

	for name := range handlers {
		ids := sendOne(t, c, flow.Event{Name: "test/unstorable-" + name})
		run := awaitRun(t, c, ids[0], 30*time.Second)
		require.Equal(t, flow.RunFailed, run.Status, "%s: %s", name, run.Error)
		require.NotContains(t, run.Error, "\x00", name)
		require.True(t, strings.ToValidUTF8(run.Error, "?") == run.Error, name)
		switch name {
		case "function-output", "send-data", "invoke-data":
			require.Contains(t, run.Error, "\\u0000", name)
			require.Equal(t, 1, entered.get(name), name)
		case "step-error-retried":
			require.Contains(t, run.Error, "nul", name)
			require.Equal(t, 2, entered.get(name), name)
		default:
			require.Contains(t, run.Error, "nul", name)
			require.Equal(t, 1, entered.get(name), name)
		}
	}
}
