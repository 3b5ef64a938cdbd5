package realtime_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow/flowtest"
	"github.com/riverflow/flow/internal/realtime"
	"github.com/riverflow/flow/internal/store"
)

// A message published in a transaction is stored and notified only if the
// transaction commits.
func TestPublishInTransaction(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool := flowtest.Pool(t)
	h := realtime.NewHub(pool, store.New(pool, time.Minute), slog.Default(), 0)
	t.Cleanup(h.Close)
	sub, err := h.Subscribe(ctx, "tx", "", nil, false, 0)
	require.NoError(t, err)

	publish := func(data string, commit bool) {
		tx, err := pool.Begin(ctx)
		require.NoError(t, err)
		defer func() { _ = tx.Rollback(ctx) }()
		_, err = h.Publish(ctx, tx, store.RealtimeMessage{Channel: "tx", Topic: "t", Data: []byte(data)}, true)
		require.NoError(t, err)
		if commit {
			require.NoError(t, tx.Commit(ctx))
		}
	}
	publish(`"rolled back"`, false)
	publish(`"committed"`, true)

	m, err := sub.Next(ctx)
	require.NoError(t, err)
	require.JSONEq(t, `"committed"`, string(m.Data))
	var n int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM flow_realtime_message`).Scan(&n))
	require.Equal(t, 1, n)

	// A run's subscription sees a run's messages on any channel.
	runID := "01a2224f-b894-7139-acc8-2910098ec0a6"
	byRun, err := h.Subscribe(ctx, "", runID, nil, true, 0)
	require.NoError(t, err)
	for _, ch := range []string{"a", "b"} {
		_, err = h.Publish(ctx, pool, store.RealtimeMessage{Channel: ch, Topic: "t", Data: []byte(`1`), RunID: runID}, false)
		require.NoError(t, err)
	}
	for _, ch := range []string{"a", "b"} {
		m, err := byRun.Next(ctx)
		require.NoError(t, err)
		require.Equal(t, ch, m.Channel)
		require.Equal(t, runID, m.RunID)
	}
	require.NoError(t, sub.Close())
	_, err = sub.Next(ctx)
	require.ErrorIs(t, err, realtime.ErrSubscriptionClosed)
}

// A listener that loses its connection reconnects, and its subscriptions
// read the stored messages published meanwhile.
func TestListenerReconnects(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool := flowtest.Pool(t)
	h := realtime.NewHub(pool, store.New(pool, time.Minute), slog.New(slog.DiscardHandler), 0)
	t.Cleanup(h.Close)
	sub, err := h.Subscribe(ctx, "re", "", nil, false, 0)
	require.NoError(t, err)

	_, err = pool.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE '%LISTEN flow_realtime%'`)
	require.NoError(t, err)
	// Published while the listener may be down: durable, so stored.
	_, err = h.Publish(ctx, pool, store.RealtimeMessage{Channel: "re", Topic: "t", Data: []byte(`"meanwhile"`)}, true)
	require.NoError(t, err)
	m, err := sub.Next(ctx)
	require.NoError(t, err)
	require.JSONEq(t, `"meanwhile"`, string(m.Data))
	require.Eventually(t, func() bool {
		var n int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND query LIKE '%LISTEN flow_realtime%' AND pid <> pg_backend_pid()`).Scan(&n))
		return n == 1
	}, 10*time.Second, 10*time.Millisecond, "listening again")
	_, err = h.Publish(ctx, pool, store.RealtimeMessage{Channel: "re", Topic: "t", Data: []byte(`"after"`)}, false)
	require.NoError(t, err)
	m, err = sub.Next(ctx)
	require.NoError(t, err)
	require.JSONEq(t, `"after"`, string(m.Data))
}

// Upstream TestAPI_GetSSE ("successful connection with headers"): the
// stream's headers, and its subscription closed once the client hangs up.
func TestSSEHeadersAndCleanup(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool := flowtest.Pool(t)
	h := realtime.NewHub(pool, store.New(pool, time.Minute), slog.Default(), 0)
	t.Cleanup(h.Close)
	secret := []byte("test-secret")
	srv := httptest.NewServer(h.Handler(func() []byte { return secret }))
	t.Cleanup(srv.Close)
	tok, err := realtime.SignToken(secret, realtime.Claims{Channel: "user:123", Topics: []string{"ai"}, Expires: time.Now().Add(time.Hour).Unix()})
	require.NoError(t, err)

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	require.Equal(t, "no-cache", resp.Header.Get("Cache-Control"))
	require.Equal(t, "keep-alive", resp.Header.Get("Connection"))
	require.Equal(t, "*", resp.Header.Get("Access-Control-Allow-Origin"))
	require.Equal(t, 1, h.Subscriptions())

	require.NoError(t, resp.Body.Close())
	require.Eventually(t, func() bool { return h.Subscriptions() == 0 }, 10*time.Second, 5*time.Millisecond,
		"the subscription is closed after the connection closes")

	// Upstream "unauthorized request": 401 with a JSON body.
	resp, err = http.Get(srv.URL)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
}

// A subscriber that stops reading: the listener never waits for it. Once
// its buffer is full, live messages are dropped (Next says how many, at the
// gap) and durable ones are read back from the table, in order; every
// message is either delivered once or counted as dropped.
func TestSlowSubscriber(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pool := flowtest.Pool(t)
	h := realtime.NewHub(pool, store.New(pool, time.Minute), slog.Default(), 0)
	t.Cleanup(h.Close)
	slow, err := h.Subscribe(ctx, "tokens", "", nil, false, 0)
	require.NoError(t, err)
	fast, err := h.Subscribe(ctx, "tokens", "", nil, false, 0)
	require.NoError(t, err)

	const burst = realtime.DefaultBuffer + 500
	type item struct {
		N       int  `json:"n"`
		Durable bool `json:"durable"`
	}
	publish := func(n int, durable bool) {
		data, _ := json.Marshal(item{N: n, Durable: durable})
		_, err := h.Publish(ctx, pool, store.RealtimeMessage{Channel: "tokens", Topic: "t", Data: data}, durable)
		require.NoError(t, err)
	}
	// The fast subscriber reads everything as it comes.
	fastGot := make(chan []int, 1)
	go func() {
		var got []int
		for len(got) < burst {
			m, err := fast.Next(ctx)
			if err != nil {
				t.Error(err)
				break
			}
			var it item
			_ = json.Unmarshal(m.Data, &it)
			got = append(got, it.N)
		}
		fastGot <- got
	}()
	for n := range burst {
		publish(n, n%100 == 99) // every hundredth is durable
	}
	require.Eventually(t, func() bool { return slow.Buffered() == realtime.DefaultBuffer && slow.Behind() },
		30*time.Second, 5*time.Millisecond, "the slow subscriber's buffer filled up")

	want := make([]int, burst)
	for i := range want {
		want[i] = i
	}
	require.Equal(t, want, <-fastGot, "the fast subscriber lost nothing")

	var got []int
	dropped, gaps := 0, 0
	for len(got)+dropped < burst {
		m, err := slow.Next(ctx)
		if errors.Is(err, realtime.ErrMessagesDropped) {
			gaps++
			var n int
			_, scanErr := fmt.Sscanf(err.Error()[strings.LastIndex(err.Error(), "("):], "(%d messages)", &n)
			require.NoError(t, scanErr, err.Error())
			dropped += n
			continue
		}
		require.NoError(t, err)
		var it item
		require.NoError(t, json.Unmarshal(m.Data, &it))
		got = append(got, it.N)
	}
	require.GreaterOrEqual(t, gaps, 1)
	require.Greater(t, dropped, 0)
	require.Len(t, got, burst-dropped, "each message delivered once or counted as dropped")
	require.IsIncreasing(t, got, "in order")
	require.Equal(t, want[:realtime.DefaultBuffer], got[:realtime.DefaultBuffer], "the buffer's worth, before the gap")
	for n := 99; n < burst; n += 100 {
		require.Contains(t, got, n, "durable message %d read back from the table", n)
	}
}
