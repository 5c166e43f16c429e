package manage

import (
	"net/http"
	"net/url"
	"strconv"
	"unicode"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/api"
	"github.com/chorusgw/chorus/internal/auth"
)

// The admin side of accounts: users, teams and invitations. Every change
// is audited by the store in its own transaction.

// userAdminRoutes registers the user and team admin API.
func (s *Server) userAdminRoutes(mux *api.Mux) {
	admin := func(pattern string, h handlerFunc) { s.handle(mux, pattern, accessAdmin, h) }
	admin("GET /api/admin/users", s.adminListUsers)
	admin("GET /api/admin/users/{id}", s.adminGetUser)
	s.handle(mux, "POST /api/admin/users", accessAdmin|stepUp, s.adminCreateUser)
	s.handle(mux, "PUT /api/admin/users/{id}/role", accessAdmin|stepUp, s.adminSetRole)
	admin("POST /api/admin/users/{id}/disable", s.adminDisableUser)
	admin("POST /api/admin/users/{id}/enable", s.adminEnableUser)
	admin("PUT /api/admin/users/{id}/team", s.adminSetTeam)
	admin("GET /api/admin/teams", s.adminListTeams)
	admin("POST /api/admin/teams", s.adminCreateTeam)
	admin("GET /api/admin/teams/{id}", s.adminGetTeam)
	s.handle(mux, "POST /api/admin/invites", accessAdmin|stepUp, s.adminInvite)
	s.handle(mux, "GET /api/admin/invites", accessAdmin, func(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
		return s.listInvites(w, r, nil)
	})
	s.handle(mux, "DELETE /api/admin/invites/{id}", accessAdmin, func(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
		return s.revokeInvite(w, r, nil)
	})
}

// maxQuery bounds a search string.
const maxQuery = 254

// queryParam reads a search parameter: at most maxQuery bytes of text
// without control characters.
func queryParam(q url.Values, name string) (string, error) {
	v := q.Get(name)
	if len(v) > maxQuery {
		return "", chorus.Invalid(name, "%s must be at most %d characters", name, maxQuery)
	}
	for _, r := range v {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return "", chorus.Invalid(name, "%s must be plain text without control characters", name)
		}
	}
	return v, nil
}

// adminListUsers: GET /api/admin/users?q=&role=&team_id=&disabled=&limit=&after=.
func (s *Server) adminListUsers(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	q := r.URL.Query()
	page, err := api.PageOf(q)
	if err != nil {
		return err
	}
	var f chorus.UserFilter
	if f.Query, err = queryParam(q, "q"); err != nil {
		return err
	}
	switch f.Role = q.Get("role"); f.Role {
	case "", chorus.RoleAdmin, chorus.RoleCustomer:
	default:
		return chorus.Invalid("role", "role must be %q or %q, got %q", chorus.RoleAdmin, chorus.RoleCustomer, f.Role)
	}
	if f.TeamID, err = api.IDParam(q, "team_id"); err != nil {
		return err
	}
	if v := q.Get("disabled"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return chorus.Invalid("disabled", "disabled must be true or false, got %q", v)
		}
		f.Disabled = &b
	}
	us, err := s.Store.SearchUsers(r.Context(), f, page)
	if err != nil {
		return err
	}
	api.WriteList(w, us, page, func(u *chorus.User) int64 { return u.ID })
	return nil
}

// adminUserView is a user with their team.
type adminUserView struct {
	*chorus.User
	Team *chorus.Team `json:"team,omitempty"`
}

func (s *Server) writeAdminUser(w http.ResponseWriter, r *http.Request, status int, u *chorus.User) error {
	v := adminUserView{User: u}
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

// adminGetUser: GET /api/admin/users/{id}.
func (s *Server) adminGetUser(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	id, err := api.PathID(r)
	if err != nil {
		return err
	}
	u, err := s.Store.UserByID(r.Context(), id)
	if err != nil {
		return err
	}
	return s.writeAdminUser(w, r, http.StatusOK, u)
}

type userInput struct {
	Email    string `json:"email"`
	Name     string `json:"name"`
	Password string `json:"password"`
	Role     string `json:"role"`
	TeamID   int64  `json:"team_id"`
	TeamRole string `json:"team_role"`
}

// adminCreateUser: POST /api/admin/users {email, name, password, role?,
// team_id?, team_role?} — without team_id the user owns a new team.
func (s *Server) adminCreateUser(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	var in userInput
	if err := api.DecodeJSON(w, r, &in); err != nil {
		return err
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
	u := &chorus.User{Email: email, Name: name, Role: in.Role, TeamID: in.TeamID, TeamRole: in.TeamRole}
	if u.Role == "" {
		u.Role = chorus.RoleCustomer
	}
	if u.Role != chorus.RoleAdmin && u.Role != chorus.RoleCustomer {
		return chorus.Invalid("role", "role must be %q or %q, got %q", chorus.RoleAdmin, chorus.RoleCustomer, u.Role)
	}
	switch {
	case u.TeamID < 0:
		return chorus.Invalid("team_id", "team_id must be a positive integer, or left out for a new team")
	case u.TeamID == 0:
		u.TeamRole = chorus.TeamOwner
	case u.TeamRole == "":
		u.TeamRole = chorus.TeamMember
	case u.TeamRole != chorus.TeamOwner && u.TeamRole != chorus.TeamMember:
		return chorus.Invalid("team_role", "team_role must be %q or %q, got %q", chorus.TeamOwner, chorus.TeamMember, u.TeamRole)
	}
	if u.PasswordHash, err = auth.HashPassword(pw); err != nil {
		return err
	}
	if err := s.Store.CreateUser(r.Context(), u); err != nil {
		return err
	}
	return s.writeAdminUser(w, r, http.StatusCreated, u)
}

type roleInput struct {
	Role string `json:"role"`
}

// adminSetRole: PUT /api/admin/users/{id}/role {role}. The last active
// admin cannot be demoted.
func (s *Server) adminSetRole(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	id, err := api.PathID(r)
	if err != nil {
		return err
	}
	var in roleInput
	if err := api.DecodeJSON(w, r, &in); err != nil {
		return err
	}
	if in.Role != chorus.RoleAdmin && in.Role != chorus.RoleCustomer {
		return chorus.Invalid("role", "role must be %q or %q, got %q", chorus.RoleAdmin, chorus.RoleCustomer, in.Role)
	}
	u, err := s.Store.SetUserRole(r.Context(), id, in.Role)
	if err != nil {
		return err
	}
	s.changed(r.Context()) // the keys carry their owner's role
	return s.writeAdminUser(w, r, http.StatusOK, u)
}

// adminDisableUser: POST /api/admin/users/{id}/disable — their sessions
// end and their keys stop working at once, on every instance.
func (s *Server) adminDisableUser(w http.ResponseWriter, r *http.Request, p *chorus.Principal) error {
	return s.setDisabled(w, r, p, true)
}

// adminEnableUser: POST /api/admin/users/{id}/enable.
func (s *Server) adminEnableUser(w http.ResponseWriter, r *http.Request, p *chorus.Principal) error {
	return s.setDisabled(w, r, p, false)
}

func (s *Server) setDisabled(w http.ResponseWriter, r *http.Request, p *chorus.Principal, disabled bool) error {
	id, err := api.PathID(r)
	if err != nil {
		return err
	}
	if err := api.DecodeOptionalJSON(w, r, &struct{}{}); err != nil {
		return err
	}
	if disabled && id == p.User.ID {
		return chorus.Errorf(chorus.ECONFLICT, "You cannot disable yourself.")
	}
	u, err := s.Store.SetUserDisabled(r.Context(), id, disabled)
	if err != nil {
		return err
	}
	s.changed(r.Context())
	return s.writeAdminUser(w, r, http.StatusOK, u)
}

type userTeamInput struct {
	TeamID   int64  `json:"team_id"`
	TeamRole string `json:"team_role"`
}

// adminSetTeam: PUT /api/admin/users/{id}/team {team_id, team_role?} —
// moves a user (their keys in the old team are revoked) or changes their
// role in their team. A team cannot be left without an owner.
func (s *Server) adminSetTeam(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	id, err := api.PathID(r)
	if err != nil {
		return err
	}
	var in userTeamInput
	if err := api.DecodeJSON(w, r, &in); err != nil {
		return err
	}
	if in.TeamID < 1 {
		return chorus.Invalid("team_id", "team_id must be a positive integer")
	}
	if in.TeamRole == "" {
		in.TeamRole = chorus.TeamMember
	}
	if in.TeamRole != chorus.TeamOwner && in.TeamRole != chorus.TeamMember {
		return chorus.Invalid("team_role", "team_role must be %q or %q, got %q", chorus.TeamOwner, chorus.TeamMember, in.TeamRole)
	}
	u, err := s.Store.SetUserTeam(r.Context(), id, in.TeamID, in.TeamRole)
	if err != nil {
		return err
	}
	s.changed(r.Context())
	return s.writeAdminUser(w, r, http.StatusOK, u)
}

// adminListTeams: GET /api/admin/teams?q=&limit=&after=.
func (s *Server) adminListTeams(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	q := r.URL.Query()
	page, err := api.PageOf(q)
	if err != nil {
		return err
	}
	query, err := queryParam(q, "q")
	if err != nil {
		return err
	}
	ts, err := s.Store.ListTeams(r.Context(), query, page)
	if err != nil {
		return err
	}
	api.WriteList(w, ts, page, func(t *chorus.Team) int64 { return t.ID })
	return nil
}

// adminCreateTeam: POST /api/admin/teams {name} — an empty team, to move
// or invite users into.
func (s *Server) adminCreateTeam(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	var in teamInput
	if err := api.DecodeJSON(w, r, &in); err != nil {
		return err
	}
	name, err := auth.NormalizeName("name", in.Name)
	if err != nil {
		return err
	}
	t := &chorus.Team{Name: name}
	if err := s.Store.CreateTeam(r.Context(), t); err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusCreated, t)
	return nil
}

// adminGetTeam: GET /api/admin/teams/{id} — the team with one page of its
// members (?limit, ?after).
func (s *Server) adminGetTeam(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	id, err := api.PathID(r)
	if err != nil {
		return err
	}
	v, err := s.teamWithMembers(r.Context(), r, id)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, v)
	return nil
}

// adminInvite: POST /api/admin/invites {email?, team_id?, role?,
// team_role?, expires_in_hours?} — into any team, or a new one (no
// team_id), with any role.
func (s *Server) adminInvite(w http.ResponseWriter, r *http.Request, p *chorus.Principal) error {
	var in inviteInput
	if err := api.DecodeJSON(w, r, &in); err != nil {
		return err
	}
	return s.createInvite(w, r, p, &in)
}
