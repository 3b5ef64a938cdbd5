package realtime

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/riverflow/flow/internal/store"
)

// catchUpBatch is how many stored messages one read of a catching-up
// subscription fetches.
const catchUpBatch = 100

// maxFromTable bounds the IDs a run subscription remembers (fromTable).
const maxFromTable = 10_000

// Subscription receives the messages of one channel, of some topics, in ID
// order (or a run's, on every channel, in the order notified). One
// goroutine reads it with Next; Close may be called from any.
//
// Notified messages wait in a buffer for Next. When the buffer is full, the
// listener drops the message and marks the subscription behind: after the
// buffered messages from before the gap, Next reports the live messages
// dropped with ErrMessagesDropped, then reads the stored messages after the
// last one it delivered from the table, so durable messages (and live ones
// too big to notify) are never lost.
type Subscription struct {
	hub     *Hub
	channel string // "" for a run's messages on every channel
	runID   string
	topics  []string // all when empty

	notes    chan *wireNote
	wake     chan struct{} // tells a waiting Next to look at behind
	behind   atomic.Bool   // notes were dropped, or the listener reconnected
	dropMark atomic.Int64  // while behind: the first dropped note's ID (0: all)
	dropped  atomic.Int64  // live (unstored) notes dropped since Next last said so

	closed    chan struct{}
	closeOnce func()

	mu      sync.Mutex // one reader at a time
	last    int64      // the ID of the last message delivered (or start)
	start   int64      // where the subscription started: notes up to it are not its to deliver
	catchUp bool       // read the stored messages after last before notes
	pending []Message  // stored messages read, not yet delivered
	held    *wireNote  // a note taken from notes, not yet delivered

	// fromTable holds the IDs a run subscription's catch-ups delivered, so
	// that their notifications are skipped (see delivered).
	fromTable map[int64]struct{}
}

func newSubscription(h *Hub, channel, runID string, topics []string) *Subscription {
	s := &Subscription{hub: h, channel: channel, runID: runID, topics: slices.Clone(topics),
		notes: make(chan *wireNote, h.buffer), wake: make(chan struct{}, 1), closed: make(chan struct{})}
	s.closeOnce = sync.OnceFunc(func() { close(s.closed) })
	if channel == "" {
		s.fromTable = map[int64]struct{}{}
	}
	return s
}

// wants reports whether the subscription takes messages of topic.
func (s *Subscription) wants(topic string) bool {
	return len(s.topics) == 0 || slices.Contains(s.topics, topic)
}

// offer hands a notified message to the subscription without blocking.
// Called by the listener with the hub's lock held.
func (s *Subscription) offer(w *wireNote) {
	if !s.wants(w.Topic) {
		return
	}
	select {
	case s.notes <- w:
	default:
		if !s.behind.Load() {
			s.dropMark.Store(w.ID)
			s.behind.Store(true)
		}
		if !w.Stored {
			s.dropped.Add(1)
		}
	}
}

// Next returns the next message, waiting for one until ctx ends. It returns
// an error wrapping ErrSubscriptionClosed once the subscription is closed,
// and, at the place of a gap, one wrapping ErrMessagesDropped that says how
// many live messages were dropped because the reader fell behind (the
// subscription goes on).
func (s *Subscription) Next(ctx context.Context) (Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		select {
		case <-s.closed:
			return Message{}, ErrSubscriptionClosed
		default:
		}
		if len(s.pending) > 0 {
			m := s.pending[0]
			s.pending = s.pending[1:]
			s.last = max(s.last, m.ID)
			return m, nil
		}
		if s.catchUp {
			msgs, err := s.hub.store.RealtimeAfter(ctx, s.channel, s.runID, s.last, s.topics, catchUpBatch)
			if err != nil {
				return Message{}, fmt.Errorf("flow: read stored realtime messages: %w", err)
			}
			if len(msgs) < catchUpBatch {
				s.catchUp = false
			}
			for _, m := range msgs {
				s.pending = append(s.pending, fromStored(m))
				if s.channel == "" {
					if len(s.fromTable) >= maxFromTable {
						clear(s.fromTable) // forget the oldest: at worst a duplicate
					}
					s.fromTable[m.ID] = struct{}{}
				}
			}
			continue
		}
		w := s.held
		s.held = nil
		if w == nil {
			select {
			case w = <-s.notes:
			default:
			}
		}
		if w == nil {
			if s.behind.Load() { // the buffer is drained: read what was dropped
				if err := s.startCatchUp(); err != nil {
					return Message{}, err
				}
				continue
			}
			select {
			case <-s.closed:
				return Message{}, ErrSubscriptionClosed
			case <-ctx.Done():
				return Message{}, ctx.Err()
			case <-s.wake:
				continue
			case w = <-s.notes:
				s.held = w
				continue
			}
		}
		if s.behind.Load() && w.ID >= s.dropMark.Load() {
			// Messages before this one were dropped: read them from the
			// table first, then look at this one again.
			s.held = w
			if err := s.startCatchUp(); err != nil {
				return Message{}, err
			}
			continue
		}
		if s.delivered(w) {
			continue
		}
		m, ok, err := s.resolve(ctx, w)
		if err != nil {
			return Message{}, err
		}
		if !ok {
			continue
		}
		s.last = max(s.last, m.ID)
		return m, nil
	}
}

// delivered reports whether a notified message was delivered already, from
// the table, or must be skipped. A channel's IDs increase in delivery order,
// so a note at or below the last delivered ID was read from the table, or,
// if it was never stored, lost behind a catch-up (counted as dropped). A
// run's messages span channels, whose IDs interleave out of order, so a run
// subscription remembers the IDs its catch-ups delivered instead.
func (s *Subscription) delivered(w *wireNote) bool {
	if s.channel == "" {
		if _, ok := s.fromTable[w.ID]; ok {
			delete(s.fromTable, w.ID)
			return true
		}
		return false
	}
	if w.ID > s.last {
		return false
	}
	if !w.Stored && w.ID > s.start {
		s.dropped.Add(1)
	}
	return true
}

// markBehind makes the subscription read the stored messages after the last
// it delivered before any notified one (the listener reconnected).
func (s *Subscription) markBehind() {
	s.dropMark.Store(0)
	s.behind.Store(true)
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// startCatchUp makes Next read the stored messages after the last it
// delivered, and reports the live messages dropped.
func (s *Subscription) startCatchUp() error {
	s.behind.Store(false)
	s.catchUp = true
	if n := s.dropped.Swap(0); n > 0 {
		return fmt.Errorf("%w (%d messages)", ErrMessagesDropped, n)
	}
	return nil
}

// resolve turns a note into its message, reading a referenced one from the
// table; ok is false for a message deleted since.
func (s *Subscription) resolve(ctx context.Context, w *wireNote) (Message, bool, error) {
	if !w.Ref {
		m := Message{ID: w.ID, Channel: w.Channel, Topic: w.Topic, Data: w.Data, Time: time.UnixMicro(w.At)}
		if w.RunID != nil {
			m.RunID = *w.RunID
		}
		return m, true, nil
	}
	st, err := s.hub.store.RealtimeMessage(ctx, w.ID)
	if errors.Is(err, pgx.ErrNoRows) {
		return Message{}, false, nil
	}
	if err != nil {
		return Message{}, false, fmt.Errorf("flow: read realtime message %d: %w", w.ID, err)
	}
	return fromStored(st), true, nil
}

// Close ends the subscription: a waiting Next returns
// ErrSubscriptionClosed. It never fails.
func (s *Subscription) Close() error {
	s.hub.remove(s)
	s.closeOnce()
	return nil
}

func fromStored(m store.RealtimeMessage) Message {
	return Message{ID: m.ID, Channel: m.Channel, Topic: m.Topic, Data: m.Data, RunID: m.RunID, Time: m.Time}
}
