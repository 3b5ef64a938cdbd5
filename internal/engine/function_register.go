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
		entry := registry.Function{ID: fn.id, Name: fn.name, Retries: fn.retries, Control: fn.control}
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
