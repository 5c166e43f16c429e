package api

import (
	"net/http"

	"github.com/chorusgw/chorus"
)

// requireStepUp refuses a sensitive operation unless the caller proved a
// second factor recently.
//
// TODO(mfa): placeholder until MFA lands; accepts everyone.
func (s *Server) requireStepUp(r *http.Request, p *chorus.Principal) error {
	_, _ = r, p
	return nil
}

// mfaGate refuses a session that has not finished signing in (password
// given, second factor pending) unless the route allows it.
//
// TODO(mfa): placeholder until MFA lands.
func (s *Server) mfaGate(r *http.Request, p *chorus.Principal, allowPending bool) error {
	_ = r
	if p.Session != nil && p.Session.MFAPending && !allowPending {
		return &chorus.Error{Code: chorus.EUNAUTHORIZED, Message: "Finish signing in: verify your second factor."}
	}
	return nil
}
