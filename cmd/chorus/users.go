package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/app"
	"github.com/chorusgw/chorus/internal/auth"
	"github.com/chorusgw/chorus/internal/store"
)

// cmdUsers manages accounts from the command line: the way back in for an
// operator who lost the admin password or second factor, the way to
// create accounts on a gateway whose sign-up is closed, and a data
// subject's export and erasure. Every change is audited as made by the
// command line.
func cmdUsers(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("users: want a subcommand: list, create, reset-password, reset-mfa, disable, enable, export or erase")
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("users "+sub, flag.ContinueOnError)
	email := fs.String("email", "", "the user's email")
	name := fs.String("name", "", "display name (create)")
	role := fs.String("role", chorus.RoleCustomer, "admin or customer (create)")
	query := fs.String("q", "", "match email or name (list)")
	outPath := fs.String("out", "", "write the export to this file, readable by its owner only (export; default standard output)")
	yes := fs.Bool("yes", false, "confirm an erasure, which cannot be undone (erase)")
	cfg, err := loadConfig(fs, args)
	if err != nil {
		return err
	}
	db, err := app.OpenStore(ctx, cfg, app.NewLogger(cfg.Log, os.Stderr), false)
	if err != nil {
		return err
	}
	defer db.Close()
	switch {
	case sub == "list":
		return listUsers(ctx, db, *query, out)
	case *email == "":
		return fmt.Errorf("users %s: --email is required", sub)
	case sub == "create":
		return createUser(ctx, db, *email, *name, *role, out)
	case sub == "export":
		return exportUser(ctx, db, *email, *outPath, out)
	}
	u, err := db.UserByEmail(ctx, *email)
	if err != nil {
		return fmt.Errorf("user %s: %w", *email, err)
	}
	if sub == "erase" {
		return eraseUser(ctx, db, u, *yes, out)
	}
	return changeUser(ctx, db, sub, u, out)
}

// changeUser applies one of the operator's fixes to an account.
func changeUser(ctx context.Context, db *store.DB, sub string, u *chorus.User, out io.Writer) error {
	switch sub {
	case "reset-password":
		password := auth.NewPassword()
		hash, err := auth.HashPassword(password)
		if err != nil {
			return err
		}
		n, err := db.ChangePassword(ctx, u.ID, hash, 0)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "New password for %s (shown once; %d sessions signed out):\n\n  %s\n\n", u.Email, n, password)
	case "reset-mfa":
		if err := db.ResetMFA(ctx, u.ID); err != nil {
			return err
		}
		fmt.Fprintf(out, "MFA of %s removed: they sign in with their password and may enrol again.\n", u.Email)
	case "disable", "enable":
		if _, err := db.SetUserDisabled(ctx, u.ID, sub == "disable"); err != nil {
			return err
		}
		fmt.Fprintf(out, "%s %sd.\n", u.Email, sub)
	default:
		return fmt.Errorf("users: unknown subcommand %q", sub)
	}
	return nil
}

func createUser(ctx context.Context, db *store.DB, email, name, role string, out io.Writer) error {
	email, err := auth.NormalizeEmail("email", email)
	if err != nil {
		return err
	}
	if name == "" {
		name = email
	}
	if name, err = auth.NormalizeName("name", name); err != nil {
		return err
	}
	password := auth.NewPassword()
	hash, err := auth.HashPassword(password)
	if err != nil {
		return err
	}
	u := &chorus.User{Email: email, Name: name, Role: role, PasswordHash: hash}
	if err := db.CreateUser(ctx, u); err != nil {
		return err
	}
	fmt.Fprintf(out, "Created %s %s (user %d, team %d). Password (shown once):\n\n  %s\n\n", role, u.Email, u.ID, u.TeamID, password)
	return nil
}

func listUsers(ctx context.Context, db *store.DB, query string, out io.Writer) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tEMAIL\tNAME\tROLE\tTEAM\tMFA\tDISABLED\tCREATED")
	p := chorus.Page{Limit: chorus.MaxPageSize}
	for {
		us, err := db.SearchUsers(ctx, chorus.UserFilter{Query: query}, p)
		if err != nil {
			return err
		}
		for _, u := range us {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d (%s)\t%v\t%s\t%s\n", u.ID, u.Email, u.Name, u.Role, u.TeamID, u.TeamRole,
				u.MFAEnabled, timeOr(u.DisabledAt, "-"), u.CreatedAt.Format(time.DateTime))
		}
		if len(us) < p.Limit {
			break
		}
		p.After = us[len(us)-1].ID
	}
	return tw.Flush()
}
