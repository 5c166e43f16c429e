package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
)

func TestRelease(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		clk := newHoldClock()
		db := MustOpenDB(t, b, withNow(clk.now))
		team := fundedTeam(t, db, "release", 1000)
		other := fundedTeam(t, db, "release-other", 1000)
		exp := clk.now().Add(time.Minute)
		hold := func(ref, owner string, team, amount int64) {
			t.Helper()
			if err := db.Hold(ctx, chorus.HoldSpec{Ref: ref, TeamID: team, Owner: owner, Wallet: amount, ExpiresAt: exp}); err != nil {
				t.Fatal(err)
			}
		}
		lease := func(ref, owner string, team, amount int64) {
			t.Helper()
			if _, err := db.Lease(ctx, chorus.LeaseSpec{Ref: ref, TeamID: team, Owner: owner, Min: amount, Want: amount,
				Fraction: 1, ExpiresAt: exp}); err != nil {
				t.Fatal(err)
			}
		}
		reserved := func(team int64) int64 { t.Helper(); return mustBalance(t, db, team).Reserved }

		t.Run("ReleaseOwner", func(t *testing.T) {
			hold("r1.a", "i1", team, 100)
			lease("lease:i1:t", "i1", team, 200)
			hold("r2.a", "i2", team, 50) // another instance's: stays
			n, err := db.ReleaseOwner(ctx, "i1")
			if err != nil {
				t.Fatal(err)
			}
			if got, want := n, 2; got != want {
				t.Fatalf("released %d, want %d", got, want)
			}
			if got := reserved(team); got != 50 {
				t.Fatalf("reserved %d after releasing i1, want i2's 50", got)
			}
		})
		t.Run("ReleaseHold", func(t *testing.T) {
			ok, err := db.ReleaseHold(ctx, "r2.a")
			if err != nil || !ok {
				t.Fatalf("ReleaseHold = %v, %v; want true", ok, err)
			}
			if got := reserved(team); got != 0 {
				t.Fatalf("reserved %d, want 0", got)
			}
			if ok, err := db.ReleaseHold(ctx, "r2.a"); ok || err != nil {
				t.Fatalf("second ReleaseHold = %v, %v; want false, nil", ok, err)
			}
		})
		t.Run("ReapTeam", func(t *testing.T) {
			hold("r3.a", "dead", team, 300)
			hold("r4.a", "dead", other, 300)
			if n, _ := db.ReapTeam(ctx, team); n != 0 {
				t.Fatalf("reaped %d holds before they expired", n)
			}
			clk.add(2 * time.Minute)
			n, err := db.ReapTeam(ctx, team)
			if err != nil || n != 1 {
				t.Fatalf("ReapTeam = %d, %v; want 1", n, err)
			}
			if reserved(team) != 0 || reserved(other) != 300 {
				t.Fatalf("reserved %d and %d, want 0 and the other team's 300", reserved(team), reserved(other))
			}
		})
	})
}
