package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// keepAlive is how often an idle stream gets a comment line, so that
// proxies do not close it.
const keepAlive = 15 * time.Second

// Handler serves Server-Sent Events to holders of tokens signed with
// secret (see the root RealtimeHandler for the protocol).
func (h *Hub) Handler(secret func() []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The token, not a cookie, authorizes the stream: a page of any
		// origin may hold one (Inngest's SSE endpoint allows any origin too).
		w.Header().Set("Access-Control-Allow-Origin", "*")
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", http.MethodGet)
			writeError(w, http.StatusMethodNotAllowed, "method not allowed: subscribe with GET")
			return
		}
		q := r.URL.Query()
		token := q.Get("token")
		if token == "" {
			token, _ = strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		}
		if token == "" {
			writeError(w, http.StatusUnauthorized, "missing token: pass ?token= with a token from RealtimeToken")
			return
		}
		claims, err := VerifyToken(secret(), token, time.Now())
		if errors.Is(err, ErrNoSecret) {
			writeError(w, http.StatusInternalServerError, "realtime is not configured: Config.RealtimeSecret is not set")
			return
		}
		if err != nil {
			writeError(w, http.StatusUnauthorized, strings.TrimPrefix(err.Error(), "flow: "))
			return
		}
		if ch := q.Get("channel"); ch != "" && ch != claims.Channel {
			writeError(w, http.StatusForbidden, fmt.Sprintf("the token does not grant channel %q", ch))
			return
		}
		topics := requestedTopics(q)
		for _, t := range topics {
			if len(claims.Topics) > 0 && !slices.Contains(claims.Topics, t) {
				writeError(w, http.StatusForbidden, fmt.Sprintf("the token does not grant topic %q", t))
				return
			}
		}
		if len(topics) == 0 {
			topics = claims.Topics
		}
		lastID := r.Header.Get("Last-Event-ID")
		if lastID == "" {
			lastID = q.Get("last_id")
		}
		var after int64
		if lastID != "" {
			if after, err = strconv.ParseInt(lastID, 10, 64); err != nil || after < 0 {
				writeError(w, http.StatusBadRequest, fmt.Sprintf("bad last event ID %q: want a message ID", lastID))
				return
			}
		}
		sub, err := h.Subscribe(r.Context(), claims.Channel, "", topics, lastID != "", after)
		if err != nil {
			if r.Context().Err() == nil {
				writeError(w, http.StatusServiceUnavailable, strings.TrimPrefix(err.Error(), "flow: "))
			}
			return
		}
		defer sub.Close()
		Stream(w, r, sub.Next)
	})
}

// requestedTopics returns the topics of ?topic= (repeated) and ?topics=
// (comma-separated).
func requestedTopics(q map[string][]string) []string {
	var out []string
	out = append(out, q["topic"]...)
	for _, list := range q["topics"] {
		for t := range strings.SplitSeq(list, ",") {
			if t = strings.TrimSpace(t); t != "" {
				out = append(out, t)
			}
		}
	}
	return out
}

// wireMessage is a message as the stream's data lines carry it.
type wireMessage struct {
	ID      string          `json:"id"`
	Channel string          `json:"channel"`
	Topic   string          `json:"topic"`
	Data    json.RawMessage `json:"data"`
	RunID   string          `json:"run_id,omitempty"`
	Time    time.Time       `json:"time"`
}

// Stream writes the messages next returns to w as Server-Sent Events until
// the request ends or next fails: "id" the message ID, "event" its topic,
// "data" the message as JSON. Dropped live messages are an event
// "flow/gap" whose data says how many. An idle stream gets a comment every
// 15 seconds.
func Stream(w http.ResponseWriter, r *http.Request, next func(context.Context) (Message, error)) {
	fl, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, "streaming is not supported by this server")
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("Connection", "keep-alive")
	hdr.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 1000\n\n")
	fl.Flush()
	ctx := r.Context()
	for {
		wait, cancel := context.WithTimeout(ctx, keepAlive)
		m, err := next(wait)
		cancel()
		switch {
		case err == nil:
			data, _ := json.Marshal(wireMessage{ID: strconv.FormatInt(m.ID, 10), Channel: m.Channel, Topic: m.Topic,
				Data: m.Data, RunID: m.RunID, Time: m.Time})
			if _, err := fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", m.ID, m.Topic, data); err != nil {
				return
			}
		case errors.Is(err, ErrMessagesDropped):
			data, _ := json.Marshal(map[string]string{"error": strings.TrimPrefix(err.Error(), "flow: ")})
			if _, err := fmt.Fprintf(w, "event: flow/gap\ndata: %s\n\n", data); err != nil {
				return
			}
		case ctx.Err() != nil:
			return
		case errors.Is(err, context.DeadlineExceeded):
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return
			}
		default:
			return // closed, or the database failed: the browser reconnects and resumes
		}
		fl.Flush()
	}
}

// writeError answers with status and a JSON error.
func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": msg, "status": status})
}
