package realtime

// Buffered returns how many notified messages wait in s's buffer.
func (s *Subscription) Buffered() int { return len(s.notes) }

// Behind reports whether s has dropped notified messages (or lost its
// listener) since it last caught up.
func (s *Subscription) Behind() bool { return s.behind.Load() }
