//go:build !linux

package flowtest

import (
	"errors"
	"os"
	"syscall"
)

// stopSignal asks a local server to shut down.
var stopSignal = os.Interrupt

// fastStopSignal asks a local server for a fast shutdown.
var fastStopSignal = os.Interrupt

// serverProcAttr returns the process attributes for initdb and postgres.
// Outside Linux the harness cannot switch users, and Postgres refuses to run
// as root.
func serverProcAttr(dir string) (*syscall.SysProcAttr, error) {
	if os.Geteuid() == 0 {
		return nil, errors.New("flowtest: a local Postgres cannot run as root on this system: set FLOW_DATABASE_URL or run as another user")
	}
	return nil, nil
}

// tempBase returns the directory to create server directories in.
func tempBase() string { return os.TempDir() }

// processGone reports whether no process has the given ID. Outside Linux it
// does not know, and answers false.
func processGone(pid int) bool { return false }
