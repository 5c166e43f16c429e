package store_test

import (
	"context"
	"encoding/json"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/store"
)

func TestCostAlerts(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		clk := newHoldClock()
		db := MustOpenDB(t, b, withNow(clk.now))
		day := chorus.PeriodStart(chorus.PeriodDay, clk.now())
		recs := []chorus.Usage{
			{Key: "a", RequestID: "a", TeamID: 1, Model: "m1", Endpoint: "chat", Status: 200, InputTokens: 600, OutputTokens: 400,
				Cost: 5000, ProviderCost: 4000, Revenue: 5000, EnergyWh: 2, CO2eGrams: 0.8, CreatedAt: day.Add(time.Hour)},
			{Key: "b", RequestID: "b", TeamID: 2, Model: "m2", Endpoint: "chat", Status: 200, InputTokens: 1000, OutputTokens: 1000,
				Cost: 3000, ProviderCost: 3000, Revenue: 0, EnergyWh: 1, CO2eGrams: 0.4, CreatedAt: day.Add(2 * time.Hour)},
			{Key: "c", RequestID: "c", TeamID: 1, Model: "m1", Endpoint: "chat", Status: 200, InputTokens: 1, OutputTokens: 1,
				Cost: 7, ProviderCost: 7, CreatedAt: day.Add(-time.Hour)}, // the day before: not in the period
		}
		if err := db.InsertUsage(ctx, recs); err != nil {
			t.Fatal(err)
		}
		rollAll(t, db, store.RollOptions{})

		t.Run("ErrInvalid", func(t *testing.T) {
			for _, a := range []chorus.CostAlert{
				{Name: "", Scope: "global", Metric: "cost", Period: "day"},
				{Name: "x", Scope: "galaxy", Metric: "cost", Period: "day"},
				{Name: "x", Scope: "team", Metric: "cost", Period: "day"},
				{Name: "x", Scope: "model", Metric: "cost", Period: "day"},
				{Name: "x", Scope: "global", Metric: "vibes", Period: "day"},
				{Name: "x", Scope: "global", Metric: "cost", Period: "week"},
				{Name: "x", Scope: "global", Metric: "cost", Period: "day", Threshold: -1},
				{Name: "x", Scope: "global", Metric: "cost", Period: "day", Threshold: math.NaN()},
				{Name: "x", Scope: "global", Metric: "cost", Period: "day", WebhookURL: "ftp://x"},
			} {
				_, err := db.CreateCostAlert(ctx, &a)
				assertCode(t, err, chorus.EINVALID)
			}
		})
		t.Run("Values", func(t *testing.T) {
			for _, c := range []struct {
				a    chorus.CostAlert
				want float64
			}{
				{chorus.CostAlert{Scope: "global", Metric: chorus.AlertCost}, 7000},
				{chorus.CostAlert{Scope: "team", TeamID: 1, Metric: chorus.AlertCost}, 4000},
				{chorus.CostAlert{Scope: "team", TeamID: 1, Metric: chorus.AlertRevenue}, 5000},
				{chorus.CostAlert{Scope: "model", Model: "m2", Metric: chorus.AlertEnergy}, 1},
				{chorus.CostAlert{Scope: "global", Metric: chorus.AlertCO2e}, 1.2},
				{chorus.CostAlert{Scope: "model", Model: "m1", Metric: chorus.AlertWhPer1kTokens}, 2},
				{chorus.CostAlert{Scope: "global", Metric: chorus.AlertWhPer1kTokens}, 1},
			} {
				got, err := db.CostAlertValue(ctx, &c.a, day, day.AddDate(0, 0, 1))
				if err != nil || math.Abs(got-c.want) > 1e-9 {
					t.Errorf("%s %s = %g, %v; want %g", c.a.Scope, c.a.Metric, got, err, c.want)
				}
			}
		})
		t.Run("FiresOncePerPeriod", func(t *testing.T) {
			a := &chorus.CostAlert{Name: "team 1 spend", Scope: "team", TeamID: 1, Metric: chorus.AlertCost, Period: chorus.PeriodDay,
				Threshold: 1000, WebhookURL: "https://hooks.example.com/cost", Enabled: true}
			secret, err := db.CreateCostAlert(ctx, a)
			if err != nil || secret == "" {
				t.Fatalf("create = %q, %v; want a webhook secret", secret, err)
			}
			// Two instances evaluate at once, each twice: one firing.
			var wg sync.WaitGroup
			fired := make(chan *chorus.CostAlertFiring, 4)
			for range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					f, err := db.FireCostAlert(ctx, a, day, 4000)
					if err != nil {
						t.Error(err)
					}
					if f != nil {
						fired <- f
					}
				}()
			}
			wg.Wait()
			close(fired)
			if len(fired) != 1 {
				t.Fatalf("%d firings for one period, want 1", len(fired))
			}
			fs, err := db.ListCostAlertFirings(ctx, &a.ID, chorus.Page{})
			if err != nil || len(fs) != 1 || fs[0].Value != 4000 || fs[0].Name != a.Name || fs[0].EventID == 0 {
				t.Fatalf("firings = %+v, %v", fs, err)
			}
			// The next period fires again.
			if f, err := db.FireCostAlert(ctx, a, day.AddDate(0, 0, 1), 1500); err != nil || f == nil {
				t.Fatalf("next day = %v, %v; want a firing", f, err)
			}
			ds, err := db.ClaimDeliveries(ctx, 10, time.Minute)
			if err != nil || len(ds) != 2 {
				t.Fatalf("deliveries = %v, %v; want 2", ds, err)
			}
			var data chorus.CostAlertFiring
			if ds[0].Secret != secret || ds[0].Event.Type != chorus.EventCostAlert || json.Unmarshal(ds[0].Event.Data, &data) != nil || data.AlertID != a.ID {
				t.Fatalf("delivery = %+v, want the alert's event signed with its secret", ds[0])
			}
		})
		t.Run("CRUD", func(t *testing.T) {
			a := &chorus.CostAlert{Name: "co2", Scope: "global", Metric: chorus.AlertCO2e, Period: chorus.PeriodMonth, Threshold: 10, Enabled: true}
			if secret, err := db.CreateCostAlert(ctx, a); err != nil || secret != "" {
				t.Fatalf("create = %q, %v", secret, err)
			}
			a.Threshold, a.WebhookURL = 20, "https://hooks.example.com/co2"
			secret, err := db.UpdateCostAlert(ctx, a, false)
			if err != nil || secret == "" {
				t.Fatalf("update = %q, %v; want a secret for the new URL", secret, err)
			}
			got, err := db.CostAlertByID(ctx, a.ID)
			if err != nil || got.Threshold != 20 || got.WebhookURL != a.WebhookURL || !got.CreatedAt.Equal(a.CreatedAt) {
				t.Fatalf("got %+v, %v", got, err)
			}
			list, err := db.ListCostAlerts(ctx, chorus.Page{})
			if err != nil || len(list) != 2 {
				t.Fatalf("list = %d, %v; want 2", len(list), err)
			}
			if err := db.DeleteCostAlert(ctx, a.ID); err != nil {
				t.Fatal(err)
			}
			_, err = db.CostAlertByID(ctx, a.ID)
			assertCode(t, err, chorus.ENOTFOUND)
			assertCode(t, db.DeleteCostAlert(ctx, a.ID), chorus.ENOTFOUND)
			_, err = db.UpdateCostAlert(ctx, a, false)
			assertCode(t, err, chorus.ENOTFOUND)
		})
	})
}
