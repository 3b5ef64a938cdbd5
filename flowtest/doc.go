// Package flowtest gives tests and small programs a real Postgres with no
// setup: a server, and fresh databases on it with flow's schema already
// migrated.
//
// # Finding a Postgres
//
// [StartServer] looks for a server in this order and uses the first that works:
//
//  1. FLOW_DATABASE_URL, else DATABASE_URL, if set. The harness creates its
//     own databases on that server (named flowtest_…), so the role needs the
//     CREATEDB privilege. The server is never stopped by the harness.
//  2. A Docker container started with testcontainers-go, when a Docker daemon
//     answers a quick ping.
//  3. A throwaway server started from the local Postgres binaries (initdb and
//     postgres, found on PATH or under /usr/lib/postgresql/*/bin), in a
//     temporary directory that is removed when the server is closed. When
//     running as root it runs the server as the postgres user, creating that
//     user if needed.
//
// Postgres 13 or newer is required.
//
// # Using it in tests
//
// Each test package that uses the harness should stop the server it started
// by calling [Main] from TestMain:
//
//	func TestMain(m *testing.M) { flowtest.Main(m) }
//
// Each test then gets its own freshly migrated database, isolated from every
// other test, so tests may run in parallel:
//
//	func TestSomething(t *testing.T) {
//		t.Parallel()
//		pool := flowtest.Pool(t)
//		// use pool; the database is dropped when the test ends
//	}
//
// Use [DatabaseURL] instead of [Pool] when the test needs a connection string,
// for example to start a subprocess.
//
// To test your own functions, [Client] gives a started client on such a
// database with the functions you define, and [RunEvent] sends an event and
// waits for the run it starts:
//
//	c := flowtest.Client(t, nil, func(c *flow.Client) {
//		_, err := flow.CreateFunction(c, flow.FunctionOpts{ID: "welcome"}, flow.EventTrigger("user/signed.up"), welcome)
//		require.NoError(t, err)
//	})
//	run := flowtest.RunEvent(t, c, flow.Event{Name: "user/signed.up", Data: SignedUp{Email: "ada@example.com"}})
//	require.Equal(t, flow.RunCompleted, run.Status)
//
// [ClientOn] is the same on a pool you pass: your application's pool, so that
// the test sends events in the transactions of your own writes and reads your
// tables, or one pool shared by two clients. [AwaitStatus] waits for a run to
// reach a status it passes through, such as [flow.RunWaiting] before the test
// sends the event the run waits for:
//
//	run := flowtest.AwaitStatus(t, c, runID, flow.RunWaiting)
//
// # Testing long workflows without waiting
//
// A function that sleeps for a day and waits three days for an event is
// tested in milliseconds: [StartRun] sends the event and returns the run's ID
// without waiting for the run; [AwaitSleeping] and [AwaitWaiting] wait until
// the run stops in a given step; [Advance] skips time; an event sent while
// the run waits resumes it; and [flow.Client.AwaitRun] returns its end:
//
//	runID := flowtest.StartRun(t, c, flow.Event{Name: "user/signed.up", Data: SignedUp{UserID: "u1"}})
//	flowtest.AwaitSleeping(t, c, runID, "wait-a-day")
//	flowtest.Advance(t, c, 24*time.Hour) // the sleep ends now
//	flowtest.AwaitWaiting(t, c, runID, "wait-activation")
//	// either the event comes...
//	_, err := c.Send(ctx, flow.Event{Name: "user/activated", Data: SignedUp{UserID: "u1"}})
//	// ...or the wait times out:
//	// flowtest.Advance(t, c, 72*time.Hour)
//	run, err := c.AwaitRun(ctx, runID)
//
// Advance(t, c, d) behaves as if d had passed for the runs in the client's
// database: the sleeps, WaitForEvent and Invoke timeouts, step retries,
// delayed, debounced and batched starts, CancelOn timeouts and finish
// deadlines (FunctionOpts.Timeouts.Finish) due within d happen now, in the
// order they are due; the later ones come d closer. It moves time in hops and
// lets the runs it wakes execute between them, so one Advance(96 h) goes
// through a 24 h sleep and the 72 h wait the run registers after it; it
// returns once no run executes or is ready to. It moves the stored due times
// of the runs that have not ended (with their River jobs); it leaves the
// wall clock alone, and with it time.Now in your code, the times recorded as
// history (CreatedAt, StartedAt, EndedAt), the Start timeout, lookback
// windows, rate limit, throttle, idempotency and open debounce and batch
// windows, event timestamps and cron schedules. Time moves only while
// Advance is called: nothing runs in the background.
//
// [RunEvent] waits for the run to end, so it suits functions that neither
// sleep nor wait; for those that do, use [StartRun].
//
// # Mocking steps
//
// [MockStep] replaces the result of a step (flow.Step or flow.StepTx) of one
// function, by its step ID: the step's function is not called, and the mock
// is stored as its result, as if the function had returned it. Set it before
// the run reaches the step (before sending the event, or while the run
// sleeps or waits); a step that has already completed keeps its result. A
// mocked error is retried as the function's error would be, unless it is
// wrapped with [flow.NonRetriable]:
//
//	flowtest.MockStep(t, c, "checkout", "charge", Charge{ID: "ch_test"}, nil)
//	flowtest.MockStep(t, c, "checkout", "email", nil, flow.NonRetriable(errors.New("mailbox full")))
//
// Mocks live in the test's client and are set through a package internal to
// the module: production code has no way to set one.
//
// # Restarting the server
//
// A test that checks how code survives a database restart starts a server
// of its own with [StartServer] (never the one [Pool] shares between tests),
// creates its databases with [NewDatabase] and calls [Server.Restart]: a fast
// shutdown that cuts every session, then a start on the same port and data.
// Only a server started from local binaries can be restarted; the others
// return [ErrNotRestartable], and such a test should skip.
//
// Fresh databases are cloned from a template database that is migrated once
// per process, so a new database costs a CREATE DATABASE rather than a full
// migration. Databases left behind by a process that died are dropped by the
// next process that uses the same server.
package flowtest
