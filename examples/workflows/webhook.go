package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/eventapi"
)

// webhookPayload is what the webhook accepts: which workflow to run.
type webhookPayload struct {
	WorkflowID int64 `json:"workflow_id"`
}

// mountEventAPI mounts the two ways in from outside the app:
//
//   - POST /webhooks/run: a webhook whose Go transform turns the request's
//     body into runEvent;
//   - POST /e/{key}: Inngest's event API, for any event, with an event key
//     that the app makes here at start.
func (a *app) mountEventAPI(ctx context.Context) error {
	key, _, err := a.client.CreateEventKey(ctx, "workflows example")
	if err != nil {
		return err
	}
	a.eventKey = key
	a.mux.Handle("POST /webhooks/run", eventapi.NewWebhook(a.client, eventapi.Webhook{
		Transform: a.webhookEvents,
	}))
	a.mux.Handle("/e/", eventapi.NewHandler(a.client, eventapi.Options{}))
	return nil
}

// webhookEvents is the webhook's transform: the request's body names a
// workflow, which must exist.
func (a *app) webhookEvents(r *http.Request, body []byte) ([]flow.Event, error) {
	var p webhookPayload
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, fmt.Errorf("workflows: webhook body: %w", err)
	}
	if _, err := getWorkflow(r.Context(), a.pool, p.WorkflowID); err != nil {
		return nil, err
	}
	return []flow.Event{{Name: runEvent, Data: runRequest{WorkflowID: p.WorkflowID, Source: "webhook"}}}, nil
}
