package riverext_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/flowtest"
	"github.com/riverflow/flow/internal/leakcheck"
	"github.com/riverflow/flow/riverext"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

func TestQueuesAddsFlowsQueueToACopy(t *testing.T) {
	t.Parallel()
	fc, err := flow.NewClient(flowtest.Pool(t), &flow.Config{ExternalRiver: true, Queue: "runs", Workers: 7})
	require.NoError(t, err)
	app := map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 10}}
	queues := riverext.Queues(fc, app)
	require.Len(t, app, 1, "the app's map is left as it was")
	require.Equal(t, 10, queues[river.QueueDefault].MaxWorkers)
	require.Equal(t, 7, queues["runs"].MaxWorkers)
	require.NotZero(t, queues["runs"].FetchCooldown, "flow's queue keeps its prompt fetch settings")
	require.Len(t, riverext.Queues(fc, nil), 1)
}

func TestAttachChecksTheMode(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	fc, err := flow.NewClient(pool, &flow.Config{ExternalRiver: true})
	require.NoError(t, err)
	require.Nil(t, fc.River(), "no River client until one is attached")
	require.ErrorContains(t, fc.Start(context.Background()), "AttachRiver", "Start needs the app's River client first")

	workers := river.NewWorkers()
	require.NoError(t, riverext.AddWorkers(workers, fc))
	require.Error(t, riverext.AddWorkers(workers, fc), "the same workers twice")
	rc, err := river.NewClient(riverpgxv5.New(pool), &river.Config{Queues: riverext.Queues(fc, nil), Workers: workers})
	require.NoError(t, err)
	require.Error(t, riverext.Attach(fc, nil))
	require.NoError(t, riverext.Attach(fc, rc))
	require.Same(t, rc, fc.River())

	owns, err := flow.NewClient(pool, nil)
	require.NoError(t, err)
	var other *river.Client[pgx.Tx] = rc
	require.ErrorContains(t, riverext.Attach(owns, other), "ExternalRiver", "a client that owns its River client takes no other")
}

// The Client methods riverext replaced still work, through the same seam:
// the same queue, workers the app's River client accepts, and the same
// attach rules.
func TestDeprecatedClientMethodsGoThroughTheSeam(t *testing.T) {
	t.Parallel()
	pool := flowtest.Pool(t)
	fc, err := flow.NewClient(pool, &flow.Config{ExternalRiver: true, Queue: "runs", Workers: 3})
	require.NoError(t, err)
	name, cfg := riverext.Queue(fc)
	//lint:ignore SA1019 the deprecated method under test
	oldName, oldCfg := fc.RiverQueue()
	require.Equal(t, "runs", name)
	require.Equal(t, name, oldName)
	require.Equal(t, cfg, oldCfg)

	workers := river.NewWorkers()
	//lint:ignore SA1019 the deprecated method under test
	require.NoError(t, fc.AddRiverWorkers(workers))
	require.Error(t, riverext.AddWorkers(workers, fc), "the same workers, added once already")
	rc, err := river.NewClient(riverpgxv5.New(pool), &river.Config{Queues: riverext.Queues(fc, nil), Workers: workers})
	require.NoError(t, err)
	//lint:ignore SA1019 the deprecated method under test
	require.Error(t, fc.AttachRiver(nil))
	//lint:ignore SA1019 the deprecated method under test
	require.NoError(t, fc.AttachRiver(rc))
	require.Same(t, rc, fc.River())
}
