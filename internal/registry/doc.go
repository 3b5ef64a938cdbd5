// Package registry is the function registry: what flow_function stores for
// a function, so that every process (one that defines the function, or one
// that only sends events to it) applies the same flow control.
//
// The stored type ([Config] and the option types it holds) is this
// package's own, with explicit JSON tags, and not the public option structs
// of package flow: renaming a public field must not change what is stored,
// and rows written by earlier versions must decode the same. The keys are
// the ones stored since the first release: "control" and its snake_case
// option keys, the options' fields in Go's spelling ("Limit", "Key", ...),
// every field present (no omitempty inside an option), and durations as
// integer nanoseconds. testdata/ holds rows written by the code before this
// package existed, and a golden file of today's encoding.
//
// Package flow converts its public options to [Control] when a function is
// created, and the engine reads [Control] as it is.
package registry
