package manage

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/api"
	"github.com/chorusgw/chorus/internal/auth"
	"github.com/chorusgw/chorus/internal/config"
)

// The account API: sign-up, sign-in and sessions (/api/auth/…), and a
// customer's own team (/api/team…). The admin side is in users.go.

// accountRoutes registers the account API.
func (s *Server) accountRoutes(mux *api.Mux) {
	s.handle(mux, "POST /api/auth/signup", accessPublic, s.signup)
	s.handle(mux, "POST /api/auth/login", accessPublic, s.login)
	s.handle(mux, "GET /api/auth/session", accessUser|allowMFAPending, s.whoAmI)
	s.handle(mux, "POST /api/auth/logout", accessUser|allowMFAPending, s.logout)
	s.handle(mux, "POST /api/auth/logout-all", accessUser, s.logoutAll)
	s.handle(mux, "GET /api/auth/sessions", accessUser, s.listSessions)
	s.handle(mux, "DELETE /api/auth/sessions/{id}", accessUser, s.revokeSession)
	s.handle(mux, "POST /api/auth/password", accessUser, s.changePassword)

	s.handle(mux, "GET /api/team", accessUser, s.getTeam)
	s.handle(mux, "PUT /api/team", accessUser, s.renameTeam)
	s.handle(mux, "POST /api/team/invites", accessUser, s.teamInvite)
	s.handle(mux, "GET /api/team/invites", accessUser, s.teamInvites)
	s.handle(mux, "DELETE /api/team/invites/{id}", accessUser, s.teamRevokeInvite)
	s.handle(mux, "DELETE /api/team/members/{id}", accessUser, s.removeMember)
	s.handle(mux, "PUT /api/team/members/{id}/role", accessUser|stepUp, s.setMemberRole)
}

// loginThrottle returns the throttle of failed sign-ins (an in-process one
// when the server was built without one).
func (s *Server) loginThrottle() *auth.Throttle {
	s.throttleOnce.Do(func() {
		if s.LoginThrottle == nil {
			lt := s.Auth.LoginThrottle
			if lt.Window == 0 {
				lt = config.DefaultAuth().LoginThrottle
			}
			s.LoginThrottle = auth.NewThrottle(auth.ThrottleOptions{
				Account: auth.ThrottleRule{Max: lt.AccountFailures, Window: lt.Window},
				IP:      auth.ThrottleRule{Max: lt.IPFailures, Window: lt.Window},
				Logger:  s.Logger,
			})
		}
	})
	return s.LoginThrottle
}

// passwordPolicy is the configured policy for new passwords.
func (s *Server) passwordPolicy() auth.PasswordPolicy {
	return auth.PasswordPolicy{MinLength: s.Auth.PasswordMinLength}
}

// publicActor puts the anonymous caller (address, request) in the context
// for the audit entries of a public route.
func (s *Server) publicActor(r *http.Request) context.Context {
	return chorus.NewContextWithActor(r.Context(), chorus.Actor{IP: s.clientIP(r), RequestID: api.RequestID(r.Context())})
}

// errBadLogin is the one answer to every failed sign-in — unknown email,
// wrong password, disabled account — so it does not tell which.
var errBadLogin = &chorus.Error{Code: chorus.EUNAUTHORIZED, Reason: "invalid_credentials", Message: "Incorrect email or password."}

// sessionView is the answer to a sign-in and to GET /api/auth/session.
type sessionView struct {
	Object     string          `json:"object"` // "session"
	User       *chorus.User    `json:"user"`
	Team       *chorus.Team    `json:"team,omitempty"`
	Session    *chorus.Session `json:"session,omitempty"` // nil for an API key
	CSRFToken  string          `json:"csrf_token,omitempty"`
	MFAPending bool            `json:"mfa_pending"`
	MFAEnabled bool            `json:"mfa_enabled"`
}

func (s *Server) writeSession(w http.ResponseWriter, r *http.Request, status int, u *chorus.User, sess *chorus.Session) error {
	v := sessionView{Object: "session", User: u, Session: sess, MFAEnabled: u.MFAEnabled}
	if sess != nil {
		v.CSRFToken, v.MFAPending = sess.CSRFToken, sess.MFAPending
	}
	if u.TeamID != 0 {
		t, err := s.Store.TeamByID(r.Context(), u.TeamID)
		if err != nil && chorus.ErrorCode(err) != chorus.ENOTFOUND {
			return err
		}
		v.Team = t
	}
	api.WriteJSON(w, status, v)
	return nil
}

// ---- sign-in

// refuseCrossSite refuses a sign-in or sign-up that the browser says comes
// from another site (Sec-Fetch-Site: cross-site): a page elsewhere posting
// the attacker's credentials would sign the victim into the attacker's
// account (login CSRF), and these two routes have no session, hence no
// CSRF token, to check. Same-origin, same-site and none (typed in, a
// bookmark) pass, and so does a request without the header: non-browser
// clients do not send it, and a browser that does not cannot send a JSON
// body cross-site without a preflight, which we never grant
// (api.DecodeJSON requires application/json).
func refuseCrossSite(r *http.Request) error {
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		return &chorus.Error{Code: chorus.EFORBIDDEN, Message: "Cross-site request refused: sign in from this gateway's own pages."}
	}
	return nil
}

type loginInput struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// login: POST /api/auth/login. Failed attempts are throttled per email and
// per client address before the password is looked at; an unknown email
// costs the same argon2id work as a wrong password, and every failure
// gets the same answer, so neither the message nor the timing tells
// whether an account exists.
func (s *Server) login(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	if err := refuseCrossSite(r); err != nil {
		return err
	}
	var in loginInput
	if err := api.DecodeJSON(w, r, &in); err != nil {
		return err
	}
	email := strings.ToLower(strings.TrimSpace(in.Email))
	switch {
	case email == "":
		return chorus.Invalid("email", "email is required")
	case len(email) > auth.MaxEmailLength:
		return chorus.Invalid("email", "email must be at most %d characters", auth.MaxEmailLength)
	case in.Password == "":
		return chorus.Invalid("password", "password is required")
	case len(in.Password) > auth.MaxPasswordLength:
		return chorus.Invalid("password", "password must be at most %d characters", auth.MaxPasswordChars)
	}
	ctx := s.publicActor(r)
	th := s.loginThrottle()
	attempt, err := th.Begin(ctx, th.Account(email), th.IP(s.clientIP(r)))
	if err != nil {
		return err
	}
	pw := auth.NormalizePassword(in.Password)
	u, reason, err := s.verifyLogin(ctx, email, pw)
	if err != nil {
		return err
	}
	if reason != "" {
		var uid int64
		if u != nil {
			uid = u.ID
		}
		if err := s.Store.RecordLoginFailure(ctx, email, uid, reason); err != nil {
			s.Logger.ErrorContext(ctx, "record failed sign-in", "err", err)
		}
		return errBadLogin
	}
	attempt.Succeeded(ctx)
	sess, err := s.issueSession(w, r, u, u.MFAEnabled)
	if err != nil {
		return err
	}
	return s.writeSession(w, r, http.StatusOK, u, sess)
}

// verifyLogin finds the user of email and checks pw, spending the same
// argon2id work whatever the outcome. reason is "" on success, else why
// it failed (for the audit log only): unknown_user, no_password,
// wrong_password or disabled. u is set whenever the account exists.
func (s *Server) verifyLogin(ctx context.Context, email, pw string) (u *chorus.User, reason string, err error) {
	u, err = s.Store.UserByEmail(ctx, email)
	if chorus.ErrorCode(err) == chorus.ENOTFOUND {
		auth.VerifyNoUser(pw)
		return nil, "unknown_user", nil
	}
	if err != nil {
		return nil, "", err
	}
	ok, verr := auth.VerifyPassword(u.PasswordHash, pw)
	switch {
	case verr != nil: // no password set (an account made for keys only), or an unusable hash
		auth.VerifyNoUser(pw)
		return u, "no_password", nil
	case !ok:
		return u, "wrong_password", nil
	case u.DisabledAt != nil:
		return u, "disabled", nil
	}
	return u, "", nil
}

// ---- sign-up

type signupInput struct {
	Email       string `json:"email"`
	Password    string `json:"password"`
	Name        string `json:"name"`
	InviteToken string `json:"invite_token"`
}

// maxTokenLength bounds an invitation token as sent (ours are 47 bytes).
const maxTokenLength = 128

// signup: POST /api/auth/signup, per auth.signup: open (a new team; an
// invitation is optional), invite (an invitation is required) or closed
// (refused; admins create users). The new user is signed in at once.
// Failed sign-ups (a taken email, a bad invitation) count against the
// client address's login allowance, so neither emails nor invitation
// tokens can be probed at speed.
func (s *Server) signup(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	mode := s.Auth.Signup
	if mode == "" {
		mode = config.DefaultAuth().Signup
	}
	if mode == config.SignupClosed {
		return chorus.Errorf(chorus.EFORBIDDEN, "Sign-up is closed on this gateway: ask an administrator for an account.")
	}
	if err := refuseCrossSite(r); err != nil {
		return err
	}
	var in signupInput
	if err := api.DecodeJSON(w, r, &in); err != nil {
		return err
	}
	if mode == config.SignupInvite && in.InviteToken == "" {
		return chorus.Invalid("invite_token", "invite_token is required: sign-up on this gateway is by invitation only")
	}
	email, err := auth.NormalizeEmail("email", in.Email)
	if err != nil {
		return err
	}
	name, err := auth.NormalizeName("name", in.Name)
	if err != nil {
		return err
	}
	pw := auth.NormalizePassword(in.Password)
	if err := s.passwordPolicy().Check("password", pw, email, name); err != nil {
		return err
	}
	var inviteHash []byte
	if in.InviteToken != "" {
		if len(in.InviteToken) > maxTokenLength || !strings.HasPrefix(in.InviteToken, auth.InvitePrefix) {
			return errInviteUnusable
		}
		inviteHash = auth.HashToken(in.InviteToken)
	}
	ctx := s.publicActor(r)
	th := s.loginThrottle()
	attempt, err := th.Begin(ctx, th.IP(s.clientIP(r)))
	if err != nil {
		return err
	}
	hash, err := auth.HashPassword(pw)
	if err != nil {
		return err
	}
	u := &chorus.User{Email: email, Name: name, PasswordHash: hash}
	if _, err := s.Store.Signup(ctx, u, inviteHash); err != nil {
		return signupError(err, inviteHash != nil)
	}
	attempt.Succeeded(ctx)
	sess, err := s.issueSession(w, r, u, false)
	if err != nil {
		return err
	}
	return s.writeSession(w, r, http.StatusCreated, u, sess)
}

// errInviteUnusable is the one answer to a sign-up whose invitation cannot
// be used: unknown, expired, used, revoked — or valid, for an email that has
// an account already (the invitation is then spent). So the answer does not
// tell whether an email has an account: only a sign-up that succeeds does,
// and it spends the invitation too (docs/accounts.md).
var errInviteUnusable = &chorus.Error{Code: chorus.EINVALID, Param: "invite_token",
	Message: "This invitation cannot be used: it may have expired or been used already. If you have an account, sign in; otherwise ask for a new invitation."}

// signupError is the answer to a failed Store.Signup.
func signupError(err error, invited bool) error {
	var ce *chorus.Error
	errors.As(err, &ce)
	switch code := chorus.ErrorCode(err); {
	case invited && code == chorus.ECONFLICT:
		// The invitation was spent (store.ErrInviteSpent), or, rarely,
		// another sign-up took the email between the store's check and
		// its insert.
		return errInviteUnusable
	case invited && code == chorus.EINVALID && ce != nil && ce.Param == "invite_token":
		return errInviteUnusable
	case code == chorus.ECONFLICT:
		// Open sign-up: anyone may try an email, so whether it is taken is
		// no secret (see docs/accounts.md).
		return &chorus.Error{Code: chorus.ECONFLICT, Param: "email", Err: err,
			Message: "An account with this email exists already: sign in instead."}
	}
	return err
}

// ---- the session

// whoAmI: GET /api/auth/session — the caller, their team, and for a
// session its CSRF token and MFA state.
func (s *Server) whoAmI(w http.ResponseWriter, r *http.Request, p *chorus.Principal) error {
	return s.writeSession(w, r, http.StatusOK, p.User, p.Session)
}

// logout: POST /api/auth/logout ends the calling session.
func (s *Server) logout(w http.ResponseWriter, r *http.Request, p *chorus.Principal) error {
	if err := sessionOnly(p); err != nil {
		return err
	}
	if err := s.Store.RevokeSession(r.Context(), p.User.ID, p.Session.ID, "logout"); err != nil {
		return err
	}
	s.clearSessionCookie(w, r)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// logoutAll: POST /api/auth/logout-all ends every session of the user,
// this one included.
func (s *Server) logoutAll(w http.ResponseWriter, r *http.Request, p *chorus.Principal) error {
	if err := sessionOnly(p); err != nil {
		return err
	}
	n, err := s.Store.RevokeUserSessions(r.Context(), p.User.ID, 0, "logout_all")
	if err != nil {
		return err
	}
	s.clearSessionCookie(w, r)
	api.WriteJSON(w, http.StatusOK, map[string]any{"sessions_revoked": n})
	return nil
}

// sessionItem is one of the user's sessions, marked when it is the
// caller's.
type sessionItem struct {
	*chorus.Session
	Current bool `json:"current"`
}

// listSessions: GET /api/auth/sessions — the user's active sessions.
func (s *Server) listSessions(w http.ResponseWriter, r *http.Request, p *chorus.Principal) error {
	if err := sessionOnly(p); err != nil {
		return err
	}
	ss, err := s.Store.ListSessions(r.Context(), p.User.ID)
	if err != nil {
		return err
	}
	out := make([]sessionItem, len(ss))
	for i, x := range ss {
		out[i] = sessionItem{Session: x, Current: x.ID == p.Session.ID}
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"object": "list", "data": out, "has_more": false})
	return nil
}

// revokeSession: DELETE /api/auth/sessions/{id} — one of the user's own
// sessions (another user's is 404).
func (s *Server) revokeSession(w http.ResponseWriter, r *http.Request, p *chorus.Principal) error {
	if err := sessionOnly(p); err != nil {
		return err
	}
	id, err := api.PathID(r)
	if err != nil {
		return err
	}
	if err := s.Store.RevokeSession(r.Context(), p.User.ID, id, "revoked"); err != nil {
		return err
	}
	if id == p.Session.ID {
		s.clearSessionCookie(w, r)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type passwordInput struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
}

// changePassword: POST /api/auth/password. The current password is checked
// (and its failures throttled like sign-ins); the new one must satisfy the
// policy. Every other session of the user ends in the same transaction.
func (s *Server) changePassword(w http.ResponseWriter, r *http.Request, p *chorus.Principal) error {
	if err := sessionOnly(p); err != nil {
		return err
	}
	var in passwordInput
	if err := api.DecodeJSON(w, r, &in); err != nil {
		return err
	}
	switch {
	case in.CurrentPassword == "":
		return chorus.Invalid("current_password", "current_password is required")
	case len(in.CurrentPassword) > auth.MaxPasswordLength:
		return chorus.Invalid("current_password", "current_password must be at most %d characters", auth.MaxPasswordChars)
	}
	pw := auth.NormalizePassword(in.NewPassword)
	if err := s.passwordPolicy().Check("new_password", pw, p.User.Email, p.User.Name); err != nil {
		return err
	}
	ctx := r.Context()
	th := s.loginThrottle()
	attempt, err := th.Begin(ctx, th.Account(p.User.Email), th.IP(s.clientIP(r)))
	if err != nil {
		return err
	}
	if ok, err := auth.VerifyPassword(p.User.PasswordHash, auth.NormalizePassword(in.CurrentPassword)); err != nil || !ok {
		if err := s.Store.RecordLoginFailure(ctx, p.User.Email, p.User.ID, "wrong_current_password"); err != nil {
			s.Logger.ErrorContext(ctx, "record failed password check", "err", err)
		}
		return &chorus.Error{Code: chorus.EFORBIDDEN, Param: "current_password", Message: "The current password is not correct."}
	}
	attempt.Succeeded(ctx)
	hash, err := auth.HashPassword(pw)
	if err != nil {
		return err
	}
	n, err := s.Store.ChangePassword(ctx, p.User.ID, hash, p.Session.ID)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"sessions_revoked": n})
	return nil
}

// ---- the caller's team

// memberView is a team member as their teammates see them.
type memberView struct {
	ID         int64      `json:"id"`
	Email      string     `json:"email"`
	Name       string     `json:"name"`
	TeamRole   string     `json:"team_role"`
	DisabledAt *time.Time `json:"disabled_at,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
}

// teamView is a team with one page of its members.
type teamView struct {
	*chorus.Team
	Members        []memberView `json:"members"`
	MembersHasMore bool         `json:"members_has_more"`
	MembersNext    *int64       `json:"members_next_after,omitempty"`
}

// teamWithMembers loads a team and one page of members (?limit, ?after).
func (s *Server) teamWithMembers(ctx context.Context, r *http.Request, id int64) (*teamView, error) {
	page, err := api.PageOf(r.URL.Query())
	if err != nil {
		return nil, err
	}
	t, err := s.Store.TeamByID(ctx, id)
	if err != nil {
		return nil, err
	}
	us, err := s.Store.TeamMembers(ctx, id, page)
	if err != nil {
		return nil, err
	}
	v := &teamView{Team: t, Members: make([]memberView, len(us))}
	for i, u := range us {
		v.Members[i] = memberView{ID: u.ID, Email: u.Email, Name: u.Name, TeamRole: u.TeamRole, DisabledAt: u.DisabledAt, CreatedAt: u.CreatedAt}
	}
	if len(us) == page.Limit && len(us) > 0 {
		v.MembersHasMore = true
		v.MembersNext = &us[len(us)-1].ID
	}
	return v, nil
}

// getTeam: GET /api/team — the caller's team and its members.
func (s *Server) getTeam(w http.ResponseWriter, r *http.Request, p *chorus.Principal) error {
	v, err := s.teamWithMembers(r.Context(), r, p.TeamID())
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, v)
	return nil
}

// requireOwner refuses a caller who is not an owner of their team.
func requireOwner(p *chorus.Principal) error {
	if p.User.TeamRole != chorus.TeamOwner {
		return chorus.Errorf(chorus.EFORBIDDEN, "Only an owner of the team can do this.")
	}
	return nil
}

type teamInput struct {
	Name string `json:"name"`
}

// renameTeam: PUT /api/team {name} (owners).
func (s *Server) renameTeam(w http.ResponseWriter, r *http.Request, p *chorus.Principal) error {
	if err := requireOwner(p); err != nil {
		return err
	}
	var in teamInput
	if err := api.DecodeJSON(w, r, &in); err != nil {
		return err
	}
	name, err := auth.NormalizeName("name", in.Name)
	if err != nil {
		return err
	}
	t, err := s.Store.RenameTeam(r.Context(), p.TeamID(), name)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, t)
	return nil
}

// inviteInput is the body of POST /api/team/invites and (with the admin's
// fields) POST /api/admin/invites.
type inviteInput struct {
	Email          string `json:"email"`
	TeamID         int64  `json:"team_id"` // admins only
	Role           string `json:"role"`    // admins only
	TeamRole       string `json:"team_role"`
	ExpiresInHours int    `json:"expires_in_hours"`
}

// createdInvite is an invitation with its token, shown once.
type createdInvite struct {
	*chorus.Invite
	Token string `json:"token"`
}

// createInvite validates in, stores the invitation and writes it with its
// token.
func (s *Server) createInvite(w http.ResponseWriter, r *http.Request, p *chorus.Principal, in *inviteInput) error {
	inv := &chorus.Invite{TeamID: in.TeamID, Role: in.Role, TeamRole: in.TeamRole, CreatedBy: p.User.ID}
	if in.Email != "" {
		email, err := auth.NormalizeEmail("email", in.Email)
		if err != nil {
			return err
		}
		inv.Email = email
	}
	if inv.Role == "" {
		inv.Role = chorus.RoleCustomer
	}
	if inv.Role != chorus.RoleAdmin && inv.Role != chorus.RoleCustomer {
		return chorus.Invalid("role", "role must be %q or %q, got %q", chorus.RoleAdmin, chorus.RoleCustomer, inv.Role)
	}
	switch {
	case inv.TeamID < 0:
		return chorus.Invalid("team_id", "team_id must be a positive integer, or left out for a new team")
	case inv.TeamID == 0:
		inv.TeamRole = chorus.TeamOwner // the invitee owns the new team
	case inv.TeamRole == "":
		inv.TeamRole = chorus.TeamMember
	case inv.TeamRole != chorus.TeamOwner && inv.TeamRole != chorus.TeamMember:
		return chorus.Invalid("team_role", "team_role must be %q or %q, got %q", chorus.TeamOwner, chorus.TeamMember, inv.TeamRole)
	}
	life := s.Auth.InviteLifetime
	if life <= 0 {
		life = config.DefaultAuth().InviteLifetime
	}
	if in.ExpiresInHours != 0 {
		if in.ExpiresInHours < 1 || in.ExpiresInHours > 720 {
			return chorus.Invalid("expires_in_hours", "expires_in_hours must be 1-720, got %d", in.ExpiresInHours)
		}
		life = time.Duration(in.ExpiresInHours) * time.Hour
	}
	inv.ExpiresAt = s.Now().Add(life)
	token, hash := auth.NewToken(auth.InvitePrefix)
	inv.TokenHash = hash
	if err := s.Store.CreateInvite(r.Context(), inv); err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusCreated, createdInvite{Invite: inv, Token: token})
	return nil
}

// teamInvite: POST /api/team/invites {email?, team_role?, expires_in_hours?}
// — an owner invites a customer into their team.
func (s *Server) teamInvite(w http.ResponseWriter, r *http.Request, p *chorus.Principal) error {
	if err := requireOwner(p); err != nil {
		return err
	}
	var in inviteInput
	if err := api.DecodeJSON(w, r, &in); err != nil {
		return err
	}
	if in.TeamID != 0 && in.TeamID != p.TeamID() {
		return chorus.Invalid("team_id", "team_id can only be your own team; leave it out")
	}
	if in.Role != "" && in.Role != chorus.RoleCustomer {
		return chorus.Invalid("role", "team owners invite customers; leave role out")
	}
	in.TeamID, in.Role = p.TeamID(), chorus.RoleCustomer
	return s.createInvite(w, r, p, &in)
}

// teamInvites: GET /api/team/invites — the owner's view of their team's
// invitations (tokens are never shown again).
func (s *Server) teamInvites(w http.ResponseWriter, r *http.Request, p *chorus.Principal) error {
	if err := requireOwner(p); err != nil {
		return err
	}
	team := p.TeamID()
	return s.listInvites(w, r, &team)
}

// teamRevokeInvite: DELETE /api/team/invites/{id} — an owner revokes an
// unused invitation into their team; another team's is 404.
func (s *Server) teamRevokeInvite(w http.ResponseWriter, r *http.Request, p *chorus.Principal) error {
	if err := requireOwner(p); err != nil {
		return err
	}
	team := p.TeamID()
	return s.revokeInvite(w, r, &team)
}

// listInvites writes one page of invitations, the team's when team is not nil.
func (s *Server) listInvites(w http.ResponseWriter, r *http.Request, team *int64) error {
	page, err := api.PageOf(r.URL.Query())
	if err != nil {
		return err
	}
	invs, err := s.Store.ListInvites(r.Context(), team, page)
	if err != nil {
		return err
	}
	api.WriteList(w, invs, page, func(i *chorus.Invite) int64 { return i.ID })
	return nil
}

// revokeInvite revokes the {id} invitation, the team's only when team is not nil.
func (s *Server) revokeInvite(w http.ResponseWriter, r *http.Request, team *int64) error {
	id, err := api.PathID(r)
	if err != nil {
		return err
	}
	inv, err := s.Store.RevokeInvite(r.Context(), id, team)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, inv)
	return nil
}

// setMemberRole: PUT /api/team/members/{id}/role {"team_role": "owner" |
// "member"} — an owner makes a member an owner, or an owner a member (the
// last owner stays one). Someone not in the team is 404.
func (s *Server) setMemberRole(w http.ResponseWriter, r *http.Request, p *chorus.Principal) error {
	if err := requireOwner(p); err != nil {
		return err
	}
	id, err := api.PathID(r)
	if err != nil {
		return err
	}
	var in struct {
		TeamRole string `json:"team_role"`
	}
	if err := api.DecodeJSON(w, r, &in); err != nil {
		return err
	}
	u, err := s.Store.SetTeamRole(r.Context(), p.TeamID(), id, in.TeamRole)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, memberView{ID: u.ID, Email: u.Email, Name: u.Name, TeamRole: u.TeamRole, CreatedAt: u.CreatedAt, DisabledAt: u.DisabledAt})
	return nil
}

// removeMember: DELETE /api/team/members/{id} — an owner takes a member
// out of the team (they get a team of their own; their keys here are
// revoked). Someone not in the team is 404.
func (s *Server) removeMember(w http.ResponseWriter, r *http.Request, p *chorus.Principal) error {
	if err := requireOwner(p); err != nil {
		return err
	}
	id, err := api.PathID(r)
	if err != nil {
		return err
	}
	if id == p.User.ID {
		return chorus.Errorf(chorus.ECONFLICT, "You cannot remove yourself from your team.")
	}
	if _, err := s.Store.RemoveTeamMember(r.Context(), p.TeamID(), id); err != nil {
		return err
	}
	s.changed(r.Context())
	w.WriteHeader(http.StatusNoContent)
	return nil
}
