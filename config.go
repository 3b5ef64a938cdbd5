package flow

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"regexp"
	"time"

	"github.com/riverflow/flow/internal/engine"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// Config configures a Client. Pass nil to NewClient for the defaults.
type Config struct {
	// Queue is the River queue that runs execute on. Defaults to "flow".
	Queue string

	// Workers is how many run segments one client executes at once. A
	// sleeping or waiting run holds no worker. Defaults to 100.
	Workers int

	// Logger receives the library's logs. Event data is never logged above
	// debug level. Defaults to slog.Default() at warn level and above.
	Logger *slog.Logger

	// ID names this client among the processes sharing the database (it is
	// River's client ID and the owner recorded on the runs it executes).
	// Defaults to the host name and start time. Give each process its own:
	// a client resumes its own runs after a database error without waiting
	// for their leases, so with an ID shared by mistake, one process could
	// take a run from a live segment of the other. The run's generation
	// fences that segment (its stored steps stay consistent), but a step it
	// has in flight may then run twice.
	ID string

	// FetchCooldown is the shortest time between two fetches of River's
	// producer for the flow queue. River's own default of 100 ms caps a queue
	// at Workers per 100 ms and delays notified inserts. Defaults to 2 ms.
	FetchCooldown time.Duration

	// FetchPollInterval is how often River polls for work when no
	// notification arrives. Defaults to 200 ms.
	FetchPollInterval time.Duration

	// LeaseTTL is how long a run stays owned by a client that stopped
	// renewing it (it died, or lost its database) before another client
	// takes the run over. A live client renews every LeaseTTL/3, however
	// long its step runs; a live client whose segment a database error cut
	// off (a killed connection, a Postgres restart) hands the run to a new
	// job itself as soon as the database answers, without waiting for the
	// lease. Defaults to 30 seconds.
	LeaseTTL time.Duration

	// WakePollInterval is how often a started client looks for sleeping runs
	// that are due and that no client has a timer for (for example runs
	// suspended by a process that then died). Wake-ups of runs suspended by
	// this client are timed exactly. Defaults to 1 second.
	WakePollInterval time.Duration

	// RetryBackoff returns the delay before attempt n+1 of a failing step or
	// function, after n failed attempts (n >= 1). Defaults to
	// DefaultRetryBackoff.
	RetryBackoff func(n int) time.Duration

	// MaxStepsPerRun fails a run that calls more steps than this. Defaults
	// to 1000.
	MaxStepsPerRun int

	// MaxStepOutputBytes is the largest encoded result a step may store.
	// Defaults to 4 MiB.
	MaxStepOutputBytes int

	// MaxEventBytes is the largest encoded event Send accepts. Defaults to
	// 512 KiB.
	MaxEventBytes int

	// MaxExpressionCost bounds the work of one evaluation of any CEL
	// expression (trigger If, WaitForEvent If, CancelOn If, flow-control
	// keys, Priority.Run), in cel-go's cost units: about one per field
	// access, operator or call and per step of a comprehension such as
	// exists() or all(), plus a tenth of the length of strings and lists
	// that functions scan. One unit takes some tens of nanoseconds. An
	// evaluation over it stops with an error wrapping ErrExpressionCost (see
	// there for what it means in each place). A pass over a list of about
	// 150,000 items fits; a comprehension nested in another over a few
	// thousand items does not. The limit is the evaluating client's: the
	// sender's for trigger conditions, keys, and the waits and CancelOn
	// conditions a sent event is matched against; the executing client's
	// for lookback and a run's own Invoke. Defaults to 1,000,000.
	MaxExpressionCost int

	// ExternalRiver makes the client run on the application's own River
	// client instead of creating one: add the client's workers and queue to
	// the app's River config (riverext.AddWorkers, riverext.Queues), then
	// riverext.Attach before Start. The app starts and stops
	// River; Start and Stop then only run the flow client's own services.
	// Defaults to false: the client owns a River client.
	ExternalRiver bool

	// TracerProvider, if set, records an OpenTelemetry span for each
	// execution of a run ("flow.run <function>") and for each attempt of a
	// step ("flow.step <id>"), with the run, function and step IDs, the
	// attempt and the outcome as attributes. A step's function runs in its
	// span's context, so spans the user starts there nest under it. Defaults
	// to nil: no tracing.
	TracerProvider trace.TracerProvider

	// MeterProvider, if set, records the client's OpenTelemetry metrics:
	// runs started and ended, step attempts and their durations, queue lag,
	// wake latency, takeovers, and (in a started client, one grouped query
	// per collection) the backlog of runs by function and state. Names,
	// units and attributes are listed in docs/metrics.md. Defaults to nil:
	// no metrics, at no cost.
	MeterProvider metric.MeterProvider

	// RetentionPeriod is how long ended runs (with their steps) and events
	// are kept; started clients delete older ones every few minutes. Runs
	// that have not ended are never deleted. Deleting an event also forgets
	// its sender's Event.ID: a period under 24 hours shortens the dedupe
	// window to it. Negative keeps everything. Defaults to 7 days.
	RetentionPeriod time.Duration

	// RealtimeSecret signs the tokens of browser subscribers
	// (RealtimeToken) and checks them (RealtimeHandler), with HMAC-SHA256.
	// Give every client of the app the same secret, of at least 32 random
	// bytes, and keep it out of the browser. Defaults to nil: RealtimeToken
	// fails and RealtimeHandler answers 500.
	RealtimeSecret []byte
}

// DefaultRetryBackoff is the default Config.RetryBackoff: 1 s after the
// first failure, doubling each time up to 10 minutes, with ±10% jitter.
func DefaultRetryBackoff(n int) time.Duration {
	d := time.Second
	for i := 1; i < n && d < 10*time.Minute; i++ {
		d *= 2
	}
	d = min(d, 10*time.Minute)
	jitter := time.Duration(rand.Int64N(int64(d)/5+1)) - d/10
	return d + jitter
}

var queueNameRE = regexp.MustCompile(`^(?:[a-z0-9])+(?:[_|\-]?[a-z0-9]+)*$`)

func (c *Config) withDefaults() *Config {
	var out Config
	if c != nil {
		out = *c
	}
	if out.Queue == "" {
		out.Queue = "flow"
	}
	if out.Workers == 0 {
		out.Workers = 100
	}
	if out.Logger == nil {
		out.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	if out.FetchCooldown == 0 {
		out.FetchCooldown = 2 * time.Millisecond
	}
	if out.FetchPollInterval == 0 {
		out.FetchPollInterval = 200 * time.Millisecond
	}
	if out.LeaseTTL == 0 {
		out.LeaseTTL = 30 * time.Second
	}
	if out.WakePollInterval == 0 {
		out.WakePollInterval = time.Second
	}
	if out.RetryBackoff == nil {
		out.RetryBackoff = DefaultRetryBackoff
	}
	if out.MaxStepsPerRun == 0 {
		out.MaxStepsPerRun = 1000
	}
	if out.MaxStepOutputBytes == 0 {
		out.MaxStepOutputBytes = 4 << 20
	}
	if out.MaxEventBytes == 0 {
		out.MaxEventBytes = 512 << 10
	}
	if out.MaxExpressionCost == 0 {
		out.MaxExpressionCost = engine.DefaultMaxExpressionCost
	}
	if out.RetentionPeriod == 0 {
		out.RetentionPeriod = 7 * 24 * time.Hour
	}
	return &out
}

func (c *Config) validate() error {
	switch {
	case !queueNameRE.MatchString(c.Queue) || len(c.Queue) > 64:
		return fmt.Errorf("flow: invalid Config.Queue %q (lower-case letters and digits with single _, - or | separators, at most 64 characters)", c.Queue)
	case c.Workers < 1 || c.Workers > 10_000:
		return fmt.Errorf("flow: Config.Workers must be between 1 and 10000, got %d", c.Workers)
	case c.FetchCooldown < time.Millisecond:
		return fmt.Errorf("flow: Config.FetchCooldown must be at least 1ms, got %s", c.FetchCooldown)
	case c.FetchPollInterval < c.FetchCooldown:
		return fmt.Errorf("flow: Config.FetchPollInterval (%s) cannot be shorter than FetchCooldown (%s)", c.FetchPollInterval, c.FetchCooldown)
	case c.LeaseTTL < 100*time.Millisecond:
		return fmt.Errorf("flow: Config.LeaseTTL must be at least 100ms, got %s", c.LeaseTTL)
	case c.WakePollInterval < 10*time.Millisecond:
		return fmt.Errorf("flow: Config.WakePollInterval must be at least 10ms, got %s", c.WakePollInterval)
	case c.MaxStepsPerRun < 1:
		return fmt.Errorf("flow: Config.MaxStepsPerRun must be positive, got %d", c.MaxStepsPerRun)
	case c.MaxStepOutputBytes < 1:
		return fmt.Errorf("flow: Config.MaxStepOutputBytes must be positive, got %d", c.MaxStepOutputBytes)
	case c.MaxEventBytes < 1:
		return fmt.Errorf("flow: Config.MaxEventBytes must be positive, got %d", c.MaxEventBytes)
	case c.MaxExpressionCost < 1:
		return fmt.Errorf("flow: Config.MaxExpressionCost must be positive, got %d", c.MaxExpressionCost)
	case len(c.ID) > 100:
		return fmt.Errorf("flow: Config.ID must be at most 100 characters, got %d", len(c.ID))
	}
	return nil
}

// engineConfig returns the resolved settings for the engine.
func (c *Config) engineConfig() engine.Config {
	return engine.Config{
		Queue:              c.Queue,
		Workers:            c.Workers,
		Logger:             c.Logger,
		ID:                 c.ID,
		FetchCooldown:      c.FetchCooldown,
		FetchPollInterval:  c.FetchPollInterval,
		LeaseTTL:           c.LeaseTTL,
		WakePollInterval:   c.WakePollInterval,
		RetryBackoff:       c.RetryBackoff,
		MaxStepsPerRun:     c.MaxStepsPerRun,
		MaxStepOutputBytes: c.MaxStepOutputBytes,
		MaxEventBytes:      c.MaxEventBytes,
		MaxExpressionCost:  c.MaxExpressionCost,
		ExternalRiver:      c.ExternalRiver,
		TracerProvider:     c.TracerProvider,
		MeterProvider:      c.MeterProvider,
		RetentionPeriod:    c.RetentionPeriod,
	}
}
