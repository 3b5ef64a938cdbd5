package main

import (
	"context"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
	"github.com/riverflow/flow/internal/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

// testBundle is an app on a database of its own, served on 127.0.0.1.
type testBundle struct {
	app *app
	srv *httptest.Server
	// http has a cookie jar and does not follow redirects.
	http *http.Client
}

// setup builds the app on a fresh database with quick nodes, and serves it.
// The server closes, then the app stops, when the test ends.
func setup(t *testing.T, nodeDelay time.Duration) *testBundle {
	t.Helper()
	pool := flowtest.Pool(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, err := newApp(ctx, pool, appConfig{
		NodeDelay: nodeDelay,
		Flow:      &flow.Config{RetryBackoff: func(int) time.Duration { return 20 * time.Millisecond }},
	})
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, a.close(ctx))
	})
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	hc := srv.Client()
	hc.Jar = jar
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &testBundle{app: a, srv: srv, http: hc}
}

// testCtx is bounded by a minute.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// awaitExecution polls the app's execution row until its status is done or
// failed, and returns it.
func (b *testBundle) awaitExecution(t *testing.T, ctx context.Context, id int64) execution {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		e, err := getExecution(ctx, b.app.pool, id)
		require.NoError(t, err)
		if e.Status == "done" || e.Status == "failed" {
			return e
		}
		select {
		case <-ctx.Done():
			t.Fatalf("execution %d still %s: %v", id, e.Status, ctx.Err())
		case <-tick.C:
		}
	}
}
