package realtime

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Errors of token checks.
var (
	// ErrNoSecret is returned when a token is issued or checked without
	// Config.RealtimeSecret.
	ErrNoSecret = errors.New("flow: Config.RealtimeSecret is not set")

	// ErrInvalidToken is returned for a token that is malformed, forged
	// (signed with another secret) or expired.
	ErrInvalidToken = errors.New("flow: invalid realtime token")
)

// tokenPrefix names the token format's version.
const tokenPrefix = "v1."

// Claims is what a token grants: reading channel's messages of Topics (all
// when empty) until Expires.
type Claims struct {
	Channel string   `json:"c"`
	Topics  []string `json:"t,omitempty"`
	Expires int64    `json:"exp"` // Unix seconds
}

// SignToken returns a token for c, signed with secret: "v1.", the claims
// as base64url JSON, ".", and their HMAC-SHA256 as base64url.
func SignToken(secret []byte, c Claims) (string, error) {
	if len(secret) == 0 {
		return "", ErrNoSecret
	}
	body, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("flow: realtime token: %w", err)
	}
	payload := base64.RawURLEncoding.EncodeToString(body)
	return tokenPrefix + payload + "." + base64.RawURLEncoding.EncodeToString(sign(secret, payload)), nil
}

// VerifyToken checks token's signature with secret and its expiry against
// now, and returns its claims.
func VerifyToken(secret []byte, token string, now time.Time) (Claims, error) {
	if len(secret) == 0 {
		return Claims{}, ErrNoSecret
	}
	rest, ok := strings.CutPrefix(token, tokenPrefix)
	if !ok {
		return Claims{}, fmt.Errorf("%w: unknown format", ErrInvalidToken)
	}
	payload, sig64, ok := strings.Cut(rest, ".")
	if !ok {
		return Claims{}, fmt.Errorf("%w: unknown format", ErrInvalidToken)
	}
	sig, err := base64.RawURLEncoding.DecodeString(sig64)
	if err != nil || !hmac.Equal(sig, sign(secret, payload)) {
		return Claims{}, fmt.Errorf("%w: bad signature", ErrInvalidToken)
	}
	body, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: unknown format", ErrInvalidToken)
	}
	var c Claims
	if err := json.Unmarshal(body, &c); err != nil {
		return Claims{}, fmt.Errorf("%w: unknown format", ErrInvalidToken)
	}
	if now.Unix() >= c.Expires {
		return Claims{}, fmt.Errorf("%w: expired at %s", ErrInvalidToken, time.Unix(c.Expires, 0).UTC().Format(time.RFC3339))
	}
	return c, nil
}

func sign(secret []byte, payload string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(payload))
	return m.Sum(nil)
}
