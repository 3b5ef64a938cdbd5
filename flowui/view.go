package flowui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/url"
	"path"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/riverflow/flow"
)

//go:embed assets
var assets embed.FS

// maxShown is how much of a long value (an output, an error, event data) a
// page shows; a link leads to the whole value.
const maxShown = 2 << 10

type staticFile struct {
	body        []byte
	contentType string
}

// loadStatic reads the embedded static files and a version string that
// changes with their content (for cache busting).
func loadStatic() (map[string]staticFile, string) {
	out := map[string]staticFile{}
	sum := sha256.New()
	entries, err := fs.ReadDir(assets, "assets/static")
	if err != nil {
		panic(err)
	}
	for _, e := range entries {
		body, err := assets.ReadFile("assets/static/" + e.Name())
		if err != nil {
			panic(err)
		}
		ct := "application/octet-stream"
		switch path.Ext(e.Name()) {
		case ".js":
			ct = "text/javascript; charset=utf-8"
		case ".css":
			ct = "text/css; charset=utf-8"
		case ".svg":
			ct = "image/svg+xml"
		}
		out[e.Name()] = staticFile{body: body, contentType: ct}
		sum.Write([]byte(e.Name()))
		sum.Write(body)
	}
	return out, hex.EncodeToString(sum.Sum(nil))[:12]
}

func parseTemplates() *template.Template {
	return template.Must(template.New("").Funcs(template.FuncMap{
		"ts":      fmtTime,
		"tm":      timeElement,
		"iso":     isoTime,
		"dur":     spanDur,
		"fmtDur":  fmtDur,
		"until":   untilText,
		"shortID": shortID,
		"short":   shortText,
		"bytes":   fmtBytes,
		"preview": preview,
	}).ParseFS(assets, "assets/templates/*.html"))
}

// timeOf accepts a time.Time or a *time.Time (nil: zero).
func timeOf(v any) time.Time {
	switch t := v.(type) {
	case time.Time:
		return t
	case *time.Time:
		if t != nil {
			return *t
		}
	}
	return time.Time{}
}

// fmtTime shows a time in UTC to the millisecond, or "—".
func fmtTime(v any) string {
	t := timeOf(v)
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05.000")
}

// timeElement shows a time as fmtTime does, in a <time> element whose
// datetime attribute the page's script converts to the viewer's zone on
// request; "—" for none.
func timeElement(v any) template.HTML {
	t := timeOf(v)
	if t.IsZero() {
		return "—"
	}
	// Both strings are made of digits, dashes, colons, dots, T and Z only.
	return template.HTML(`<time datetime="` + isoTime(t) + `">` + fmtTime(t) + `</time>`)
}

func isoTime(v any) string {
	t := timeOf(v)
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// fmtDur shows a duration with a precision that suits its size.
func fmtDur(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.2fs", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", d/time.Minute, d%time.Minute/time.Second)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", d/time.Hour, d%time.Hour/time.Minute)
	default:
		return fmt.Sprintf("%dd%02dh", d/(24*time.Hour), d%(24*time.Hour)/time.Hour)
	}
}

// spanDur shows the time from start to end, or to now ("so far") while end
// is nil. "—" when there is no start.
func spanDur(start, end any) string {
	s, e := timeOf(start), timeOf(end)
	switch {
	case s.IsZero():
		return "—"
	case e.IsZero():
		return fmtDur(time.Since(s)) + " so far"
	default:
		return fmtDur(e.Sub(s))
	}
}

// untilText says how far a time is from now: "in 5m00s" or "3.20s ago".
func untilText(v any) string {
	t := timeOf(v)
	if t.IsZero() {
		return ""
	}
	if d := time.Until(t); d >= 0 {
		return "in " + fmtDur(d)
	} else {
		return fmtDur(-d) + " ago"
	}
}

// shortID shortens a time-ordered UUID to its random tail (its head is a
// timestamp shared by the runs of the same moment).
func shortID(id string) string {
	if len(id) == 36 {
		return id[24:]
	}
	return id
}

// shortText cuts s to at most n runes, on one line.
func shortText(n int, s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}

func fmtBytes(n int) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	default:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
}

// preview shows JSON on one line, cut to n runes.
func preview(n int, raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var buf bytes.Buffer
	if json.Compact(&buf, raw) == nil {
		return shortText(n, buf.String())
	}
	return shortText(n, string(raw))
}

// value is a long value as a page shows it: cut at maxShown, with a link to
// the whole.
type value struct {
	Present   bool
	Text      string
	Truncated bool
	Size      int
	RawURL    string
}

// jsonValue shows JSON indented.
func jsonValue(raw []byte, rawURL string) value {
	if len(raw) == 0 {
		return value{}
	}
	text := string(raw)
	var buf bytes.Buffer
	if json.Indent(&buf, raw, "", "  ") == nil {
		text = buf.String()
	}
	return cut(text, len(raw), rawURL)
}

func textValue(s, rawURL string) value {
	if s == "" {
		return value{}
	}
	return cut(s, len(s), rawURL)
}

func cut(text string, size int, rawURL string) value {
	v := value{Present: true, Text: text, Size: size, RawURL: rawURL}
	if len(text) > maxShown {
		n := maxShown
		for n > 0 && !utf8.RuneStart(text[n]) {
			n--
		}
		v.Text, v.Truncated = text[:n], true
	}
	return v
}

// waitInfo is what a wait step waits for (one of its events).
type waitInfo struct {
	Event    string    `json:"event"`
	Match    string    `json:"match"`
	If       string    `json:"if"`
	Timeout  string    `json:"timeout"`
	Lookback string    `json:"lookback"`
	Until    time.Time `json:"until"`
}

// invokeInfo is what an invoke step waits for.
type invokeInfo struct {
	FunctionID string     `json:"function_id"`
	ChildRunID string     `json:"child_run_id"`
	Until      *time.Time `json:"until"`
}

// stepView is a step as the run page shows it.
type stepView struct {
	flow.RunStep
	N        int
	Duration string
	Active   bool
	Output   value
	Error    value
	Waits    []waitInfo
	Invoke   *invokeInfo
	// BarX and BarW place the step on the run's timeline, in thousandths.
	BarX, BarW int
}

func newStepView(i int, st flow.RunStep, runID string, start time.Time, span time.Duration, now time.Time) stepView {
	v := stepView{RunStep: st, N: i + 1}
	rawURL := "runs/" + runID + "/raw?step=" + url.QueryEscape(st.ID) + "&part="
	v.Output = jsonValue(st.Output, rawURL+"output")
	v.Error = textValue(st.Error, rawURL+"error")
	end := now
	if st.EndedAt != nil {
		end = *st.EndedAt
		v.Duration = fmtDur(end.Sub(st.StartedAt))
	} else {
		v.Active = true
		v.Duration = fmtDur(now.Sub(st.StartedAt)) + " so far"
	}
	switch st.Kind {
	case "wait":
		var one waitInfo
		if json.Unmarshal(st.Detail, &one) == nil && one.Event != "" {
			v.Waits = []waitInfo{one}
		} else {
			_ = json.Unmarshal(st.Detail, &v.Waits)
		}
	case "invoke":
		var inv invokeInfo
		if json.Unmarshal(st.Detail, &inv) == nil && inv.FunctionID != "" {
			v.Invoke = &inv
		}
	}
	if span > 0 {
		x := st.StartedAt.Sub(start)
		v.BarX = clamp(int(1000*x/span), 0, 995)
		v.BarW = clamp(int(1000*end.Sub(st.StartedAt)/span), 5, 1000-v.BarX)
	}
	return v
}

func clamp(v, lo, hi int) int { return max(lo, min(v, hi)) }

// runView is a run as the run page shows it.
type runView struct {
	Run       *flow.Run
	Event     *flow.EventInfo
	EventData value
	Output    value
	Error     value
	Steps     []stepView
	Queued    string
	Duration  string
	Ended     bool
	CanCancel bool
	CanRerun  bool
}

func newRunView(run *flow.Run, ev *flow.EventInfo, readOnly bool) *runView {
	now := time.Now()
	v := &runView{Run: run, Event: ev, Ended: run.Status.Ended()}
	rawURL := "runs/" + run.ID + "/raw?part="
	v.Output = jsonValue(run.Output, rawURL+"output")
	v.Error = textValue(run.Error, rawURL+"error")
	if ev != nil {
		v.EventData = jsonValue(ev.Data, "events/"+ev.ID+"/raw")
	}
	if run.StartedAt != nil {
		v.Queued = fmtDur(run.StartedAt.Sub(run.CreatedAt))
		v.Duration = spanDur(run.StartedAt, run.EndedAt)
	}
	v.CanCancel = !readOnly && !v.Ended
	v.CanRerun = !readOnly && run.ParentRunID == ""

	// The timeline spans from the run's start (or its first step) to its
	// end (or now, or its last step's end).
	start := run.CreatedAt
	if run.StartedAt != nil {
		start = *run.StartedAt
	}
	end := now
	if run.EndedAt != nil {
		end = *run.EndedAt
	}
	for _, st := range run.Steps {
		if st.StartedAt.Before(start) {
			start = st.StartedAt // steps copied by RerunFrom
		}
		if st.EndedAt != nil && st.EndedAt.After(end) {
			end = *st.EndedAt
		}
	}
	span := end.Sub(start)
	for i, st := range run.Steps {
		v.Steps = append(v.Steps, newStepView(i, st, run.ID, start, span, now))
	}
	return v
}
