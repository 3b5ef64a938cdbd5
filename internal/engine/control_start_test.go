package engine_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow/internal/engine"
	"github.com/riverflow/flow/internal/registry"
)

// ctlRun is a run as flow control's start wrote it, with its first job.
type ctlRun struct {
	ID, EventID, Status        string
	Error, Ckey1, SingletonKey *string
	DebounceKey, BatchKey      *string
	Climit1, BatchSize         *int32
	WakeAt                     *time.Time
	JobState                   *string
	JobArgs                    map[string]any
	JobScheduledAt             *time.Time
}

// ctlCheck is what a start case sees: the transaction, the events it sent
// (in order) and the runs of its function.
type ctlCheck struct {
	t      *testing.T
	b      *testBundle
	tx     pgx.Tx
	fnID   string
	events []string
	runs   []ctlRun
}

// of returns the run of event i (0-based); it fails if there is none.
func (c *ctlCheck) of(i int) ctlRun {
	c.t.Helper()
	for _, r := range c.runs {
		if r.EventID == c.events[i] {
			return r
		}
	}
	c.t.Fatalf("no run of event %d", i)
	return ctlRun{}
}

// key is the stored key of option for value (engine's controlKey).
func (c *ctlCheck) key(option, value string) string { return c.fnID + "\x1f" + option + "\x1f" + value }

func (c *ctlCheck) count(sql string, args ...any) int {
	c.t.Helper()
	var n int
	require.NoError(c.t, c.tx.QueryRow(c.b.ctx, sql, args...).Scan(&n))
	return n
}

func ptr[T any](v T) *T { return &v }

// aboutIn asserts that t is d from now, within a minute.
func aboutIn(tb testing.TB, d time.Duration, t *time.Time, msg string) {
	tb.Helper()
	require.NotNil(tb, t, msg)
	require.WithinDuration(tb, time.Now().Add(d), *t, time.Minute, msg)
}

// Each flow-control option, at a run's start, writes what it should for the
// events of one send each: the run (or none, or a skipped one), its keys and
// delay, its first job, and the option's own table. Every case runs in a
// transaction of its own, rolled back at the end: the engine is not
// started, so nothing but the sends writes.
func TestControlStart(t *testing.T) {
	t.Parallel()
	b := setup(t)
	e := b.newEngine(t, testConfig("control"), false)
	user := func(u string) map[string]any { return map[string]any{"user": u} }

	cases := []struct {
		name    string
		control registry.Control
		events  []map[string]any
		check   func(c *ctlCheck)
	}{
		{
			name:    "concurrency",
			control: registry.Control{Concurrency: []registry.Concurrency{{Limit: 2, Key: "event.data.user"}}},
			events:  []map[string]any{user("ada")},
			check: func(c *ctlCheck) {
				r := c.of(0)
				require.Equal(c.t, "queued", r.Status)
				require.Equal(c.t, ptr(c.key("concurrency0", "ada")), r.Ckey1)
				require.Equal(c.t, ptr(int32(2)), r.Climit1)
				require.Nil(c.t, r.WakeAt)
				require.Equal(c.t, ptr("available"), r.JobState)
				require.Equal(c.t, true, r.JobArgs["slots"], "its job claims slots")
				require.NotNil(c.t, r.Ckey1)
				require.Equal(c.t, 2, c.count(`SELECT count(*) FROM flow_concurrency_slot WHERE key = $1 AND run_id IS NULL`, *r.Ckey1),
					"the key's slots, free")
			},
		},
		{
			name:    "throttle",
			control: registry.Control{Throttle: &registry.Throttle{Limit: 1, Period: time.Hour, Key: "event.data.user"}},
			events:  []map[string]any{user("ada"), user("ada"), user("bob")},
			check: func(c *ctlCheck) {
				require.Len(c.t, c.runs, 3)
				require.Nil(c.t, c.of(0).WakeAt, "the first run of a key starts at once")
				require.Equal(c.t, ptr("available"), c.of(0).JobState)
				aboutIn(c.t, time.Hour, c.of(1).WakeAt, "the second of the key waits its turn")
				require.Equal(c.t, ptr("scheduled"), c.of(1).JobState)
				aboutIn(c.t, time.Hour, c.of(1).JobScheduledAt, "its job is scheduled then")
				require.Nil(c.t, c.of(2).WakeAt, "another key is not held back")
				require.Equal(c.t, 2, c.count(`SELECT count(*) FROM flow_limit WHERE key = ANY($1)`,
					[]string{c.key("throttle", "ada"), c.key("throttle", "bob")}))
			},
		},
		{
			name:    "rate limit",
			control: registry.Control{RateLimit: &registry.RateLimit{Limit: 1, Period: time.Hour, Key: "event.data.user"}},
			events:  []map[string]any{user("ada"), user("ada"), user("bob")},
			check: func(c *ctlCheck) {
				require.Equal(c.t, "queued", c.of(0).Status)
				r := c.of(1)
				require.Equal(c.t, "skipped", r.Status)
				require.Equal(c.t, ptr("skipped: rate limit of 1 per 1h0m0s reached"), r.Error)
				require.Nil(c.t, r.JobState, "a skipped run has no job")
				require.Equal(c.t, "queued", c.of(2).Status, "another key has its own limit")
				require.Equal(c.t, 2, c.count(`SELECT count(*) FROM flow_limit WHERE key = ANY($1)`,
					[]string{c.key("rate", "ada"), c.key("rate", "bob")}))
			},
		},
		{
			name:    "idempotency",
			control: registry.Control{Idempotency: "event.data.user"},
			events:  []map[string]any{user("ada"), user("ada"), user("bob")},
			check: func(c *ctlCheck) {
				first := c.of(0)
				require.Equal(c.t, "queued", first.Status)
				r := c.of(1)
				require.Equal(c.t, "skipped", r.Status)
				require.Equal(c.t, ptr(fmt.Sprintf("skipped: idempotency key already used by run %s in the last 24h", first.ID)), r.Error)
				require.Equal(c.t, "queued", c.of(2).Status)
				require.Equal(c.t, 1, c.count(`SELECT count(*) FROM flow_idempotency WHERE key = $1 AND run_id = $2`,
					c.key("idempotency", "ada"), first.ID))
			},
		},
		{
			name:    "debounce",
			control: registry.Control{Debounce: &registry.Debounce{Period: time.Hour, Key: "event.data.user"}},
			events:  []map[string]any{user("ada"), user("ada")},
			check: func(c *ctlCheck) {
				require.Len(c.t, c.runs, 1, "the second event postpones the first's run")
				r := c.of(1)
				require.Equal(c.t, "queued", r.Status)
				require.Equal(c.t, ptr(c.key("debounce", "ada")), r.DebounceKey)
				aboutIn(c.t, time.Hour, r.WakeAt, "it starts a period after the last event")
				require.Equal(c.t, ptr("scheduled"), r.JobState)
				aboutIn(c.t, time.Hour, r.JobScheduledAt, "its job moves with it")
			},
		},
		{
			name:    "batch open",
			control: registry.Control{Batch: &registry.Batch{MaxSize: 3, Timeout: time.Hour, Key: "event.data.user"}},
			events:  []map[string]any{user("ada"), user("ada")},
			check: func(c *ctlCheck) {
				require.Len(c.t, c.runs, 1, "the events join one batch")
				r := c.of(0)
				require.Equal(c.t, ptr(c.key("batch", "ada")), r.BatchKey)
				require.Equal(c.t, ptr(int32(2)), r.BatchSize)
				aboutIn(c.t, time.Hour, r.WakeAt, "open until its timeout")
				require.Equal(c.t, ptr("scheduled"), r.JobState)
				require.Equal(c.t, 2, c.count(`SELECT count(*) FROM flow_run_event WHERE run_id = $1 AND event_id = ANY($2)`,
					r.ID, c.events))
			},
		},
		{
			name:    "batch full",
			control: registry.Control{Batch: &registry.Batch{MaxSize: 3, Timeout: time.Hour, Key: "event.data.user"}},
			events:  []map[string]any{user("ada"), user("ada"), user("ada")},
			check: func(c *ctlCheck) {
				require.Len(c.t, c.runs, 1)
				r := c.of(0)
				require.Equal(c.t, ptr(int32(3)), r.BatchSize)
				require.Nil(c.t, r.WakeAt, "a full batch starts at once")
				require.Equal(c.t, ptr("available"), r.JobState)
				require.Equal(c.t, 3, c.count(`SELECT count(*) FROM flow_run_event WHERE run_id = $1`, r.ID))
			},
		},
		{
			name:    "singleton skip",
			control: registry.Control{Singleton: &registry.Singleton{Key: "event.data.user", Mode: engine.SingletonSkip}},
			events:  []map[string]any{user("ada"), user("ada")},
			check: func(c *ctlCheck) {
				first := c.of(0)
				require.Equal(c.t, "queued", first.Status)
				require.Equal(c.t, ptr(c.key("singleton", "ada")), first.SingletonKey)
				r := c.of(1)
				require.Equal(c.t, "skipped", r.Status)
				require.Equal(c.t, ptr(fmt.Sprintf("skipped: singleton run %s is in progress", first.ID)), r.Error)
			},
		},
		{
			name:    "singleton cancel",
			control: registry.Control{Singleton: &registry.Singleton{Key: "event.data.user", Mode: engine.SingletonCancel}},
			events:  []map[string]any{user("ada"), user("ada")},
			check: func(c *ctlCheck) {
				first, second := c.of(0), c.of(1)
				require.Equal(c.t, "cancelled", first.Status)
				require.Equal(c.t, ptr(fmt.Sprintf("cancelled: replaced by singleton run %s", second.ID)), first.Error)
				require.Equal(c.t, ptr("cancelled"), first.JobState, "its job is cancelled with it")
				require.Equal(c.t, "queued", second.Status)
				require.Equal(c.t, ptr(c.key("singleton", "ada")), second.SingletonKey)
			},
		},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tx, err := b.pool.Begin(b.ctx)
			require.NoError(t, err)
			defer func() { _ = tx.Rollback(b.ctx) }()
			fnID := fmt.Sprintf("control/%d", i)
			ctl := tc.control
			require.NoError(t, registry.Register(b.ctx, tx, registry.Function{
				ID: fnID, Name: fnID, Control: &ctl, Triggers: []registry.Trigger{{Name: "test/" + fnID}},
			}))
			c := &ctlCheck{t: t, b: b, tx: tx, fnID: fnID}
			for _, data := range tc.events {
				ids, err := sendTx(b.ctx, e, tx, "test/"+fnID, data)
				require.NoError(t, err)
				c.events = append(c.events, ids[0])
			}
			c.runs = ctlRuns(t, b, tx, fnID)
			tc.check(c)
		})
	}
}

// ctlRuns reads the runs of fnID in tx, with their first jobs.
func ctlRuns(t *testing.T, b *testBundle, tx pgx.Tx, fnID string) []ctlRun {
	t.Helper()
	rows, err := tx.Query(b.ctx, `
		SELECT r.id::text, r.event_id::text, r.status, r.error, r.ckey1, r.singleton_key, r.debounce_key, r.batch_key,
			r.climit1, r.batch_size, r.wake_at, j.state::text, j.args, j.scheduled_at
		FROM flow_run r LEFT JOIN river_job j ON j.id = r.job_id
		WHERE r.function_id = $1`, fnID)
	require.NoError(t, err)
	defer rows.Close()
	var runs []ctlRun
	for rows.Next() {
		var r ctlRun
		var args []byte
		require.NoError(t, rows.Scan(&r.ID, &r.EventID, &r.Status, &r.Error, &r.Ckey1, &r.SingletonKey, &r.DebounceKey,
			&r.BatchKey, &r.Climit1, &r.BatchSize, &r.WakeAt, &r.JobState, &args, &r.JobScheduledAt))
		if args != nil {
			require.NoError(t, json.Unmarshal(args, &r.JobArgs))
		}
		runs = append(runs, r)
	}
	require.NoError(t, rows.Err())
	return runs
}
