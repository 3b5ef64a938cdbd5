// Command workflows is a small n8n-style web app on flow: a page lists
// workflows; Run starts one as a durable function whose nodes ("fetching",
// "transcribing", "sending-to-ai", "saving") are steps, and the page shows
// each node's progress live, streamed through flow's realtime channels. A
// webhook and Inngest's HTTP event API start the same workflow from outside,
// and flow's dashboard is mounted at /dashboard/.
//
//	go run ./examples/workflows                 # serves http://127.0.0.1:3000
//	go run ./examples/workflows -addr :8080 -node 3s
//
// It needs no setup: it starts a throwaway Postgres (in Docker, or from the
// local binaries) and removes it on exit. With FLOW_DATABASE_URL or
// DATABASE_URL set, it uses a fresh database on that server instead (the role
// needs CREATEDB) and drops it on exit. The app itself is in app.go
// (newApp), on any pool; this file only finds Postgres and serves.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/riverflow/flow/flowtest"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:3000", "address to serve the app on")
	nodeDelay := flag.Duration("node", time.Second, "how long each node of a workflow takes")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if err := serve(ctx, *addr, *nodeDelay); err != nil {
		fmt.Fprintln(os.Stderr, "workflows:", err)
		os.Exit(1)
	}
}

// serve finds or starts Postgres, makes a fresh database with flow's schema,
// and serves the app on addr until ctx ends. The database and the server
// (if it started one) are gone when it returns.
func serve(ctx context.Context, addr string, nodeDelay time.Duration) error {
	fmt.Println("Looking for Postgres (FLOW_DATABASE_URL, DATABASE_URL, Docker, local binaries)...")
	srv, err := flowtest.StartServer(ctx)
	if err != nil {
		return err
	}
	defer srv.Close()

	dbURL, drop, err := flowtest.NewDatabase(ctx, srv.URL)
	if err != nil {
		return err
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if err := drop(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "workflows:", err)
		}
	}()

	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		return err
	}
	defer pool.Close()

	a, err := newApp(ctx, pool, appConfig{NodeDelay: nodeDelay})
	if err != nil {
		return err
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = a.close(ctx)
	}()

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	base := "http://" + ln.Addr().String()
	fmt.Printf("Workflows:  %s/\n", base)
	fmt.Printf("Dashboard:  %s/dashboard/\n", base)
	fmt.Printf("Webhook:    curl -d '{\"workflow_id\": 1}' %s/webhooks/run\n", base)
	if a.eventKey != "" {
		fmt.Printf("Event API:  curl -d '{\"name\": %q, \"data\": {\"workflow_id\": 1}}' %s/e/%s\n", runEvent, base, a.eventKey)
	}
	fmt.Println("Ctrl-C stops it and removes the database.")

	// Requests get ctx as their base: Ctrl-C ends open event streams at
	// once, which would otherwise hold Shutdown until they time out.
	hs := &http.Server{
		Handler:           a,
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	done := make(chan error, 1)
	go func() { done <- hs.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	_ = hs.Close()
	return nil
}
