package realtime_test

import (
	"encoding/base64"
	"encoding/json"
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
	c := Claims{IssuedAt: now.Unix(), Channel: "run:42", Topics: []string{"progress", "result"}, Expires: now.Add(time.Minute).Unix()}
	tok, err := SignToken(secret, c)
	require.NoError(t, err)
	got, err := VerifyToken(secret, tok, now)
	require.NoError(t, err)
	c.Issuer = Issuer
	require.Equal(t, c, got)

	// A standard JWT: any JWT library reads it.
	parts := strings.Split(tok, ".")
	require.Len(t, parts, 3)
	header, err := base64.RawURLEncoding.DecodeString(parts[0])
	require.NoError(t, err)
	require.JSONEq(t, `{"alg":"HS256","typ":"JWT"}`, string(header))
	var claims map[string]any
	body, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(body, &claims))
	require.Equal(t, "riverflow", claims["iss"])
	require.Equal(t, "run:42", claims["channel"])

	_, err = VerifyToken(secret, tok, now.Add(time.Minute))
	require.ErrorIs(t, err, ErrInvalidToken, "expired at its expiry")
	require.ErrorContains(t, err, "expired")
	for _, bad := range []string{"", "a.b", "a.b.c", tok + "x", tok[:len(tok)-2], parts[0] + ".e30." + parts[2]} {
		_, err = VerifyToken(secret, bad, now)
		require.ErrorIs(t, err, ErrInvalidToken, "%q", bad)
	}
	_, err = SignToken(nil, c)
	require.ErrorIs(t, err, ErrNoSecret)
	_, err = VerifyToken(nil, tok, now)
	require.ErrorIs(t, err, ErrNoSecret)
}

// Upstream TestNewJWT_WrongSecretFails.
func TestTokenWrongSecretFails(t *testing.T) {
	t.Parallel()
	tok, err := SignToken([]byte("secret-a"), Claims{Channel: "c", Expires: time.Now().Add(time.Minute).Unix()})
	require.NoError(t, err)
	_, err = VerifyToken([]byte("secret-b"), tok, time.Now())
	require.ErrorIs(t, err, ErrInvalidToken)
}

// Tokens signed with the right secret but claims the library does not
// issue are refused too: another issuer (a JWT of another service that
// shares the secret), no expiry, no channel.
func TestTokenRequiredClaims(t *testing.T) {
	t.Parallel()
	secret := []byte("secret")
	exp := time.Now().Add(time.Minute).Unix()
	for name, c := range map[string]Claims{
		"issuer":  {Issuer: "someone-else", Channel: "c", Expires: exp},
		"expiry":  {Channel: "c"},
		"channel": {Expires: exp},
	} {
		tok, err := SignToken(secret, c)
		require.NoError(t, err)
		_, err = VerifyToken(secret, tok, time.Now())
		require.ErrorIs(t, err, ErrInvalidToken, name)
		require.ErrorContains(t, err, name)
	}
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
