package eventapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/riverflow/flow"
)

// maxEvents bounds the events of one request, as Inngest's event API does.
const maxEvents = 5_000

// inngestError is an error whose message is Inngest's own, word for word
// (capitalised), so that senders that match on it keep working.
type inngestError string

func (e inngestError) Error() string { return string(e) }

// errInvalidBody is Inngest's message for a body that is neither an object
// nor an array.
const errInvalidBody = inngestError("Request body must contain an event object or an array of event objects")

// errTooManyEvents is Inngest's message for an array of over maxEvents.
var errTooManyEvents = inngestError(fmt.Sprintf("Cannot have more than %d events in a batch", maxEvents))

// The bounds of an event's ts, as Inngest checks them.
var (
	minTS = time.Date(1980, time.January, 1, 0, 0, 0, 0, time.UTC)
	maxTS = time.Date(2100, time.January, 1, 0, 0, 0, 0, time.UTC)
)

// wireEvent is an event as Inngest's event API receives it. Unknown fields
// are ignored, as there.
type wireEvent struct {
	Name string          `json:"name"`
	Data json.RawMessage `json:"data"`
	ID   string          `json:"id"`
	// TS is milliseconds since the Unix epoch; 0 or absent: now.
	TS json.Number `json:"ts"`
}

// parseEvents decodes a body holding one event object or an array of them.
// Its errors name the problem (and the event, by index, in an array).
func parseEvents(body []byte) ([]flow.Event, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, errInvalidBody
	}
	var items []json.RawMessage
	switch body[0] {
	case '{':
		items = []json.RawMessage{body}
	case '[':
		if err := json.Unmarshal(body, &items); err != nil {
			return nil, fmt.Errorf("malformed JSON: %v", err)
		}
		if len(items) > maxEvents {
			return nil, errTooManyEvents
		}
	default:
		if !json.Valid(body) {
			return nil, fmt.Errorf("malformed JSON: %w", errInvalidBody)
		}
		return nil, errInvalidBody
	}
	events := make([]flow.Event, len(items))
	for i, item := range items {
		ev, err := parseEvent(item)
		if err != nil {
			if len(items) > 1 || body[0] == '[' {
				return nil, fmt.Errorf("event %d: %w", i, err)
			}
			return nil, err
		}
		events[i] = ev
	}
	return events, nil
}

// parseEvent decodes and checks one event object. The event's name, ID and
// data are checked further by flow.Client.Send.
func parseEvent(item json.RawMessage) (flow.Event, error) {
	item = bytes.TrimSpace(item)
	if len(item) == 0 || item[0] != '{' {
		return flow.Event{}, errors.New("an event must be a JSON object")
	}
	var w wireEvent
	dec := json.NewDecoder(bytes.NewReader(item))
	dec.UseNumber()
	if err := dec.Decode(&w); err != nil {
		return flow.Event{}, fmt.Errorf("malformed JSON: %v", err)
	}
	if dec.More() {
		return flow.Event{}, errors.New("malformed JSON: data after the event object")
	}
	return checkEvent(w.Name, w.Data, w.ID, w.TS)
}

// checkEvent builds an event from its parts as Inngest's event API checks
// them: a name, data an object (absent or null: {}), ts in milliseconds
// between 1980 and 2100 (0 or absent: now).
func checkEvent(name string, data json.RawMessage, id string, ts json.Number) (flow.Event, error) {
	if strings.TrimSpace(name) == "" {
		return flow.Event{}, errors.New("event name is empty")
	}
	data = bytes.TrimSpace(data)
	switch {
	case len(data) == 0 || string(data) == "null":
		data = json.RawMessage(`{}`)
	case data[0] != '{':
		return flow.Event{}, fmt.Errorf("event %q: data must be a JSON object", name)
	}
	ev := flow.Event{Name: name, Data: data, ID: id}
	if ts != "" {
		ms, err := ts.Int64()
		if err != nil {
			return flow.Event{}, fmt.Errorf("event %q: ts %s is not an integer (milliseconds since the Unix epoch)", name, ts)
		}
		if ms != 0 {
			t := time.UnixMilli(ms).UTC()
			if t.Before(minTS) {
				return flow.Event{}, fmt.Errorf("event %q: timestamp is before Jan 1, 1980", name)
			}
			if t.After(maxTS) {
				return flow.Event{}, fmt.Errorf("event %q: timestamp is after Jan 1, 2100", name)
			}
			ev.TS = t
		}
	}
	return ev, nil
}
