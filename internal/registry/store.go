package registry

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/riverflow/flow/internal/store"
)

// queries runs the registry's statements on the caller's db. Only the
// store's verbs that take a db are used, so it needs no pool of its own.
var queries = store.New(nil, 0)

// Function is what the registry records for a function a process defines.
type Function struct {
	ID      string
	Name    string
	Retries int
	Control *Control
	// Options are stored for display; nil stores empty options.
	Options  *Options
	Triggers []Trigger
}

// Trigger is one event trigger of a function: an event name, or a prefix
// when IsPrefix (the name of "billing/*" is "billing/"), and its condition,
// if any.
type Trigger struct {
	Name     string
	IsPrefix bool
	If       string
}

// Register records fn and its event triggers in tx, replacing what the
// registry held for fn.ID. Triggers with the same pattern become one row
// whose condition holds when any of theirs does (none: always).
func Register(ctx context.Context, tx pgx.Tx, fn Function) error {
	names, prefixes, exprs := triggerRows(fn.Triggers)
	triggers := make([]store.Trigger, len(names))
	for i := range names {
		triggers[i] = store.Trigger{EventName: names[i], IsPrefix: prefixes[i], Expression: exprs[i]}
	}
	opts := fn.Options
	if opts == nil {
		opts = &Options{}
	}
	return queries.RegisterFunctionTx(ctx, tx, store.Function{
		ID: fn.ID, Name: fn.Name, Retries: int32(fn.Retries), Config: EncodeConfig(Config{Control: fn.Control, Options: opts}),
	}, triggers, fn.Control != nil)
}

// triggerRows returns the flow_trigger rows of triggers: one per pattern.
func triggerRows(triggers []Trigger) (names []string, prefixes []bool, exprs []string) {
	index := map[string]int{}
	for _, t := range triggers {
		key := fmt.Sprint(t.IsPrefix, t.Name)
		if i, ok := index[key]; ok {
			// One row per pattern: any passing condition starts the run.
			if exprs[i] != "" && t.If != "" {
				exprs[i] = "(" + exprs[i] + ") || (" + t.If + ")"
			} else {
				exprs[i] = ""
			}
			continue
		}
		index[key] = len(names)
		names = append(names, t.Name)
		prefixes = append(prefixes, t.IsPrefix)
		exprs = append(exprs, t.If)
	}
	return names, prefixes, exprs
}

// Entry is one registered function as stored.
type Entry struct {
	ID        string
	Name      string
	Retries   int
	Config    []byte // the stored config: Decode reads it
	UpdatedAt time.Time
}

// List returns the registered functions, ordered by ID.
func List(ctx context.Context, db store.DB) ([]Entry, error) {
	rows, err := queries.ListFunctionsOn(ctx, db)
	if err != nil {
		return nil, err
	}
	out := make([]Entry, len(rows))
	for i, r := range rows {
		out[i] = Entry{ID: r.ID, Name: r.Name, Retries: int(r.Retries), Config: r.Config, UpdatedAt: r.UpdatedAt}
	}
	return out, nil
}

// LoadConfig returns the stored config of a registered function, and false
// if no function has that ID.
func LoadConfig(ctx context.Context, db store.DB, id string) ([]byte, bool, error) {
	raw, err := queries.FunctionConfig(ctx, db, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return raw, true, nil
}
