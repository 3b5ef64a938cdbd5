// Command flow manages and inspects flow's durable functions from the
// command line: it migrates a database, sends events, lists and shows runs
// (a run's steps as a timeline in the terminal), cancels and reruns them, and
// runs a dev server with the web dashboard and River's UI.
//
//	go install github.com/riverflow/flow/cmd/flow@latest
//	flow help
//
// Every command but dev needs a database: -database-url, else
// FLOW_DATABASE_URL, else DATABASE_URL. flow dev starts a throwaway Postgres
// when none is given.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/riverflow/flow"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := runWithInput(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// env is what a command runs with.
type env struct {
	stdin          io.Reader // a confirmation prompt's answer
	stdout, stderr io.Writer
	getenv         func(string) string
}

// command is a subcommand.
type command struct {
	name string
	// args is the synopsis after the command's name, such as "[flags] ID".
	args string
	// summary is one line for the command list.
	summary string
	// help is the long description, shown by "flow help NAME" and -h.
	help string
	// flags declares the command's flags on fs and returns the function that
	// runs it with the positional arguments.
	flags func(fs *flag.FlagSet) func(ctx context.Context, e *env, args []string) error
}

// commands lists the subcommands in the order "flow help" shows them.
var commands []*command

func init() {
	commands = []*command{
		migrateCommand, migrateGetCommand, sendCommand, runsCommand, runCommand, eventCommand, cancelCommand, rerunCommand, replayCommand, pauseCommand, resumeCommand, keysCommand, devCommand,
	}
}

func findCommand(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

// usageError is a mistake in the command line: exit code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// run runs the command line args (without the program name) and returns the
// exit code: 0 on success, 1 when the command failed, 2 on a usage error.
// A command that asks for confirmation reads no answer: it does nothing.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	return runWithInput(ctx, args, strings.NewReader(""), stdout, stderr, getenv)
}

// runWithInput is run with stdin, where a confirmation prompt reads its
// answer.
func runWithInput(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv}
	if len(args) == 0 {
		printUsage(stderr)
		return exitUsage
	}
	name, rest := args[0], args[1:]
	switch name {
	case "help", "-h", "-help", "--help":
		if name == "help" && len(rest) > 0 {
			c := findCommand(rest[0])
			if c == nil {
				fmt.Fprintf(stderr, "flow: unknown command %q; run 'flow help' for the list\n", rest[0])
				return exitUsage
			}
			printCommandUsage(stdout, c)
			return exitOK
		}
		printUsage(stdout)
		return exitOK
	}
	c := findCommand(name)
	if c == nil {
		fmt.Fprintf(stderr, "flow: unknown command %q; run 'flow help' for the list\n", name)
		return exitUsage
	}

	fs := flag.NewFlagSet("flow "+c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported below, help goes to stdout
	exec := c.flags(fs)
	positional, err := parseFlags(fs, rest)
	if errors.Is(err, flag.ErrHelp) {
		printCommandUsage(stdout, c)
		return exitOK
	}
	if err == nil {
		err = exec(ctx, e, positional)
	}
	var ue *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue) || isFlagError(err):
		fmt.Fprintf(stderr, "flow: %s: %s\nRun 'flow %s -h' for usage.\n", c.name, errorText(err), c.name)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "flow: %s\n", errorText(err))
		return exitFailure
	}
}

// errorText is err's message without the library's "flow: " prefixes, which
// the command adds once.
func errorText(err error) string {
	return strings.ReplaceAll(err.Error(), "flow: ", "")
}

// flagError is an error from parsing flags.
type flagError struct{ err error }

func (e *flagError) Error() string { return e.err.Error() }
func (e *flagError) Unwrap() error { return e.err }

func isFlagError(err error) bool {
	var fe *flagError
	return errors.As(err, &fe)
}

// parseFlags parses args with fs, allowing flags after positional arguments
// ("flow run ID -json" as well as "flow run -json ID"), and returns the
// positional arguments. After "--" everything is positional.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, &flagError{err}
		}
		rest := fs.Args()
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(positional, rest...), nil
		}
		if len(rest) == 0 {
			return positional, nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

func printUsage(w io.Writer) {
	fmt.Fprint(w, `flow manages flow's durable functions: it migrates the database, sends
events, shows runs and their steps, cancels and reruns them, and serves the
dashboard.

Usage:
  flow <command> [flags] [arguments]

Commands:
`)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range commands {
		fmt.Fprintf(tw, "  %s\t%s\n", c.name, c.summary)
	}
	_ = tw.Flush()
	fmt.Fprint(w, `
The database is -database-url, else $FLOW_DATABASE_URL, else $DATABASE_URL.
Flags may come before or after arguments.

Run 'flow help <command>' or 'flow <command> -h' for a command's flags.
Exit status: 0 on success, 1 when the command failed, 2 on a usage error.
`)
}

func printCommandUsage(w io.Writer, c *command) {
	fmt.Fprintf(w, "Usage: flow %s %s\n\n%s\n", c.name, c.args, strings.TrimSpace(c.help))
	fs := flag.NewFlagSet("flow "+c.name, flag.ContinueOnError)
	c.flags(fs)
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		fmt.Fprint(w, "\nFlags:\n")
		fs.SetOutput(w)
		fs.PrintDefaults()
	}
}

// databaseFlag declares -database-url on fs.
func databaseFlag(fs *flag.FlagSet) *string {
	return fs.String("database-url", "", "Postgres connection string (default $FLOW_DATABASE_URL, else $DATABASE_URL)")
}

// queueFlag declares -queue on fs.
func queueFlag(fs *flag.FlagSet) *string {
	return fs.String("queue", "flow", "the River queue runs execute on: the app's flow.Config.Queue")
}

// databaseURL returns the connection string from the flag or the
// environment, or "".
func (e *env) databaseURL(flagValue string) string {
	for _, v := range []string{flagValue, e.getenv("FLOW_DATABASE_URL"), e.getenv("DATABASE_URL")} {
		if v != "" {
			return v
		}
	}
	return ""
}

var errNoDatabase = usagef("no database: set DATABASE_URL (or FLOW_DATABASE_URL) or pass -database-url")

// openPool opens a pool of at most maxConns connections on the database
// named by the flag or the environment.
func (e *env) openPool(ctx context.Context, flagValue string, maxConns int32) (*pgxpool.Pool, error) {
	url := e.databaseURL(flagValue)
	if url == "" {
		return nil, errNoDatabase
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, usagef("invalid database URL: %v", err)
	}
	cfg.MaxConns = maxConns
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	return pool, nil
}

// openClient opens a pool and a flow client on it that is not started: it
// sends events and reads and changes runs, and executes nothing. The caller
// closes the pool.
func (e *env) openClient(ctx context.Context, databaseFlag, queue string) (*flow.Client, *pgxpool.Pool, error) {
	pool, err := e.openPool(ctx, databaseFlag, 4)
	if err != nil {
		return nil, nil, err
	}
	c, err := flow.NewClient(pool, &flow.Config{Queue: queue, Logger: warnLogger(e.stderr)})
	if err != nil {
		pool.Close()
		if strings.Contains(err.Error(), "Config.Queue") {
			return nil, nil, usagef("%v", strings.TrimPrefix(err.Error(), "flow: "))
		}
		return nil, nil, err
	}
	return c, pool, nil
}
