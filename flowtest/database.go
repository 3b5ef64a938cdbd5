package flowtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/riverflow/flow"
)

// Databases made by the harness are named flowtest_<process ID>_<suffix>. The
// process ID is random per process; while the process lives it keeps a
// connection open whose application_name is flowtest-<process ID>, so any
// process can tell which databases were left behind by a dead one.
var (
	procID    = newProcID()
	dbCounter atomic.Int64
	dbNameRe  = regexp.MustCompile(`^flowtest_([0-9a-f]{12})_`)

	// templatesMu guards templates and serializes template creation.
	templatesMu sync.Mutex
	// templates holds, per server URL, this process's migrated template.
	templates = map[string]*template{}
)

// template is a migrated database that fresh databases are cloned from.
type template struct {
	name  string
	owner *pgx.Conn // marks this process alive to other processes
}

func newProcID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// NewDatabase creates a fresh database with flow's schema migrated on the
// server at serverURL (typically [Server.URL]) and returns a connection
// string for it. drop removes the database, disconnecting any sessions still
// using it.
//
// The first call for a server migrates a template database; later calls clone
// it, which is much faster. The role in serverURL must be allowed to create
// databases.
func NewDatabase(ctx context.Context, serverURL string) (dbURL string, drop func(context.Context) error, err error) {
	tmpl, err := templateFor(ctx, serverURL)
	if err != nil {
		return "", nil, err
	}

	name := fmt.Sprintf("flowtest_%s_%d", procID, dbCounter.Add(1))
	dbURL, err = withDatabase(serverURL, name)
	if err != nil {
		return "", nil, err
	}
	if err := execOn(ctx, serverURL, "CREATE DATABASE "+ident(name)+" TEMPLATE "+ident(tmpl)); err != nil {
		return "", nil, fmt.Errorf("flowtest: create database %s: %w", name, err)
	}

	drop = func(ctx context.Context) error {
		if err := execOn(ctx, serverURL, "DROP DATABASE IF EXISTS "+ident(name)+" WITH (FORCE)"); err != nil {
			return fmt.Errorf("flowtest: drop database %s: %w", name, err)
		}
		return nil
	}
	return dbURL, drop, nil
}

// templateFor returns the name of this process's migrated template database
// on the server at serverURL, creating it on first use.
func templateFor(ctx context.Context, serverURL string) (string, error) {
	templatesMu.Lock()
	defer templatesMu.Unlock()
	if t, ok := templates[serverURL]; ok {
		return t.name, nil
	}

	cfg, err := pgx.ParseConfig(serverURL)
	if err != nil {
		return "", fmt.Errorf("flowtest: parse server URL: %w", err)
	}
	cfg.RuntimeParams["application_name"] = "flowtest-" + procID
	owner, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return "", fmt.Errorf("flowtest: connect to server: %w", err)
	}

	removeAbandoned(ctx, owner)

	name := "flowtest_" + procID + "_template"
	if err := migrateTemplate(ctx, owner, serverURL, name); err != nil {
		_, _ = owner.Exec(ctx, "DROP DATABASE IF EXISTS "+ident(name)+" WITH (FORCE)")
		_ = owner.Close(ctx)
		return "", err
	}

	templates[serverURL] = &template{name: name, owner: owner}
	return name, nil
}

// migrateTemplate creates database name and migrates it, closing every
// connection to it afterwards so that it can be cloned.
func migrateTemplate(ctx context.Context, conn *pgx.Conn, serverURL, name string) error {
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+ident(name)); err != nil {
		return fmt.Errorf("flowtest: create template database: %w", err)
	}

	tmplURL, err := withDatabase(serverURL, name)
	if err != nil {
		return err
	}
	pool, err := pgxpool.New(ctx, tmplURL)
	if err != nil {
		return fmt.Errorf("flowtest: connect to template database: %w", err)
	}
	defer pool.Close()

	if err := flow.Migrate(ctx, pool); err != nil {
		return fmt.Errorf("flowtest: migrate template database: %w", err)
	}
	return nil
}

// removeAbandoned drops databases made by processes that are gone. It is best
// effort: failures are ignored.
func removeAbandoned(ctx context.Context, conn *pgx.Conn) {
	rows, err := conn.Query(ctx, `
		SELECT datname FROM pg_database
		WHERE datname LIKE 'flowtest\_%'
		  AND 'flowtest-' || substring(datname from 10 for 12) NOT IN (
		      SELECT application_name FROM pg_stat_activity WHERE application_name IS NOT NULL)`)
	if err != nil {
		return
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return
	}
	for _, name := range names {
		if m := dbNameRe.FindStringSubmatch(name); m != nil && m[1] != procID {
			_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ident(name)+" WITH (FORCE)")
		}
	}
}

// dropTemplates drops this process's template databases and closes the
// connections that mark it alive.
func dropTemplates(ctx context.Context) error {
	templatesMu.Lock()
	defer templatesMu.Unlock()

	var errs []error
	for serverURL, t := range templates {
		if _, err := t.owner.Exec(ctx, "DROP DATABASE IF EXISTS "+ident(t.name)+" WITH (FORCE)"); err != nil {
			errs = append(errs, fmt.Errorf("flowtest: drop template database: %w", err))
		}
		_ = t.owner.Close(ctx)
		delete(templates, serverURL)
	}
	return errors.Join(errs...)
}

// dropTemplate drops this process's template on the server at serverURL,
// which stays up.
func dropTemplate(ctx context.Context, serverURL string) error {
	templatesMu.Lock()
	defer templatesMu.Unlock()
	t, ok := templates[serverURL]
	if !ok {
		return nil
	}
	delete(templates, serverURL)
	defer t.owner.Close(context.WithoutCancel(ctx))
	if _, err := t.owner.Exec(ctx, "DROP DATABASE IF EXISTS "+ident(t.name)+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("flowtest: drop template database: %w", err)
	}
	return nil
}

// forgetTemplates forgets this process's template on the server at
// serverURL, which is about to stop.
func forgetTemplates(serverURL string) {
	templatesMu.Lock()
	defer templatesMu.Unlock()
	if t, ok := templates[serverURL]; ok {
		_ = t.owner.Close(context.Background())
		delete(templates, serverURL)
	}
}

// execOn runs one statement on a new connection to connURL.
func execOn(ctx context.Context, connURL, sql string) error {
	conn, err := pgx.Connect(ctx, connURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	_, err = conn.Exec(ctx, sql)
	return err
}

// withDatabase returns connURL changed to connect to database name. It
// accepts both URLs and keyword/value connection strings.
func withDatabase(connURL, name string) (string, error) {
	if !strings.HasPrefix(connURL, "postgres://") && !strings.HasPrefix(connURL, "postgresql://") {
		return connURL + " dbname=" + name, nil
	}
	u, err := url.Parse(connURL)
	if err != nil {
		return "", fmt.Errorf("flowtest: parse server URL: %w", err)
	}
	u.Path = "/" + name
	u.RawPath = ""
	return u.String(), nil
}

// ident quotes a database name for use in SQL.
func ident(name string) string {
	return pgx.Identifier{name}.Sanitize()
}
