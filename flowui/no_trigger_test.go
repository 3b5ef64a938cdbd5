package flowui_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
	"github.com/riverflow/flow/flowui"
)

// TestUIFunctionWithNoTrigger: the functions page says how a function with
// no trigger starts, and a run started by Start shows on the run page with
// its flow/function.started event.
func TestUIFunctionWithNoTrigger(t *testing.T) {
	t.Parallel()
	var fn *flow.Func[map[string]int, int]
	c := flowtest.Client(t, nil, func(c *flow.Client) {
		var err error
		fn, err = flow.Define(c, flow.FunctionOpts{ID: "started-only"}, flow.NoTrigger(),
			func(ctx context.Context, in flow.Input[map[string]int]) (int, error) { return in.Event.Data["n"], nil })
		require.NoError(t, err)
	})
	srv := httptest.NewServer(flowui.Handler(c, nil))
	t.Cleanup(srv.Close)
	get := func(path string) string {
		t.Helper()
		res, err := http.Get(srv.URL + "/" + path)
		require.NoError(t, err)
		defer res.Body.Close()
		require.Equal(t, http.StatusOK, res.StatusCode, path)
		body, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		return string(body)
	}
	body := get("functions")
	require.Contains(t, body, `data-function-id="started-only"`)
	require.Contains(t, body, "no trigger: started by Start or Invoke")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	runID, err := flow.Start(ctx, fn, map[string]int{"n": 7})
	require.NoError(t, err)
	_, err = c.AwaitRun(ctx, runID)
	require.NoError(t, err)
	require.Contains(t, get("runs/"+runID), "flow/function.started")
}
