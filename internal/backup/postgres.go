package backup

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
)

// pgTarget is a PostgreSQL database as the libpq tools (pg_dump,
// pg_restore) take it: a URL without the password (which goes in the
// environment, out of the process list) and without the parameters only
// pgx knows; and the schema Chorus uses when its URL sets search_path.
type pgTarget struct {
	url      string // postgres://user@host:port/db?sslmode=…
	password string
	schema   string // "" for the default
	database string
	full     *url.URL // the URL as configured, for pgx
}

// isLibpqParam reports whether a URL parameter is passed on to the libpq
// tools (the others, such as search_path or pgx's pool settings, only
// pgx knows).
func isLibpqParam(k string) bool {
	switch k {
	case "sslmode", "sslrootcert", "sslcert", "sslkey", "sslpassword", "connect_timeout",
		"application_name", "target_session_attrs", "host", "port", "user", "passfile", "service":
		return true
	}
	return false
}

// parsePG reads a postgres:// URL.
func parsePG(dsn string) (pgTarget, error) {
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return pgTarget{}, errors.New("not a postgres:// URL")
	}
	t := pgTarget{full: u, database: strings.TrimPrefix(u.Path, "/")}
	if t.database == "" {
		return pgTarget{}, errors.New("the PostgreSQL URL names no database")
	}
	lib := *u
	if p, ok := u.User.Password(); ok {
		t.password = p
		lib.User = url.User(u.User.Username())
	}
	q := url.Values{}
	for k, v := range u.Query() {
		if isLibpqParam(k) {
			q[k] = v
		}
	}
	lib.RawQuery = q.Encode()
	t.url = lib.String()
	t.schema = u.Query().Get("search_path")
	if strings.ContainsAny(t.schema, `,"' `) {
		return pgTarget{}, fmt.Errorf("search_path %q: backups support one plain schema name", t.schema)
	}
	return t, nil
}

// withDatabase returns the same server's database name.
func (t pgTarget) withDatabase(name string) pgTarget {
	u := *t.full
	u.Path = "/" + name
	out, _ := parsePG(u.String()) // the same URL but the path: it parses
	return out
}

// pgxURL returns the URL pgx opens (the configured one).
func (t pgTarget) pgxURL() string { return t.full.String() }

// env is the environment the tools run with.
func (t pgTarget) env() []string {
	env := os.Environ()
	if t.password != "" {
		env = append(env, "PGPASSWORD="+t.password)
	}
	return env
}

// tools finds pg_dump and pg_restore.
type tools struct{ pgDump, pgRestore string }

// lookTool returns configured, or name found on PATH, with a clear error
// when neither is there.
func lookTool(configured, name, key string) (string, error) {
	if configured != "" {
		if _, err := os.Stat(configured); err != nil {
			return "", fmt.Errorf("%s (%s): %w", name, key, err)
		}
		return configured, nil
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%s not found on PATH: install the PostgreSQL client tools of the server's major version (Debian: postgresql-client) or set %s", name, key)
	}
	return p, nil
}

// run runs a tool, returning its stderr in the error.
func run(ctx context.Context, env []string, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...) // #nosec G204 -- pg_dump / pg_restore with arguments we build
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 2000 {
			msg = msg[:2000] + "…"
		}
		return fmt.Errorf("%s: %w: %s", name, err, msg)
	}
	return nil
}

// dump writes the database, as of snapshot, to path in pg_dump's custom
// format.
func (tl tools) dump(ctx context.Context, t pgTarget, snapshot, path string) error {
	args := []string{"--format=custom", "--no-owner", "--no-acl", "--file=" + path, "--dbname=" + t.url}
	if snapshot != "" {
		args = append(args, "--snapshot="+snapshot)
	}
	if t.schema != "" {
		args = append(args, "--schema="+t.schema)
	}
	return run(ctx, t.env(), tl.pgDump, args...)
}

// restore loads the archive at path into t. clean drops the archive's
// objects first; the whole load is one transaction, so a failed restore
// leaves t as it was.
func (tl tools) restore(ctx context.Context, t pgTarget, path string, clean bool) error {
	args := []string{"--no-owner", "--no-acl", "--exit-on-error", "--single-transaction", "--dbname=" + t.url}
	if clean {
		args = append(args, "--clean", "--if-exists")
	}
	return run(ctx, t.env(), tl.pgRestore, append(args, path)...)
}

// openAdmin connects to t's server through the maintenance database
// (postgres), to create and drop databases.
func openAdmin(t pgTarget) (*sql.DB, error) {
	return sql.Open("pgx", t.withDatabase("postgres").pgxURL())
}

// createDatabase creates the database name on t's server.
func createDatabase(ctx context.Context, t pgTarget, name string) error {
	admin, err := openAdmin(t)
	if err != nil {
		return err
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, `CREATE DATABASE `+quoteIdent(name)); err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// dropDatabase drops the database name on t's server, ending its sessions.
func dropDatabase(ctx context.Context, t pgTarget, name string) error {
	admin, err := openAdmin(t)
	if err != nil {
		return err
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, `DROP DATABASE IF EXISTS `+quoteIdent(name)+` WITH (FORCE)`); err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	return nil
}

// databaseExists reports whether t's database exists.
func databaseExists(ctx context.Context, t pgTarget) (bool, error) {
	db, err := sql.Open("pgx", t.pgxURL())
	if err != nil {
		return false, err
	}
	defer db.Close()
	err = db.PingContext(ctx)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "3D000" { // invalid_catalog_name
		return false, nil
	}
	return err == nil, err
}

// scratchName returns a fresh name for a verification database.
func scratchName() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "chorus_verify_" + hex.EncodeToString(b)
}

// quoteIdent quotes a PostgreSQL identifier.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
