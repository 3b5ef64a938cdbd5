package flow

import (
	"errors"
	"fmt"

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
	if err := river.AddWorkerSafely(workers, &runWorker{c: h.c}); err != nil {
		return fmt.Errorf("flow: add River workers: %w", err)
	}
	if err := river.AddWorkerSafely(workers, &cronWorker{c: h.c}); err != nil {
		return fmt.Errorf("flow: add River workers: %w", err)
	}
	return nil
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
	c := h.c
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case rc == nil:
		return errors.New("flow: AttachRiver: nil River client")
	case !c.cfg.ExternalRiver:
		return errors.New("flow: AttachRiver: the client runs its own River client (set Config.ExternalRiver)")
	case c.started:
		return errors.New("flow: AttachRiver: client already started")
	}
	c.river = rc
	c.jobs.Attach(rc)
	return nil
}
