package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/chorusgw/chorus/internal/store"
)

// errTampered is returned by `chorus audit verify` when the chain is
// broken, so that the command exits with status 1.
var errTampered = errors.New("the audit log has been tampered with")

func cmdAudit(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 || args[0] != "verify" {
		return fmt.Errorf("audit: want a subcommand: verify")
	}
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print the report as JSON")
	cfg, err := loadConfig(fs, args[1:])
	if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("audit verify: unexpected argument %q", fs.Arg(0))
	}
	// The check needs no secret key: open the database without one.
	db, err := store.Open(ctx, cfg.DatabaseDSN(), store.Options{})
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	defer db.Close()
	if err := db.CheckSchema(ctx); err != nil {
		return err
	}
	rep, err := db.VerifyAudit(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else if rep.OK {
		fmt.Fprintf(out, "ok: %d entries, head %s\n", rep.Entries, rep.HeadHash)
	} else {
		fmt.Fprintf(out, "FAILED at seq %d: %s: %s\n(%d entries verified before it; head seq %d)\n",
			rep.Problem.Seq, rep.Problem.Kind, rep.Problem.Detail, rep.Entries, rep.HeadSeq)
	}
	if !rep.OK {
		return fmt.Errorf("%w: first bad entry is seq %d (%s)", errTampered, rep.Problem.Seq, rep.Problem.Kind)
	}
	return nil
}
