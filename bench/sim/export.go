package sim

import (
	"context"
	"net/http"

	"github.com/chorusgw/chorus"
)

// What other benchmark commands (bench/cmd/routebench) use of the
// in-process gateway.

// Admin calls the admin API with the master key and decodes the answer
// into out (if not nil); any status but want is an error.
func (g *Gateway) Admin(ctx context.Context, method, path string, body any, want int, out any) error {
	return g.admin(ctx, method, path, body, want, out)
}

// NewKey creates an API key of the benchmark's customer and returns its ID
// and secret.
func (g *Gateway) NewKey(ctx context.Context, name string) (int64, string, error) {
	k, err := g.createKey(ctx, name)
	return k.ID, k.Secret, err
}

// Usage returns the key's usage records once there are want of them.
func (g *Gateway) Usage(ctx context.Context, keyID int64, want int) ([]chorus.Usage, error) {
	return g.usage(ctx, key{ID: keyID}, want)
}

// Client is the HTTP client the gateway's helpers use.
func (g *Gateway) Client() *http.Client { return g.client }
