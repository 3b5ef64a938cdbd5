package engine

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/riverflow/flow/internal/registry"
)

// register records the functions and their triggers in the registry.
func (c *Engine) register(ctx context.Context, fns []*Function) error {
	for _, fn := range fns {
		entry := registry.Function{ID: fn.id, Name: fn.name, Retries: fn.retries, Control: fn.control, Options: fn.storedOptions()}
		for _, t := range fn.triggers {
			if t.Event == "" {
				continue
			}
			name, isPrefix := t.eventPattern()
			entry.Triggers = append(entry.Triggers, registry.Trigger{Name: name, IsPrefix: isPrefix, If: t.If})
		}
		err := pgx.BeginFunc(ctx, c.pool, func(tx pgx.Tx) error {
			return registry.Register(ctx, tx, entry)
		})
		if err != nil {
			return fmt.Errorf("flow: register function %q: %w", fn.id, SchemaError(err))
		}
	}
	return nil
}

// storedOptions returns the options of fn that only its defining processes
// apply, as the registry stores them for every process to show.
func (fn *Function) storedOptions() *registry.Options {
	opts := &registry.Options{}
	for _, t := range fn.triggers {
		if t.Cron != "" {
			opts.Crons = append(opts.Crons, t.Cron)
		}
	}
	for _, co := range fn.cancelOn {
		opts.CancelOn = append(opts.CancelOn, registry.CancelOn(co))
	}
	if fn.timeouts != (Timeouts{}) {
		opts.Timeouts = &registry.Timeouts{Start: fn.timeouts.Start, Finish: fn.timeouts.Finish}
	}
	return opts
}
