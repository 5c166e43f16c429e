package app

import (
	"context"
	"fmt"
	"io"
	"net"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/auth"
	"github.com/chorusgw/chorus/internal/config"
	"github.com/chorusgw/chorus/internal/store"
)

// BootstrapAdminEmail is the first admin's sign-in.
const BootstrapAdminEmail = "admin@chorus.local"

// simulatorModels are the models a new install starts with, so it is useful
// and demonstrable with no provider keys. Prices are micro-credits per
// million tokens.
var simulatorModels = []struct {
	model    chorus.Model
	settings map[string]any
	in, out  int64
}{
	{chorus.Model{Name: "sim-small", Kind: chorus.KindChat, Description: "Simulated fast, cheap chat model", ContextWindow: 128_000, MaxOutput: 16_384, OwnedBy: "chorus-simulator"},
		map[string]any{"latency_ms": 20, "ttft_ms": 60, "tokens_per_second": 120, "output_tokens": 24, "seed": 1}, 150_000, 600_000},
	{chorus.Model{Name: "sim-large", Kind: chorus.KindChat, Description: "Simulated slower, stronger chat model", ContextWindow: 200_000, MaxOutput: 32_768, OwnedBy: "chorus-simulator"},
		map[string]any{"latency_ms": 80, "ttft_ms": 250, "tokens_per_second": 45, "output_tokens": 64, "seed": 2}, 2_500_000, 10_000_000},
	{chorus.Model{Name: "sim-embed", Kind: chorus.KindEmbedding, Description: "Simulated embedding model", OwnedBy: "chorus-simulator"},
		map[string]any{"latency_ms": 5, "dimensions": 256, "seed": 3}, 20_000, 0},
}

// bootstrap runs once, on a database with no users: it creates an admin
// (who owns a team of their own, "Administrator"), an API key for them and
// the simulator models, and prints the credentials once: the admin's
// generated password, which signs in to the console (and should be
// changed there, POST /api/auth/password), and the key.
func bootstrap(ctx context.Context, db *store.DB, cfg config.Config, out io.Writer) error {
	if n, err := db.CountUsers(ctx); err != nil || n > 0 {
		return err
	}
	ctx = chorus.NewContextWithActor(ctx, chorus.Actor{System: "bootstrap"})
	password := auth.NewPassword()
	hash, err := auth.HashPassword(password)
	if err != nil {
		return err
	}
	admin := &chorus.User{Email: BootstrapAdminEmail, Name: "Administrator", Role: chorus.RoleAdmin, PasswordHash: hash}
	if err := db.CreateUser(ctx, admin); chorus.ErrorCode(err) == chorus.ECONFLICT {
		// Instances started together on an empty database all saw no
		// user; the one whose admin was created first bootstraps, the
		// others start on what it creates (their registries pick it up).
		return nil
	} else if err != nil {
		return err
	}
	secretKey, prefix, keyHash := auth.NewAPIKey()
	if err := db.CreateKey(ctx, &chorus.APIKey{Name: "bootstrap", Prefix: prefix, Hash: keyHash, UserID: admin.ID}); err != nil {
		return err
	}
	existing, err := db.ListModels(ctx, chorus.Page{Limit: 1})
	if err != nil {
		return err
	}
	if len(existing) == 0 {
		for _, sm := range simulatorModels {
			m := sm.model
			m.Enabled = true
			if err := db.CreateModel(ctx, &m); err != nil {
				return err
			}
			d := &chorus.Deployment{ModelID: m.ID, Name: m.Name + "-sim", Provider: chorus.ProviderSimulator,
				UpstreamModel: m.Name, Settings: sm.settings, InputPrice: sm.in, OutputPrice: sm.out, Weight: 1, Enabled: true}
			if err := db.CreateDeployment(ctx, d); err != nil {
				return err
			}
		}
	}
	base := cfg.PublicURL
	if base == "" {
		base = "http://localhost" + portOf(cfg.Listen)
	}
	fmt.Fprintf(out, `
================================================================================
 Chorus is set up. These credentials are shown ONCE — save them now.

   Admin sign-in:  %s
   Password:       %s   (change it after signing in)
   API key:        %s

 Open the console:  %s/   (sign in with the admin above)
 Sign-up is %q (auth.signup): invite people with POST /api/admin/invites,
 or create their accounts with POST /api/admin/users.

 Try it:

   curl %s/v1/chat/completions \
     -H "Authorization: Bearer %s" \
     -H "Content-Type: application/json" \
     -d '{"model": "sim-small", "messages": [{"role": "user", "content": "Hello!"}]}'

 Models: sim-small, sim-large (chat), sim-embed (embeddings) — simulated, no keys needed.
================================================================================

`, BootstrapAdminEmail, password, secretKey, base, cfg.Auth.Signup, base, secretKey)
	return nil
}

func portOf(listen string) string {
	_, port, err := net.SplitHostPort(listen)
	if err != nil || port == "" || port == "0" {
		return ":8080"
	}
	return ":" + port
}
