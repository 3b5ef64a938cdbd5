package flow

import (
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/riverflow/flow/internal/riverjob"
)

// The seam of an app that owns its River client: package riverext reaches a
// *Client's riverHost through riverjob.HostOf.
func init() {
	riverjob.RegisterHost(func(client any) riverjob.Host { return riverHost{client.(*Client)} })
}

// riverHost is a client as package riverext sees it.
type riverHost struct{ c *Client }

// AddWorkers adds the job kinds that execute runs and fire cron triggers.
func (h riverHost) AddWorkers(workers *river.Workers) error {
	return h.c.e.AddRiverWorkers(workers)
}

// Queue is the queue runs execute on, with the client's prompt fetch
// settings.
func (h riverHost) Queue() (string, river.QueueConfig) {
	cfg := h.c.cfg
	return cfg.Queue, riverjob.QueueConfig(cfg.Workers, cfg.FetchCooldown, cfg.FetchPollInterval)
}

// Attach gives a client created with Config.ExternalRiver the app's River
// client. The error messages name AttachRiver, the name callers knew first.
func (h riverHost) Attach(rc *river.Client[pgx.Tx]) error {
	return h.c.e.AttachRiver(rc)
}
