package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow"
)

func TestCLIFormatDurations(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		0:                              "0ms",
		850 * time.Millisecond:         "850ms",
		1249 * time.Millisecond:        "1.2s",
		42 * time.Second:               "42s",
		3*time.Minute + 12*time.Second: "3m12s",
		59*time.Minute + 59*time.Second + 999*time.Millisecond: "1h00m",
		2*time.Hour + 5*time.Minute:                            "2h05m",
		-1500 * time.Millisecond:                               "-1.5s",
	} {
		require.Equal(t, want, fmtDur(d), "fmtDur(%s)", d)
	}
}

func TestCLIFormatTimelineNotes(t *testing.T) {
	t.Parallel()
	now := time.Now()
	at := func(d time.Duration) time.Time { return now.Add(d) }
	ptr := func(t time.Time) *time.Time { return &t }
	started := at(-10 * time.Second)
	r := &flow.Run{
		ID: "r1", FunctionID: "fn", EventID: "e1", Status: flow.RunSleeping,
		CreatedAt: at(-11 * time.Second), StartedAt: &started, WakeAt: ptr(at(time.Minute)),
		Error: "flow: step \"x\" of run r1 failed",
		Steps: []flow.RunStep{
			{ID: "kept", Kind: "run", Status: "completed", Attempts: 1, Output: json.RawMessage(`1`),
				StartedAt: at(-time.Hour), EndedAt: ptr(at(-time.Hour + time.Millisecond))},
			{ID: "retrying", Kind: "run", Status: "errored", Attempts: 2, Error: "connection\nrefused",
				WakeAt: ptr(at(time.Minute)), StartedAt: at(-9 * time.Second)},
			{ID: "child", Kind: "invoke", Status: "waiting", Attempts: 1,
				Detail: json.RawMessage(`{"function_id":"other","child_run_id":"c1","until":"2030-01-01T00:00:00Z"}`),
				WakeAt: ptr(at(time.Hour)), StartedAt: at(-8 * time.Second)},
			{ID: "either", Kind: "wait", Status: "timed_out", Attempts: 1,
				Detail:    json.RawMessage(`[{"event":"a/b","timeout":"1s"},{"event":"c/d","if":"async.data.ok","timeout":"1s"}]`),
				StartedAt: at(-7 * time.Second), EndedAt: ptr(at(-6 * time.Second))},
			{ID: "nap", Kind: "sleep", Status: "sleeping", Attempts: 1, WakeAt: ptr(at(time.Minute)), StartedAt: at(-time.Second)},
		},
	}
	var out bytes.Buffer
	require.NoError(t, writeRun(&env{stdout: &out}, r, now))
	text := out.String()
	t.Log("\n" + text)
	require.Regexp(t, `Error:\s+step "x" failed\n`, text)
	require.Regexp(t, `Wakes at:\s+\S+ \S+ \(in 1m00s\)`, text)
	lines := strings.Split(text, "\n")
	row := func(id string) string {
		for _, l := range lines {
			if strings.HasPrefix(l, id+" ") {
				return l
			}
		}
		t.Fatalf("no row for step %s in\n%s", id, text)
		return ""
	}
	require.Regexp(t, `^kept\s+run\s+completed\s+1\s+-59m50s\s+1ms\s+\|\s{24}\|\s+1$`, row("kept"))
	require.Regexp(t, `^retrying\s+run\s+errored\s+2\s+\+1\.0s\s+9\.0s…\s+\|\s*░+\|\s+error: connection refused; retry at \d\d:\d\d:\d\d$`, row("retrying"))
	require.Regexp(t, `^child\s+invoke\s+waiting\s+1\s+.*run c1 of function other until \d\d:\d\d:\d\d$`, row("child"))
	require.Regexp(t, `^either\s+wait\s+timed_out\s+1\s+\+3\.0s\s+1\.0s\s+\|\s*█+\s*\|\s+timed out: event a/b or event c/d \(if async\.data\.ok\)$`, row("either"))
	require.Regexp(t, `^nap\s+sleep\s+sleeping\s+1\s+.*sleeping until \d\d:\d\d:\d\d$`, row("nap"))

	// A cancelled run: steps it left unfinished are not shown as going on.
	end := at(-5 * time.Second)
	r.Status, r.EndedAt, r.WakeAt = flow.RunCancelled, &end, nil
	out.Reset()
	require.NoError(t, writeRun(&env{stdout: &out}, r, now))
	text = out.String()
	require.NotContains(t, text, "…")
	require.NotContains(t, text, "░")
	require.NotContains(t, text, "Wakes at")
}
