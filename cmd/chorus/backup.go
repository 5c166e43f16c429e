package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/chorusgw/chorus/internal/app"
	"github.com/chorusgw/chorus/internal/backup"
	"github.com/chorusgw/chorus/internal/config"
	"github.com/chorusgw/chorus/internal/store"
)

// cmdBackup is `chorus backup [--dir DIR] [--verify=false]` (take, verify
// and prune), `chorus backup list [--dir DIR] [--json]` and `chorus backup
// verify --from BACKUP`.
func cmdBackup(ctx context.Context, args []string, out io.Writer) error {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		switch args[0] {
		case "list":
			return cmdBackupList(args[1:], out)
		case "verify":
			return cmdBackupVerify(ctx, args[1:], out)
		}
		return fmt.Errorf("backup: unknown subcommand %q (want list or verify, or flags)", args[0])
	}
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	dir := fs.String("dir", "", "directory to write the backup to (default backup.dir)")
	verify := fs.Bool("verify", true, "restore the backup into a scratch database and check it")
	cfg, err := loadConfig(fs, args)
	if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("backup: unexpected argument %q", fs.Arg(0))
	}
	if *dir == "" && cfg.Backup.Dir == "" {
		return fmt.Errorf("backup: say where: --dir DIR or backup.dir (CHORUS_BACKUP_DIR)")
	}
	log := app.NewLogger(cfg.Log, os.Stderr)
	// A backup needs no secret key (sealed data is copied sealed).
	db, err := store.Open(ctx, cfg.DatabaseDSN(), store.Options{})
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	defer db.Close()
	if err := db.CheckSchema(ctx); err != nil {
		return err
	}
	b := app.NewBackuper(cfg, *dir, log)
	m, err := b.Run(ctx, db, *verify, backup.Retention{Daily: cfg.Backup.KeepDaily, Weekly: cfg.Backup.KeepWeekly})
	if m != nil {
		fmt.Fprintf(out, "backup %s: %s, %d bytes, %d tables, in %s\n", m.ID, m.Dir(), m.Size, len(m.Tables),
			m.FinishedAt.Sub(m.StartedAt).Round(time.Millisecond))
		printVerification(out, m.Verification)
	}
	return err
}

// printVerification says what a verification found.
func printVerification(out io.Writer, v *backup.Verification) {
	switch {
	case v == nil:
		fmt.Fprintln(out, "verification: not verified")
	case v.OK:
		fmt.Fprintf(out, "verification: ok (schema %d, %d ledger postings, %d audit entries, row counts match; %.1fs)\n",
			v.SchemaVersion, v.LedgerPostings, v.AuditEntries, v.Seconds)
	default:
		fmt.Fprintf(out, "verification: FAILED\n  %s\n", strings.Join(v.Problems, "\n  "))
	}
}

func cmdBackupList(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("backup list", flag.ContinueOnError)
	dir := fs.String("dir", "", "backup directory (default backup.dir)")
	asJSON := fs.Bool("json", false, "print the manifests as JSON")
	cfg, err := loadConfig(fs, args)
	if err != nil {
		return err
	}
	if *dir == "" {
		*dir = cfg.Backup.Dir
	}
	if *dir == "" {
		return fmt.Errorf("backup list: say where: --dir DIR or backup.dir")
	}
	ms, err := backup.List(*dir)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if ms == nil {
			ms = []*backup.Manifest{}
		}
		return enc.Encode(ms)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tSCHEMA\tSIZE\tVERIFIED\tPATH")
	for _, m := range ms {
		verified := "not verified"
		if v := m.Verification; v != nil && v.OK {
			verified = "ok " + v.At.Format(time.RFC3339)
		} else if v != nil {
			verified = fmt.Sprintf("FAILED (%d problems)", len(v.Problems))
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\n", m.ID, m.Kind, m.SchemaVersion, m.Size, verified, m.Dir())
	}
	return tw.Flush()
}

func cmdBackupVerify(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("backup verify", flag.ContinueOnError)
	from := fs.String("from", "", "the backup's directory (or a directory of backups: the newest)")
	cfg, err := loadConfig(fs, args)
	if err != nil {
		return err
	}
	m, err := openBackup(*from, cfg)
	if err != nil {
		return err
	}
	v, err := app.NewBackuper(cfg, "", app.NewLogger(cfg.Log, os.Stderr)).Verify(ctx, m)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "backup %s (%s)\n", m.ID, m.Dir())
	printVerification(out, v)
	if !v.OK {
		return fmt.Errorf("backup %s failed verification", m.ID)
	}
	return nil
}

// openBackup opens the backup --from names, defaulting to the newest
// verified one in backup.dir.
func openBackup(from string, cfg config.Config) (*backup.Manifest, error) {
	if from == "" {
		from = cfg.Backup.Dir
	}
	if from == "" {
		return nil, fmt.Errorf("say which backup: --from BACKUP (a backup's directory, or a directory of backups for the newest verified)")
	}
	return backup.Open(from)
}

// cmdRestore is `chorus restore --from BACKUP [--dry-run] [--force]`.
func cmdRestore(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("restore", flag.ContinueOnError)
	from := fs.String("from", "", "the backup's directory, or a directory of backups (the newest verified one)")
	dryRun := fs.Bool("dry-run", false, "verify the backup and say what would happen; change nothing")
	force := fs.Bool("force", false, "replace a database that holds data")
	cfg, err := loadConfig(fs, args)
	if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("restore: unexpected argument %q", fs.Arg(0))
	}
	m, err := openBackup(*from, cfg)
	if err != nil {
		return err
	}
	if addr, up := listening(cfg.Listen); up && !*dryRun {
		return fmt.Errorf("restore: something answers on %s, this install's listen address (a running chorus?): stop it first", addr)
	}
	b := app.NewBackuper(cfg, "", app.NewLogger(cfg.Log, os.Stderr))
	fmt.Fprintf(out, "backup %s (%s, taken %s, schema %d)\n", m.ID, m.Dir(), m.StartedAt.Format(time.RFC3339), m.SchemaVersion)
	res, err := b.Restore(ctx, m, cfg.DatabaseDSN(), backup.RestoreOptions{DryRun: *dryRun, Force: *force})
	if res.Verification != nil {
		printVerification(out, res.Verification)
	}
	printRestore(out, res, *dryRun)
	return err
}

// printRestore says what a restore did or would do.
func printRestore(out io.Writer, res *backup.RestoreResult, dryRun bool) {
	if res.Target == "" {
		return
	}
	state := "empty"
	if res.TargetHasData {
		state = "holds data (replaced only with --force)"
	}
	if res.Created {
		state = "does not exist (it will be created)"
	}
	fmt.Fprintf(out, "target: %s: %s\n", res.Target, state)
	switch {
	case dryRun:
		fmt.Fprintln(out, "dry run: nothing changed")
	case res.Restored && res.After != nil && res.After.OK:
		fmt.Fprintln(out, "restored; the restored database matches the backup (schema, ledger, holds, audit chain, row counts)")
	case res.Restored:
		fmt.Fprintln(out, "restored, but the restored database does not match the backup")
	}
}

// listening reports whether something accepts connections on the listen
// address (on loopback when it names no host).
func listening(listen string) (string, bool) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen, false
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	addr := net.JoinHostPort(host, port)
	c, err := net.DialTimeout("tcp", addr, 300*time.Millisecond)
	if err != nil {
		return addr, false
	}
	c.Close()
	return addr, true
}
