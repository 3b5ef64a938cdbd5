package eventapi_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/eventapi"
	"github.com/riverflow/flow/flowtest"
)

// exampleServer is the Postgres server the examples share, started by the
// first and stopped by TestMain (stopExampleServer).
var (
	exampleServerMu sync.Mutex
	exampleServer   *flowtest.Server
)

// examplePool returns a pool on a fresh, migrated database for the examples
// (in an application, this is the app's own pool, after flow.Migrate).
func examplePool(ctx context.Context) *pgxpool.Pool {
	exampleServerMu.Lock()
	defer exampleServerMu.Unlock()
	if exampleServer == nil {
		srv, err := flowtest.StartServer(ctx)
		if err != nil {
			log.Fatal(err)
		}
		exampleServer = srv
	}
	url, _, err := flowtest.NewDatabase(ctx, exampleServer.URL)
	if err != nil {
		log.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		log.Fatal(err)
	}
	return pool
}

// stopExampleServer stops the examples' server, if one started.
func stopExampleServer() {
	exampleServerMu.Lock()
	defer exampleServerMu.Unlock()
	if exampleServer != nil {
		if err := exampleServer.Close(); err != nil {
			log.Print(err)
		}
		exampleServer = nil
	}
}

// A service in another language sends events over HTTP with an event key,
// as it would to Inngest's event API.
func ExampleNewHandler() {
	ctx := context.Background()
	pool := examplePool(ctx)
	defer pool.Close()
	client, err := flow.NewClient(pool, nil)
	if err != nil {
		log.Fatal(err)
	}

	// Once, by an operator ("flow keys create -name billing" does the same):
	// the key is shown here and never again.
	key, info, err := client.CreateEventKey(ctx, "billing")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("created key", info.Name, strings.HasPrefix(key, info.Prefix))

	mux := http.NewServeMux()
	mux.Handle("/e/", eventapi.NewHandler(client, eventapi.Options{}))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	// The other service: curl -d '{"name":...}' $URL/e/$KEY does the same.
	resp, err := http.Post(srv.URL+"/e/"+key, "application/json",
		strings.NewReader(`{"name": "invoice/paid", "data": {"invoice": "in_42"}}`))
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	fmt.Println(resp.Status)

	bad, err := http.Post(srv.URL+"/e/not-a-key", "application/json", strings.NewReader(`{"name": "invoice/paid"}`))
	if err != nil {
		log.Fatal(err)
	}
	defer bad.Body.Close()
	fmt.Println(bad.Status)
	// Output:
	// created key billing true
	// 200 OK
	// 401 Unauthorized
}

// GitHub posts its webhooks, signed with the webhook's secret; a CEL
// expression turns each into an event named after GitHub's event header.
func ExampleNewWebhook() {
	ctx := context.Background()
	pool := examplePool(ctx)
	defer pool.Close()
	client, err := flow.NewClient(pool, nil)
	if err != nil {
		log.Fatal(err)
	}

	hook := eventapi.NewWebhook(client, eventapi.Webhook{
		Verify:     eventapi.GitHubSignature("my-webhook-secret"),
		Expression: `{"name": "github/" + headers["x-github-event"], "data": {"action": body.action, "repo": body.repository.full_name}}`,
	})
	srv := httptest.NewServer(hook)
	defer srv.Close()

	// What GitHub sends (the signature is computed here for the example).
	body := `{"action": "opened", "repository": {"full_name": "acme/shop"}}`
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL, strings.NewReader(body))
	req.Header.Set("X-GitHub-Event", "pull_request")
	req.Header.Set("X-Hub-Signature-256", gitHubSign("my-webhook-secret", body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	fmt.Println(resp.Status)

	events, err := client.ListEvents(ctx, flow.EventFilter{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(events[0].Name, string(events[0].Data))
	// Output:
	// 200 OK
	// github/pull_request {"repo": "acme/shop", "action": "opened"}
}
