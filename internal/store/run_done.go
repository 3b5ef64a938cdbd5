package store

import (
	"context"
	"strings"
)

// NotifyRunsDone tells AwaitRun callers in every process, through Postgres
// (flow_run_done), that runs runIDs ended, in db.
func (s *Store) NotifyRunsDone(ctx context.Context, db DB, runIDs []string) error {
	return s.q.RunNotifyDone(ctx, db, strings.Join(runIDs, ","))
}

// ListenRunsDone subscribes db, a dedicated connection, to the run-end
// notifications of NotifyRunsDone and of the queries that end runs.
func (s *Store) ListenRunsDone(ctx context.Context, db DB) error {
	return s.q.ListenRunDone(ctx, db)
}
