package flowui

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/riverflow/flow"
)

// streamKeepAlive is how often an idle message stream gets a comment, so
// that proxies keep it open.
const streamKeepAlive = 15 * time.Second

// runMessages streams the realtime messages that a run publishes, on any
// channel, as Server-Sent Events for the run page's Messages section: the
// stored ones first (durable messages, and live ones too big for a
// notification), then every message live. Each event has the message's ID
// and the message as JSON (id, channel, topic, data, run_id, time), and no
// event name, so that the page's EventSource gets them all. The route sits
// behind Options.Authorize like every other: the dashboard's own
// authorization, not realtime tokens.
func (h *handler) runMessages(w http.ResponseWriter, r *request) {
	id := r.segs[1]
	if !isUUID(id) {
		h.notFound(w, r)
		return
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming is not supported by this server", http.StatusInternalServerError)
		return
	}
	sub, err := h.c.SubscribeRun(r.Context(), id, r.Header.Get("Last-Event-ID"))
	if err != nil {
		if r.Context().Err() == nil {
			h.opts.Logger.ErrorContext(r.Context(), "flowui: subscribe to a run's messages", "run_id", id, "error", err)
			http.Error(w, "the run's messages cannot be streamed now", http.StatusServiceUnavailable)
		}
		return
	}
	defer sub.Close()
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-cache")
	hd.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 2000\n\n")
	fl.Flush()
	for {
		ctx, cancel := context.WithTimeout(r.Context(), streamKeepAlive)
		m, err := sub.Next(ctx)
		cancel()
		switch {
		case err == nil:
			data, _ := json.Marshal(m)
			if _, err := fmt.Fprintf(w, "id: %s\ndata: %s\n\n", m.ID, data); err != nil {
				return
			}
		case errors.Is(err, flow.ErrMessagesDropped):
			fmt.Fprint(w, ": some live messages were dropped\n\n")
		case r.Context().Err() == nil && errors.Is(err, context.DeadlineExceeded):
			fmt.Fprint(w, ": keep-alive\n\n")
		default:
			return // the page went away, the client stopped, or the database failed
		}
		fl.Flush()
	}
}
