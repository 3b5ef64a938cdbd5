package flowui_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
	"github.com/riverflow/flow/flowui"
)

// A run's messages stream from runs/{id}/messages as Server-Sent Events
// without event names (the page's EventSource takes them all), behind the
// dashboard's own authorization.
func TestRunMessagesStream(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	c, err := flow.NewClient(pool, nil)
	require.NoError(t, err)
	_, err = flow.CreateFunction(c, flow.FunctionOpts{ID: "announcer"}, flow.EventTrigger("ui/announce"),
		func(ctx context.Context, in flow.Input[map[string]any]) (any, error) {
			if err := flow.Publish(ctx, "hello", "news", "headline", map[string]string{"title": "hi"}); err != nil {
				return nil, err
			}
			return nil, flow.Sleep(ctx, "nap", time.Hour)
		})
	require.NoError(t, err)
	require.NoError(t, c.Start(context.Background()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, c.Stop(ctx))
	})
	mux := http.NewServeMux()
	mux.Handle("/flow/", flowui.Handler(c, nil))
	mux.Handle("/locked/", flowui.Handler(c, &flowui.Options{Authorize: func(*http.Request) error { return errors.New("no") }}))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	ctx := uiTestCtx(t)
	ids, err := c.Send(ctx, flow.Event{Name: "ui/announce", Data: map[string]any{}})
	require.NoError(t, err)
	var runID string
	require.Eventually(t, func() bool {
		runs, err := c.ListRuns(ctx, flow.RunFilter{EventID: ids[0]})
		require.NoError(t, err)
		if len(runs) == 1 && runs[0].Status == flow.RunSleeping {
			runID = runs[0].ID
			return true
		}
		return false
	}, 30*time.Second, 10*time.Millisecond)

	get := func(path string) *http.Response {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+path, nil)
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		t.Cleanup(func() { _ = resp.Body.Close() })
		return resp
	}
	require.Equal(t, http.StatusForbidden, get("/locked/runs/"+runID+"/messages").StatusCode)
	require.Equal(t, http.StatusNotFound, get("/flow/runs/not-a-run/messages").StatusCode)

	resp := get("/flow/runs/" + runID + "/messages")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	r := bufio.NewReader(resp.Body)
	var lines []string
	for len(lines) < 3 {
		line, err := r.ReadString('\n')
		require.NoError(t, err)
		if line = strings.TrimSuffix(line, "\n"); line != "" && !strings.HasPrefix(line, ":") {
			lines = append(lines, line)
		}
	}
	require.Equal(t, "retry: 2000", lines[0])
	require.True(t, strings.HasPrefix(lines[1], "id: "), lines[1])
	data, ok := strings.CutPrefix(lines[2], "data: ")
	require.True(t, ok, lines[2])
	var m flow.Message
	require.NoError(t, json.Unmarshal([]byte(data), &m))
	require.Equal(t, strings.TrimPrefix(lines[1], "id: "), m.ID)
	require.Equal(t, "news", m.Channel)
	require.Equal(t, "headline", m.Topic)
	require.Equal(t, runID, m.RunID)
	require.JSONEq(t, `{"title":"hi"}`, string(m.Data))
}
