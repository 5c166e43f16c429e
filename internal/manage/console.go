package manage

import (
	"context"
	"net/http"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/auth"
)

// ConsoleKeyName names the API key the console's playground is billed to:
// one per user, made on first use, listed and revocable like any other key
// (the next playground call then makes a new one). Its secret is never
// shown, so no browser ever holds a long-lived key.
const ConsoleKeyName = "console playground"

// ConsoleKey authenticates a model API request from the signed-in console:
// the session cookie, with the CSRF token on every call, a second factor
// when the account has one, never the master key. It returns the user's
// console key, which the request is then limited, billed and recorded
// under exactly like an API call. A request without a session cookie gets
// (nil, nil): the gateway then asks for an API key as usual.
func (s *Server) ConsoleKey(r *http.Request) (*chorus.APIKey, error) {
	if sessionToken(r) == "" {
		return nil, nil
	}
	p, err := s.authorize(r, accessUser)
	if err != nil {
		if ce, ok := err.(*chorus.Error); ok && ce.Code == chorus.EUNAUTHORIZED && ce.Reason == "" {
			ce.Reason = "invalid_session" // not "invalid_api_key": the console signs in again
		}
		return nil, err
	}
	if safeMethod(r.Method) {
		// Reads carry no CSRF token; the model API's reads (the model
		// list) are harmless, but a session is only for the console.
		if err := checkCSRF(r, p.Session); err != nil {
			return nil, err
		}
	}
	return s.consoleKey(r.Context(), p.User)
}

// consoleKey returns u's console key as the registry holds it, making the
// key on first use.
func (s *Server) consoleKey(ctx context.Context, u *chorus.User) (*chorus.APIKey, error) {
	keys, err := s.Store.ListKeys(ctx, chorus.KeyFilter{UserID: &u.ID}, chorus.Page{Limit: chorus.MaxPageSize})
	if err != nil {
		return nil, err
	}
	now := s.Now()
	var hash []byte
	for _, k := range keys {
		if k.Name == ConsoleKeyName && k.Active(now) {
			hash = k.Hash
			break
		}
	}
	if hash == nil {
		_, prefix, h := auth.NewAPIKey()
		k := &chorus.APIKey{Name: ConsoleKeyName, Prefix: prefix, Hash: h, UserID: u.ID}
		if err := s.Store.CreateKey(ctx, k); err != nil {
			return nil, err
		}
		hash = h
	}
	if k := s.snapshotKey(hash); k != nil {
		return k, nil
	}
	s.changed(ctx) // made now, or on another instance since the last poll
	if k := s.snapshotKey(hash); k != nil {
		return k, nil
	}
	return nil, &chorus.Error{Code: chorus.EUNAVAILABLE, Message: "The console's key is not ready yet; try again."}
}

// snapshotKey finds a key by its hash in the registry's snapshot.
func (s *Server) snapshotKey(hash []byte) *chorus.APIKey {
	var h [32]byte
	if len(hash) != len(h) {
		return nil
	}
	copy(h[:], hash)
	return s.Registry.Snapshot().KeyByHash(h)
}
