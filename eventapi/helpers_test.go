package eventapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
)

// testBundle is what an event API test works with: a started client whose
// function "echo" runs for every "api/*" event and returns its data, and its
// pool.
type testBundle struct {
	ctx  context.Context
	pool *pgxpool.Pool
	c    *flow.Client
}

func setup(t *testing.T, cfg *flow.Config) *testBundle {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	pool := flowtest.Pool(t)
	c := flowtest.ClientOn(t, pool, cfg, func(c *flow.Client) {
		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "echo"}, flow.EventTrigger("api/*"),
			func(ctx context.Context, in flow.Input[map[string]any]) (any, error) { return in.Event.Data, nil })
		require.NoError(t, err)
	})
	return &testBundle{ctx: ctx, pool: pool, c: c}
}

// serve serves h for the test and returns its base URL.
func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// answer is a decoded event API response.
type answer struct {
	code   int
	header http.Header
	IDs    []string `json:"ids"`
	Status int      `json:"status"`
	Error  string   `json:"error"`
}

// do sends a request and decodes the JSON answer, which every answer is.
func do(t *testing.T, method, url, contentType, body string, header ...string) answer {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	require.NoError(t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var a answer
	if resp.StatusCode != http.StatusNoContent {
		require.Equal(t, "application/json", resp.Header.Get("Content-Type"), "%d %s", resp.StatusCode, raw)
		require.NoError(t, json.Unmarshal(raw, &a), "%s", raw)
		require.Equal(t, resp.StatusCode, a.Status, "%s", raw)
		require.NotNil(t, a.IDs, "ids is always an array: %s", raw)
	}
	a.code, a.header = resp.StatusCode, resp.Header
	return a
}

// post posts body as JSON.
func post(t *testing.T, url, body string, header ...string) answer {
	t.Helper()
	return do(t, http.MethodPost, url, "application/json", body, header...)
}

// eventCount is how many events the database holds.
func (b *testBundle) eventCount(t *testing.T) int {
	t.Helper()
	var n int
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT count(*) FROM flow_event`).Scan(&n))
	return n
}

// awaitOutput waits for the one run event id started and returns its output.
func (b *testBundle) awaitOutput(t *testing.T, eventID string) map[string]any {
	t.Helper()
	runs, err := b.c.ListRuns(b.ctx, flow.RunFilter{EventID: eventID})
	require.NoError(t, err)
	require.Len(t, runs, 1, "event %s started %d runs", eventID, len(runs))
	r, err := b.c.AwaitRun(b.ctx, runs[0].ID)
	require.NoError(t, err)
	require.Equal(t, flow.RunCompleted, r.Status, r.Error)
	var out map[string]any
	require.NoError(t, json.Unmarshal(r.Output, &out))
	return out
}
