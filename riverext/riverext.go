// Package riverext plugs a flow client into an application's existing River
// client, so that the application runs one River client and one set of
// queues for its own jobs and its flow runs.
//
//	fc, _ := flow.NewClient(pool, &flow.Config{ExternalRiver: true})
//	// ... flow.CreateFunction(fc, ...) ...
//	workers := river.NewWorkers()
//	river.AddWorker(workers, &MyWorker{})          // the app's own workers
//	if err := riverext.AddWorkers(workers, fc); err != nil { ... }
//	rc, _ := river.NewClient(riverpgxv5.New(pool), &river.Config{
//		Queues:  riverext.Queues(fc, map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 100}}),
//		Workers: workers,
//	})
//	if err := riverext.Attach(fc, rc); err != nil { ... }
//	rc.Start(context.WithoutCancel(ctx)) // the app starts River...
//	fc.Start(context.WithoutCancel(ctx)) // ...and flow's own services (registry, waker, leases)
//	defer func() { rc.Stop(stopCtx); fc.Stop(stopCtx) }() // River first, then flow
//
// Stop River before the flow client: the flow client renews the leases of
// runs River is still executing until it stops. (Starting both with a
// context that is later cancelled would stop them at the same moment.)
package riverext

import (
	"maps"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/riverflow/flow"
	"github.com/riverflow/flow/internal/riverjob"
)

// AddWorkers adds the flow client's job workers to the app's River workers.
func AddWorkers(workers *river.Workers, fc *flow.Client) error {
	return riverjob.HostOf(fc).AddWorkers(workers)
}

// Queues returns a copy of queues (which may be nil) with the flow client's
// queue added, configured for prompt wake-ups (its own fetch cooldown and
// poll interval), for the app's river.Config.Queues.
func Queues(fc *flow.Client, queues map[string]river.QueueConfig) map[string]river.QueueConfig {
	out := maps.Clone(queues)
	if out == nil {
		out = map[string]river.QueueConfig{}
	}
	name, cfg := Queue(fc)
	out[name] = cfg
	return out
}

// Queue returns the name and configuration of the River queue the flow
// client's runs execute on (Queues adds it to a map).
func Queue(fc *flow.Client) (string, river.QueueConfig) {
	return riverjob.HostOf(fc).Queue()
}

// Attach makes the flow client insert and control its jobs through the
// app's River client. The flow client must have been created with
// Config.ExternalRiver, and rc with the workers and queue above.
func Attach(fc *flow.Client, rc *river.Client[pgx.Tx]) error {
	return riverjob.HostOf(fc).Attach(rc)
}
