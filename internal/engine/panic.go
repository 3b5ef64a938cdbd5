package engine

import (
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
)

// panicFrameCount is how many frames of a panicking goroutine a stored
// error keeps; the log gets the whole stack.
const panicFrameCount = 3

// panicFrames returns the top frames of the panic being recovered (called
// from the deferred function that recovers it), one "\n\tat" line each:
// where the panic happened, without the runtime's and the recovering frames.
func panicFrames() string {
	pcs := make([]uintptr, 64)
	n := runtime.Callers(2, pcs)
	frames := runtime.CallersFrames(pcs[:n])
	var b strings.Builder
	afterPanic, count := false, 0
	for {
		f, more := frames.Next()
		switch {
		case f.Function == "runtime.gopanic":
			afterPanic = true
		case afterPanic && !strings.HasPrefix(f.Function, "runtime."):
			fmt.Fprintf(&b, "\n\tat %s (%s:%d)", f.Function, filepath.Base(f.File), f.Line)
			count++
		}
		if !more || count == panicFrameCount {
			return b.String()
		}
	}
}
