package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/store"
)

// exportUser writes everything Chorus holds about one person as one JSON
// document (a data subject access request): to path, created readable by
// its owner only, or to out when path is empty. The export is audited.
func exportUser(ctx context.Context, db *store.DB, email, path string, out io.Writer) error {
	x, err := db.ExportSubject(ctx, email)
	if err != nil {
		return fmt.Errorf("export %s: %w", email, err)
	}
	w := out
	if path != "" {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600) // #nosec G304 G703 -- the export file the operator named on the command line, created (O_EXCL) readable by its owner only
		if err != nil {
			return fmt.Errorf("export: %w", err)
		}
		defer f.Close()
		w = f
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(x); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	if path != "" {
		fmt.Fprintf(out, "Wrote the data of %s (user %d) to %s: %d usage records, %d stored responses, %d audit entries.\n",
			x.User.Email, x.User.ID, path, len(x.Usage), len(x.Responses), len(x.Audit))
	}
	return nil
}

// eraseUser erases one person's personal data (see store.EraseSubject)
// once the operator has confirmed with --yes, and says what it did and
// what it kept.
func eraseUser(ctx context.Context, db *store.DB, u *chorus.User, yes bool, out io.Writer) error {
	if !yes {
		return chorus.Errorf(chorus.EINVALID, "Erasing %s (user %d) cannot be undone: export their data first if they asked for it "+
			"(chorus users export), then run again with --yes.", u.Email, u.ID)
	}
	r, err := db.EraseSubject(ctx, u.ID)
	if err != nil {
		return fmt.Errorf("erase %s: %w", u.Email, err)
	}
	fmt.Fprintf(out, "Erased %s: user %d is now %s, disabled, with no password.\n", u.Email, u.ID, chorus.ErasedEmail(u.ID))
	fmt.Fprintf(out, "  deleted: %d sessions, %d backup codes, %d stored responses, %d client error reports, %d invitations, %d cart items\n",
		r.Sessions, r.BackupCodes, r.Responses, r.ClientErrors, r.Invites, r.CartItems)
	fmt.Fprintf(out, "  cleared: %d feedback comments, %d quality score reasons; revoked: %d API keys; team renamed: %v\n",
		r.FeedbackComments, r.ScoreReasons, r.KeysRevoked, r.TeamRenamed)
	fmt.Fprintln(out, "  kept, under the user ID only: usage records, ledger postings, orders and payments (accounting records).")
	fmt.Fprintln(out, "  not rewritten: the hash-chained audit log (tamper evidence); its entries leave with its retention.")
	return nil
}
