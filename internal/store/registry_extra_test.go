package store_test

import (
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow/internal/store"
)

// RegisterFunctionTx and ListFunctionsOn work in the caller's transaction:
// what it registers is visible to it alone until it commits, and nothing of
// it is left after a rollback; RegisterFunction is the same on the pool.
func TestRegisterFunctionTx(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ids := func(fns []*store.Function) []string {
		var out []string
		for _, f := range fns {
			out = append(out, f.ID)
		}
		return out
	}
	f := store.Function{ID: "reg/tx", Name: "tx", Retries: 3, Config: []byte(`{}`)}
	triggers := []store.Trigger{{EventName: "a/b"}, {EventName: "c/", IsPrefix: true, Expression: "true"}}

	tx, err := b.pool.Begin(b.ctx)
	require.NoError(t, err)
	require.NoError(t, b.store.RegisterFunctionTx(b.ctx, tx, f, triggers, true))
	inTx, err := b.store.ListFunctionsOn(b.ctx, tx)
	require.NoError(t, err)
	require.Contains(t, ids(inTx), f.ID, "the transaction sees its registration")
	onPool, err := b.store.ListFunctions(b.ctx)
	require.NoError(t, err)
	require.NotContains(t, ids(onPool), f.ID, "uncommitted")
	require.NoError(t, tx.Rollback(b.ctx))
	onPool, err = b.store.ListFunctions(b.ctx)
	require.NoError(t, err)
	require.NotContains(t, ids(onPool), f.ID, "rolled back")

	require.NoError(t, b.store.RegisterFunction(b.ctx, f, triggers, true))
	onPool, err = b.store.ListFunctions(b.ctx)
	require.NoError(t, err)
	require.Contains(t, ids(onPool), f.ID)
	all, err := b.store.ListTriggers(b.ctx)
	require.NoError(t, err)
	var got []store.Trigger
	for _, tr := range all {
		if tr.FunctionID == f.ID {
			got = append(got, *tr)
		}
	}
	require.ElementsMatch(t, []store.Trigger{
		{FunctionID: f.ID, EventName: "a/b", Controlled: true},
		{FunctionID: f.ID, EventName: "c/", IsPrefix: true, Expression: "true", Controlled: true},
	}, got)

	// Registering again replaces the triggers.
	err = pgx.BeginFunc(b.ctx, b.pool, func(tx pgx.Tx) error {
		return b.store.RegisterFunctionTx(b.ctx, tx, f, nil, false)
	})
	require.NoError(t, err)
	all, err = b.store.ListTriggers(b.ctx)
	require.NoError(t, err)
	for _, tr := range all {
		require.NotEqual(t, f.ID, tr.FunctionID, "no trigger left")
	}
}
