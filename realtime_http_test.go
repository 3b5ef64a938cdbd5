package flow_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
	"github.com/riverflow/flow/internal/realtime"
)

var testRealtimeSecret = []byte("0123456789abcdef0123456789abcdef")

func realtimeConfig() *flow.Config {
	cfg := testConfig()
	cfg.RealtimeSecret = testRealtimeSecret
	return cfg
}

// sseEvent is one Server-Sent Event of a stream.
type sseEvent struct {
	ID, Event, Data string
}

// sseStream reads the events of a streaming response.
type sseStream struct {
	resp *http.Response
	r    *bufio.Reader
}

// openStream GETs url with the given Last-Event-ID ("" for none) and
// returns the stream once the handler has subscribed (its first line came).
func openStream(t *testing.T, rawURL, lastID string) *sseStream {
	t.Helper()
	req, err := http.NewRequestWithContext(testCtx(t), http.MethodGet, rawURL, nil)
	require.NoError(t, err)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { _ = resp.Body.Close() })
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	s := &sseStream{resp: resp, r: bufio.NewReader(resp.Body)}
	line, err := s.r.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "retry: 1000\n", line)
	return s
}

// next returns the next event, skipping comments and field-less blocks.
func (s *sseStream) next(t *testing.T) sseEvent {
	t.Helper()
	var ev sseEvent
	for {
		line, err := s.r.ReadString('\n')
		require.NoError(t, err)
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if ev != (sseEvent{}) {
				return ev
			}
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "id: "):
			ev.ID = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "event: "):
			ev.Event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			ev.Data += strings.TrimPrefix(line, "data: ")
		}
	}
}

// The SSE handler streams a channel's messages to a token holder, each with
// its ID, topic and the message as JSON, and resumes after Last-Event-ID.
func TestRealtimeHandlerStreams(t *testing.T) {
	t.Parallel()
	c := flowtest.Client(t, realtimeConfig(), func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "chat"}, flow.EventTrigger("room/said"),
			func(ctx context.Context, in flow.Input[string]) (any, error) {
				return nil, flow.Publish(ctx, "say", "room-1", "chat", in.Event.Data)
			})
		require.NoError(t, err)
	})
	srv := httptest.NewServer(c.RealtimeHandler())
	t.Cleanup(srv.Close)
	token, err := c.RealtimeToken("room-1", nil, time.Hour) // long: a loaded machine may run the test slowly
	require.NoError(t, err)
	streamURL := srv.URL + "/?token=" + url.QueryEscape(token)

	ctx := testCtx(t)
	stream := openStream(t, streamURL, "")
	run := awaitOnly(t, c, flow.Event{Name: "room/said", Data: "hello\nworld"})
	require.NoError(t, c.Publish(ctx, "room-1", "typing", map[string]bool{"on": true}))

	ev := stream.next(t)
	require.Equal(t, "chat", ev.Event)
	var m flow.Message
	require.NoError(t, json.Unmarshal([]byte(ev.Data), &m))
	require.Equal(t, ev.ID, m.ID)
	require.Equal(t, "room-1", m.Channel)
	require.Equal(t, "chat", m.Topic)
	require.Equal(t, run.ID, m.RunID)
	require.JSONEq(t, `"hello\nworld"`, string(m.Data), "a line break in the data stays inside one data line")
	require.WithinDuration(t, time.Now(), m.Time, time.Minute)
	first := ev.ID

	ev = stream.next(t)
	require.Equal(t, "typing", ev.Event)
	m = flow.Message{}
	require.NoError(t, json.Unmarshal([]byte(ev.Data), &m))
	require.JSONEq(t, `{"on":true}`, string(m.Data))
	require.Empty(t, m.RunID)
	require.NoError(t, stream.resp.Body.Close()) // the browser lost its connection

	// Said while disconnected; EventSource reconnects with Last-Event-ID.
	awaitOnly(t, c, flow.Event{Name: "room/said", Data: "again"})
	resumed := openStream(t, streamURL, first)
	ev = resumed.next(t)
	require.Equal(t, "chat", ev.Event)
	require.NoError(t, json.Unmarshal([]byte(ev.Data), &m))
	require.JSONEq(t, `"again"`, string(m.Data), "the stored message after the last seen; the live one is not stored")

	// ?last_id= does the same.
	byQuery := openStream(t, streamURL+"&last_id="+first, "")
	require.Equal(t, ev, byQuery.next(t))
}

// The handler refuses requests without a valid token for the channel and
// topics asked for, with a JSON error.
func TestRealtimeHandlerTokenChecks(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	c := newClient(t, pool, realtimeConfig())
	t.Cleanup(func() { require.NoError(t, c.Stop(context.Background())) })
	srv := httptest.NewServer(c.RealtimeHandler())
	t.Cleanup(srv.Close)

	valid, err := c.RealtimeToken("orders", []string{"status", "eta"}, time.Hour) // the parallel subtests may start minutes later
	require.NoError(t, err)
	otherCfg := testConfig()
	otherCfg.RealtimeSecret = []byte("another secret, another app.....")
	forged, err := newClient(t, pool, otherCfg).RealtimeToken("orders", nil, time.Hour)
	require.NoError(t, err)
	expired, err := realtime.SignToken(testRealtimeSecret, realtime.Claims{Channel: "orders", Expires: time.Now().Add(-time.Second).Unix()})
	require.NoError(t, err)
	parts := strings.Split(valid, ".")
	require.Len(t, parts, 3)
	tampered := parts[0] + "." + encodeClaims(t, realtime.Claims{Channel: "admin", Expires: time.Now().Add(time.Hour).Unix()}) + "." + parts[2]

	for _, tc := range []struct {
		name, method, query string
		want                int
		says                string
	}{
		{"no token", http.MethodGet, "", http.StatusUnauthorized, "missing token"},
		{"garbage", http.MethodGet, "token=nope", http.StatusUnauthorized, "invalid realtime token"},
		{"upstream invalid-jwt", http.MethodGet, "token=invalid-jwt", http.StatusUnauthorized, "not a JWT"},
		{"another secret", http.MethodGet, "token=" + forged, http.StatusUnauthorized, "bad signature"},
		{"claims changed", http.MethodGet, "token=" + tampered, http.StatusUnauthorized, "bad signature"},
		{"expired", http.MethodGet, "token=" + expired, http.StatusUnauthorized, "expired"},
		{"other channel", http.MethodGet, "token=" + valid + "&channel=payments", http.StatusForbidden, `channel "payments"`},
		{"topic outside", http.MethodGet, "token=" + valid + "&topic=status&topic=refund", http.StatusForbidden, `topic "refund"`},
		{"topics outside", http.MethodGet, "token=" + valid + "&topics=eta,refund", http.StatusForbidden, `topic "refund"`},
		{"bad last id", http.MethodGet, "token=" + valid + "&last_id=x", http.StatusBadRequest, "last event ID"},
		{"post", http.MethodPost, "token=" + valid, http.StatusMethodNotAllowed, "GET"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req, err := http.NewRequest(tc.method, srv.URL+"/?"+tc.query, nil)
			require.NoError(t, err)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			require.Equal(t, tc.want, resp.StatusCode)
			require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
			var body struct {
				Error  string `json:"error"`
				Status int    `json:"status"`
			}
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
			require.Contains(t, body.Error, tc.says)
			require.Equal(t, tc.want, body.Status)
		})
	}

	t.Run("granted topics", func(t *testing.T) {
		t.Parallel()
		s := openStream(t, srv.URL+"/?token="+url.QueryEscape(valid)+"&topic=eta&channel=orders", "")
		require.NoError(t, c.Publish(context.Background(), "orders", "status", "not asked for"))
		require.NoError(t, c.Publish(context.Background(), "orders", "eta", "5 min"))
		require.Equal(t, "eta", s.next(t).Event)
	})
	t.Run("bearer header", func(t *testing.T) {
		t.Parallel()
		req, err := http.NewRequestWithContext(testCtx(t), http.MethodGet, srv.URL, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+valid)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
	})
	t.Run("no secret", func(t *testing.T) {
		t.Parallel()
		bare := newClient(t, pool, nil)
		_, err := bare.RealtimeToken("orders", nil, time.Minute)
		require.ErrorIs(t, err, flow.ErrNoRealtimeSecret)
		rec := httptest.NewRecorder()
		bare.RealtimeHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/?token="+valid, nil))
		require.Equal(t, http.StatusInternalServerError, rec.Code)
		require.Contains(t, rec.Body.String(), "RealtimeSecret")
	})
	t.Run("token arguments", func(t *testing.T) {
		t.Parallel()
		_, err := c.RealtimeToken("", nil, time.Minute)
		require.Error(t, err)
		_, err = c.RealtimeToken("orders", []string{""}, time.Minute)
		require.Error(t, err)
		_, err = c.RealtimeToken("orders", nil, -time.Second)
		require.Error(t, err)
		// Upstream TestNewJWT_DefaultExpiry: one minute when none is given.
		tok, err := c.RealtimeToken("orders", []string{"eta"}, 0)
		require.NoError(t, err)
		claims, err := realtime.VerifyToken(testRealtimeSecret, tok, time.Now())
		require.NoError(t, err)
		require.Equal(t, int64(60), claims.Expires-claims.IssuedAt)
		require.Equal(t, []string{"eta"}, claims.Topics)
		// Upstream TestNewJWT_CustomExpiry.
		tok, err = c.RealtimeToken("orders", nil, 2*time.Hour)
		require.NoError(t, err)
		claims, err = realtime.VerifyToken(testRealtimeSecret, tok, time.Now())
		require.NoError(t, err)
		require.Equal(t, int64(7200), claims.Expires-claims.IssuedAt)
	})
}

func encodeClaims(t *testing.T, c realtime.Claims) string {
	t.Helper()
	// A token signed with a guessed secret has the claims' encoding first.
	tok, err := realtime.SignToken([]byte("guess"), c)
	require.NoError(t, err)
	return strings.Split(tok, ".")[1]
}

// Stop closes the subscriptions and the LISTEN connection they share (on a
// client that was never started too), and ends the SSE streams.
func TestRealtimeStopClosesListener(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	ctx := testCtx(t)
	listeners := func() int {
		var n int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE '%LISTEN flow_realtime%'`).Scan(&n))
		return n
	}
	c := newClient(t, pool, realtimeConfig())
	a, err := c.Subscribe(ctx, "one")
	require.NoError(t, err)
	b, err := c.Subscribe(ctx, "two", "t")
	require.NoError(t, err)
	srv := httptest.NewServer(c.RealtimeHandler())
	t.Cleanup(srv.Close)
	token, err := c.RealtimeToken("three", nil, time.Hour)
	require.NoError(t, err)
	stream := openStream(t, srv.URL+"/?token="+url.QueryEscape(token), "")
	require.Equal(t, 1, listeners(), "one LISTEN connection for all subscriptions")

	require.NoError(t, c.Stop(ctx))
	for _, s := range []*flow.Subscription{a, b} {
		_, err := s.Next(ctx)
		require.ErrorIs(t, err, flow.ErrSubscriptionClosed)
	}
	_, err = io.Copy(io.Discard, stream.r)
	require.NoError(t, err, "the stream ended")
	require.Eventually(t, func() bool { return listeners() == 0 }, 10*time.Second, 10*time.Millisecond)

	// A later subscription listens again, until the next Stop.
	again, err := c.Subscribe(ctx, "one")
	require.NoError(t, err)
	require.NoError(t, c.Publish(ctx, "one", "t", 1))
	require.Equal(t, "1", string(nextMessage(t, again).Data))
	require.NoError(t, c.Stop(ctx))
	require.Eventually(t, func() bool { return listeners() == 0 }, 10*time.Second, 10*time.Millisecond)
}
