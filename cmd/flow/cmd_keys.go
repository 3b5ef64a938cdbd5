package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"text/tabwriter"

	"github.com/riverflow/flow"
)

var keysCommand = &command{
	name:    "keys",
	args:    "create -name NAME | list | revoke ID",
	summary: "create, list and revoke the event API's keys",
	help: `
Keys manages the keys that senders of the HTTP event API (package eventapi:
POST /e/{key}) authenticate with.

  flow keys create -name NAME   creates a key and prints it: copy it now, it
                                is shown only once (the database keeps only
                                its SHA-256 hash)
  flow keys list                lists the keys: ID, name, prefix, created,
                                revoked
  flow keys revoke ID           revokes a key: requests with it are refused
                                from then on
`,
	flags: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
		dbURL := databaseFlag(fs)
		name := fs.String("name", "", "what the key is for (create)")
		asJSON := fs.Bool("json", false, "print JSON")
		return func(ctx context.Context, e *env, args []string) error {
			if len(args) == 0 {
				return usagef("want create, list or revoke")
			}
			verb, rest := args[0], args[1:]
			switch verb {
			case "create":
				if len(rest) > 0 {
					return usagef("create takes no arguments (the name is -name), got %q", rest)
				}
				if *name == "" {
					return usagef("create needs -name NAME")
				}
			case "list":
				if len(rest) > 0 || *name != "" {
					return usagef("list takes no arguments")
				}
			case "revoke":
				if len(rest) != 1 {
					return usagef("want one key ID to revoke, got %d arguments", len(rest))
				}
			default:
				return usagef("unknown keys command %q: want create, list or revoke", verb)
			}
			c, pool, err := e.openClient(ctx, *dbURL, "flow")
			if err != nil {
				return err
			}
			defer pool.Close()
			switch verb {
			case "create":
				return keysCreate(ctx, e, c, *name, *asJSON)
			case "list":
				return keysList(ctx, e, c, *asJSON)
			default:
				return keysRevoke(ctx, e, c, rest[0])
			}
		}
	},
}

func keysCreate(ctx context.Context, e *env, c *flow.Client, name string, asJSON bool) error {
	key, info, err := c.CreateEventKey(ctx, name)
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(e.stdout, struct {
			Key string `json:"key"`
			flow.EventKey
		}{key, info})
	}
	fmt.Fprintf(e.stdout, "created event key %s (%s)\n\n  %s\n\n", info.ID, info.Name, key)
	fmt.Fprintln(e.stdout, "Copy it now: it is not stored and cannot be shown again.")
	fmt.Fprintln(e.stdout, "Send events with: curl -d '{\"name\":\"app/thing.happened\",\"data\":{}}' http://HOST/e/KEY")
	return nil
}

func keysList(ctx context.Context, e *env, c *flow.Client, asJSON bool) error {
	keys, err := c.ListEventKeys(ctx)
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(e.stdout, keys)
	}
	if len(keys) == 0 {
		fmt.Fprintln(e.stderr, "no event keys: create one with 'flow keys create -name NAME'")
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tPREFIX\tCREATED\tREVOKED")
	for _, k := range keys {
		revoked := "-"
		if k.RevokedAt != nil {
			revoked = fmtTime(*k.RevokedAt)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s…\t%s\t%s\n", k.ID, oneLine(k.Name, 40), k.Prefix, fmtTime(k.CreatedAt), revoked)
	}
	return tw.Flush()
}

func keysRevoke(ctx context.Context, e *env, c *flow.Client, id string) error {
	err := c.RevokeEventKey(ctx, id)
	if errors.Is(err, flow.ErrNotFound) {
		return fmt.Errorf("no event key %q (see 'flow keys list')", id)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "revoked event key %s\n", id)
	return nil
}
