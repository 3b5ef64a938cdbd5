package main

import (
	"context"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowui"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// appConfig configures the app. The zero value is the defaults.
type appConfig struct {
	// NodeDelay is how long each simulated node of a workflow takes.
	// Defaults to 1 second.
	NodeDelay time.Duration
	// Flow configures the flow client; nil for the defaults. The app sets
	// its RealtimeSecret when it has none.
	Flow *flow.Config
}

// app is the web app: its pages, the flow client that runs its workflows,
// and the handlers it mounts (realtime, webhook, event API, dashboard).
type app struct {
	pool     *pgxpool.Pool
	client   *flow.Client
	mux      *http.ServeMux
	pages    *template.Template
	eventKey string // a key for the event API, made at start
}

// newApp builds the app on pool: it creates the app's tables (and seeds
// its workflows), defines the durable function, mounts every route and
// starts the flow client. pool must reach a database with flow's schema
// (flow.Migrate, or any database from flowtest). Call close to stop it.
func newApp(ctx context.Context, pool *pgxpool.Pool, cfg appConfig) (*app, error) {
	if cfg.NodeDelay == 0 {
		cfg.NodeDelay = time.Second
	}
	if err := migrateApp(ctx, pool); err != nil {
		return nil, err
	}
	pages, err := template.New("").Funcs(template.FuncMap{"clock": clock}).ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("workflows: parse templates: %w", err)
	}
	client, err := flow.NewClient(pool, withRealtimeSecret(cfg.Flow))
	if err != nil {
		return nil, err
	}
	_, err = flow.CreateFunction(client,
		flow.FunctionOpts{ID: runFunctionID, Name: "Run a workflow", OnFailure: markFailed(pool)},
		flow.EventTrigger(runEvent),
		runWorkflow(cfg.NodeDelay))
	if err != nil {
		return nil, err
	}

	a := &app{pool: pool, client: client, mux: http.NewServeMux(), pages: pages}
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, err
	}
	a.mux.HandleFunc("GET /{$}", a.index)
	a.mux.Handle("POST /workflows/{id}/run", http.NewCrossOriginProtection().Handler(http.HandlerFunc(a.run)))
	a.mux.HandleFunc("GET /executions/{id}", a.executionPage)
	a.mux.HandleFunc("GET /executions/{id}/state", a.executionState)
	a.mux.HandleFunc("GET /executions/{id}/token", a.executionToken)
	a.mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	a.mux.Handle("/realtime", realtimeHandler(client))
	a.mux.Handle("/dashboard/", flowui.Handler(client, &flowui.Options{Title: "workflows"}))
	if err := a.mountEventAPI(ctx); err != nil {
		return nil, err
	}

	// The client outlives ctx, which only bounds building the app: a client
	// stops when the context given to Start ends (River's rule), and this
	// one stops in close.
	if err := client.Start(context.WithoutCancel(ctx)); err != nil {
		return nil, err
	}
	return a, nil
}

// ServeHTTP serves the app.
func (a *app) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

// close stops the flow client: runs in progress stop where they are and
// resume when an app starts again on the same database.
func (a *app) close(ctx context.Context) error { return a.client.Stop(ctx) }

// clock formats a time for the pages.
func clock(t time.Time) string { return t.Local().Format("15:04:05") }
