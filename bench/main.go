// Command bench measures riverflow against raw River and DBOS Transact Go on
// one Postgres server, and prints a markdown table of the results.
//
//	cd bench && go run .                  # full counts, 5 rounds
//	cd bench && go run . -short -rounds 1 # CI size
//
// It finds or starts Postgres the way the test harness does (package
// flowtest: FLOW_DATABASE_URL or DATABASE_URL, else Docker, else the local
// binaries), asking for a durable server: fsync, synchronous_commit and
// full_page_writes on, data on disk. Every system gets its own fresh database
// on that server for every scenario and round. Each figure is the median of
// the rounds, with their min and max; rounds are interleaved (one pass over
// every scenario, then the next).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/riverflow/flow/flowtest"
)

var (
	flagShort  = flag.Bool("short", false, "small counts (CI size); the figures are then only a smoke test")
	flagRounds = flag.Int("rounds", 5, "rounds per scenario; the table shows the median, min and max")
	flagOnly   = flag.String("only", "", "comma-separated scenarios to run (default all): "+strings.Join(scenarioNames(), ","))
	flagOut    = flag.String("out", "", "also write the table to this markdown file")
	flagScale  = flag.Int("scale-rows", 0, "sleeping runs and open waits to create for the scale scenario (default 100000, 1000 with -short)")
	flagBG     = flag.Int("bg-rate", 100, "background load of the loaded start-latency scenario, in 3-step runs per second (River: 3 jobs per run)")
	flagVerb   = flag.Bool("v", false, "log progress details to stderr")
	flagRIC    = flag.Duration("river-insert-cooldown", 0, "FetchCooldown of raw River's sending-only client, which also spaces its insert NOTIFYs (0: River's default, 100ms)")
	flagSys    = flag.String("systems", "riverflow,river,dbos", "comma-separated systems to measure")
	flagCPU    = flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	flagHeap   = flag.String("heapprofile", "", "write a heap profile of the scale scenario's worker, once it has created its sleepers, to this file")
)

// sizes are the counts of one configuration (full or -short).
type sizes struct {
	enqueueSends   int // sends per sender configuration
	throughputRuns int // riverflow runs and DBOS workflows; River gets 3x as many jobs
	latencySamples int // start latency samples
	wakeSamples    int
	sleepers       int
	scaleRows      int // sleeping runs, and as many open waits
	replayRuns     int
	replaySteps    int
	controlRuns    int // runs per flow-control configuration
}

func sizesFor(short bool) sizes {
	if short {
		return sizes{enqueueSends: 200, throughputRuns: 200, latencySamples: 50, wakeSamples: 50,
			sleepers: 100, scaleRows: 1000, replayRuns: 5, replaySteps: 100, controlRuns: 200}
	}
	return sizes{enqueueSends: 2000, throughputRuns: 10000, latencySamples: 500, wakeSamples: 200,
		sleepers: 1000, scaleRows: 100000, replayRuns: 20, replaySteps: 100, controlRuns: 5000}
}

// scenario is one numbered scenario of the issue.
type scenario struct {
	name string
	run  func(ctx context.Context, e *env, round int) error
}

func scenarios() []scenario {
	return []scenario{
		{"enqueue", runEnqueue},
		{"throughput", runThroughput},
		{"start", runStartLatency},
		{"wake", runWake},
		{"sleep", runSleep},
		{"scale", runScale},
		{"replay", runReplay},
		{"control", runControl},
		{"realtime", runRealtime},
	}
}

func scenarioNames() []string {
	var out []string
	for _, s := range scenarios() {
		out = append(out, s.name)
	}
	return out
}

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run() error {
	if *flagRounds < 1 {
		return fmt.Errorf("-rounds must be at least 1")
	}
	sz := sizesFor(*flagShort)
	if *flagScale > 0 {
		sz.scaleRows = *flagScale
	}
	selected := scenarios()
	if *flagOnly != "" {
		want := strings.Split(*flagOnly, ",")
		for _, w := range want {
			if !slices.Contains(scenarioNames(), strings.TrimSpace(w)) {
				return fmt.Errorf("-only: unknown scenario %q (have %s)", w, strings.Join(scenarioNames(), ","))
			}
		}
		selected = slices.DeleteFunc(selected, func(s scenario) bool {
			return !slices.ContainsFunc(want, func(w string) bool { return strings.TrimSpace(w) == s.name })
		})
	}

	wantSys := map[string]bool{}
	for _, name := range strings.Split(*flagSys, ",") {
		name = strings.TrimSpace(name)
		if !slices.Contains(systems, name) {
			return fmt.Errorf("-systems: unknown system %q (have %s)", name, strings.Join(systems, ","))
		}
		wantSys[name] = true
	}
	if *flagCPU != "" {
		f, err := os.Create(*flagCPU)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	started := time.Now()
	progress("starting Postgres (durable settings)")
	startCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	srv, err := flowtest.StartServerWith(startCtx, &flowtest.ServerOpts{Durable: true})
	cancel()
	if err != nil {
		return err
	}
	defer srv.Close()

	e := &env{
		serverURL: srv.URL,
		sz:        sz,
		short:     *flagShort,
		bgRate:    *flagBG,
		res:       newResults(),
		systems:   wantSys,
		quiet:     slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
	}
	defer e.cleanup()
	if err := e.describeServer(ctx); err != nil {
		return err
	}

	for round := range *flagRounds {
		for _, sc := range selected {
			progress("round %d/%d: %s", round+1, *flagRounds, sc.name)
			t0 := time.Now()
			if err := sc.run(ctx, e, round); err != nil {
				return fmt.Errorf("round %d, scenario %s: %w", round+1, sc.name, err)
			}
			progress("round %d/%d: %s done in %s", round+1, *flagRounds, sc.name, time.Since(t0).Round(time.Millisecond))
		}
	}

	var w io.Writer = os.Stdout
	var buf strings.Builder
	w = io.MultiWriter(os.Stdout, &buf)
	e.writeReport(w, *flagRounds, time.Since(started))
	if *flagOut != "" {
		if err := os.WriteFile(*flagOut, []byte(buf.String()), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s bench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func verbose(format string, args ...any) {
	if *flagVerb {
		progress(format, args...)
	}
}

// heapInUse returns the heap in use after a full collection, in bytes.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}
