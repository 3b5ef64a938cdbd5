package flowui_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestUIRunsOlderLinkOnlyWhenOlderRunsFollow checks that the runs page links
// to an older page exactly when one follows: a page that holds the last run
// (even a full one) has no Older link.
func TestUIRunsOlderLinkOnlyWhenOlderRunsFollow(t *testing.T) {
	t.Parallel()
	b := uiSetup(t, nil)
	r := b.runs(t)

	res := b.get(t, "runs?limit=3")
	require.Equal(t, http.StatusOK, res.status)
	require.Equal(t, []string{r.nap, r.bad, r.ok}, runIDsOn(res.body))
	require.NotContains(t, res.body, `id="page-older"`, "a full last page")

	res = b.get(t, "runs?limit=1&before="+r.nap)
	require.Equal(t, http.StatusOK, res.status)
	require.Equal(t, []string{r.bad}, runIDsOn(res.body))
	require.Contains(t, res.body, `id="page-older"`, "the run ok follows")
	require.Contains(t, res.body, `id="page-newest"`)
}
