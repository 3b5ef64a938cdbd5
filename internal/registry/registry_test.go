package registry_test

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow/flowtest"
	"github.com/riverflow/flow/internal/registry"
)

func TestMain(m *testing.M) { flowtest.Main(m) }

var update = flag.Bool("update", false, "rewrite testdata/stored_full.golden.json")

// fullControl is a function with every flow-control option set, each field
// non-zero.
func fullControl() *registry.Control {
	return &registry.Control{
		Concurrency: []registry.Concurrency{{Limit: 2, Key: "event.data.accountId"}, {Limit: 10}},
		Throttle:    &registry.Throttle{Limit: 5, Period: time.Minute, Burst: 2, Key: "event.data.userId"},
		RateLimit:   &registry.RateLimit{Limit: 100, Period: time.Hour, Key: "event.data.ip"},
		Debounce:    &registry.Debounce{Period: 30 * time.Second, Key: "event.data.docId", Timeout: 5 * time.Minute},
		Batch:       &registry.Batch{MaxSize: 50, Timeout: 10 * time.Second, Key: "event.data.tenant"},
		Priority:    &registry.Priority{Run: "event.data.vip ? 60 : 0"},
		Idempotency: "event.data.orderId",
		Singleton:   &registry.Singleton{Key: "event.data.userId", Mode: "cancel"},
	}
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return b
}

// TestEncodeGolden pins the stored format: a change of a key, of a field's
// encoding or of what is omitted shows up as a diff of the golden file.
func TestEncodeGolden(t *testing.T) {
	t.Parallel()
	got := registry.Encode(fullControl())
	path := filepath.Join("testdata", "stored_full.golden.json")
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	require.Equal(t, string(readTestdata(t, "stored_full.golden.json")), string(got))
	require.Equal(t, "{}", string(registry.Encode(nil)), "a function without flow control stores {}")
}

// TestDecodeLegacyRows: rows written before the registry had its own type
// decode to the same options, and encode back to the same bytes.
func TestDecodeLegacyRows(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		file string
		want *registry.Control
	}{
		{"legacy_full.json", fullControl()},
		{"legacy_sparse.json", &registry.Control{
			Throttle:  &registry.Throttle{Limit: 1, Period: time.Second},
			Singleton: &registry.Singleton{Mode: "skip"},
		}},
		{"legacy_rate_limit.json", &registry.Control{RateLimit: &registry.RateLimit{Limit: 1, Period: time.Hour}}},
		{"legacy_none.json", nil},
	} {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			raw := readTestdata(t, tc.file)
			got, err := registry.Decode(raw)
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
			require.Equal(t, string(raw), string(registry.Encode(got)), "the row is stored the same today")
		})
	}
}

func TestDecodeInvalid(t *testing.T) {
	t.Parallel()
	_, err := registry.Decode([]byte(`{"control":{"throttle":{"Limit":"five"}}}`))
	require.ErrorContains(t, err, "decode function config")
}

type testBundle struct {
	ctx context.Context
	tx  pgx.Tx
}

// setup gives a test a transaction on its own database, rolled back at the
// end.
func setup(t *testing.T) *testBundle {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	tx, err := flowtest.Pool(t).Begin(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { _ = tx.Rollback(context.Background()) })
	return &testBundle{ctx: ctx, tx: tx}
}

type triggerRow struct {
	Name       string
	IsPrefix   bool
	If         string
	Controlled bool
}

func triggerRows(t *testing.T, b *testBundle, fnID string) []triggerRow {
	t.Helper()
	rows, err := b.tx.Query(b.ctx, "SELECT event_name, is_prefix, expression, controlled FROM flow_trigger WHERE function_id = $1 ORDER BY event_name, expression", fnID)
	require.NoError(t, err)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (tr triggerRow, err error) {
		return tr, r.Scan(&tr.Name, &tr.IsPrefix, &tr.If, &tr.Controlled)
	})
	require.NoError(t, err)
	return out
}

// TestRegisterRoundTrip: what Register stores, List and LoadConfig read back
// through Postgres's jsonb, and Decode gives the same flow control.
func TestRegisterRoundTrip(t *testing.T) {
	t.Parallel()
	b := setup(t)
	require.NoError(t, registry.Register(b.ctx, b.tx, registry.Function{ID: "full", Name: "Full", Retries: 3, Control: fullControl()}))
	require.NoError(t, registry.Register(b.ctx, b.tx, registry.Function{ID: "plain", Name: "plain", Retries: 4}))

	raw, ok, err := registry.LoadConfig(b.ctx, b.tx, "full")
	require.NoError(t, err)
	require.True(t, ok)
	got, err := registry.Decode(raw)
	require.NoError(t, err)
	require.Equal(t, fullControl(), got)

	_, ok, err = registry.LoadConfig(b.ctx, b.tx, "missing")
	require.NoError(t, err)
	require.False(t, ok, "an unregistered function has no config")

	entries, err := registry.List(b.ctx, b.tx)
	require.NoError(t, err)
	require.Len(t, entries, 2)
	require.Equal(t, "full", entries[0].ID)
	require.Equal(t, "Full", entries[0].Name)
	require.Equal(t, 3, entries[0].Retries)
	require.False(t, entries[0].UpdatedAt.IsZero())
	require.Equal(t, "plain", entries[1].ID)
	ctl, err := registry.Decode(entries[1].Config)
	require.NoError(t, err)
	require.Nil(t, ctl)
}

// TestRegisterLegacyRowDecodes: a row an earlier version wrote, as Postgres
// returns it (jsonb reorders keys and adds spaces), decodes the same.
func TestRegisterLegacyRowDecodes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, err := b.tx.Exec(b.ctx, "INSERT INTO flow_function (id, name, retries, config) VALUES ('old', 'old', 4, $1)", string(readTestdata(t, "legacy_full.json")))
	require.NoError(t, err)
	raw, ok, err := registry.LoadConfig(b.ctx, b.tx, "old")
	require.NoError(t, err)
	require.True(t, ok)
	require.NotEqual(t, string(readTestdata(t, "legacy_full.json")), string(raw), "Postgres normalizes jsonb")
	got, err := registry.Decode(raw)
	require.NoError(t, err)
	require.Equal(t, fullControl(), got)
}

// TestRegisterTriggers: one flow_trigger row per pattern (conditions of the
// same pattern joined with ||, an unconditional trigger winning), marked
// controlled for a function with flow control; registering again replaces
// the function's triggers and config.
func TestRegisterTriggers(t *testing.T) {
	t.Parallel()
	b := setup(t)
	fn := registry.Function{ID: "fn", Name: "fn", Retries: 4, Control: &registry.Control{Idempotency: "event.id"}, Triggers: []registry.Trigger{
		{Name: "a/x", If: "event.data.n > 1"},
		{Name: "a/x", If: "event.data.n < 0"},
		{Name: "billing/", IsPrefix: true, If: "event.data.big"},
		{Name: "billing/", IsPrefix: true},
		{Name: "c/y"},
	}}
	require.NoError(t, registry.Register(b.ctx, b.tx, fn))
	require.Equal(t, []triggerRow{
		{Name: "a/x", If: "(event.data.n > 1) || (event.data.n < 0)", Controlled: true},
		{Name: "billing/", IsPrefix: true, Controlled: true},
		{Name: "c/y", Controlled: true},
	}, triggerRows(t, b, "fn"))

	fn.Control = nil
	fn.Triggers = []registry.Trigger{{Name: "d/z"}}
	require.NoError(t, registry.Register(b.ctx, b.tx, fn))
	require.Equal(t, []triggerRow{{Name: "d/z"}}, triggerRows(t, b, "fn"))
	raw, ok, err := registry.LoadConfig(b.ctx, b.tx, "fn")
	require.NoError(t, err)
	require.True(t, ok)
	require.JSONEq(t, `{"options":{}}`, string(raw), "no flow control; options stored, though empty")

	fn.Triggers = nil
	require.NoError(t, registry.Register(b.ctx, b.tx, fn))
	require.Empty(t, triggerRows(t, b, "fn"), "a function with only cron triggers has no event trigger rows")
}

// TestEncodeConcurrencyMode: a whole-run limit stores its mode; a
// step-level one stores none, as before modes existed, so rows written
// before decode to step-level limits.
func TestEncodeConcurrencyMode(t *testing.T) {
	t.Parallel()
	c := &registry.Control{
		Concurrency: []registry.Concurrency{{Limit: 1, Key: "event.data.customer", Mode: "run"}, {Limit: 5}},
		Singleton:   &registry.Singleton{Key: "event.data.account", Mode: "queue"},
	}
	raw := registry.Encode(c)
	require.Equal(t, `{"control":{"concurrency":[{"Limit":1,"Key":"event.data.customer","Mode":"run"},{"Limit":5,"Key":""}],`+
		`"singleton":{"Key":"event.data.account","Mode":"queue"}}}`, string(raw))
	got, err := registry.Decode(raw)
	require.NoError(t, err)
	require.Equal(t, c, got)
}

// fullOptions are options with every field set.
func fullOptions() *registry.Options {
	return &registry.Options{
		Crons:    []string{"TZ=Europe/Paris 0 9 * * *", "@hourly"},
		CancelOn: []registry.CancelOn{{Event: "order/cancelled", Match: "data.id", If: "async.data.why != ''", Timeout: 48 * time.Hour}},
		Timeouts: &registry.Timeouts{Start: time.Minute, Finish: 24 * time.Hour},
	}
}

// TestEncodeOptions pins the stored form of the options kept for display:
// under "options", beside "control", fields in Go's spelling, durations in
// nanoseconds; empty options are stored as {} (so that "none" differs from
// a row written before options were stored, which has no key).
func TestEncodeOptions(t *testing.T) {
	t.Parallel()
	raw := registry.EncodeConfig(registry.Config{Control: &registry.Control{Idempotency: "event.id"}, Options: fullOptions()})
	require.Equal(t, `{"control":{"idempotency":"event.id"},"options":{"crons":["TZ=Europe/Paris 0 9 * * *","@hourly"],`+
		`"cancel_on":[{"Event":"order/cancelled","Match":"data.id","If":"async.data.why != ''","Timeout":172800000000000}],`+
		`"timeouts":{"Start":60000000000,"Finish":86400000000000}}}`, string(raw))
	require.Equal(t, `{"options":{}}`, string(registry.EncodeConfig(registry.Config{Options: &registry.Options{}})))

	got, err := registry.DecodeConfig(raw)
	require.NoError(t, err)
	require.Equal(t, fullOptions(), got.Options)
	ctl, err := registry.Decode(raw)
	require.NoError(t, err)
	require.Equal(t, &registry.Control{Idempotency: "event.id"}, ctl, "flow control reads the same beside options")

	legacy, err := registry.DecodeConfig(readTestdata(t, "legacy_full.json"))
	require.NoError(t, err)
	require.Nil(t, legacy.Options, "a row written before options were stored has none")
}

// TestRegisterOptionsRoundTrip: Register stores the options (empty ones
// when none are given), and they read back through Postgres's jsonb.
func TestRegisterOptionsRoundTrip(t *testing.T) {
	t.Parallel()
	b := setup(t)
	require.NoError(t, registry.Register(b.ctx, b.tx, registry.Function{ID: "full", Name: "full", Retries: 1, Control: fullControl(), Options: fullOptions()}))
	require.NoError(t, registry.Register(b.ctx, b.tx, registry.Function{ID: "plain", Name: "plain", Retries: 4}))
	entries, err := registry.List(b.ctx, b.tx)
	require.NoError(t, err)
	require.Len(t, entries, 2)
	full, err := registry.DecodeConfig(entries[0].Config)
	require.NoError(t, err)
	require.Equal(t, fullOptions(), full.Options)
	require.Equal(t, fullControl(), full.Control)
	plain, err := registry.DecodeConfig(entries[1].Config)
	require.NoError(t, err)
	require.Equal(t, &registry.Options{}, plain.Options)
	require.Nil(t, plain.Control)
}
