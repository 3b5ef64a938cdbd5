package flowtest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"syscall"
)

// stopSignal asks a local server for an immediate shutdown.
var stopSignal os.Signal = syscall.SIGQUIT

// fastStopSignal asks a local server for a fast shutdown: it disconnects
// its sessions, rolls back their transactions and writes a checkpoint.
var fastStopSignal os.Signal = syscall.SIGINT

// serverProcAttr returns the process attributes for initdb and postgres. The
// kernel kills them if this process dies. They run in a process group of
// their own, so that a Ctrl-C in the terminal reaches only this process,
// which then stops its clients before it stops the server (else Postgres
// would shut down at once, under a program still using it). Postgres refuses to run as root, so
// when running as root they run as the postgres user (created if missing),
// and dir is handed over to that user.
func serverProcAttr(dir string) (*syscall.SysProcAttr, error) {
	attr := &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if os.Geteuid() != 0 {
		return attr, nil
	}

	u, err := postgresUser()
	if err != nil {
		return nil, err
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("flowtest: parse uid of user postgres: %w", err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("flowtest: parse gid of user postgres: %w", err)
	}
	if err := os.Chown(dir, int(uid), int(gid)); err != nil {
		return nil, fmt.Errorf("flowtest: hand server directory to user postgres: %w", err)
	}
	attr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	return attr, nil
}

// postgresUser looks up the postgres user, creating it if it does not exist.
func postgresUser() (*user.User, error) {
	u, err := user.Lookup("postgres")
	if err == nil {
		return u, nil
	}
	if !errors.As(err, new(user.UnknownUserError)) {
		return nil, fmt.Errorf("flowtest: look up user postgres: %w", err)
	}

	out, err := exec.Command("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "postgres").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("flowtest: create user postgres to run the server as (Postgres refuses to run as root): %w: %s", err, out)
	}
	u, err = user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("flowtest: look up user postgres after creating it: %w", err)
	}
	return u, nil
}

// tempBase returns the directory to create server directories in. It prefers
// the memory-backed /dev/shm, where creating databases is many times faster
// than on most disks, when it has room to spare.
func tempBase() string {
	const shm, minFree = "/dev/shm", 1 << 30
	var st syscall.Statfs_t
	if err := syscall.Statfs(shm, &st); err == nil && st.Bavail*uint64(st.Bsize) >= minFree && syscall.Access(shm, 2 /* W_OK */) == nil {
		return shm
	}
	return os.TempDir()
}

// processGone reports whether no process has the given ID.
func processGone(pid int) bool {
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}
