package flow_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
)

// The bad-input table of the public API (cmd/flow and flowui have their own
// parts): every case is a clear error that names the problem, wraps the
// sentinel where there is one, is never a raw Postgres error, and leaves
// nothing half-stored; a bad event under SendTx leaves the caller's
// transaction usable.

// badEvents are events that Send and SendTx must refuse before any SQL.
var badEvents = []struct {
	name    string
	ev      flow.Event
	is      error
	mention string
}{
	{"empty name", flow.Event{Name: ""}, flow.ErrInvalidEvent, "empty event name"},
	{"space in name", flow.Event{Name: "bad ok"}, flow.ErrInvalidEvent, "space"},
	{"NUL in name", flow.Event{Name: "bad/\x00ok"}, flow.ErrInvalidEvent, "unprintable"},
	{"invalid UTF-8 in name", flow.Event{Name: "bad/\xffok"}, flow.ErrInvalidEvent, "not valid UTF-8"},
	{"name too long", flow.Event{Name: "bad/" + strings.Repeat("x", 300)}, flow.ErrInvalidEvent, "over the limit of 256"},
	{"reserved name", flow.Event{Name: "flow/function.finished"}, flow.ErrInvalidEvent, "reserved"},
	{"wildcard name", flow.Event{Name: "bad/*"}, flow.ErrInvalidEvent, "wildcards are for triggers"},
	{"NUL in ID", flow.Event{ID: "order\x001", Name: "bad/ok"}, flow.ErrInvalidEvent, "NUL"},
	{"invalid UTF-8 in ID", flow.Event{ID: "order\xc3\x28", Name: "bad/ok"}, flow.ErrInvalidEvent, "ID"},
	{"ID too long", flow.Event{ID: strings.Repeat("i", 257), Name: "bad/ok"}, flow.ErrInvalidEvent, "ID is 257 bytes"},
	{"NUL in a data string", flow.Event{Name: "bad/ok", Data: map[string]any{"note": "a\x00b"}}, flow.ErrInvalidEvent, "NUL"},
	{"NUL in a data key", flow.Event{Name: "bad/ok", Data: map[string]int{"k\x00": 1}}, flow.ErrInvalidEvent, "NUL"},
	{"NUL deep in data", flow.Event{Name: "bad/ok", Data: []any{1, map[string]any{"x": []string{"ok", "\x00"}}}}, flow.ErrInvalidEvent, "NUL"},
	{"invalid UTF-8 in a data string", flow.Event{Name: "bad/ok", Data: map[string]string{"s": "caf\xe9"}}, flow.ErrInvalidEvent, "not valid UTF-8"},
	{"raw JSON with invalid UTF-8", flow.Event{Name: "bad/ok", Data: json.RawMessage("{\"s\":\"caf\xe9\"}")}, flow.ErrInvalidEvent, "invalid UTF-8"},
	{`raw JSON with \u0000`, flow.Event{Name: "bad/ok", Data: json.RawMessage(`{"s":"a\u0000"}`)}, flow.ErrInvalidEvent, "NUL"},
	{"raw JSON with a lone surrogate", flow.Event{Name: "bad/ok", Data: json.RawMessage(`["\ud800"]`)}, flow.ErrInvalidEvent, "surrogate"},
	{"raw JSON number too large", flow.Event{Name: "bad/ok", Data: json.RawMessage(`{"n":1e999999}`)}, flow.ErrInvalidEvent, "numeric"},
	{"raw JSON number too precise", flow.Event{Name: "bad/ok", Data: json.RawMessage(`{"n":1.5e-16383}`)}, flow.ErrInvalidEvent, "numeric"},
	{"raw JSON not JSON", flow.Event{Name: "bad/ok", Data: json.RawMessage(`{"n":`)}, flow.ErrInvalidEvent, "JSON"},
	{"data not encodable", flow.Event{Name: "bad/ok", Data: make(chan int)}, flow.ErrInvalidEvent, "JSON"},
	{"TS after year 9999", flow.Event{Name: "bad/ok", TS: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}, flow.ErrInvalidEvent, "TS"},
	{"TS before year 1", flow.Event{Name: "bad/ok", TS: time.Date(0, 12, 31, 0, 0, 0, 0, time.UTC)}, flow.ErrInvalidEvent, "TS"},
	{"TS far beyond timestamptz", flow.Event{Name: "bad/ok", TS: time.Date(300000, 1, 1, 0, 0, 0, 0, time.UTC)}, flow.ErrInvalidEvent, "TS"},
	{"too large", flow.Event{Name: "bad/ok", Data: strings.Repeat("x", 2000)}, flow.ErrEventTooLarge, "MaxEventBytes"},
}

// badSetup is a started client with a function on "bad/ok", and a table
// for the caller's own writes.
func badSetup(t *testing.T) (*flow.Client, *pgxpool.Pool) {
	t.Helper()
	pool := flowtest.Pool(t)
	cfg := testConfig()
	cfg.MaxEventBytes = 1024
	c := flowtest.ClientOn(t, pool, cfg, func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "bad-input"}, flow.EventTrigger("bad/ok"),
			func(ctx context.Context, in flow.Input[any]) (any, error) { return nil, nil })
		require.NoError(t, err)
	})
	_, err := pool.Exec(testCtx(t), "CREATE TABLE caller_write (label text NOT NULL)")
	require.NoError(t, err)
	return c, pool
}

// badStored counts what sends leave behind: events, runs and River jobs.
func badStored(t *testing.T, pool *pgxpool.Pool) (events, runs, jobs int) {
	t.Helper()
	require.NoError(t, pool.QueryRow(testCtx(t), `SELECT (SELECT count(*) FROM flow_event), (SELECT count(*) FROM flow_run),
		(SELECT count(*) FROM river_job WHERE kind = 'flow_run')`).Scan(&events, &runs, &jobs))
	return events, runs, jobs
}

// requireBadInput checks an error of the table: the sentinel, the mention,
// the prefix, and no raw Postgres error inside.
func requireBadInput(t *testing.T, err error, is error, mention string) {
	t.Helper()
	require.Error(t, err)
	if is != nil {
		require.ErrorIs(t, err, is)
	}
	require.Contains(t, err.Error(), mention)
	require.True(t, strings.HasPrefix(err.Error(), "flow: "), "no flow: prefix: %v", err)
	var pgErr *pgconn.PgError
	require.False(t, errors.As(err, &pgErr), "a raw Postgres error reached the caller: %v", err)
}

func TestBadInputEvents(t *testing.T) {
	t.Parallel()
	c, pool := badSetup(t)
	ctx := testCtx(t)
	valid := flow.Event{Name: "bad/ok", Data: map[string]any{"fine": true}}

	for _, tc := range badEvents {
		t.Run(tc.name, func(t *testing.T) {
			ids, err := c.Send(ctx, tc.ev)
			requireBadInput(t, err, tc.is, tc.mention)
			require.Nil(t, ids)
			require.Contains(t, err.Error(), "event 0")

			// All or nothing: the valid event before it is not stored.
			_, err = c.Send(ctx, valid, tc.ev)
			requireBadInput(t, err, tc.is, tc.mention)
			require.Contains(t, err.Error(), "event 1", "the error names the bad event")

			// Under SendTx the caller's transaction goes on: it runs its
			// statements and commits its own writes, without the events.
			tx, err := pool.Begin(ctx)
			require.NoError(t, err)
			defer func() { _ = tx.Rollback(ctx) }()
			_, err = tx.Exec(ctx, "INSERT INTO caller_write (label) VALUES ($1)", tc.name+" before")
			require.NoError(t, err)
			_, err = c.SendTx(ctx, tx, valid, tc.ev)
			requireBadInput(t, err, tc.is, tc.mention)
			_, err = tx.Exec(ctx, "INSERT INTO caller_write (label) VALUES ($1)", tc.name+" after")
			require.NoError(t, err, "the caller's transaction is broken")
			require.NoError(t, tx.Commit(ctx))
			var n int
			require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM caller_write WHERE starts_with(label, $1)", tc.name).Scan(&n))
			require.Equal(t, 2, n, "the caller's writes were not committed")

			events, runs, jobs := badStored(t, pool)
			require.Zero(t, events+runs+jobs, "half-stored: %d events, %d runs, %d jobs", events, runs, jobs)
		})
	}

	// The valid event alone is stored and starts its run.
	run := awaitOnly(t, c, valid)
	require.Equal(t, flow.RunCompleted, run.Status, run.Error)
	events, runs, _ := badStored(t, pool)
	require.Equal(t, 1, events)
	require.Equal(t, 1, runs)
}

func TestBadInputAPI(t *testing.T) {
	t.Parallel()
	c, pool := badSetup(t)
	ctx := testCtx(t)
	nop := func(ctx context.Context, in flow.Input[any]) (any, error) { return nil, nil }
	fc := newClient(t, pool, nil) // not started: it takes functions
	_, err := flow.CreateFunction(fc, flow.FunctionOpts{ID: "bad-input"}, flow.EventTrigger("bad/ok"), nop)
	require.NoError(t, err)
	create := func(opts flow.FunctionOpts, tr flow.Trigger) error {
		_, err := flow.CreateFunction(fc, opts, tr, nop)
		return err
	}
	newClientErr := func(cfg *flow.Config) error {
		_, err := flow.NewClient(pool, cfg)
		return err
	}
	const unknownRun = "00000000-0000-7000-8000-000000000000"

	for _, tc := range []struct {
		name    string
		call    func() error
		is      error
		mention string
	}{
		{"NewClient: nil pool", func() error { _, err := flow.NewClient(nil, nil); return err }, nil, "nil pool"},
		{"Config: bad queue name", func() error { return newClientErr(&flow.Config{Queue: "Not A Queue"}) }, nil, "Config.Queue"},
		{"Config: negative workers", func() error { return newClientErr(&flow.Config{Workers: -1}) }, nil, "Config.Workers"},
		{"Config: lease too short", func() error { return newClientErr(&flow.Config{LeaseTTL: time.Millisecond}) }, nil, "Config.LeaseTTL"},
		{"Config: negative MaxEventBytes", func() error { return newClientErr(&flow.Config{MaxEventBytes: -1}) }, nil, "Config.MaxEventBytes"},
		{"Config: ID too long", func() error { return newClientErr(&flow.Config{ID: strings.Repeat("c", 101)}) }, nil, "Config.ID"},
		{"CreateFunction: empty ID", func() error { return create(flow.FunctionOpts{}, flow.EventTrigger("bad/ok")) }, flow.ErrInvalidFunction, "ID"},
		{"CreateFunction: NUL in ID", func() error { return create(flow.FunctionOpts{ID: "f\x00"}, flow.EventTrigger("bad/ok")) }, flow.ErrInvalidFunction, "ID"},
		{"CreateFunction: duplicate ID", func() error { return create(flow.FunctionOpts{ID: "bad-input"}, flow.EventTrigger("bad/ok")) }, flow.ErrDuplicateFunction, `"bad-input"`},
		{"CreateFunction: nil handler", func() error {
			_, err := flow.CreateFunction[any](fc, flow.FunctionOpts{ID: "f"}, flow.EventTrigger("bad/ok"), nil)
			return err
		}, flow.ErrInvalidFunction, "nil handler"},
		{"CreateFunction: retries over 20", func() error {
			return create(flow.FunctionOpts{ID: "f", Retries: flow.Ptr(21)}, flow.EventTrigger("bad/ok"))
		}, flow.ErrInvalidFunction, "Retries"},
		{"CreateFunction: invalid UTF-8 trigger", func() error { return create(flow.FunctionOpts{ID: "f"}, flow.EventTrigger("bad/\xff")) }, flow.ErrInvalidFunction, "UTF-8"},
		{"CreateFunction: NUL in trigger", func() error { return create(flow.FunctionOpts{ID: "f"}, flow.EventTrigger("bad/\x00")) }, flow.ErrInvalidFunction, "unprintable"},
		{"CreateFunction: bad cron", func() error { return create(flow.FunctionOpts{ID: "f"}, flow.CronTrigger("every day")) }, flow.ErrInvalidFunction, "cron"},
		{"CreateFunction: TZ= without schedule", func() error { return create(flow.FunctionOpts{ID: "f"}, flow.CronTrigger("TZ=Asia/Kathmandu")) }, flow.ErrInvalidFunction, "followed by a schedule"},
		{"CreateFunction: unknown zone", func() error { return create(flow.FunctionOpts{ID: "f"}, flow.CronTrigger("TZ=Mars/Olympus 0 9 * * *")) }, flow.ErrInvalidFunction, "Mars/Olympus"},
		{"CreateFunction: bad If", func() error {
			return create(flow.FunctionOpts{ID: "f"}, flow.EventTrigger("bad/ok").If("event.data.x =="))
		}, flow.ErrInvalidFunction, "If"},
		{"CreateFunction: If on cron", func() error { return create(flow.FunctionOpts{ID: "f"}, flow.CronTrigger("@hourly").If("true")) }, flow.ErrInvalidFunction, "event triggers only"},
		{"GetRun: not an ID", func() error { _, err := c.GetRun(ctx, "run-1"); return err }, flow.ErrNotFound, "not a run ID"},
		{"GetRun: NUL", func() error { _, err := c.GetRun(ctx, "\x00"); return err }, flow.ErrNotFound, "not a run ID"},
		{"GetRun: unknown", func() error { _, err := c.GetRun(ctx, unknownRun); return err }, flow.ErrNotFound, unknownRun},
		{"CancelRun: not an ID", func() error { _, err := c.CancelRun(ctx, "nope"); return err }, flow.ErrNotFound, "not a run ID"},
		{"AwaitRun: not an ID", func() error { _, err := c.AwaitRun(ctx, "nope"); return err }, flow.ErrNotFound, "not a run ID"},
		{"Rerun: not an ID", func() error { _, err := c.Rerun(ctx, "nope"); return err }, flow.ErrNotFound, "not a run ID"},
		{"GetEvent: invalid UTF-8", func() error { _, err := c.GetEvent(ctx, "\xff"); return err }, flow.ErrNotFound, "not an event ID"},
		{"ListRuns: NUL in FunctionID", func() error { _, err := c.ListRuns(ctx, flow.RunFilter{FunctionID: "f\x00"}); return err }, nil, "NUL"},
		{"ListRuns: EventID not an ID", func() error { _, err := c.ListRuns(ctx, flow.RunFilter{EventID: "nope"}); return err }, nil, "not an event ID"},
		{"ListRunsPage: invalid UTF-8 FunctionID", func() error { _, err := c.ListRunsPage(ctx, flow.RunQuery{FunctionID: "\xff"}); return err }, nil, "UTF-8"},
		{"ListRunsPage: unknown status", func() error {
			_, err := c.ListRunsPage(ctx, flow.RunQuery{Status: []flow.RunStatus{"bogus"}})
			return err
		}, nil, "unknown run status"},
		{"CancelRuns: empty filter", func() error { _, err := c.CancelRuns(ctx, flow.BulkFilter{}, nil); return err }, nil, "empty filter"},
		{"CancelRuns: invalid UTF-8 FunctionID", func() error {
			_, err := c.CancelRuns(ctx, flow.BulkFilter{FunctionID: "bad-\xff"}, nil)
			return err
		}, nil, "UTF-8"},
		{"ListEvents: NUL in Name", func() error { _, err := c.ListEvents(ctx, flow.EventFilter{Name: "bad/\x00"}); return err }, nil, "NUL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			requireBadInput(t, tc.call(), tc.is, tc.mention)
		})
	}
	events, runs, jobs := badStored(t, pool)
	require.Zero(t, events+runs+jobs)
}

// Data that Postgres's jsonb refuses, given to Invoke, fails the step at
// once with ErrInvalidEvent (the child's input is an event) instead of
// reaching the database; no child run starts.
func TestBadInputInvokeData(t *testing.T) {
	t.Parallel()
	var gotErr atomic.Pointer[error]

	c := flowtest.Client(t, testConfig(), func(c *flow.Client) {
		child, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "bad-child"}, flow.Triggers(),
			func(ctx context.Context, in flow.Input[any]) (any, error) { return "ran", nil })
		require.NoError(t, err)
		_, err = flow.CreateFunction(c, flow.FunctionOpts{ID: "bad-parent"}, flow.EventTrigger("bad/invoke"),
			func(ctx context.Context, in flow.Input[any]) (any, error) {
				_, err := flow.Invoke[string](ctx, "call", child, map[string]string{"note": "a\x00b"}, flow.InvokeOpts{})
				if flow.IsSuspend(err) {
					return nil, err
				}
				gotErr.Store(&err)
				return nil, err
			})
		require.NoError(t, err)
	})

	run := awaitOnly(t, c, flow.Event{Name: "bad/invoke"})
	require.Equal(t, flow.RunFailed, run.Status)
	require.NotNil(t, gotErr.Load(), "Invoke returned no error")
	requireBadInput(t, *gotErr.Load(), flow.ErrInvalidEvent, "NUL")
	runs, err := c.ListRuns(testCtx(t), flow.RunFilter{FunctionID: "bad-child"})
	require.NoError(t, err)
	require.Empty(t, runs, "a child run started")
}
