package engine_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow/internal/engine"
	"github.com/riverflow/flow/internal/registry"
)

// keyKind is one way an event's key can be empty-ish: the data the event
// carries for the key expression event.data.k.
type keyKind struct {
	name string
	data map[string]any
	// text is the key's value as stored ("false" for a missing field, as in
	// Inngest, where a missing field evaluates to false).
	text string
	// isFalse: rate limit, idempotency and singleton do not apply.
	isFalse bool
}

var keyKinds = []keyKind{
	{name: "missing", data: map[string]any{"other": 1}, text: "false", isFalse: true},
	{name: "null", data: map[string]any{"k": nil}, text: "null"},
	{name: "false", data: map[string]any{"k": false}, text: "false", isFalse: true},
	{name: "empty string", data: map[string]any{"k": ""}, text: ""},
}

// Each keyed option, for two events whose key event.data.k is missing,
// null, false or the empty string, does what Inngest does (docs/keys.md):
// rate limit, idempotency and singleton do not apply when the key is false
// or missing, and share one bucket per null or "" key; concurrency,
// throttle, debounce and batch give every such event a bucket ("false" for
// a missing field); a priority that is not a number is 0.
func TestControlKeyKinds(t *testing.T) {
	t.Parallel()
	b := setup(t)
	e := b.newEngine(t, testConfig("keys"), false)
	const key = "event.data.k"

	options := []struct {
		name    string
		control registry.Control
		check   func(c *ctlCheck, k keyKind)
	}{
		{
			name:    "concurrency",
			control: registry.Control{Concurrency: []registry.Concurrency{{Limit: 1, Key: key}}},
			check: func(c *ctlCheck, k keyKind) {
				for i := range 2 {
					require.Equal(c.t, ptr(c.key("concurrency0", k.text)), c.of(i).Ckey1, "event %d's concurrency key", i)
				}
			},
		},
		{
			name:    "throttle",
			control: registry.Control{Throttle: &registry.Throttle{Limit: 1, Period: time.Hour, Key: key}},
			check: func(c *ctlCheck, k keyKind) {
				require.Nil(c.t, c.of(0).WakeAt, "the first run starts at once")
				aboutIn(c.t, time.Hour, c.of(1).WakeAt, "the second shares the first's bucket and waits its turn")
				require.Equal(c.t, 1, c.count(`SELECT count(*) FROM flow_limit WHERE key = $1`, c.key("throttle", k.text)))
			},
		},
		{
			name:    "rate limit",
			control: registry.Control{RateLimit: &registry.RateLimit{Limit: 1, Period: time.Hour, Key: key}},
			check: func(c *ctlCheck, k keyKind) {
				require.Equal(c.t, "queued", c.of(0).Status)
				if k.isFalse {
					require.Equal(c.t, "queued", c.of(1).Status, "a false key is not rate limited")
					require.Zero(c.t, c.count(`SELECT count(*) FROM flow_limit WHERE key LIKE $1`, c.fnID+"%"), "no bucket")
					return
				}
				require.Equal(c.t, "skipped", c.of(1).Status, "the second shares the first's bucket")
				require.Equal(c.t, 1, c.count(`SELECT count(*) FROM flow_limit WHERE key = $1`, c.key("rate", k.text)))
			},
		},
		{
			name:    "idempotency",
			control: registry.Control{Idempotency: key},
			check: func(c *ctlCheck, k keyKind) {
				require.Equal(c.t, "queued", c.of(0).Status)
				if k.isFalse {
					require.Equal(c.t, "queued", c.of(1).Status, "a false key is no idempotency key")
					require.Zero(c.t, c.count(`SELECT count(*) FROM flow_idempotency WHERE key LIKE $1`, c.fnID+"%"))
					return
				}
				require.Equal(c.t, "skipped", c.of(1).Status)
				require.Equal(c.t, 1, c.count(`SELECT count(*) FROM flow_idempotency WHERE key = $1 AND run_id = $2`,
					c.key("idempotency", k.text), c.of(0).ID))
			},
		},
		{
			name:    "singleton",
			control: registry.Control{Singleton: &registry.Singleton{Key: key, Mode: engine.SingletonSkip}},
			check: func(c *ctlCheck, k keyKind) {
				first, second := c.of(0), c.of(1)
				require.Equal(c.t, "queued", first.Status)
				if k.isFalse {
					require.Equal(c.t, "queued", second.Status, "a false key is no singleton")
					require.Nil(c.t, first.SingletonKey)
					require.Nil(c.t, second.SingletonKey)
					return
				}
				require.Equal(c.t, ptr(c.key("singleton", k.text)), first.SingletonKey)
				require.Equal(c.t, "skipped", second.Status)
			},
		},
		{
			name:    "debounce",
			control: registry.Control{Debounce: &registry.Debounce{Period: time.Hour, Key: key}},
			check: func(c *ctlCheck, k keyKind) {
				require.Len(c.t, c.runs, 1, "the second event postpones the first's run")
				require.Equal(c.t, ptr(c.key("debounce", k.text)), c.of(1).DebounceKey)
			},
		},
		{
			name:    "batch",
			control: registry.Control{Batch: &registry.Batch{MaxSize: 3, Timeout: time.Hour, Key: key}},
			check: func(c *ctlCheck, k keyKind) {
				require.Len(c.t, c.runs, 1, "the events join one batch")
				require.Equal(c.t, ptr(c.key("batch", k.text)), c.of(0).BatchKey)
				require.Equal(c.t, ptr(int32(2)), c.of(0).BatchSize)
			},
		},
		{
			name:    "priority",
			control: registry.Control{Priority: &registry.Priority{Run: key}},
			check: func(c *ctlCheck, k keyKind) {
				for i := range 2 {
					require.Equal(c.t, "queued", c.of(i).Status)
					require.Nil(c.t, c.of(i).WakeAt, "priority 0: run %d is not delayed", i)
				}
			},
		},
	}
	n := 0
	for _, o := range options {
		for _, k := range keyKinds {
			fnID := fmt.Sprintf("keys/%d", n)
			n++
			t.Run(o.name+"/"+k.name, func(t *testing.T) {
				c := sendControlled(t, b, e, fnID, o.control, k.data, k.data)
				o.check(c, k)
			})
		}
	}

	// The buckets are distinct: null, "", false and a missing field (which
	// shares false's) are four keys of which only the last two meet.
	t.Run("rate limit/distinct buckets", func(t *testing.T) {
		kinds := []map[string]any{keyKinds[1].data, keyKinds[3].data, {"k": "null"}, {"k": 0}}
		c := sendControlled(t, b, e, "keys/distinct", registry.Control{
			RateLimit: &registry.RateLimit{Limit: 1, Period: time.Hour, Key: key},
		}, kinds...)
		for i := range kinds[:2] {
			require.Equal(t, "queued", c.of(i).Status, "event %d has a bucket of its own", i)
		}
		require.Equal(t, "skipped", c.of(2).Status, `the string "null" is null's bucket, as in Inngest's %%v`)
		require.Equal(t, "queued", c.of(3).Status, "0 is not false")
	})
	t.Run("concurrency/missing is false", func(t *testing.T) {
		c := sendControlled(t, b, e, "keys/missing-false", registry.Control{
			Concurrency: []registry.Concurrency{{Limit: 1, Key: key}},
		}, keyKinds[0].data, keyKinds[2].data)
		require.Equal(t, c.of(0).Ckey1, c.of(1).Ckey1, "a missing field and false share a bucket, as in Inngest")
	})
	t.Run("priority/a number counts", func(t *testing.T) {
		c := sendControlled(t, b, e, "keys/priority-number", registry.Control{
			Priority: &registry.Priority{Run: key},
		}, map[string]any{"k": -60})
		aboutIn(t, time.Minute, c.of(0).WakeAt, "priority -60 delays the run a minute")
	})
}

// sendControlled registers fnID with ctl and sends it one event per data,
// in a transaction rolled back when t ends, and returns what they made.
func sendControlled(t *testing.T, b *testBundle, e *engine.Engine, fnID string, ctl registry.Control, data ...map[string]any) *ctlCheck {
	t.Helper()
	tx, err := b.pool.Begin(b.ctx)
	require.NoError(t, err)
	t.Cleanup(func() { _ = tx.Rollback(b.ctx) })
	require.NoError(t, registry.Register(b.ctx, tx, registry.Function{
		ID: fnID, Name: fnID, Control: &ctl, Triggers: []registry.Trigger{{Name: "test/" + fnID}},
	}))
	c := &ctlCheck{t: t, b: b, tx: tx, fnID: fnID}
	for _, d := range data {
		ids, err := sendTx(b.ctx, e, tx, "test/"+fnID, d)
		require.NoError(t, err)
		c.events = append(c.events, ids[0])
	}
	c.runs = ctlRuns(t, b, tx, fnID)
	return c
}
