// Command metrics exports a flow client's OpenTelemetry metrics for
// Prometheus to scrape.
//
// The app makes an OpenTelemetry MeterProvider whose reader is the
// Prometheus exporter, gives it to the flow client (Config.MeterProvider),
// and serves the exporter's registry on /metrics. It then sends a few
// events to a function that fails its first attempt at a step, sleeps, and
// completes, and prints what a scrape shows: runs started and ended, step
// attempts by outcome, step durations, queue lag, wake latency and the
// backlog by state.
//
//	go run .                        # prints a scrape once the runs are done, and exits
//	go run . -serve localhost:2112  # then keeps serving: curl localhost:2112/metrics
//
// It needs no setup: it starts a throwaway Postgres (in Docker, or from the
// local binaries) and removes it on exit. With FLOW_DATABASE_URL or
// DATABASE_URL set, it uses a fresh database on that server instead.
//
// This example is its own Go module, so that the SDK, the exporter and the
// Prometheus client never enter the library's module: the library depends
// on the OpenTelemetry API only.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
)

func main() {
	serve := flag.String("serve", "", "after the demo, keep serving /metrics on this address (host:port)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if err := withPostgres(ctx, os.Stdout, *serve); err != nil {
		if ctx.Err() != nil {
			err = errors.New("interrupted; cleaned up")
		}
		fmt.Fprintln(os.Stderr, "metrics:", err)
		os.Exit(1)
	}
}

// withPostgres finds or starts a Postgres server, creates a fresh database
// with flow's schema on it, and calls run. The database and the server (if
// it started one) are gone when it returns.
func withPostgres(ctx context.Context, w io.Writer, serve string) error {
	fmt.Fprintln(w, "Looking for Postgres (FLOW_DATABASE_URL, DATABASE_URL, Docker, local binaries)...")
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
			fmt.Fprintln(os.Stderr, "metrics:", err)
		}
	}()
	return run(ctx, w, dbURL, serve)
}

// run is the demo, on a database that flow.Migrate has prepared.
func run(ctx context.Context, w io.Writer, dbURL, serve string) error {
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		return err
	}
	defer pool.Close()

	// 1. A Prometheus registry, an OpenTelemetry exporter writing to it,
	// and a MeterProvider reading through the exporter.
	registry := prometheus.NewRegistry()
	exporter, err := otelprom.New(otelprom.WithRegisterer(registry), otelprom.WithoutScopeInfo())
	if err != nil {
		return err
	}
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))
	defer func() { _ = provider.Shutdown(context.WithoutCancel(ctx)) }()

	// 2. The flow client records through it.
	client, err := flow.NewClient(pool, &flow.Config{
		MeterProvider: provider,
		RetryBackoff:  func(int) time.Duration { return 50 * time.Millisecond },
	})
	if err != nil {
		return err
	}
	var attempts atomic.Int32
	_, err = flow.CreateFunction(client, flow.FunctionOpts{ID: "charge"}, flow.EventTrigger("order/placed"),
		func(ctx context.Context, in flow.Input[map[string]any]) (any, error) {
			receipt, err := flow.Step(ctx, "call-payment-api", func(ctx context.Context) (string, error) {
				if attempts.Add(1) == 1 {
					return "", errors.New("payment API: 503") // the first call fails: a retry follows
				}
				return "receipt-1", nil
			})
			if err != nil {
				return nil, err
			}
			if err := flow.Sleep(ctx, "settle", 100*time.Millisecond); err != nil {
				return nil, err
			}
			return receipt, nil
		})
	if err != nil {
		return err
	}
	_, err = flow.CreateFunction(client, flow.FunctionOpts{ID: "follow-up"}, flow.EventTrigger("order/placed"),
		func(ctx context.Context, in flow.Input[map[string]any]) (any, error) {
			return nil, flow.Sleep(ctx, "a-week-later", 7*24*time.Hour)
		})
	if err != nil {
		return err
	}
	if err := client.Start(ctx); err != nil {
		return err
	}
	defer func() { _ = client.Stop(context.WithoutCancel(ctx)) }()

	// 3. /metrics serves the registry, as an app's own mux would.
	ln, err := net.Listen("tcp", listenAddr(serve))
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(registry, promhttp.HandlerOpts{}))
	server := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = server.Serve(ln) }()
	defer func() { _ = server.Close() }()

	// 4. An order: two runs; "charge" retries a step, sleeps and completes;
	// "follow-up" sleeps for a week.
	ids, err := client.Send(ctx, flow.Event{Name: "order/placed", Data: map[string]any{"order": 1}})
	if err != nil {
		return err
	}
	runs, err := client.ListRuns(ctx, flow.RunFilter{EventID: ids[0]})
	if err != nil {
		return err
	}
	for _, r := range runs {
		switch r.FunctionID {
		case "charge":
			run, err := client.AwaitRun(ctx, r.ID)
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "Run of charge %s, output %s.\n", run.Status, run.Output)
		case "follow-up":
			if err := awaitStatus(ctx, client, r.ID, flow.RunSleeping); err != nil {
				return err
			}
			fmt.Fprintln(w, "Run of follow-up sleeping for a week.")
		}
	}

	// 5. What Prometheus scrapes (the library's series only).
	scrape, err := scrapeFlow(ctx, "http://"+ln.Addr().String()+"/metrics")
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "GET http://%s/metrics (flow_* series):\n%s", ln.Addr(), scrape)
	if serve == "" {
		return nil
	}
	fmt.Fprintf(w, "Serving http://%s/metrics until interrupted.\n", ln.Addr())
	<-ctx.Done()
	return nil
}

// awaitStatus polls run id until it has status want, for up to 10 seconds.
func awaitStatus(ctx context.Context, client *flow.Client, id string, want flow.RunStatus) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		run, err := client.GetRun(ctx, id)
		if err != nil {
			return err
		}
		if run.Status == want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("run %s is %s after 10 s, not %s", id, run.Status, want)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// listenAddr is the address to serve on: serve, or any free local port.
func listenAddr(serve string) string {
	if serve != "" {
		return serve
	}
	return "127.0.0.1:0"
}

// scrapeFlow fetches url and returns its flow_* series, without the
// histograms' buckets (their _sum and _count lines stay).
func scrapeFlow(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	var b strings.Builder
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "flow_") && !strings.Contains(line, "_bucket{") {
			b.WriteString("  " + line + "\n")
		}
	}
	return b.String(), sc.Err()
}
