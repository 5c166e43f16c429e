package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/chorusgw/chorus"
)

// applyConfigRoutes makes the stored routes match the routes the config
// file declares (config.Route): it creates the missing ones and updates
// those that differ, so for the routes it names the file wins over edits
// made through the admin API. It runs at every start, after bootstrap, with
// the admin API's own checks.
//
// A route that is invalid on its own (a bad strategy or range) stops the
// start, as any bad config does. A route that does not fit the database
// (a target model that does not exist yet, a name a model already has) is
// logged and left as stored, so that the gateway still starts and the model
// can be created; the next start applies it.
func (a *App) applyConfigRoutes(ctx context.Context) error {
	changed := false
	for i := range a.Config.Routes {
		want, err := a.Config.Routes[i].Decode()
		if err == nil {
			err = a.Manage.ValidateRoute(want)
		}
		if err != nil {
			return fmt.Errorf("config routes[%d] (%s): %s", i, a.Config.Routes[i].Name, chorus.ErrorMessage(err))
		}
		ok, err := a.applyRoute(ctx, want)
		switch code := chorus.ErrorCode(err); {
		case code == chorus.EINVALID || code == chorus.ECONFLICT:
			a.Log.Error("route from the config file not applied", "route", want.Name, "err", chorus.ErrorMessage(err))
		case err != nil:
			return fmt.Errorf("config route %s: %w", want.Name, err)
		case ok:
			changed = true
			a.Log.Info("route from the config file applied", "route", want.Name)
		}
	}
	if !changed {
		return nil
	}
	return a.Registry.Refresh(ctx, true)
}

// applyRoute creates or updates one route and reports whether it wrote.
func (a *App) applyRoute(ctx context.Context, want *chorus.Route) (bool, error) {
	if err := a.Manage.CheckRouteTargets(ctx, want); err != nil {
		return false, err
	}
	// Twice at most: when another instance starting at the same time
	// creates the route between our read and our create, the second round
	// finds it.
	for round := 0; ; round++ {
		have, err := a.DB.RouteByName(ctx, want.Name)
		if chorus.ErrorCode(err) == chorus.ENOTFOUND {
			err = a.DB.CreateRoute(ctx, want)
			if chorus.ErrorCode(err) == chorus.ECONFLICT && round == 0 {
				continue
			}
			return err == nil, err
		}
		if err != nil {
			return false, err
		}
		if sameRoute(have, want) {
			return false, nil
		}
		want.ID = have.ID
		return true, a.DB.UpdateRoute(ctx, want)
	}
}

// sameRoute reports whether two routes agree in every field the file sets.
func sameRoute(a, b *chorus.Route) bool {
	fields := func(r *chorus.Route) []byte {
		out, _ := json.Marshal([]any{r.Description, r.Strategy, r.Targets, r.Config, r.Enabled})
		return out
	}
	return bytes.Equal(fields(a), fields(b))
}
