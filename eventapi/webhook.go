package eventapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/internal/expr"
)

// webhookCostLimit bounds one evaluation of a webhook's Expression, as
// flow.Config.MaxExpressionCost's default bounds conditions.
const webhookCostLimit = 1_000_000

// Webhook configures a webhook source: an endpoint that another service
// (GitHub, Stripe, a form) posts to, whose requests become events. Set one
// of Transform and Expression.
type Webhook struct {
	// Verify, if set, checks each request before anything else (see
	// GitHubSignature, StripeSignature); an error is answered 401. Without
	// it, anyone who knows the URL can send: keep such a URL secret.
	Verify Verifier
	// Transform turns a request into the events to send, given its body
	// (already read). An error is answered 400 with its message; no event
	// (nil) is answered 200 with no IDs, to ignore a request.
	Transform func(r *http.Request, body []byte) ([]flow.Event, error)
	// Expression is a CEL expression that turns a request into an event, a
	// map such as
	//
	//	{"name": "github/" + headers["x-github-event"], "data": body,
	//	 "id": headers["x-github-delivery"]}
	//
	// (the sender's delivery ID as "id" makes a redelivery a duplicate),
	// with "name", and optionally "data" (an object), "id" (dedupes, as
	// flow.Event.ID) and "ts" (milliseconds since the Unix epoch); or a list
	// of such maps; or null, to ignore the request. Its variables: body (the
	// body decoded as JSON, null if it is not JSON), headers (by lower-case
	// name), query (the URL's query parameters) and raw (the body as a
	// string). Missing fields are null, as in flow's conditions. The
	// branches of a conditional must have one type: wrap a list or null
	// beside a map in dyn(...), as in `body.zen != null ? null : dyn({...})`.
	Expression string
	// MaxBodyBytes bounds a request's body; a larger one is answered 413.
	// Defaults to 10 MiB.
	MaxBodyBytes int64
	// Logger logs requests that fail on the server's side. Defaults to
	// slog.Default().
	Logger *slog.Logger
}

// Validate reports a webhook that NewWebhook would refuse: neither or both
// of Transform and Expression, or an Expression that does not compile.
func (w Webhook) Validate() error {
	_, err := w.compile()
	return err
}

func (w Webhook) compile() (*expr.WebhookProgram, error) {
	switch {
	case w.Transform == nil && w.Expression == "":
		return nil, errors.New("flow: eventapi.Webhook: set Transform or Expression")
	case w.Transform != nil && w.Expression != "":
		return nil, errors.New("flow: eventapi.Webhook: set only one of Transform and Expression")
	case w.Transform != nil:
		return nil, nil
	}
	p, err := expr.CompileWebhook(w.Expression, webhookCostLimit)
	if err != nil {
		return nil, fmt.Errorf("flow: eventapi.Webhook: Expression: %w", err)
	}
	return p, nil
}

// webhook serves a webhook source.
type webhook struct {
	c   *flow.Client
	w   Webhook
	prg *expr.WebhookProgram
}

// NewWebhook returns the handler of a webhook source: it accepts POST
// requests (on any path: mount it where the sender posts), verifies each
// with w.Verify, turns it into events with w.Transform or w.Expression, and
// sends them with c.Send, answering as the event API does. A request is all
// or nothing, as there.
//
// Panics if w is invalid (see Webhook.Validate), as http.Handle does for a
// bad pattern: a webhook is configured once, at start-up.
func NewWebhook(c *flow.Client, w Webhook) http.Handler {
	if c == nil {
		panic("flow: eventapi.NewWebhook: nil client")
	}
	prg, err := w.compile()
	if err != nil {
		panic(err.Error())
	}
	if w.MaxBodyBytes <= 0 {
		w.MaxBodyBytes = defaultMaxBodyBytes
	}
	if w.Logger == nil {
		w.Logger = slog.Default()
	}
	return &webhook{c: c, w: w, prg: prg}
}

func (h *webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeError(w, http.StatusMethodNotAllowed, "Method "+r.Method+" not allowed: webhooks are sent with POST")
		return
	}
	body, ok := readBody(w, r, h.w.MaxBodyBytes)
	if !ok {
		return
	}
	if h.w.Verify != nil {
		if err := h.w.Verify(r, body); err != nil {
			writeError(w, http.StatusUnauthorized, strings.TrimPrefix(err.Error(), "flow: "))
			return
		}
	}
	var events []flow.Event
	var err error
	if h.prg != nil {
		events, err = h.evaluate(r, body)
	} else {
		events, err = h.w.Transform(r, body)
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "Transform: "+strings.TrimPrefix(err.Error(), "flow: "))
		return
	}
	if len(events) > maxEvents {
		writeError(w, http.StatusBadRequest, errTooManyEvents.Error())
		return
	}
	sendEvents(w, r, h.c, h.w.Logger, events)
}

// evaluate runs the webhook's Expression on the request.
func (h *webhook) evaluate(r *http.Request, body []byte) ([]flow.Event, error) {
	in := expr.WebhookInput{Headers: map[string]any{}, Query: map[string]any{}, Raw: string(body)}
	var decoded any
	if json.Unmarshal(body, &decoded) == nil {
		in.Body = decoded
	}
	for name, values := range r.Header {
		in.Headers[strings.ToLower(name)] = strings.Join(values, ", ")
	}
	for name, values := range r.URL.Query() {
		in.Query[name] = values[0]
	}
	v, err := h.prg.Value(in)
	if err != nil {
		return nil, err
	}
	switch v := v.(type) {
	case nil:
		return nil, nil
	case map[string]any:
		ev, err := eventFromMap(v)
		if err != nil {
			return nil, err
		}
		return []flow.Event{ev}, nil
	case []any:
		events := make([]flow.Event, len(v))
		for i, item := range v {
			m, ok := item.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("event %d: the expression's list holds a %T, not an event map", i, item)
			}
			ev, err := eventFromMap(m)
			if err != nil {
				return nil, fmt.Errorf("event %d: %w", i, err)
			}
			events[i] = ev
		}
		return events, nil
	}
	return nil, fmt.Errorf("the expression gave a %T, not an event map, a list of them or null", v)
}

// eventFromMap builds an event from a transform's map, checked as the event
// API checks a received event.
func eventFromMap(m map[string]any) (flow.Event, error) {
	var name, id string
	var data json.RawMessage
	var ts json.Number
	for k, v := range m {
		switch k {
		case "name":
			s, ok := v.(string)
			if !ok {
				return flow.Event{}, fmt.Errorf("name is a %T, not a string", v)
			}
			name = s
		case "id":
			s, ok := v.(string)
			if !ok && v != nil {
				return flow.Event{}, fmt.Errorf("id is a %T, not a string", v)
			}
			id = s
		case "data":
			b, err := json.Marshal(v)
			if err != nil {
				return flow.Event{}, fmt.Errorf("data: %v", err)
			}
			data = b
		case "ts":
			switch v := v.(type) {
			case nil:
			case float64:
				ts = json.Number(strconv.FormatFloat(v, 'f', -1, 64))
			case int64:
				ts = json.Number(strconv.FormatInt(v, 10))
			case uint64:
				ts = json.Number(strconv.FormatUint(v, 10))
			case time.Time:
				ts = json.Number(strconv.FormatInt(v.UnixMilli(), 10))
			default:
				return flow.Event{}, fmt.Errorf("ts is a %T, not milliseconds since the Unix epoch", v)
			}
		case "v", "user":
			// Inngest's event version and user fields: accepted, not stored.
		default:
			return flow.Event{}, fmt.Errorf("unknown event field %q (want name, data, id, ts)", k)
		}
	}
	return checkEvent(name, data, id, ts)
}
