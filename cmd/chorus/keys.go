package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/app"
	"github.com/chorusgw/chorus/internal/auth"
	"github.com/chorusgw/chorus/internal/secret"
	"github.com/chorusgw/chorus/internal/store"
)

func cmdKeys(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("keys: want a subcommand: create, list or revoke")
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("keys "+sub, flag.ContinueOnError)
	name := fs.String("name", "", "key name (create)")
	email := fs.String("user-email", app.BootstrapAdminEmail, "owner of the key")
	models := fs.String("models", "", "comma-separated models the key may use (create; default all)")
	expires := fs.Duration("expires", 0, "lifetime, e.g. 720h (create; default never)")
	cfg, err := loadConfig(fs, args)
	if err != nil {
		return err
	}
	log := app.NewLogger(cfg.Log, os.Stderr)
	db, err := app.OpenStore(ctx, cfg, log, false)
	if err != nil {
		return err
	}
	defer db.Close()
	user, err := db.UserByEmail(ctx, *email)
	if err != nil {
		return fmt.Errorf("user %s: %w", *email, err)
	}
	switch sub {
	case "create":
		if *name == "" {
			return fmt.Errorf("keys create: --name is required")
		}
		secretKey, prefix, hash := auth.NewAPIKey()
		k := &chorus.APIKey{Name: *name, Prefix: prefix, Hash: hash, UserID: user.ID}
		if *models != "" {
			k.AllowedModels = strings.Split(*models, ",")
		}
		if *expires > 0 {
			t := time.Now().Add(*expires).UTC()
			k.ExpiresAt = &t
		}
		if err := db.CreateKey(ctx, k); err != nil {
			return err
		}
		fmt.Fprintf(out, "Created key %d (%s) for %s. It is shown once:\n\n  %s\n\n", k.ID, k.Name, user.Email, secretKey)
		return nil
	case "list":
		uid := user.ID
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tPREFIX\tMODELS\tEXPIRES\tREVOKED\tCREATED")
		p := chorus.Page{Limit: chorus.MaxPageSize}
		for {
			ks, err := db.ListKeys(ctx, chorus.KeyFilter{UserID: &uid}, p)
			if err != nil {
				return err
			}
			for _, k := range ks {
				fmt.Fprintf(tw, "%d\t%s\t%s…\t%s\t%s\t%s\t%s\n", k.ID, k.Name, k.Prefix, modelsOf(k),
					timeOr(k.ExpiresAt, "never"), timeOr(k.RevokedAt, "-"), k.CreatedAt.Format(time.DateTime))
			}
			if len(ks) < p.Limit {
				break
			}
			p.After = ks[len(ks)-1].ID
		}
		return tw.Flush()
	case "revoke":
		if fs.NArg() != 1 {
			return fmt.Errorf("keys revoke: want exactly one key ID")
		}
		id, err := strconv.ParseInt(fs.Arg(0), 10, 64)
		if err != nil {
			return fmt.Errorf("keys revoke: %q is not a key ID", fs.Arg(0))
		}
		if err := db.RevokeKey(ctx, id, time.Now()); err != nil {
			return err
		}
		fmt.Fprintf(out, "Revoked key %d.\n", id)
		return nil
	}
	return fmt.Errorf("keys: unknown subcommand %q", sub)
}

func modelsOf(k *chorus.APIKey) string {
	if len(k.AllowedModels) == 0 {
		return "all"
	}
	return strings.Join(k.AllowedModels, ",")
}

func timeOr(t *time.Time, none string) string {
	if t == nil {
		return none
	}
	return t.Format(time.DateTime)
}

func cmdMigrate(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	status := fs.Bool("status", false, "show the schema version and exit")
	cfg, err := loadConfig(fs, args)
	if err != nil {
		return err
	}
	db, err := store.Open(ctx, cfg.DatabaseDSN(), store.Options{})
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	defer db.Close()
	if !*status {
		if err := db.Migrate(ctx); err != nil {
			return err
		}
	}
	cur, latest, err := db.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "database schema version %d (this binary's latest: %d)\n", cur, latest)
	return nil
}

func cmdSecretKey(out io.Writer) error {
	fmt.Fprintln(out, secret.GenerateKey())
	return nil
}
