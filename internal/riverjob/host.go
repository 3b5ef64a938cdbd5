package riverjob

import (
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
)

// Host is what package riverext plugs into an app's own River client: a
// flow client's job workers, its queue, and the place to attach the app's
// River client. Package flow implements it for its *Client and registers it
// with RegisterHost, so that riverext reaches it without a second exported
// API on *Client.
type Host interface {
	// AddWorkers adds the flow client's job workers to workers.
	AddWorkers(workers *river.Workers) error
	// Queue returns the name and configuration of the flow client's queue.
	Queue() (string, river.QueueConfig)
	// Attach makes the flow client insert and control its jobs through rc.
	Attach(rc *river.Client[pgx.Tx]) error
}

var hostOf func(client any) Host

// RegisterHost sets the function that gives the Host of a flow client.
// Package flow calls it once, in its init.
func RegisterHost(of func(client any) Host) { hostOf = of }

// HostOf returns the Host of client, a *flow.Client.
func HostOf(client any) Host { return hostOf(client) }

// QueueConfig is the River configuration of the flow client's queue: workers
// at most, fetching every fetchCooldown at most when notified and polling
// every fetchPoll otherwise.
func QueueConfig(workers int, fetchCooldown, fetchPoll time.Duration) river.QueueConfig {
	return river.QueueConfig{MaxWorkers: workers, FetchCooldown: fetchCooldown, FetchPollInterval: fetchPoll}
}
