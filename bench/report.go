package main

import (
	"fmt"
	"io"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
)

const (
	sysFlow  = "riverflow"
	sysRiver = "river"
	sysDBOS  = "dbos"
)

var systems = []string{sysFlow, sysRiver, sysDBOS}

// row is one line of the table.
type row struct {
	id     string
	group  string // scenario heading
	name   string
	unit   string
	higher bool // higher is better
	// target describes riverflow's target, and check says whether the
	// medians meet it (ok) and whether it could be judged (known).
	target string
	check  func(med func(id, system string) (float64, bool)) (ok, known bool)
}

// results holds every round's value per row and system.
type results struct {
	mu   sync.Mutex
	vals map[string]map[string][]float64
	note map[string]string
}

func newResults() *results {
	return &results{vals: map[string]map[string][]float64{}, note: map[string]string{}}
}

func (r *results) add(id, system string, v float64) {
	if rowByID(id) == nil {
		panic("bench: unknown row " + id)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.vals[id] == nil {
		r.vals[id] = map[string][]float64{}
	}
	r.vals[id][system] = append(r.vals[id][system], v)
}

// setNote attaches a note to a row (shown after the table).
func (r *results) setNote(id, note string) {
	r.mu.Lock()
	r.note[id] = note
	r.mu.Unlock()
}

func (r *results) median(id, system string) (float64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	xs := r.vals[id][system]
	if len(xs) == 0 {
		return 0, false
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2], true
	}
	return (s[n/2-1] + s[n/2]) / 2, true
}

func (r *results) cell(id, system string) string {
	r.mu.Lock()
	xs := slices.Clone(r.vals[id][system])
	r.mu.Unlock()
	if len(xs) == 0 {
		return "n/a"
	}
	med, _ := r.median(id, system)
	if len(xs) == 1 {
		return fmtNum(med)
	}
	return fmt.Sprintf("%s (%s–%s)", fmtNum(med), fmtNum(slices.Min(xs)), fmtNum(slices.Max(xs)))
}

func fmtNum(v float64) string {
	a := math.Abs(v)
	switch {
	case a == 0:
		return "0"
	case a >= 10000:
		return addCommas(fmt.Sprintf("%.0f", v))
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3f", v)
	}
}

func addCommas(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// ---- targets ----

// atMost: riverflow's median is at most limit (absolute).
func atMost(id string, limit float64) func(func(string, string) (float64, bool)) (bool, bool) {
	return func(med func(string, string) (float64, bool)) (bool, bool) {
		v, ok := med(id, sysFlow)
		return v <= limit, ok
	}
}

// ratioTo: riverflow's median compared with a peer's, scaled by factor:
// lower-is-better rows need rf <= factor*peer, higher-is-better rows need
// rf >= factor*peer.
func ratioTo(id, peer string, factor float64, higher bool) func(func(string, string) (float64, bool)) (bool, bool) {
	return func(med func(string, string) (float64, bool)) (bool, bool) {
		v, ok1 := med(id, sysFlow)
		p, ok2 := med(id, peer)
		if !ok1 || !ok2 {
			return false, false
		}
		if higher {
			return v >= factor*p, true
		}
		return v <= factor*p, true
	}
}

// both combines two checks.
func both(a, b func(func(string, string) (float64, bool)) (bool, bool)) func(func(string, string) (float64, bool)) (bool, bool) {
	return func(med func(string, string) (float64, bool)) (bool, bool) {
		ok1, k1 := a(med)
		ok2, k2 := b(med)
		switch {
		case k1 && k2:
			return ok1 && ok2, true
		case k1:
			return ok1, true
		case k2:
			return ok2, true
		}
		return false, false
	}
}

// vsRow: riverflow's median of id within factor of its median of base
// (lower is better: id <= factor*base; higher: id >= base/factor).
func vsRow(id, base string, factor float64, higher bool) func(func(string, string) (float64, bool)) (bool, bool) {
	return func(med func(string, string) (float64, bool)) (bool, bool) {
		v, ok1 := med(id, sysFlow)
		b, ok2 := med(base, sysFlow)
		if !ok1 || !ok2 {
			return false, false
		}
		if higher {
			return v >= b/factor, true
		}
		return v <= factor*b, true
	}
}

var rows = []*row{
	// 1. Transactional enqueue
	{id: "1a", group: "1. Transactional enqueue", name: "1 sender: transaction p50 (BEGIN, app row, send, COMMIT)", unit: "ms",
		target: "≤ 1.5× River", check: ratioTo("1a", sysRiver, 1.5, false)},
	{id: "1b", name: "1 sender: the send call alone, p50", unit: "ms"},
	{id: "1c", name: "1 sender: sends/s", unit: "/s", higher: true,
		target: "≥ River ÷ 1.5", check: ratioTo("1c", sysRiver, 1/1.5, true)},
	{id: "1d", name: "8 senders: transaction p50", unit: "ms",
		target: "≤ 1.5× River", check: ratioTo("1d", sysRiver, 1.5, false)},
	{id: "1e", name: "8 senders: sends/s", unit: "/s", higher: true,
		target: "≥ River ÷ 1.5", check: ratioTo("1e", sysRiver, 1/1.5, true)},

	// 2. Throughput
	{id: "2a", group: "2. Throughput, one worker process", name: "runs/s (River: jobs/s of 3× as many no-op jobs)", unit: "/s", higher: true,
		target: "≥ River ÷ 3 and ≥ 2× DBOS", check: both(ratioTo("2a", sysRiver, 1.0/3, true), ratioTo("2a", sysDBOS, 2, true))},
	{id: "2b", name: "units of work/s (steps; River: jobs)", unit: "/s", higher: true},
	{id: "2c", name: "time to complete all", unit: "s"},
	{id: "2d", name: "pre-insert rate (Send batches of 500; River InsertMany of 1,000)", unit: "/s", higher: true},

	// 3. Start latency
	{id: "3i50", group: "3. Start latency (commit → first step starts; DBOS: RunWorkflow call → first step)", name: "idle worker, p50", unit: "ms",
		target: "≤ 10 ms", check: atMost("3i50", 10)},
	{id: "3i95", name: "idle worker, p95", unit: "ms"},
	{id: "3i99", name: "idle worker, p99", unit: "ms", target: "≤ 50 ms", check: atMost("3i99", 50)},
	{id: "3c50", name: "idle worker, from the send call's start (all three alike), p50", unit: "ms"},
	{id: "3c99", name: "idle worker, from the send call's start, p99", unit: "ms"},
	{id: "3l50", name: "under background load, p50", unit: "ms", target: "≤ 10 ms", check: atMost("3l50", 10)},
	{id: "3l95", name: "under background load, p95", unit: "ms"},
	{id: "3l99", name: "under background load, p99", unit: "ms", target: "≤ 50 ms", check: atMost("3l99", 50)},

	{id: "3bg", name: "background load achieved (runs/s; River: 3-job inserts/s)", unit: "/s", higher: true},

	// 4. Wake latency
	{id: "4w50", group: "4. Wake latency (matching event commit → step after the wait starts; DBOS: Send → step after Recv)", name: "p50", unit: "ms",
		target: "≤ 15 ms", check: atMost("4w50", 15)},
	{id: "4w95", name: "p95", unit: "ms"},
	{id: "4w99", name: "p99", unit: "ms", target: "≤ 50 ms", check: atMost("4w99", 50)},

	// 5. Sleep accuracy
	{id: "5s50", group: "5. Sleep(1s) lateness, concurrent sleepers (River: job ScheduledAt = now+1s)", name: "p50", unit: "ms"},
	{id: "5s95", name: "p95", unit: "ms"},
	{id: "5s99", name: "p99", unit: "ms", target: "≤ 100 ms", check: atMost("5s99", 100)},

	// 6. Scale
	{id: "6n", group: "6. Scale: empty tables vs N sleeping runs + N open waits (riverflow only)", name: "N reached (sleeping runs; as many open waits)", unit: "rows", higher: true},
	{id: "6e1a", name: "empty: enqueue, 1 sender, transaction p50", unit: "ms"},
	{id: "6p1a", name: "populated: enqueue, 1 sender, transaction p50", unit: "ms",
		target: "≤ 1.2× empty", check: vsRow("6p1a", "6e1a", 1.2, false)},
	{id: "6e1e", name: "empty: enqueue, 8 senders, sends/s", unit: "/s", higher: true},
	{id: "6p1e", name: "populated: enqueue, 8 senders, sends/s", unit: "/s", higher: true,
		target: "≥ empty ÷ 1.2", check: vsRow("6p1e", "6e1e", 1.2, true)},
	{id: "6e3i50", name: "empty: start latency idle, p50", unit: "ms"},
	{id: "6p3i50", name: "populated: start latency idle, p50", unit: "ms",
		target: "≤ 1.2× empty", check: vsRow("6p3i50", "6e3i50", 1.2, false)},
	{id: "6e3i99", name: "empty: start latency idle, p99", unit: "ms"},
	{id: "6p3i99", name: "populated: start latency idle, p99", unit: "ms",
		target: "≤ 1.2× empty", check: vsRow("6p3i99", "6e3i99", 1.2, false)},
	{id: "6e3l50", name: "empty: start latency loaded, p50", unit: "ms"},
	{id: "6p3l50", name: "populated: start latency loaded, p50", unit: "ms",
		target: "≤ 1.2× empty", check: vsRow("6p3l50", "6e3l50", 1.2, false)},
	{id: "6e3l99", name: "empty: start latency loaded, p99", unit: "ms"},
	{id: "6p3l99", name: "populated: start latency loaded, p99", unit: "ms",
		target: "≤ 1.2× empty", check: vsRow("6p3l99", "6e3l99", 1.2, false)},
	{id: "6h0", name: "worker heap in use after GC, idle, 0 sleepers", unit: "MB"},
	{id: "6hN", name: "same worker, after creating N sleepers + N waits", unit: "MB",
		target: "no growth (≤ +5 MB)", check: func(med func(string, string) (float64, bool)) (bool, bool) {
			a, ok1 := med("6h0", sysFlow)
			b, ok2 := med("6hN", sysFlow)
			return b <= a+5, ok1 && ok2
		}},
	{id: "6hF", name: "a fresh worker on the populated tables, idle", unit: "MB"},

	// 7. Replay
	{id: "7a", group: "7. Replay of 100 stored steps (resuming after a Sleep)", name: "handler entry → next new step starts, p50", unit: "ms",
		target: "< 5 ms", check: atMost("7a", 5)},
	{id: "7b", name: "of which: the 100 stored steps replayed (handler entry → last stored Step returns), p50", unit: "ms"},
	{id: "7c", name: "continuation job fetched (river_job.attempted_at) → next new step starts, p50", unit: "ms"},
	{id: "7d", name: "sleep due → next new step starts, p50", unit: "ms"},

	// 8. Flow control
	{id: "8rnone", group: "8. Flow control: runs/s of 3-step runs on one worker (cost of each option; sends/s below)", name: "no flow control", unit: "/s", higher: true},
	{id: "8rconc", name: "Concurrency: one limit for the function, = workers (100)", unit: "/s", higher: true, target: "≥ ½ of none", check: vsRow("8rconc", "8rnone", 2, true)},
	{id: "8rconc2", name: "Concurrency: function limit + 50 per account (100 accounts)", unit: "/s", higher: true, target: "≥ ½ of none", check: vsRow("8rconc2", "8rnone", 2, true)},
	{id: "8rconcbind", name: "Concurrency: 1 per account, binding (100 accounts; runs wait their turn)", unit: "/s", higher: true},
	{id: "8rthrottle", name: "Throttle (not binding), per account", unit: "/s", higher: true},
	{id: "8rrate", name: "RateLimit (not binding), per account", unit: "/s", higher: true},
	{id: "8ridem", name: "Idempotency, a key per event", unit: "/s", higher: true},
	{id: "8rsingle", name: "Singleton skip, a key per event", unit: "/s", higher: true},
	{id: "8rprio", name: "Priority expression", unit: "/s", higher: true},
	{id: "8rdebounce", name: "Debounce 1 ms, a key per event", unit: "/s", higher: true},
	{id: "8rbatch", name: "Batch of up to 100 (events/s)", unit: "/s", higher: true},
	{id: "8snone", name: "send: no flow control, events/s (batches of 500)", unit: "/s", higher: true},
	{id: "8sconc", name: "send: Concurrency: one limit for the function, = workers (100), events/s (batches of 500)", unit: "/s", higher: true},
	{id: "8sconc2", name: "send: Concurrency: function limit + 50 per account (100 accounts), events/s (batches of 500)", unit: "/s", higher: true},
	{id: "8sconcbind", name: "send: Concurrency: 1 per account, binding, events/s (batches of 500)", unit: "/s", higher: true},
	{id: "8sthrottle", name: "send: Throttle (not binding), per account, events/s (batches of 500)", unit: "/s", higher: true},
	{id: "8srate", name: "send: RateLimit (not binding), per account, events/s (batches of 500)", unit: "/s", higher: true},
	{id: "8sidem", name: "send: Idempotency, a key per event, events/s (batches of 500)", unit: "/s", higher: true},
	{id: "8ssingle", name: "send: Singleton skip, a key per event, events/s (batches of 500)", unit: "/s", higher: true},
	{id: "8sprio", name: "send: Priority expression, events/s (batches of 500)", unit: "/s", higher: true},
	{id: "8sdebounce", name: "send: Debounce 1 ms, a key per event, events/s (batches of 500)", unit: "/s", higher: true},
	{id: "8sbatch", name: "send: Batch of up to 100 (events/s), events/s (batches of 500)", unit: "/s", higher: true},

	// 9. Realtime
	{id: "9l50", group: "9. Realtime: publish call → subscriber's Next returns (riverflow only)", name: "live (Client.Publish), p50", unit: "ms",
		target: "≤ 5 ms", check: atMost("9l50", 5)},
	{id: "9l95", name: "live, p95", unit: "ms"},
	{id: "9l99", name: "live, p99", unit: "ms", target: "≤ 50 ms", check: atMost("9l99", 50)},
	{id: "9b50", name: "live, 20 KB (stored, notified by reference), p50", unit: "ms"},
	{id: "9b95", name: "live, 20 KB, p95", unit: "ms"},
	{id: "9b99", name: "live, 20 KB, p99", unit: "ms"},
	{id: "9d50", name: "durable Publish in a run (from the handler's call; the send is before it), p50", unit: "ms"},
	{id: "9d95", name: "durable Publish in a run, p95", unit: "ms"},
	{id: "9d99", name: "durable Publish in a run, p99", unit: "ms"},
	{id: "9t1", name: "live publishes/s, 8 publishers, one channel", unit: "/s", higher: true},
	{id: "9t8", name: "live publishes/s, 8 publishers, 8 channels", unit: "/s", higher: true},
}

func rowByID(id string) *row {
	for _, r := range rows {
		if r.id == id {
			return r
		}
	}
	return nil
}

// writeReport prints the markdown table.
func (e *env) writeReport(w io.Writer, rounds int, took time.Duration) {
	mode := "full"
	if e.short {
		mode = "-short (smoke-test counts: the figures mean little)"
	}
	fmt.Fprintf(w, "## riverflow vs River v0.51.2 vs DBOS Transact Go v1.8.0\n\n")
	fmt.Fprintf(w, "Mode: %s; %d round(s), each cell the median (min–max) of the rounds. %d CPUs, %s, %s/%s. Took %s.\n\n",
		mode, rounds, runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH, took.Round(time.Second))
	fmt.Fprintf(w, "Postgres: %s.\n\n", e.settings)
	fmt.Fprintf(w, "Counts: enqueue %d sends per configuration; throughput %d runs (River %d jobs); start latency %d samples (background load %d runs/s); wake %d samples; %d sleepers; scale N=%d; replay %d runs.\n\n",
		e.sz.enqueueSends, e.sz.throughputRuns, 3*e.sz.throughputRuns, e.sz.latencySamples, e.bgRate, e.sz.wakeSamples, e.sz.sleepers, e.sz.scaleRows, e.sz.replayRuns)

	fmt.Fprintln(w, "| # | measure | unit | riverflow | River | DBOS | rf ÷ River | rf ÷ DBOS | riverflow target | met |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|")
	med := e.res.median
	group := ""
	for _, r := range rows {
		e.res.mu.Lock()
		_, any := e.res.vals[r.id]
		e.res.mu.Unlock()
		if !any {
			continue
		}
		if r.group != "" {
			group = r.group
			fmt.Fprintf(w, "| | **%s** | | | | | | | | |\n", group)
		}
		ratio := func(peer string) string {
			a, ok1 := med(r.id, sysFlow)
			b, ok2 := med(r.id, peer)
			if !ok1 || !ok2 || b == 0 {
				return ""
			}
			return fmt.Sprintf("%.2f", a/b)
		}
		met := ""
		if r.check != nil {
			if ok, known := r.check(med); known {
				met = "✗"
				if ok {
					met = "✓"
				}
			}
		}
		unit := r.unit
		if r.higher {
			unit += " ↑"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", r.id, r.name, unit,
			e.res.cell(r.id, sysFlow), e.res.cell(r.id, sysRiver), e.res.cell(r.id, sysDBOS),
			ratio(sysRiver), ratio(sysDBOS), r.target, met)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "↑ higher is better; otherwise lower is better. n/a: not measured, or the system has no such concept.")
	e.res.mu.Lock()
	var notes []string
	for _, r := range rows {
		if n, ok := e.res.note[r.id]; ok {
			notes = append(notes, fmt.Sprintf("- %s: %s", r.id, n))
		}
	}
	e.res.mu.Unlock()
	if len(notes) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Notes:")
		for _, n := range notes {
			fmt.Fprintln(w, n)
		}
	}
	fmt.Fprintln(w)
	fmt.Fprint(w, methodNotes)
}

const methodNotes = `Method:
- Every system runs in this one process against its own fresh database on the same server, with a pgx pool of 20 connections (DBOS: its own default pool, also 20). riverflow runs with its defaults (100 workers, FetchCooldown 2 ms, FetchPollInterval 200 ms); River with MaxWorkers 100, FetchCooldown 2 ms, FetchPollInterval 200 ms; DBOS with its defaults.
- 1: each send is BEGIN, INSERT of an app row, the send (riverflow SendTx of one event that starts one run of a registered function; River InsertTx of one job; DBOS Enqueue with WithEnqueueTransaction from a dbos.Client), COMMIT, from sending-only clients (no worker running). Transaction time is BEGIN to COMMIT acknowledged.
- 2: riverflow: the events are sent first (Send in batches of 500) with no worker running, then the timer covers worker Start until every run is completed (3 trivial flow.Step calls per run). River: the jobs are inserted first (InsertMany), then worker Start until every JobCompleted event. DBOS: 100 goroutines each RunWorkflow and GetResult in a loop (DBOS runs a started workflow in the starting process, with no dispatch through the database), from the first start to the last result.
- 3: sequential samples, a random 0–20 ms gap between them; latency from the send's commit being acknowledged to the first step's body starting (River: Work starting). The loaded variant adds a background sender of 3-step runs (River: 3 no-op jobs per tick; DBOS: 3-step workflows) at the stated rate, on the same queue.
- 4: riverflow: runs wait in WaitForEvent with Match on data.k; each sample sends the one matching event. DBOS: workflows wait in Recv; each sample Sends one message from outside any workflow.
- 5: lateness = the step after the sleep starts − (the time Sleep was called + 1 s).
- 6: the N sleeping runs (Sleep 24 h) and N waiting runs (WaitForEvent 24 h, Match) are created through the engine (events sent to a started worker), once, and kept for all rounds; the empty-table figures are taken in a fresh database in the same round.
- 7: one run at a time: 100 flow.Step calls, then Sleep(20 ms), then one new step; timed on the segment that resumes after the sleep.
- 8: as 2 (events sent first in batches of 500, then one worker started and timed until every run completed), for the same 3-step function with each flow-control option in turn, each in a fresh database; keys take a value per event or per one of 100 accounts, and the limits are set so that they do not bind (except the row marked binding), so that the figure is the cost of the mechanism. The send rows time the Send calls.
`
