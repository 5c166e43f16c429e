package manage

import (
	"context"
	"net/http"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/api"
)

// BackupReport returns what GET /api/admin/backups shows: the backup
// configuration, the scheduled backups' status recorded in the database
// and the backups in backup.dir with their verification (the wiring
// builds it from internal/backup; see docs/backups.md for its fields).
type BackupReport func(ctx context.Context) (any, error)

// backupRoutes registers the backups' admin API (when the wiring supplies
// the report).
func (s *Server) backupRoutes(mux *api.Mux) {
	if s.Backups == nil {
		return
	}
	s.handle(mux, "GET /api/admin/backups", accessAdmin, s.adminBackups)
}

func (s *Server) adminBackups(w http.ResponseWriter, r *http.Request, _ *chorus.Principal) error {
	rep, err := s.Backups(r.Context())
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, rep)
	return nil
}
