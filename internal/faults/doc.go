// Package faults holds riverflow's fault suite: tests that break what a
// durable function library leans on (the database restarting, its
// connections cut, worker processes killed mid-step, clients racing for the
// same runs, hours compressed into minutes of steady load) and check that no
// run is lost, none starts twice, no stored step executes again and nothing
// stays stuck.
//
// The package has no code of its own: everything is in its tests. Each test
// starts what it breaks through flowtest: a Postgres server of its own when
// it restarts it (flowtest.StartServerWith, Server.Restart), a database of its
// own otherwise. The step bodies of the functions under test check, on a
// separate connection, that the database holds no completed result for them
// before they execute; a body that finds one is a stored step executed again.
//
// The short form runs with the rest of the module's tests, in a few minutes at
// most:
//
//	go test -race ./...
//
// The full form (20 worker kills, 10 minutes of sustained load, larger run
// counts; about 11 minutes) is behind a flag:
//
//	go test ./internal/faults -faults.full -timeout 60m -v
//
// RELIABILITY.md at the repository root records the figures of a full run.
package faults
