package store

import (
	"context"
	"time"

	"github.com/riverflow/flow/internal/dbsqlc"
)

// EventKey is a stored event key (flow_event_key), without its hash.
type EventKey struct {
	ID        string
	Name      string
	Prefix    string
	CreatedAt time.Time
	RevokedAt *time.Time
}

// CreateEventKey stores a key by its hash and display prefix.
func (s *Store) CreateEventKey(ctx context.Context, name, prefix string, hash []byte) (EventKey, error) {
	r, err := s.q.EventKeyInsert(ctx, s.pool, &dbsqlc.EventKeyInsertParams{Name: name, Prefix: prefix, Hash: hash})
	if err != nil {
		return EventKey{}, err
	}
	return EventKey(*r), nil
}

// ListEventKeys returns every key, revoked ones included, oldest first.
func (s *Store) ListEventKeys(ctx context.Context) ([]EventKey, error) {
	rows, err := s.q.EventKeyList(ctx, s.pool)
	if err != nil {
		return nil, err
	}
	keys := make([]EventKey, len(rows))
	for i, r := range rows {
		keys[i] = EventKey(*r)
	}
	return keys, nil
}

// RevokeEventKey revokes the key with id and returns it; revoking it again
// keeps the first time. pgx.ErrNoRows if there is no such key.
func (s *Store) RevokeEventKey(ctx context.Context, id string) (EventKey, error) {
	r, err := s.q.EventKeyRevoke(ctx, s.pool, id)
	if err != nil {
		return EventKey{}, err
	}
	return EventKey(*r), nil
}

// FindActiveEventKey returns the key that has hash and is not revoked;
// pgx.ErrNoRows if there is none.
func (s *Store) FindActiveEventKey(ctx context.Context, hash []byte) (EventKey, error) {
	r, err := s.q.EventKeyFindActive(ctx, s.pool, hash)
	if err != nil {
		return EventKey{}, err
	}
	return EventKey(*r), nil
}
