package e2e_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/app/apptest"
)

// TestTeamRoles: a team's owner makes a member an owner and back; the last
// owner cannot step down; members and outsiders cannot change roles.
func TestTeamRoles(t *testing.T) {
	t.Parallel()
	g := startGateway(t, nil)
	owner := g.SignIn(t, chorus.RoleCustomer)
	mu, mpw := g.NewUser(t, chorus.RoleCustomer, owner.User.TeamID)
	member := apptest.Login(t, g.Gateway, mu.Email, mpw)
	outsider := g.SignIn(t, chorus.RoleCustomer)
	role := func(s *apptest.Session, id int64, r string) (int, string) {
		st, body := s.Do(t, http.MethodPut, fmt.Sprintf("/api/team/members/%d/role", id), map[string]string{"team_role": r})
		var v struct {
			TeamRole string `json:"team_role"`
		}
		_ = json.Unmarshal(body, &v)
		return st, v.TeamRole
	}

	if st, _ := role(member, owner.User.ID, chorus.TeamMember); st != http.StatusForbidden {
		t.Errorf("a member demotes the owner: %d, want 403", st)
	}
	if st, _ := role(outsider, mu.ID, chorus.TeamOwner); st != http.StatusNotFound {
		t.Errorf("another team's owner promotes a member: %d, want 404", st)
	}
	if st, _ := role(owner, outsider.User.ID, chorus.TeamOwner); st != http.StatusNotFound {
		t.Errorf("promote an outsider: %d, want 404", st)
	}
	if st, _ := role(owner, mu.ID, "admin"); st != http.StatusBadRequest {
		t.Errorf("an unknown role: %d, want 400", st)
	}
	if st, _ := role(owner, owner.User.ID, chorus.TeamMember); st != http.StatusConflict {
		t.Errorf("the last owner steps down: %d, want 409", st)
	}
	if st, r := role(owner, mu.ID, chorus.TeamOwner); st != http.StatusOK || r != chorus.TeamOwner {
		t.Fatalf("promote: %d %q", st, r)
	}
	// Now two owners: the first may step down, and the new one acts as owner.
	if st, r := role(owner, owner.User.ID, chorus.TeamMember); st != http.StatusOK || r != chorus.TeamMember {
		t.Fatalf("step down with another owner: %d %q", st, r)
	}
	if st, _ := member.Do(t, http.MethodPut, "/api/team", map[string]string{"name": "New owners"}); st != http.StatusOK {
		t.Errorf("the promoted member renames the team: %d", st)
	}
}
