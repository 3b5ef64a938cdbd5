package flow_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// appForbidden are the module paths an application's build must not get
// from the library: the test harness's Docker start (testcontainers,
// moby), the dashboard's browser test (chromedp), the dev server's River UI
// and the test libraries. They belong to flowtest, the tests and cmd/flow.
var appForbidden = []string{
	"github.com/testcontainers/",
	"github.com/docker/",
	"github.com/moby/",
	"github.com/containerd/",
	"github.com/opencontainers/",
	"github.com/chromedp/",
	"riverqueue.com/riverui",
	"github.com/stretchr/testify",
	"go.uber.org/goleak",
	"github.com/riverflow/flow/flowtest",
}

// An application that imports the library's packages (flow, flowui,
// eventapi, riverext) builds none of the test-only or CLI-only
// dependencies: `go list -deps` of those packages, as the app's build sees
// them (no tests), names none of appForbidden.
func TestAppBuildPullsNoDockerOrBrowser(t *testing.T) {
	t.Parallel()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}",
		".", "./flowui", "./eventapi", "./riverext")
	out, err := cmd.Output()
	var stderr string
	if ee, ok := err.(*exec.ExitError); ok {
		stderr = string(ee.Stderr)
	}
	require.NoError(t, err, "go list: %s", stderr)
	deps := strings.Fields(string(out))
	require.Contains(t, deps, "github.com/riverqueue/river", "go list listed nothing useful")
	for _, dep := range deps {
		for _, bad := range appForbidden {
			require.False(t, strings.HasPrefix(dep, bad), "an app's build would pull %s", dep)
		}
	}
}
