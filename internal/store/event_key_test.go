package store_test

import (
	"crypto/sha256"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// A key is found by its hash until it is revoked; revoking twice keeps the
// first time; a list shows revoked keys too.
func TestEventKeyStore(t *testing.T) {
	t.Parallel()
	b := setup(t)
	hash := sha256.Sum256([]byte("secret"))
	k, err := b.store.CreateEventKey(b.ctx, "ci", "fek_1234", hash[:])
	require.NoError(t, err)
	require.Equal(t, "ci", k.Name)
	require.Nil(t, k.RevokedAt)

	found, err := b.store.FindActiveEventKey(b.ctx, hash[:])
	require.NoError(t, err)
	require.Equal(t, k.ID, found.ID)
	other := sha256.Sum256([]byte("other"))
	_, err = b.store.FindActiveEventKey(b.ctx, other[:])
	require.ErrorIs(t, err, pgx.ErrNoRows)

	revoked, err := b.store.RevokeEventKey(b.ctx, k.ID)
	require.NoError(t, err)
	require.NotNil(t, revoked.RevokedAt)
	again, err := b.store.RevokeEventKey(b.ctx, k.ID)
	require.NoError(t, err)
	require.Equal(t, revoked.RevokedAt, again.RevokedAt)
	_, err = b.store.FindActiveEventKey(b.ctx, hash[:])
	require.ErrorIs(t, err, pgx.ErrNoRows)

	keys, err := b.store.ListEventKeys(b.ctx)
	require.NoError(t, err)
	require.Len(t, keys, 1)
	require.NotNil(t, keys[0].RevokedAt)
}
