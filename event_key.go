package flow

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/riverflow/flow/internal/engine"
)

// EventKey describes a key that senders of the HTTP event API (package
// eventapi: POST /e/{key}) authenticate with. The key itself is shown once,
// by CreateEventKey; the database keeps only its SHA-256 hash.
type EventKey struct {
	// ID names the key for RevokeEventKey.
	ID string `json:"id"`
	// Name is what the key is for, as given to CreateEventKey.
	Name string `json:"name"`
	// Prefix is the key's first characters, to tell keys apart in a list.
	Prefix string `json:"prefix"`
	// CreatedAt is when the key was created.
	CreatedAt time.Time `json:"created_at"`
	// RevokedAt is when the key was revoked; nil while it is accepted.
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

// ErrInvalidEventKey is returned by VerifyEventKey for a key that was never
// created or has been revoked.
var ErrInvalidEventKey = errors.New("flow: event key not found or revoked")

const (
	// eventKeyTag starts every key, so that a leaked key is recognisable
	// (secret scanners, logs).
	eventKeyTag = "fek_"
	// eventKeyPrefixLen is how much of a key is kept for display: the tag
	// and 8 hex digits (32 of the key's 256 random bits).
	eventKeyPrefixLen = len(eventKeyTag) + 8
	// maxEventKeyNameLen bounds EventKey.Name.
	maxEventKeyNameLen = 200
)

// CreateEventKey creates an event key named name (what it is for, at most
// 200 bytes, not empty) and returns the key, which is not stored and cannot
// be shown again, with its description.
func (c *Client) CreateEventKey(ctx context.Context, name string) (key string, info EventKey, err error) {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return "", EventKey{}, errors.New("flow: CreateEventKey: empty name")
	case len(name) > maxEventKeyNameLen || !utf8.ValidString(name) || strings.IndexByte(name, 0) >= 0:
		return "", EventKey{}, fmt.Errorf("flow: CreateEventKey: the name must be valid UTF-8 without NUL, at most %d bytes", maxEventKeyNameLen)
	}
	var secret [32]byte
	if _, err := rand.Read(secret[:]); err != nil {
		return "", EventKey{}, fmt.Errorf("flow: CreateEventKey: %w", err)
	}
	key = eventKeyTag + hex.EncodeToString(secret[:])
	k, err := c.store.CreateEventKey(ctx, name, key[:eventKeyPrefixLen], hashEventKey(key))
	if err != nil {
		return "", EventKey{}, fmt.Errorf("flow: CreateEventKey: %w", err)
	}
	return key, EventKey(k), nil
}

// ListEventKeys returns every event key, revoked ones included, oldest
// first.
func (c *Client) ListEventKeys(ctx context.Context) ([]EventKey, error) {
	rows, err := c.store.ListEventKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("flow: ListEventKeys: %w", err)
	}
	keys := make([]EventKey, len(rows))
	for i, r := range rows {
		keys[i] = EventKey(r)
	}
	return keys, nil
}

// RevokeEventKey revokes the event key with id: requests with it are
// refused from then on. Revoking a revoked key changes nothing. An unknown
// id is an error wrapping ErrNotFound.
func (c *Client) RevokeEventKey(ctx context.Context, id string) error {
	if !engine.IsUUID(id) {
		return fmt.Errorf("flow: RevokeEventKey: %w: no event key %q", ErrNotFound, id)
	}
	_, err := c.store.RevokeEventKey(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("flow: RevokeEventKey: %w: no event key %q", ErrNotFound, id)
	}
	if err != nil {
		return fmt.Errorf("flow: RevokeEventKey: %w", err)
	}
	return nil
}

// VerifyEventKey returns the description of key if it was created by
// CreateEventKey and is not revoked, else an error wrapping
// ErrInvalidEventKey. The event API's handler calls it for every request;
// an application that serves its own endpoint may too. The key is looked up
// by its SHA-256 hash, so the comparison reveals nothing through its timing.
func (c *Client) VerifyEventKey(ctx context.Context, key string) (EventKey, error) {
	if !strings.HasPrefix(key, eventKeyTag) {
		return EventKey{}, ErrInvalidEventKey
	}
	k, err := c.store.FindActiveEventKey(ctx, hashEventKey(key))
	if errors.Is(err, pgx.ErrNoRows) {
		return EventKey{}, ErrInvalidEventKey
	}
	if err != nil {
		return EventKey{}, fmt.Errorf("flow: VerifyEventKey: %w", err)
	}
	return EventKey(k), nil
}

// hashEventKey is what the database keeps of a key.
func hashEventKey(key string) []byte {
	h := sha256.Sum256([]byte(key))
	return h[:]
}
