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

// Issuer is the "iss" claim of the library's tokens.
const Issuer = "riverflow"

// DefaultExpiry is a token's lifetime when none is given: Inngest's
// default for its realtime tokens.
const DefaultExpiry = time.Minute

// Claims is what a token grants: reading Channel's messages of Topics (all
// when empty) until Expires.
type Claims struct {
	Issuer   string   `json:"iss"`
	IssuedAt int64    `json:"iat"` // Unix seconds
	Expires  int64    `json:"exp"` // Unix seconds
	Channel  string   `json:"channel"`
	Topics   []string `json:"topics,omitempty"`
}

// jwtHeader is the header of every token: a JWT signed with HMAC-SHA256, as
// Inngest's realtime tokens are.
var jwtHeader = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))

// SignToken returns c as a JWT (HS256) signed with secret. An empty Issuer
// becomes the library's.
func SignToken(secret []byte, c Claims) (string, error) {
	if len(secret) == 0 {
		return "", ErrNoSecret
	}
	if c.Issuer == "" {
		c.Issuer = Issuer
	}
	body, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("flow: realtime token: %w", err)
	}
	signed := jwtHeader + "." + base64.RawURLEncoding.EncodeToString(body)
	return signed + "." + base64.RawURLEncoding.EncodeToString(sign(secret, signed)), nil
}

// VerifyToken checks token's signature with secret, its header, issuer
// and expiry against now, and returns its claims.
func VerifyToken(secret []byte, token string, now time.Time) (Claims, error) {
	if len(secret) == 0 {
		return Claims{}, ErrNoSecret
	}
	header, rest, ok := strings.Cut(token, ".")
	payload, sig64, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 || header != jwtHeader {
		return Claims{}, fmt.Errorf("%w: not a JWT signed with HS256", ErrInvalidToken)
	}
	sig, err := base64.RawURLEncoding.DecodeString(sig64)
	if err != nil || !hmac.Equal(sig, sign(secret, header+"."+payload)) {
		return Claims{}, fmt.Errorf("%w: bad signature", ErrInvalidToken)
	}
	body, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: malformed claims", ErrInvalidToken)
	}
	var c Claims
	if err := json.Unmarshal(body, &c); err != nil {
		return Claims{}, fmt.Errorf("%w: malformed claims", ErrInvalidToken)
	}
	switch {
	case c.Issuer != Issuer:
		return Claims{}, fmt.Errorf("%w: issuer %q", ErrInvalidToken, c.Issuer)
	case c.Expires == 0:
		return Claims{}, fmt.Errorf("%w: no expiry", ErrInvalidToken)
	case now.Unix() >= c.Expires:
		return Claims{}, fmt.Errorf("%w: expired at %s", ErrInvalidToken, time.Unix(c.Expires, 0).UTC().Format(time.RFC3339))
	case c.Channel == "":
		return Claims{}, fmt.Errorf("%w: no channel", ErrInvalidToken)
	}
	return c, nil
}

func sign(secret []byte, signed string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(signed))
	return m.Sum(nil)
}
