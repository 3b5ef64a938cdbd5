package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
)

// A page on another site can make its visitor's browser post to the dev
// server (a form with enctype text/plain carries a JSON body), so River's UI
// must refuse cross-site requests as the dashboard's actions do.
func TestCLIDevRiverUIRefusesCrossSiteRequests(t *testing.T) {
	t.Parallel()
	ctx := cliCtx(t)
	pool, err := pgxpool.New(ctx, flowtest.DatabaseURL(t))
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	client, err := flow.NewClient(pool, nil)
	require.NoError(t, err)
	uiCtx, stopUI := context.WithCancel(ctx)
	t.Cleanup(stopUI)
	h, err := devHandler(uiCtx, client, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	var jobID string
	require.NoError(t, pool.QueryRow(ctx, `INSERT INTO river_job (args, kind, max_attempts, queue, scheduled_at, state)
		VALUES ('{}', 'victim', 1, 'flow', now() + interval '1 hour', 'scheduled') RETURNING id::text`).Scan(&jobID))
	state := func() string {
		var s string
		require.NoError(t, pool.QueryRow(ctx, "SELECT state::text FROM river_job WHERE id = $1::bigint", jobID).Scan(&s))
		return s
	}
	cancel := func(contentType string, headers map[string]string) (int, string) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/riverui/api/jobs/cancel",
			strings.NewReader(`{"ids":["`+jobID+`"]}`))
		require.NoError(t, err)
		req.Header.Set("Content-Type", contentType)
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}

	for name, headers := range map[string]map[string]string{
		"Sec-Fetch-Site cross-site": {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
		"Sec-Fetch-Site same-site":  {"Sec-Fetch-Site": "same-site"},
		"foreign Origin only":       {"Origin": "https://evil.example"},
	} {
		status, body := cancel("text/plain", headers)
		require.Equal(t, http.StatusForbidden, status, "%s: %s", name, body)
		require.Equal(t, "scheduled", state(), "%s: a cross-site request cancelled the job", name)
	}

	// River's UI itself, same-origin, still works.
	status, body := cancel("application/json", map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": srv.URL})
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, "cancelled", state())

	// And so do its pages.
	resp, err := http.Get(srv.URL + "/riverui/")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

// The dev server's dashboard links to the River UI it mounts, and the link
// leads to River's UI.
func TestCLIDevDashboardLinksToRiverUI(t *testing.T) {
	t.Parallel()
	ctx := cliCtx(t)
	pool, err := pgxpool.New(ctx, flowtest.DatabaseURL(t))
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	client, err := flow.NewClient(pool, nil)
	require.NoError(t, err)
	uiCtx, stopUI := context.WithCancel(ctx)
	t.Cleanup(stopUI)
	h, err := devHandler(uiCtx, client, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(body)
	}
	status, body := get("/runs")
	require.Equal(t, http.StatusOK, status)
	m := regexp.MustCompile(`<a href="([^"]*)" id="nav-riverui"`).FindStringSubmatch(body)
	require.NotNil(t, m, "the navigation links to River UI")
	require.Equal(t, "/riverui/", m[1])
	status, body = get(m[1])
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, "River", "the link leads to River's UI")
}
