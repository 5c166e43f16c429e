// Command chorus is the Chorus gateway: serve, migrate, version, and admin
// helpers such as keys create.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/chorusgw/chorus"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

const usage = `Chorus — a multi-model AI gateway.

Usage:
  chorus serve                       start the gateway (the default)
  chorus migrate [--status]          apply database migrations (or show the schema version)
  chorus version                     print the version
  chorus keys create --name N [--user-email E] [--models a,b] [--expires 720h]
  chorus keys list [--user-email E]
  chorus keys revoke ID
  chorus users list [--q S]
  chorus users create --email E [--name N] [--role admin|customer]   prints a new password once
  chorus users reset-password --email E   a new password, printed once; signs the user out everywhere
  chorus users reset-mfa --email E        remove a lost second factor
  chorus users disable|enable --email E
  chorus users export --email E [--out FILE]   everything held about a person, as one JSON document
  chorus users erase --email E --yes      erase a person's personal data (books and audit log kept)
  chorus audit verify [--json]       check the audit log's hash chain (exit status 1 if tampered)
  chorus backup [--dir DIR] [--verify=false]   take a backup, verify it by restoring it into a
                                     scratch database, prune old ones (docs/backups.md)
  chorus backup list [--dir DIR] [--json]      the backups and their verification
  chorus backup verify --from BACKUP           verify a backup again
  chorus restore --from BACKUP [--dry-run] [--force]   replace the database with a verified backup
                                     (BACKUP: a backup's directory, or a directory of backups)
  chorus secret-key                  print a new random key for CHORUS_SECRET_KEY
  chorus bias suites|run|runs|show|compare   bias tests through a running gateway's admin API
                                     (chorus bias for the flags; docs/bias-testing.md)

Every command reads the config file named by --config or CHORUS_CONFIG (optional)
and CHORUS_* environment variables.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "chorus:", err)
		os.Exit(1)
	}
}

// run dispatches a subcommand. ctx is cancelled on SIGINT or SIGTERM.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return cmdServe(ctx, args, stdout, stderr)
	case "migrate":
		return cmdMigrate(ctx, args, stdout)
	case "version":
		fmt.Fprintln(stdout, "chorus", version)
		return nil
	case "keys":
		// The audit log records these changes as made by the command line.
		return cmdKeys(chorus.NewContextWithActor(ctx, chorus.Actor{System: "cli"}), args, stdout)
	case "users":
		return cmdUsers(chorus.NewContextWithActor(ctx, chorus.Actor{System: "cli"}), args, stdout)
	case "secret-key":
		return cmdSecretKey(stdout)
	case "audit":
		return cmdAudit(ctx, args, stdout)
	case "bias":
		return cmdBias(ctx, args, stdout)
	case "backup":
		return cmdBackup(ctx, args, stdout)
	case "restore":
		return cmdRestore(ctx, args, stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", cmd)
}
