package main

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/riverflow/flow/flowtest"
)

// readmeVarying are the parts of the tour's output that differ from one run
// to the next: clock times, run IDs, durations, the database's name and
// address.
var readmeVarying = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`\d\d:\d\d:\d\d\.\d{3}`), "TIME"},
	{regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`), "ID"},
	{regexp.MustCompile(`(sleeping for|completed after) \S+`), "$1 DURATION"},
	{regexp.MustCompile(`fresh database \S+ on \S+,`), "fresh database DB on HOST,"},
}

func readmeNormalize(text string) []string {
	var lines []string
	for line := range strings.Lines(strings.TrimSpace(text)) {
		line = strings.TrimRight(line, "\n")
		for _, v := range readmeVarying {
			line = v.re.ReplaceAllString(line, v.with)
		}
		lines = append(lines, line)
	}
	return lines
}

// The README's demo output block is what `go run ./examples/hello` prints by
// default: the same lines, in order, times and IDs aside, with the default
// step duration in its sleeps.
func TestReadmeShowsTheDefaultOutput(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	block := regexp.MustCompile("(?s)```\n(Looking for Postgres.*?)```\n").FindSubmatch(readme)
	require.NotNil(t, block, "README has no block of the demo's output")
	shown := string(block[1])
	require.Equal(t, 3, strings.Count(shown, "sleeping for "+defaultStep.String()+"\n"),
		"the README's sleeps are not the default step (%s)", defaultStep)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out bytes.Buffer
	out.WriteString("Looking for Postgres (FLOW_DATABASE_URL, DATABASE_URL, Docker, local binaries)...\n")
	require.NoError(t, run(ctx, &out, 20*time.Millisecond, flowtest.DatabaseURL(t)))
	require.Equal(t, readmeNormalize(out.String()), readmeNormalize(shown))
}
