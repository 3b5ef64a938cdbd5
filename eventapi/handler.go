package eventapi

import (
	"context"
	"crypto/subtle"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/riverflow/flow"
)

// defaultMaxBodyBytes is Options.MaxBodyBytes's default.
const defaultMaxBodyBytes = 10 << 20

// Options configures NewHandler. The zero value is ready to use.
type Options struct {
	// DevKey, if not empty, is a key accepted besides the stored ones (see
	// flow.Client.CreateEventKey), compared in constant time. It is for a
	// dev server and tests ("flow dev" uses "dev"): never set it on a
	// server that other people can reach. Defaults to none.
	DevKey string
	// MaxBodyBytes bounds a request's body; a larger one is answered 413.
	// Each event is bounded too, by the client's Config.MaxEventBytes.
	// Defaults to 10 MiB.
	MaxBodyBytes int64
	// Logger logs requests that fail on the server's side (a database
	// error). Defaults to slog.Default().
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = defaultMaxBodyBytes
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// handler serves the event API.
type handler struct {
	c    *flow.Client
	opts Options
}

// NewHandler returns the event API: POST /e/{key} with one event or a JSON
// array of events, answered with {"ids": [...], "status": 200} as Inngest's
// event API does (see the package documentation for the shapes, status codes
// and limits). The events are sent with c.Send: one transaction, all or
// nothing. Mount it at the root of a server, or strip a prefix first:
//
//	mux.Handle("/e/", eventapi.NewHandler(client, eventapi.Options{}))
//
// Browsers may call it from any origin (CORS), as Inngest's: the key in the
// URL, not a cookie, authorises a request.
func NewHandler(c *flow.Client, opts Options) http.Handler {
	if c == nil {
		panic("flow: eventapi.NewHandler: nil client")
	}
	return &handler{c: c, opts: opts.withDefaults()}
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if allowCORS(w, r) {
		return
	}
	key, ok := strings.CutPrefix(r.URL.Path, "/e/")
	if !ok || strings.Contains(key, "/") {
		writeError(w, http.StatusNotFound, "Not found: send events to POST /e/{key}")
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST, OPTIONS")
		writeError(w, http.StatusMethodNotAllowed, "Method "+r.Method+" not allowed: send events with POST")
		return
	}
	if key == "" {
		writeError(w, http.StatusUnauthorized, "Event key is required")
		return
	}
	switch err := h.checkKey(r.Context(), key); {
	case errors.Is(err, flow.ErrInvalidEventKey):
		writeError(w, http.StatusUnauthorized, "Event key not found")
		return
	case err != nil:
		h.serverError(w, r, "checking the event key", err)
		return
	}
	body, ok := readBody(w, r, h.opts.MaxBodyBytes)
	if !ok {
		return
	}
	events, err := parseEvents(body)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	sendEvents(w, r, h.c, h.opts.Logger, events)
}

// checkKey returns nil for an accepted key, an error wrapping
// flow.ErrInvalidEventKey for a refused one.
func (h *handler) checkKey(ctx context.Context, key string) error {
	if h.opts.DevKey != "" && subtle.ConstantTimeCompare([]byte(key), []byte(h.opts.DevKey)) == 1 {
		return nil
	}
	_, err := h.c.VerifyEventKey(ctx, key)
	return err
}

func (h *handler) serverError(w http.ResponseWriter, r *http.Request, what string, err error) {
	h.opts.Logger.ErrorContext(r.Context(), "flow: event API: "+what, "error", err)
	writeError(w, http.StatusInternalServerError, "Internal error "+what)
}

// allowCORS lets browsers call the API from any origin, as Inngest's event
// API does, and answers preflight requests; it reports whether it answered.
func allowCORS(w http.ResponseWriter, r *http.Request) bool {
	if r.Header.Get("Origin") == "" {
		return false
	}
	w.Header().Set("Access-Control-Allow-Origin", "*")
	if r.Method != http.MethodOptions || r.Header.Get("Access-Control-Request-Method") == "" {
		return false
	}
	w.Header().Set("Access-Control-Allow-Methods", "POST, OPTIONS")
	if hdrs := r.Header.Get("Access-Control-Request-Headers"); hdrs != "" {
		w.Header().Set("Access-Control-Allow-Headers", hdrs)
	}
	w.Header().Set("Access-Control-Max-Age", "3600")
	w.WriteHeader(http.StatusNoContent)
	return true
}

// readBody reads r's body up to limit bytes; past it, or on a read error,
// it answers and reports false.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, "Request body is over the limit of "+itoa(limit)+" bytes")
		return nil, false
	case err != nil:
		writeError(w, http.StatusBadRequest, "Reading the request body: "+err.Error())
		return nil, false
	}
	return body, true
}

// sendEvents sends events in one transaction and answers with their IDs;
// an invalid event is a 400 and stores nothing.
func sendEvents(w http.ResponseWriter, r *http.Request, c *flow.Client, logger *slog.Logger, events []flow.Event) {
	if len(events) == 0 {
		writeIDs(w, nil)
		return
	}
	ids, err := c.Send(r.Context(), events...)
	switch {
	case errors.Is(err, flow.ErrInvalidEvent), errors.Is(err, flow.ErrEventTooLarge):
		writeError(w, http.StatusBadRequest, strings.TrimPrefix(err.Error(), "flow: "))
	case err != nil:
		logger.ErrorContext(r.Context(), "flow: event API: storing events", "error", err)
		writeError(w, http.StatusInternalServerError, "Internal error storing the events")
	default:
		writeIDs(w, ids)
	}
}
