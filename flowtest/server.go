package flowtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
)

// Server is a Postgres server found or started by [StartServer].
type Server struct {
	// URL is a connection string for the server's maintenance database
	// ("postgres" on a server the harness started, or whatever database the
	// environment's URL names). Pass it to [NewDatabase] to get a fresh
	// database on the server.
	URL string

	closeOnce sync.Once
	closeErr  error
	stop      func() error // nil when the harness did not start the server
	// restart is nil when the server cannot be restarted (see Restart).
	restart func(ctx context.Context) error
	// restartMu serializes restarts, and Close with them.
	restartMu sync.Mutex
}

// ErrNotRestartable is returned by [Server.Restart] for a server that the
// harness cannot restart: one given by FLOW_DATABASE_URL or DATABASE_URL, or
// a Docker container (whose published port would change).
var ErrNotRestartable = errors.New("flowtest: only a server started from local Postgres binaries can be restarted")

// Restart stops the server with a fast shutdown (Postgres disconnects every
// session, rolls back open transactions and writes a checkpoint, as a
// production server does when an operator restarts it) and starts it again
// on the same data and port, returning once it accepts connections. The
// server's URL and every database on it stay valid; clients lose their
// connections and must reconnect by themselves, which is what fault tests
// check.
//
// It works on a server the harness started from local Postgres binaries
// (see [StartServerWith]) and returns [ErrNotRestartable] for the others. Do
// not restart the server that [Pool] and [DatabaseURL] share between tests:
// start one of your own.
func (s *Server) Restart(ctx context.Context) error {
	if s.restart == nil {
		return ErrNotRestartable
	}
	s.restartMu.Lock()
	defer s.restartMu.Unlock()
	if err := s.restart(ctx); err != nil {
		return fmt.Errorf("flowtest: restart server: %w", err)
	}
	return nil
}

// StartServer finds a Postgres server, starting one if needed: it uses
// FLOW_DATABASE_URL or DATABASE_URL if set, else a Docker container when a
// Docker daemon answers, else a throwaway server from the local Postgres
// binaries. See the package documentation for details.
//
// Each call that starts a server starts a new one. Call [Server.Close] when
// done with it.
func StartServer(ctx context.Context) (*Server, error) {
	return StartServerWith(ctx, nil)
}

// ServerOpts configures [StartServerWith].
type ServerOpts struct {
	// Durable starts the server with Postgres's durability defaults (fsync,
	// synchronous_commit and full_page_writes on) and, for a local server,
	// its data on disk rather than in memory, so that commits cost what they
	// cost in production. Benchmarks want it; tests do not: without it the
	// server trades durability for speed. It has no effect on a server given
	// by FLOW_DATABASE_URL or DATABASE_URL, which is used as it is.
	Durable bool
}

// StartServerWith is [StartServer] with options; opts may be nil for the
// defaults.
func StartServerWith(ctx context.Context, opts *ServerOpts) (*Server, error) {
	var o ServerOpts
	if opts != nil {
		o = *opts
	}
	for _, name := range []string{"FLOW_DATABASE_URL", "DATABASE_URL"} {
		if url := os.Getenv(name); url != "" {
			return &Server{URL: url}, nil
		}
	}

	if dockerAvailable(ctx) {
		srv, err := startDocker(ctx, o.Durable)
		if err == nil {
			return srv, nil
		}
		// Docker answers but the container could not start (no image and
		// no registry, for instance): local binaries may still work.
		localSrv, localErr := startLocal(ctx, o.Durable)
		if localErr != nil {
			return nil, fmt.Errorf("flowtest: no Postgres could be started: %w", errors.Join(err, localErr))
		}
		return localSrv, nil
	}

	return startLocal(ctx, o.Durable)
}

// Close stops the server if [StartServer] started it, and removes its files.
// For a server given by FLOW_DATABASE_URL or DATABASE_URL it only drops the
// template database this process made there. It is safe to call more than
// once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.restartMu.Lock()
		defer s.restartMu.Unlock()
		if s.stop != nil {
			forgetTemplates(s.URL)
			s.closeErr = s.stop()
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), dbTimeout)
		defer cancel()
		s.closeErr = dropTemplate(ctx, s.URL)
	})
	return s.closeErr
}
