package flowtest

import (
	"context"
	"fmt"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/modules/postgres"
)

// dockerImage is the Postgres image used when a Docker daemon is available.
const dockerImage = "postgres:17-alpine"

// dockerAvailable reports whether a Docker daemon answers a ping within a
// short timeout. Without a daemon it returns false quickly and quietly.
func dockerAvailable(ctx context.Context) (ok bool) {
	defer func() {
		// testcontainers panics in a few discovery paths; treat that as
		// "no Docker".
		if recover() != nil {
			ok = false
		}
	}()

	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()

	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return false
	}
	defer cli.Close()

	_, err = cli.Ping(ctx, client.PingOptions{})
	return err == nil
}

// startDocker runs Postgres in a container. The container is removed on
// Close, and by testcontainers' reaper if this process dies first.
// A durable server keeps Postgres's durability defaults.
func startDocker(ctx context.Context, durable bool) (*Server, error) {
	args := []string{"-c", "max_connections=300"}
	if !durable {
		args = append(args, "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	ctr, err := postgres.Run(ctx, dockerImage,
		postgres.BasicWaitStrategies(),
		testcontainers.WithCmdArgs(args...),
	)
	if err != nil {
		_ = testcontainers.TerminateContainer(ctr)
		return nil, fmt.Errorf("flowtest: start Postgres container: %w", err)
	}

	url, err := ctr.ConnectionString(ctx, "sslmode=disable")
	if err != nil {
		_ = testcontainers.TerminateContainer(ctr)
		return nil, fmt.Errorf("flowtest: get Postgres container address: %w", err)
	}

	return &Server{
		URL: url,
		stop: func() error {
			if err := testcontainers.TerminateContainer(ctr); err != nil {
				return fmt.Errorf("flowtest: stop Postgres container: %w", err)
			}
			return nil
		},
	}, nil
}
