// Package realtime delivers the messages that functions and the app publish
// to channels and topics: one LISTEN connection per client, shared by all of
// its subscriptions, that hands each notification to the subscriptions of
// its channel (or run), which read stored messages back from the table when
// they resume or fall behind. It also signs the tokens of browser
// subscribers and streams Server-Sent Events to them.
package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/riverflow/flow/internal/store"
)

// Errors of subscriptions.
var (
	// ErrSubscriptionClosed is returned by Next once the subscription was
	// closed, by Close or by stopping the client.
	ErrSubscriptionClosed = errors.New("flow: subscription closed")

	// ErrMessagesDropped is returned by Next, at the gap, when live messages
	// were dropped because the subscriber read too slowly, saying how many;
	// the subscription stays open and the next call goes on.
	ErrMessagesDropped = errors.New("flow: live messages dropped: the subscriber fell behind")
)

// MaxNameBytes bounds a channel's and a topic's name, so that a reference
// to any message fits in a notification.
const MaxNameBytes = 256

// CheckNames checks a channel and topic to publish to.
func CheckNames(channel, topic string) error {
	if err := checkName("channel", channel); err != nil {
		return err
	}
	return checkName("topic", topic)
}

// CheckChannel checks a channel to subscribe to or issue a token for.
func CheckChannel(channel string) error { return checkName("channel", channel) }

// CheckTopic checks a topic to subscribe to or issue a token for.
func CheckTopic(topic string) error { return checkName("topic", topic) }

func checkName(what, name string) error {
	switch {
	case name == "":
		return fmt.Errorf("flow: realtime %s is empty", what)
	case len(name) > MaxNameBytes:
		return fmt.Errorf("flow: realtime %s is %d bytes, over the limit of %d", what, len(name), MaxNameBytes)
	case !utf8.ValidString(name):
		return fmt.Errorf("flow: realtime %s %q is not valid UTF-8", what, name)
	case strings.ContainsAny(name, "\r\n"):
		return fmt.Errorf("flow: realtime %s %q contains a line break", what, name)
	}
	return nil
}

// Message is a delivered message.
type Message struct {
	ID      int64
	Channel string
	Topic   string
	Data    json.RawMessage
	RunID   string
	Time    time.Time
}

// DefaultBuffer is how many notified messages a subscription holds for its
// reader before it counts as fallen behind.
const DefaultBuffer = 1024

// Hub is a client's realtime side: its LISTEN connection, started by the
// first subscription and held until Close, and its subscriptions.
type Hub struct {
	pool   *pgxpool.Pool
	store  *store.Store
	logger *slog.Logger
	buffer int

	mu       sync.Mutex
	channels map[string]map[*Subscription]struct{}
	runs     map[string]map[*Subscription]struct{}
	cancel   context.CancelFunc // stops the listener; nil while none runs
	done     chan struct{}      // closed when the listener returned
	ready    chan struct{}      // closed once the listener first listens
}

// NewHub returns a hub on pool; buffer is each subscription's (0 for
// DefaultBuffer).
func NewHub(pool *pgxpool.Pool, st *store.Store, logger *slog.Logger, buffer int) *Hub {
	if buffer <= 0 {
		buffer = DefaultBuffer
	}
	return &Hub{pool: pool, store: st, logger: logger, buffer: buffer,
		channels: map[string]map[*Subscription]struct{}{}, runs: map[string]map[*Subscription]struct{}{}}
}

// Publish publishes a message in db (a transaction for a durable message)
// and returns its ID. Names must have passed CheckNames.
func (h *Hub) Publish(ctx context.Context, db store.DB, m store.RealtimeMessage, durable bool) (int64, error) {
	if m.Time.IsZero() {
		m.Time = time.Now()
	}
	id, err := h.store.RealtimePublish(ctx, db, m, durable)
	if err != nil {
		return 0, fmt.Errorf("flow: publish to channel %q, topic %q: %w", m.Channel, m.Topic, err)
	}
	return id, nil
}

// Subscribe returns a subscription to channel's messages (or, with channel
// "", to those run runID publishes on any channel) of topics (all when
// empty). With resume, it first delivers the stored messages after afterID;
// without, the messages published from now on.
func (h *Hub) Subscribe(ctx context.Context, channel, runID string, topics []string, resume bool, afterID int64) (*Subscription, error) {
	sub := newSubscription(h, channel, runID, topics)
	ready := h.add(sub)
	select {
	case <-ready:
	case <-ctx.Done():
		h.remove(sub)
		return nil, fmt.Errorf("flow: subscribe: %w", ctx.Err())
	}
	if resume {
		sub.last, sub.start = afterID, afterID
		sub.catchUp = true
		return sub, nil
	}
	last, err := h.store.RealtimeLastID(ctx, channel, runID)
	if err != nil {
		h.remove(sub)
		return nil, fmt.Errorf("flow: subscribe: %w", err)
	}
	sub.last, sub.start = last, last
	return sub, nil
}

// add registers sub and starts the listener if none runs. It returns the
// channel closed once the listener listens.
func (h *Hub) add(sub *Subscription) <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	set, key := h.channels, sub.channel
	if sub.channel == "" {
		set, key = h.runs, sub.runID
	}
	if set[key] == nil {
		set[key] = map[*Subscription]struct{}{}
	}
	set[key][sub] = struct{}{}
	if h.cancel == nil {
		ctx, cancel := context.WithCancel(context.Background())
		h.cancel, h.done, h.ready = cancel, make(chan struct{}), make(chan struct{})
		go h.listen(ctx, h.ready, h.done)
	}
	return h.ready
}

// remove unregisters sub.
func (h *Hub) remove(sub *Subscription) {
	h.mu.Lock()
	defer h.mu.Unlock()
	set, key := h.channels, sub.channel
	if sub.channel == "" {
		set, key = h.runs, sub.runID
	}
	delete(set[key], sub)
	if len(set[key]) == 0 {
		delete(set, key)
	}
}

// Subscriptions returns how many subscriptions are open.
func (h *Hub) Subscriptions() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, set := range []map[string]map[*Subscription]struct{}{h.channels, h.runs} {
		for _, m := range set {
			n += len(m)
		}
	}
	return n
}

// Close stops the listener, releasing its connection, and closes every
// subscription. A later Subscribe starts a new listener.
func (h *Hub) Close() {
	h.mu.Lock()
	cancel, done := h.cancel, h.done
	h.cancel, h.done, h.ready = nil, nil, nil
	var subs []*Subscription
	for _, set := range []map[string]map[*Subscription]struct{}{h.channels, h.runs} {
		for key, m := range set {
			for s := range m {
				subs = append(subs, s)
			}
			delete(set, key)
		}
	}
	h.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	for _, s := range subs {
		s.closeOnce()
	}
}

// Backoff of the LISTEN connection's reconnections.
const (
	listenRetryMin = 50 * time.Millisecond
	listenRetryMax = 2 * time.Second
)

// listen holds the LISTEN connection, reconnecting after errors, until ctx
// ends. ready is closed once it first listens.
func (h *Hub) listen(ctx context.Context, ready, done chan struct{}) {
	defer close(done)
	backoff := listenRetryMin
	first := true
	for ctx.Err() == nil {
		listened, err := h.listenOnce(ctx, func() {
			if first {
				first = false
				close(ready)
				return
			}
			// Notifications sent while no connection listened are lost:
			// every subscription reads the stored messages back.
			h.markAllBehind()
		})
		if ctx.Err() != nil {
			return
		}
		if listened {
			backoff = listenRetryMin
		}
		h.logger.WarnContext(ctx, "flow: realtime listener failed; reconnecting", "error", err, "retry_in", backoff)
		timer := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		backoff = min(backoff*2, listenRetryMax)
	}
}

// listenOnce listens until its connection fails; listening is called once
// the connection listens.
func (h *Hub) listenOnce(ctx context.Context, listening func()) (listened bool, err error) {
	pc, err := h.pool.Acquire(ctx)
	if err != nil {
		return false, err
	}
	conn := pc.Hijack() // outside the pool's accounting for as long as it listens
	defer conn.Close(context.WithoutCancel(ctx))
	if err := h.store.ListenRealtime(ctx, conn); err != nil {
		return false, err
	}
	listening()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return true, err
		}
		var w wireNote
		if err := json.Unmarshal([]byte(n.Payload), &w); err != nil {
			h.logger.WarnContext(ctx, "flow: realtime notification not understood", "error", err)
			continue
		}
		h.dispatch(&w)
	}
}

// wireNote is a notification's payload, as flow_realtime_publish writes it.
type wireNote struct {
	ID      int64           `json:"i"`
	Channel string          `json:"c"`
	Topic   string          `json:"t"`
	RunID   *string         `json:"r"`
	At      int64           `json:"at"` // microseconds since the Unix epoch
	Stored  bool            `json:"s"`
	Data    json.RawMessage `json:"d"`
	Ref     bool            `json:"ref"` // only a reference: read the stored message
}

func (h *Hub) dispatch(w *wireNote) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.channels[w.Channel] {
		s.offer(w)
	}
	if w.RunID != nil {
		for s := range h.runs[*w.RunID] {
			s.offer(w)
		}
	}
}

func (h *Hub) markAllBehind() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, set := range []map[string]map[*Subscription]struct{}{h.channels, h.runs} {
		for _, m := range set {
			for s := range m {
				s.markBehind()
			}
		}
	}
}
