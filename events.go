package flow

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/riverflow/flow/internal/engine"
)

// Event is something that happened, sent with Send or SendTx. Every function
// whose trigger matches its Name starts a run.
type Event struct {
	// ID, if set, deduplicates: an event whose ID was seen in the last 24
	// hours is accepted and ignored (it is not stored again and starts no
	// run); Send returns the first event's stored ID for it. Once retention
	// (Config.RetentionPeriod) has deleted that first event, the ID is
	// forgotten and a resent event is stored anew. At most 256 bytes of
	// valid UTF-8, without NUL.
	ID string
	// Name is required: valid UTF-8, printable, no spaces, at most 256
	// bytes, such as "user/signed.up". Names starting with "flow/" are
	// reserved.
	Name string
	// Data is the event's payload, encoded as JSON (an object is usual). It
	// must be storable in Postgres's jsonb: valid UTF-8, no NUL character
	// ("\u0000") in any key or string, numbers within Postgres's numeric
	// range.
	Data any
	// TS is when the event happened, between the years 1 and 9999. Defaults
	// to the time of sending.
	TS time.Time
}

// TypedEvent is an event as a function receives it, with Data decoded.
type TypedEvent[T any] struct {
	// ID is the event's stored ID (not the sender's dedupe ID).
	ID   string    `json:"id"`
	Name string    `json:"name"`
	Data T         `json:"data"`
	TS   time.Time `json:"ts"`
	// DedupeID is the sender's Event.ID, if it gave one.
	DedupeID string `json:"dedupe_id,omitempty"`
}

const (
	maxEventNameLen = 256
	reservedPrefix  = engine.ReservedPrefix
)

func validateEventName(name string) error {
	if name == "" {
		return errors.New("empty event name")
	}
	if len(name) > maxEventNameLen {
		return fmt.Errorf("event name is %d bytes, over the limit of %d", len(name), maxEventNameLen)
	}
	if !utf8.ValidString(name) {
		return fmt.Errorf("event name %q is not valid UTF-8", name)
	}
	for _, r := range name {
		if unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return fmt.Errorf("event name %q contains a space or an unprintable character", name)
		}
	}
	if strings.Contains(name, "*") {
		return fmt.Errorf("event name %q contains '*' (wildcards are for triggers)", name)
	}
	return nil
}

// prepareEvents checks and encodes events before any statement runs: an
// invalid event (see validateEvent) fails the whole call, so nothing of it is
// stored and the caller's transaction stays usable.
func prepareEvents(events []Event, maxBytes int) ([]engine.PreparedEvent, error) {
	out := make([]engine.PreparedEvent, len(events))
	for i, ev := range events {
		data, err := validateEvent(ev)
		if err != nil {
			return nil, fmt.Errorf("%w: event %d (%q): %v", ErrInvalidEvent, i, shorten(ev.Name, maxEventNameLen), err)
		}
		if size := len(data) + len(ev.Name) + len(ev.ID); size > maxBytes {
			return nil, fmt.Errorf("%w: event %d (%q): %d bytes, over the limit of %d (Config.MaxEventBytes)", ErrEventTooLarge, i, ev.Name, size, maxBytes)
		}
		ts := ev.TS
		if ts.IsZero() {
			ts = time.Now()
		}
		out[i] = engine.PreparedEvent{Name: ev.Name, Data: data, TS: ts.UTC(), DedupeID: ev.ID}
	}
	return out, nil
}

// Send stores events in their own transaction and starts the runs they
// trigger. It returns the stored events' IDs, in order. A call is all or
// nothing: an invalid event is an error (ErrInvalidEvent, ErrEventTooLarge)
// that names it by index and name, and nothing of the call is stored.
func (c *Client) Send(ctx context.Context, events ...Event) ([]string, error) {
	var ids []string
	err := pgx.BeginFunc(ctx, c.pool, func(tx pgx.Tx) error {
		var err error
		ids, err = c.sendTx(ctx, tx, false, events)
		return err
	})
	return ids, err
}

// SendTx stores events inside the caller's transaction, with the runs they
// trigger and the waits they resume: the events exist, and their runs start,
// if and only if the transaction commits. It returns the stored events' IDs,
// in order. Events are checked before any statement runs: after an invalid
// event (ErrInvalidEvent, ErrEventTooLarge) nothing of the call was written
// and the transaction is still usable. After any other error, roll the
// transaction back.
func (c *Client) SendTx(ctx context.Context, tx pgx.Tx, events ...Event) ([]string, error) {
	return c.sendTx(ctx, tx, true, events)
}

// sendTx checks and encodes events, then sends them in tx (see
// engine.SendTx for savepoint).
func (c *Client) sendTx(ctx context.Context, tx pgx.Tx, savepoint bool, events []Event) ([]string, error) {
	prepared, err := prepareEvents(events, c.cfg.MaxEventBytes)
	if err != nil {
		return nil, err
	}
	ids, err := c.e.SendTx(ctx, tx, savepoint, prepared)
	return ids, c.schemaError(ctx, err)
}
