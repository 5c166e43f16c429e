package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/store"
)

// newRoute returns a cascade over two models, with every config field set.
func newRoute(name string, models ...string) *chorus.Route {
	r := &chorus.Route{
		Name: name, Description: "cheap first", Strategy: chorus.StrategyCascade, Enabled: true,
		Config: chorus.RouteConfig{
			Retries: 2, BackoffMS: 150, DeadlineMS: 30000, Balance: chorus.BalanceLatency, Quality: true,
			HedgeDelay: 400, HedgeMax: 1, Threshold: 0.75, EnsembleN: 2,
			Scorers: json.RawMessage(`[{"type":"judge","model":"m1"},{"type":"length","min":3}]`),
		},
	}
	for i, m := range models {
		r.Targets = append(r.Targets, chorus.RouteTarget{Model: m, Weight: i})
	}
	if len(models) < 2 { // a one-model route can only be a chain
		r.Strategy, r.Config.HedgeMax, r.Config.EnsembleN = chorus.StrategyFallback, 0, 0
	}
	return r
}

func mustCreateRoute(tb testing.TB, db *store.DB, name string, models ...string) *chorus.Route {
	tb.Helper()
	r := newRoute(name, models...)
	if err := db.CreateRoute(context.Background(), r); err != nil {
		tb.Fatal(err)
	}
	return r
}

func TestRoutes(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend) {
		ctx := context.Background()

		t.Run("OK", func(t *testing.T) {
			db := MustOpenDB(t, b)
			r := newRoute("smart", "m1", "m2", "m3")
			if err := db.CreateRoute(ctx, r); err != nil {
				t.Fatal(err)
			}
			if r.ID == 0 || r.CreatedAt.IsZero() || !r.UpdatedAt.Equal(r.CreatedAt) {
				t.Fatalf("ID or times not set: %+v", r)
			}
			got, err := db.RouteByID(ctx, r.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, r) {
				t.Errorf("RouteByID:\n got %+v\nwant %+v", got, r)
			}
			got, err = db.RouteByName(ctx, "smart")
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, r) {
				t.Errorf("RouteByName:\n got %+v\nwant %+v", got, r)
			}
		})

		t.Run("ZeroConfig", func(t *testing.T) {
			db := MustOpenDB(t, b)
			r := &chorus.Route{Name: "plain", Strategy: chorus.StrategyFallback, Targets: []chorus.RouteTarget{{Model: "m"}}}
			if err := db.CreateRoute(ctx, r); err != nil {
				t.Fatal(err)
			}
			got, err := db.RouteByID(ctx, r.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, r) || got.Config.Scorers != nil || got.Enabled {
				t.Errorf("got %+v\nwant %+v", got, r)
			}
		})

		t.Run("Update", func(t *testing.T) {
			db := MustOpenDB(t, b)
			r := mustCreateRoute(t, db, "smart", "m1", "m2")
			created := r.CreatedAt
			upd := &chorus.Route{ID: r.ID, Name: "smarter", Strategy: chorus.StrategyBalance,
				Targets: []chorus.RouteTarget{{Model: "m3", Weight: 5}}, Config: chorus.RouteConfig{Balance: chorus.BalanceWeighted}}
			if err := db.UpdateRoute(ctx, upd); err != nil {
				t.Fatal(err)
			}
			if !upd.CreatedAt.Equal(created) || upd.UpdatedAt.Before(created) {
				t.Errorf("times: created %v updated %v, want created %v", upd.CreatedAt, upd.UpdatedAt, created)
			}
			got, err := db.RouteByID(ctx, r.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, upd) {
				t.Errorf("got %+v\nwant %+v", got, upd)
			}
			_, err = db.RouteByName(ctx, "smart")
			assertCode(t, err, chorus.ENOTFOUND)
			// Keeping its own name is no conflict.
			if err := db.UpdateRoute(ctx, upd); err != nil {
				t.Errorf("update under the same name: %v", err)
			}
		})

		t.Run("Delete", func(t *testing.T) {
			db := MustOpenDB(t, b)
			r := mustCreateRoute(t, db, "smart", "m1", "m2")
			keep := mustCreateRoute(t, db, "keep", "m1", "m2")
			if err := db.DeleteRoute(ctx, r.ID); err != nil {
				t.Fatal(err)
			}
			_, err := db.RouteByID(ctx, r.ID)
			assertCode(t, err, chorus.ENOTFOUND)
			if _, err := db.RouteByID(ctx, keep.ID); err != nil {
				t.Errorf("another route was deleted: %v", err)
			}
			// The name is free again, for a route or a model.
			mustCreateModel(t, db, "smart")
		})

		t.Run("ErrNotFound", func(t *testing.T) {
			db := MustOpenDB(t, b)
			_, err := db.RouteByID(ctx, 1)
			assertCode(t, err, chorus.ENOTFOUND)
			_, err = db.RouteByName(ctx, "nope")
			assertCode(t, err, chorus.ENOTFOUND)
			r := newRoute("x", "m1", "m2")
			r.ID = 1
			assertCode(t, db.UpdateRoute(ctx, r), chorus.ENOTFOUND)
			assertCode(t, db.DeleteRoute(ctx, 1), chorus.ENOTFOUND)
		})

		t.Run("ErrConflict", func(t *testing.T) {
			db := MustOpenDB(t, b)
			mustCreateRoute(t, db, "smart", "m1", "m2")
			assertCode(t, db.CreateRoute(ctx, newRoute("smart", "m1", "m2")), chorus.ECONFLICT)
			other := mustCreateRoute(t, db, "other", "m1", "m2")
			other.Name = "smart"
			assertCode(t, db.UpdateRoute(ctx, other), chorus.ECONFLICT)
		})

		t.Run("ErrInvalid", func(t *testing.T) {
			db := MustOpenDB(t, b)
			tgt := []chorus.RouteTarget{{Model: "m"}}
			for name, r := range map[string]*chorus.Route{
				"NoName":      {Strategy: chorus.StrategyFallback, Targets: tgt},
				"Spaces":      {Name: "x ", Strategy: chorus.StrategyFallback, Targets: tgt},
				"Long":        {Name: strings.Repeat("x", 201), Strategy: chorus.StrategyFallback, Targets: tgt},
				"Strategy":    {Name: "x", Strategy: "random", Targets: tgt},
				"NoTargets":   {Name: "x", Strategy: chorus.StrategyFallback},
				"TargetModel": {Name: "x", Strategy: chorus.StrategyFallback, Targets: []chorus.RouteTarget{{Model: "m"}, {}}},
			} {
				t.Run(name, func(t *testing.T) {
					assertCode(t, db.CreateRoute(ctx, r), chorus.EINVALID)
					r.ID = 1
					assertCode(t, db.UpdateRoute(ctx, r), chorus.EINVALID)
				})
			}
		})

		t.Run("List", func(t *testing.T) {
			db := MustOpenDB(t, b)
			var want []int64
			for i := range 23 {
				want = append(want, mustCreateRoute(t, db, fmt.Sprintf("r%02d", i), "m1", "m2").ID)
			}
			for _, i := range []int{0, 7, 22} {
				if err := db.DeleteRoute(ctx, want[i]); err != nil {
					t.Fatal(err)
				}
			}
			want = slices.Concat(want[1:7], want[8:22])
			for _, limit := range []int{1, 4, 20, 50} {
				got := walk(t, limit, func(r *chorus.Route) int64 { return r.ID }, func(p chorus.Page) ([]*chorus.Route, error) {
					return db.ListRoutes(ctx, p)
				})
				if !equalIDs(got, want) {
					t.Errorf("limit %d: got %v, want %v", limit, got, want)
				}
			}
		})
	})
}

// TestRouteNamespace checks that models and routes share one namespace,
// whichever is written first and whether by create or rename.
func TestRouteNamespace(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend) {
		ctx := context.Background()

		t.Run("RouteAfterModel", func(t *testing.T) {
			db := MustOpenDB(t, b)
			mustCreateModel(t, db, "gpt-4o")
			err := db.CreateRoute(ctx, newRoute("gpt-4o", "a", "b"))
			assertCode(t, err, chorus.ECONFLICT)
			if msg := chorus.ErrorMessage(err); !strings.Contains(msg, `a model named "gpt-4o" exists`) {
				t.Errorf("message %q does not name the model", msg)
			}
			r := mustCreateRoute(t, db, "smart", "a", "b")
			r.Name = "gpt-4o"
			assertCode(t, db.UpdateRoute(ctx, r), chorus.ECONFLICT)
			if got, err := db.RouteByID(ctx, r.ID); err != nil || got.Name != "smart" {
				t.Errorf("after the failed rename: %+v, %v", got, err)
			}
		})

		t.Run("ModelAfterRoute", func(t *testing.T) {
			db := MustOpenDB(t, b)
			mustCreateRoute(t, db, "smart", "a", "b")
			err := db.CreateModel(ctx, &chorus.Model{Name: "smart", Kind: chorus.KindChat})
			assertCode(t, err, chorus.ECONFLICT)
			if msg := chorus.ErrorMessage(err); !strings.Contains(msg, `a route named "smart" exists`) {
				t.Errorf("message %q does not name the route", msg)
			}
			m := mustCreateModel(t, db, "gpt-4o")
			m.Name = "smart"
			assertCode(t, db.UpdateModel(ctx, m), chorus.ECONFLICT)
			if got, err := db.ModelByID(ctx, m.ID); err != nil || got.Name != "gpt-4o" {
				t.Errorf("after the failed rename: %+v, %v", got, err)
			}
		})

		t.Run("Concurrent", func(t *testing.T) {
			// A model and a route of the same name created at once, through
			// two handles as two instances would: exactly one may win.
			dsn := b.newDSN(t)
			db := mustOpen(t, dsn)
			if err := db.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			other := mustOpen(t, dsn)
			for i := range 20 {
				name := fmt.Sprintf("n%02d", i)
				var errModel, errRoute error
				var wg sync.WaitGroup
				wg.Go(func() { errModel = db.CreateModel(ctx, &chorus.Model{Name: name, Kind: chorus.KindChat}) })
				wg.Go(func() { errRoute = other.CreateRoute(ctx, newRoute(name, "a", "b")) })
				wg.Wait()
				if (errModel == nil) == (errRoute == nil) {
					t.Fatalf("%s: model %v, route %v: want exactly one to succeed", name, errModel, errRoute)
				}
				for _, err := range []error{errModel, errRoute} {
					if err != nil {
						assertCode(t, err, chorus.ECONFLICT)
					}
				}
			}
		})
	})
}

func TestRouteRegistryVersion(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := MustOpenDB(t, b)
		version := func() int64 {
			t.Helper()
			v, err := db.RegistryVersion(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
		m := mustCreateModel(t, db, "m")
		r := newRoute("r", "m", "m2")
		for _, w := range []struct {
			name string
			fn   func() error
			bump int64
		}{
			{"CreateRoute", func() error { return db.CreateRoute(ctx, r) }, 1},
			{"UpdateRoute", func() error { r.Enabled = false; return db.UpdateRoute(ctx, r) }, 1},
			{"RouteByID", func() error { _, err := db.RouteByID(ctx, r.ID); return err }, 0},
			{"RouteByName", func() error { _, err := db.RouteByName(ctx, r.Name); return err }, 0},
			{"ListRoutes", func() error { _, err := db.ListRoutes(ctx, chorus.Page{}); return err }, 0},
			{"FailedCreateRoute", func() error { return wantCode(db.CreateRoute(ctx, newRoute("m", "a")), chorus.ECONFLICT) }, 0},
			{"FailedRenameRoute", func() error {
				c := *r
				c.Name = "m"
				return wantCode(db.UpdateRoute(ctx, &c), chorus.ECONFLICT)
			}, 0},
			{"FailedCreateModel", func() error {
				return wantCode(db.CreateModel(ctx, &chorus.Model{Name: "r", Kind: chorus.KindChat}), chorus.ECONFLICT)
			}, 0},
			{"FailedRenameModel", func() error {
				c := *m
				c.Name = "r"
				return wantCode(db.UpdateModel(ctx, &c), chorus.ECONFLICT)
			}, 0},
			{"DeleteRoute", func() error { return db.DeleteRoute(ctx, r.ID) }, 1},
			{"FailedDeleteRoute", func() error { return wantCode(db.DeleteRoute(ctx, r.ID), chorus.ENOTFOUND) }, 0},
		} {
			before := version()
			if err := w.fn(); err != nil {
				t.Fatalf("%s: %v", w.name, err)
			}
			if got, want := version(), before+w.bump; got != want {
				t.Errorf("%s: registry version %d → %d, want %d", w.name, before, got, want)
			}
		}
	})
}

// wantCode returns nil when err carries code, and an error saying what
// came instead otherwise.
func wantCode(err error, code string) error {
	if got := chorus.ErrorCode(err); got != code {
		return fmt.Errorf("got %v, want code %q", err, code)
	}
	return nil
}

func TestLoadRegistryRoutes(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := MustOpenDB(t, b)
		mustCreateModel(t, db, "m1")
		r1 := mustCreateRoute(t, db, "r1", "m1", "m2")
		r2 := newRoute("r2", "m2")
		r2.Enabled = false
		if err := db.CreateRoute(ctx, r2); err != nil {
			t.Fatal(err)
		}
		r, err := db.LoadRegistry(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := []*chorus.Route{r1, r2}; !reflect.DeepEqual(r.Routes, want) {
			t.Errorf("Routes:\n got %+v\nwant %+v", r.Routes, want)
		}
		if len(r.Models) != 1 {
			t.Errorf("Models: got %d, want 1", len(r.Models))
		}
	})
}

func TestUsageAttempts(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := MustOpenDB(t, b)
		routed := usageRecord(1, 1, 1, usageEpoch)
		routed.Route = "smart"
		routed.Attempts = []chorus.UsageAttempt{
			{Deployment: "a-dep", Provider: chorus.ProviderOpenAI, Model: "a", Outcome: "error", Status: 503,
				Error: "upstream unavailable", InputTokens: 0, LatencyMS: 12.5},
			{Deployment: "b-dep", Provider: chorus.ProviderSimulator, Model: "b", Outcome: "ok", Status: 200,
				InputTokens: 100, OutputTokens: 7, Cost: 1234, LatencyMS: 80.25, Score: ptr(0.875)},
		}
		plain := usageRecord(2, 1, 1, usageEpoch.Add(time.Second)) // no route, no attempts
		if err := db.InsertUsage(ctx, []chorus.Usage{routed, plain}); err != nil {
			t.Fatal(err)
		}
		got, err := db.ListUsage(ctx, chorus.UsageFilter{}, chorus.Page{})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 {
			t.Fatalf("got %d records, want 2", len(got))
		}
		for i, want := range []chorus.Usage{routed, plain} {
			want.ID = got[i].ID
			if !reflect.DeepEqual(*got[i], want) {
				t.Errorf("record %d:\n got %+v\nwant %+v", i, *got[i], want)
			}
		}
	})
}
