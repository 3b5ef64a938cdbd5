package realtime_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	. "github.com/riverflow/flow/internal/realtime"
)

func TestTokenRoundTrip(t *testing.T) {
	t.Parallel()
	secret := []byte("s3cret-s3cret-s3cret-s3cret-s3cr")
	now := time.Unix(1_800_000_000, 0)
	c := Claims{Channel: "run:42", Topics: []string{"progress", "result"}, Expires: now.Add(time.Minute).Unix()}
	tok, err := SignToken(secret, c)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(tok, "v1."))
	got, err := VerifyToken(secret, tok, now)
	require.NoError(t, err)
	require.Equal(t, c, got)

	_, err = VerifyToken(secret, tok, now.Add(time.Minute))
	require.ErrorIs(t, err, ErrInvalidToken, "expired at its expiry")
	require.ErrorContains(t, err, "expired")
	_, err = VerifyToken([]byte("other"), tok, now)
	require.ErrorIs(t, err, ErrInvalidToken)
	for _, bad := range []string{"", "v1.", "v2." + tok[3:], tok + "x", tok[:len(tok)-2], "v1.e30.e30"} {
		_, err = VerifyToken(secret, bad, now)
		require.ErrorIs(t, err, ErrInvalidToken, "%q", bad)
	}
	_, err = SignToken(nil, c)
	require.ErrorIs(t, err, ErrNoSecret)
	_, err = VerifyToken(nil, tok, now)
	require.ErrorIs(t, err, ErrNoSecret)
}

func TestCheckNames(t *testing.T) {
	t.Parallel()
	require.NoError(t, CheckNames("run:1", "progress"))
	require.NoError(t, CheckNames(strings.Repeat("c", MaxNameBytes), "t"))
	for _, tc := range [][2]string{{"", "t"}, {"c", ""}, {strings.Repeat("c", MaxNameBytes+1), "t"},
		{"c", "a\rb"}, {"c\n", "t"}, {"\xff", "t"}} {
		require.Error(t, CheckNames(tc[0], tc[1]), "%q", tc)
	}
}
