package flow

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/riverflow/flow/internal/realtime"
)

// RealtimeToken returns a token that lets a browser read channel's messages
// of topics (all topics when topics is empty) through RealtimeHandler: a JWT
// (HS256, signed with Config.RealtimeSecret, as Inngest's realtime tokens
// are) with the claims iss "riverflow", iat, exp (now + ttl; a ttl of 0
// means one minute, Inngest's default), channel and topics. Issue it from an endpoint of the app after the
// app's own authorization decided that the user may read the channel. The
// token is checked when the stream opens; a stream goes on after the token
// expires, but reconnecting needs a valid one, so keep ttl short (a minute)
// and hand the browser a fresh token when it reconnects.
func (c *Client) RealtimeToken(channel string, topics []string, ttl time.Duration) (string, error) {
	if err := realtime.CheckChannel(channel); err != nil {
		return "", err
	}
	for _, t := range topics {
		if err := realtime.CheckTopic(t); err != nil {
			return "", err
		}
	}
	switch {
	case ttl < 0:
		return "", fmt.Errorf("flow: RealtimeToken: negative ttl %s", ttl)
	case ttl == 0:
		ttl = realtime.DefaultExpiry
	}
	now := time.Now()
	tok, err := realtime.SignToken(c.cfg.RealtimeSecret, realtime.Claims{
		IssuedAt: now.Unix(), Expires: now.Add(ttl).Unix(), Channel: channel, Topics: topics,
	})
	if errors.Is(err, realtime.ErrNoSecret) {
		return "", fmt.Errorf("flow: RealtimeToken: %w", ErrNoRealtimeSecret)
	}
	return tok, err
}

// RealtimeHandler returns an http.Handler that streams a channel's messages
// to a browser as Server-Sent Events (EventSource). The request is
// GET ?token=<RealtimeToken> (or an "Authorization: Bearer" header);
// ?topic=a&topic=b or ?topics=a,b narrow the token's topics; it resumes after
// the Last-Event-ID header that EventSource sends when it reconnects (or
// ?last_id=). Each message is an SSE message with "id:" its Message.ID,
// "event:" its topic and "data:" the Message as JSON (id, channel, topic,
// data, run_id, time). After dropped live messages (see Subscription) the
// stream sends one "flow/gap" event; an idle stream gets a comment every 15
// seconds.
//
// A missing, malformed, forged or expired token gets 401, a channel or topic
// the token does not grant gets 403, and a bad Last-Event-ID 400, each with
// a JSON body {"error": "...", "status": N}. Without Config.RealtimeSecret
// every request gets 500.
func (c *Client) RealtimeHandler() http.Handler {
	return c.e.Realtime().Handler(func() []byte { return c.cfg.RealtimeSecret })
}
