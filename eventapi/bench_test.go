package eventapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/eventapi"
	"github.com/riverflow/flow/flowtest"
)

// BenchmarkHandlerSend measures one POST /e/{key} with a stored key and one
// event that starts a run (of a function that returns at once), end to end
// over loopback HTTP.
func BenchmarkHandlerSend(b *testing.B) {
	ctx := context.Background()
	c := flowtest.Client(b, nil, func(c *flow.Client) {
		if _, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "bench"}, flow.EventTrigger("bench/e"),
			func(ctx context.Context, in flow.Input[any]) (any, error) { return nil, nil }); err != nil {
			b.Fatal(err)
		}
	})
	key, _, err := c.CreateEventKey(ctx, "bench")
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(eventapi.NewHandler(c, eventapi.Options{}))
	defer srv.Close()
	url := srv.URL + "/e/" + key
	b.ResetTimer()
	for b.Loop() {
		resp, err := http.Post(url, "application/json", strings.NewReader(`{"name":"bench/e","data":{"n":1}}`))
		if err != nil {
			b.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}
