package flowtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

const (
	// localDirPrefix names the temporary directories of local servers.
	localDirPrefix = "flowtest-pg-"
	// readyTimeout bounds how long a local server may take to accept
	// connections.
	readyTimeout = 60 * time.Second
	// stopTimeout bounds how long a local server may take to shut down
	// before it is killed.
	stopTimeout = 5 * time.Second
)

// startLocal starts a throwaway Postgres from the local binaries in a new
// temporary directory. A durable server keeps Postgres's durability defaults
// and its data on disk.
func startLocal(ctx context.Context, durable bool) (*Server, error) {
	binDir, err := findPostgresBin()
	if err != nil {
		return nil, err
	}

	removeStaleDirs()

	base := tempBase()
	if durable {
		base = os.TempDir() // not the memory-backed /dev/shm: syncs must reach a disk
	}
	dir, err := os.MkdirTemp(base, localDirPrefix)
	if err != nil {
		return nil, fmt.Errorf("flowtest: create temporary directory: %w", err)
	}
	srv, err := runLocal(ctx, binDir, dir, durable)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	return srv, nil
}

// runLocal initializes a data directory under dir and runs postgres on it
// until it accepts connections.
func runLocal(ctx context.Context, binDir, dir string, durable bool) (*Server, error) {
	// Record who owns the directory, so that a later process can remove it
	// if this one dies without cleaning up.
	if err := os.WriteFile(filepath.Join(dir, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return nil, fmt.Errorf("flowtest: write owner file: %w", err)
	}

	attr, err := serverProcAttr(dir)
	if err != nil {
		return nil, err
	}

	logPath := filepath.Join(dir, "postgres.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("flowtest: create server log: %w", err)
	}
	defer logFile.Close() // the child keeps its own copy of the descriptor

	command := func(name string, args ...string) *exec.Cmd {
		cmd := exec.Command(filepath.Join(binDir, name), args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "LC_ALL=C")
		cmd.Stdout = logFile
		cmd.Stderr = logFile
		cmd.SysProcAttr = attr
		return cmd
	}

	dataDir := filepath.Join(dir, "data")
	initdb := command("initdb", "-D", dataDir, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8")
	if err := initdb.Run(); err != nil {
		return nil, fmt.Errorf("flowtest: initdb: %w%s", err, logTail(logPath))
	}

	port, err := freePort()
	if err != nil {
		return nil, err
	}
	args := []string{
		"-D", dataDir,
		"-p", strconv.Itoa(port),
		"-k", dir,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "max_connections=300",
	}
	if durable {
		args = append(args, "-c", "shared_buffers=256MB")
	} else {
		args = append(args,
			"-c", "fsync=off",
			"-c", "synchronous_commit=off",
			"-c", "full_page_writes=off",
			"-c", "shared_buffers=128MB",
		)
	}
	proc := &localProc{start: func() (*exec.Cmd, error) {
		// Each process gets its own descriptor of the log: the one above is
		// closed when runLocal returns, before any restart.
		log, err := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return nil, fmt.Errorf("flowtest: open server log: %w", err)
		}
		defer log.Close() // the child keeps its own copy once started
		cmd := command("postgres", args...)
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("flowtest: start postgres: %w", err)
		}
		return cmd, nil
	}}
	if err := proc.run(); err != nil {
		return nil, err
	}

	stop := func() error {
		proc.stop(stopSignal)
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("flowtest: remove server directory: %w", err)
		}
		return nil
	}

	url := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	if err := waitReady(ctx, url, proc.exitedChan()); err != nil {
		tail := logTail(logPath) // read before stop removes the log
		_ = stop()
		return nil, fmt.Errorf("%w%s", err, tail)
	}
	restart := func(ctx context.Context) error {
		proc.stop(fastStopSignal)
		if err := proc.run(); err != nil {
			return err
		}
		if err := waitReady(ctx, url, proc.exitedChan()); err != nil {
			return fmt.Errorf("%w%s", err, logTail(logPath))
		}
		return nil
	}
	return &Server{URL: url, stop: stop, restart: restart}, nil
}

// localProc is the postgres process of a local server, which a restart
// replaces with a new one on the same data directory and port.
type localProc struct {
	start func() (*exec.Cmd, error) // starts a new postgres process

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has exited
}

// run starts a new postgres process.
func (p *localProc) run() error {
	cmd, err := p.start()
	if err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	p.mu.Lock()
	p.cmd, p.exited = cmd, exited
	p.mu.Unlock()
	return nil
}

// exitedChan returns the channel closed when the current process exits.
func (p *localProc) exitedChan() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exited
}

// stop sends sig to the current process and waits for it to exit, killing
// it if it takes longer than stopTimeout.
func (p *localProc) stop(sig os.Signal) {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	if err := cmd.Process.Signal(sig); err != nil {
		_ = cmd.Process.Kill()
	}
	select {
	case <-exited:
	case <-time.After(stopTimeout):
		_ = cmd.Process.Kill()
		<-exited
	}
}

// waitReady polls url until a connection succeeds, the server exits, or a
// deadline passes.
func waitReady(ctx context.Context, url string, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()

	for {
		attemptCtx, attemptCancel := context.WithTimeout(ctx, time.Second)
		conn, err := pgx.Connect(attemptCtx, url)
		attemptCancel()
		if err == nil {
			return conn.Close(ctx)
		}

		select {
		case <-exited:
			return errors.New("flowtest: postgres exited during startup")
		case <-ctx.Done():
			return fmt.Errorf("flowtest: postgres did not accept connections: %w", errors.Join(ctx.Err(), err))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// findPostgresBin returns the directory holding initdb and postgres: PATH
// first, else the newest /usr/lib/postgresql/*/bin.
func findPostgresBin() (string, error) {
	if initdb, err := exec.LookPath("initdb"); err == nil {
		dir := filepath.Dir(initdb)
		if _, err := os.Stat(filepath.Join(dir, "postgres")); err == nil {
			return dir, nil
		}
	}

	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	version := func(dir string) int {
		v, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
		return v
	}
	slices.SortFunc(dirs, func(a, b string) int { return version(b) - version(a) })
	for _, dir := range dirs {
		_, errInitdb := os.Stat(filepath.Join(dir, "initdb"))
		_, errPostgres := os.Stat(filepath.Join(dir, "postgres"))
		if errInitdb == nil && errPostgres == nil {
			return dir, nil
		}
	}

	return "", errors.New("flowtest: no Postgres found: set FLOW_DATABASE_URL or DATABASE_URL, run a Docker daemon, " +
		"or install Postgres so that initdb and postgres are on PATH or under /usr/lib/postgresql/*/bin")
}

// freePort asks the kernel for a free TCP port on the loopback interface.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("flowtest: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// logTail returns the last lines of the log at path, formatted to follow an
// error message, or "" if there is nothing to show.
func logTail(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	tail := strings.Join(lines, "\n")
	if tail == "" {
		return ""
	}
	return "\nend of server log:\n" + tail
}

// removeStaleDirs removes the directories of local servers whose owning
// process has died without cleaning up (killed, or never called Close). Their
// servers died with them, killed by the parent-death signal.
func removeStaleDirs() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), localDirPrefix+"*"))
	if base := tempBase(); base != os.TempDir() {
		more, _ := filepath.Glob(filepath.Join(base, localDirPrefix+"*"))
		dirs = append(dirs, more...)
	}
	for _, dir := range dirs {
		owner := pidFromFile(filepath.Join(dir, "owner.pid"))
		if owner == 0 || !processGone(owner) {
			continue // being set up, or still in use
		}
		// postmaster.pid is only present while a server may be running.
		if server := pidFromFile(filepath.Join(dir, "data", "postmaster.pid")); server != 0 && !processGone(server) {
			continue
		}
		_ = os.RemoveAll(dir)
	}
}

// pidFromFile reads the process ID on the first line of path, or returns 0.
func pidFromFile(path string) int {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	first, _, _ := bytes.Cut(data, []byte("\n"))
	pid, _ := strconv.Atoi(strings.TrimSpace(string(first)))
	return pid
}
