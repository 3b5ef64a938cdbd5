package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"riverqueue.com/riverui"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/eventapi"
	"github.com/riverflow/flow/flowtest"
	"github.com/riverflow/flow/flowui"
)

var devCommand = &command{
	name:    "dev",
	args:    "[flags]",
	summary: "serve the dashboard, River's UI and the event API for a database (or a throwaway one)",
	help: `
Dev serves flow's dashboard at / and River's own UI at /riverui/ for the
database given by -database-url, $FLOW_DATABASE_URL or $DATABASE_URL, which it
migrates first (unless -migrate=false).

With no database given, it starts a throwaway Postgres (in Docker if a daemon
answers, else from the local Postgres binaries), creates a migrated database
on it and prints its URL, so that an application can connect to it. The
database and the server are removed when flow dev stops (Ctrl-C).

The dev server does not know the application's functions, so it executes no
runs: events sent and runs rerun from the dashboard are queued, and the
application's own processes (those that start a flow.Client on the same
database and River queue) execute them. Start the application against the
printed URL to see its runs here.

It also serves the HTTP event API at /e/{key}, as Inngest's dev server does,
accepting the key "dev" besides the keys of 'flow keys create':

  curl -d '{"name":"test/hello.world","data":{}}' localhost:8288/e/dev

The key "dev" is for a developer's machine only: an application's own server
mounts eventapi.NewHandler without it.

The dashboard and River's UI have no authentication: keep -addr on a loopback
address unless the network is trusted. Both refuse cross-site requests from
browsers (403), so that another site open in the same browser cannot act on
them.
`,
	flags: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
		addr := fs.String("addr", "127.0.0.1:8288", "the `address` to listen on (\":8288\" for every interface)")
		dbURL := databaseFlag(fs)
		queue := queueFlag(fs)
		migrate := fs.Bool("migrate", true, "migrate the database before serving")
		verbose := fs.Bool("v", false, "log at info level (default: warnings and errors)")
		return func(ctx context.Context, e *env, args []string) error {
			if len(args) > 0 {
				return usagef("unexpected arguments: %q", args)
			}
			return serveDev(ctx, e, devOptions{addr: *addr, dbURL: *dbURL, queue: *queue, migrate: *migrate, verbose: *verbose})
		}
	},
}

type devOptions struct {
	addr, dbURL, queue string
	migrate, verbose   bool
}

// devReadyKey keys a func(addr net.Addr) in a context, called once the dev
// server listens (tests use it to learn the address of "127.0.0.1:0").
type devReadyKey struct{}

func serveDev(ctx context.Context, e *env, o devOptions) error {
	level := slog.LevelWarn
	if o.verbose {
		level = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))

	// Listen first, so that a busy port fails before Postgres starts.
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", o.addr)
	if err != nil {
		return err
	}
	defer ln.Close()

	url := e.databaseURL(o.dbURL)
	if url == "" {
		fmt.Fprintln(e.stdout, "No DATABASE_URL: starting a throwaway Postgres (Docker, else local binaries)...")
		srv, err := flowtest.StartServer(ctx)
		if err != nil {
			return fmt.Errorf("start Postgres: %w", err)
		}
		defer func() {
			if err := srv.Close(); err != nil {
				fmt.Fprintf(e.stderr, "flow: stop Postgres: %v\n", err)
			}
		}()
		dbURL, drop, err := flowtest.NewDatabase(ctx, srv.URL)
		if err != nil {
			return err
		}
		defer func() {
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			if err := drop(dctx); err != nil {
				fmt.Fprintf(e.stderr, "flow: %v\n", err)
			}
		}()
		url = dbURL
		fmt.Fprintf(e.stdout, "Postgres (removed on exit): %s\n", url)
		fmt.Fprintf(e.stdout, "  connect your app with DATABASE_URL='%s'\n", url)
	}

	pool, err := e.openPool(ctx, url, 20)
	if err != nil {
		return err
	}
	defer pool.Close()
	if o.migrate {
		if err := flow.Migrate(ctx, pool); err != nil {
			return err
		}
	}
	// Not started: it sends events, reads runs, cancels and reruns them;
	// the application's processes execute the runs.
	client, err := flow.NewClient(pool, &flow.Config{Queue: o.queue, Logger: logger})
	if err != nil {
		return usagef("%v", err)
	}

	// Everything started below stops with serveCtx.
	serveCtx, stop := context.WithCancel(ctx)
	defer stop()

	mux, err := devHandler(serveCtx, client, logger)
	if err != nil {
		return err
	}

	server := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return serveCtx },
	}
	served := make(chan error, 1)
	go func() { served <- server.Serve(ln) }()

	base := "http://" + displayAddr(ln.Addr())
	fmt.Fprintf(e.stdout, "flow dev: dashboard at %s/ and River UI at %s/riverui/ (Ctrl-C to stop)\n", base, base)
	fmt.Fprintf(e.stdout, "flow dev: event API at %s/e/dev (key \"dev\", dev only)\n", base)
	if ready, ok := ctx.Value(devReadyKey{}).(func(net.Addr)); ok {
		ready(ln.Addr())
	}

	select {
	case err = <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	stop() // ends live-updating requests that wait on the context
	if err := server.Shutdown(shutdownCtx); err != nil {
		_ = server.Close() // connections still open after the grace period
	}
	fmt.Fprintln(e.stdout, "flow dev: stopped")
	return nil
}

// devEventKey is the event key flow dev accepts besides the stored ones.
const devEventKey = "dev"

// devHandler returns the dev server's routes: River's UI under /riverui/,
// the event API at /e/{key} and flow's dashboard at /. River's UI runs until
// ctx is done.
//
// River's UI has actions (cancel, retry, delete jobs) on JSON endpoints that
// check neither the origin nor a token, and a cross-site form can post to
// them as text/plain: loopback binding does not help, since the victim's own
// browser sends the request. So River's UI sits behind the same
// cross-origin protection as the dashboard's actions
// (net/http.CrossOriginProtection: browsers' cross-site requests are refused
// with 403 Forbidden by their Sec-Fetch-Site or Origin header; requests from
// non-browser clients, which send neither, pass).
func devHandler(ctx context.Context, client *flow.Client, logger *slog.Logger) (http.Handler, error) {
	mux := http.NewServeMux()
	ui, err := riverui.NewHandler(&riverui.HandlerOpts{
		Endpoints: riverui.NewEndpoints(client.River(), nil),
		Logger:    logger,
		Prefix:    "/riverui",
	})
	if err != nil {
		return nil, fmt.Errorf("river UI: %w", err)
	}
	if err := ui.Start(ctx); err != nil {
		return nil, fmt.Errorf("river UI: %w", err)
	}
	mux.Handle("/riverui/", http.NewCrossOriginProtection().Handler(ui))
	mux.Handle("/riverui", http.RedirectHandler("/riverui/", http.StatusMovedPermanently))

	// The event API, as Inngest's dev server serves it, with the dev key.
	// It answers browsers of any origin (CORS) as Inngest's does: the key in
	// the URL, not a cookie, authorises a request.
	mux.Handle("/e/", eventapi.NewHandler(client, eventapi.Options{DevKey: devEventKey, Logger: logger}))

	// No Authorize hook: the dev server is for a developer's machine, and
	// listens on loopback unless told otherwise (see the help text).
	// The dashboard's navigation links to River's UI, mounted above.
	mux.Handle("/", flowui.Handler(client, &flowui.Options{Title: "flow dev", Logger: logger, RiverUIURL: "/riverui/"}))
	return mux, nil
}

// displayAddr returns addr for a URL a user can open: an unspecified host
// (every interface) becomes localhost.
func displayAddr(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return addr.String()
	}
	if tcp.IP == nil || tcp.IP.IsUnspecified() {
		return fmt.Sprintf("localhost:%d", tcp.Port)
	}
	return tcp.String()
}
