package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/store"
)

func TestClientErrors(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
		db := MustOpenDB(t, b, withNow(func() time.Time { return now }))

		old := &chorus.ClientError{Message: "old", Route: "/keys"}
		if err := db.InsertClientError(ctx, old); err != nil {
			t.Fatal(err)
		}
		now = now.Add(store.ClientErrorRetention + time.Hour)
		user := int64(7)
		e := &chorus.ClientError{UserID: user, TeamID: 3, Message: "boom", Stack: "at x", Route: "/billing",
			Release: "v1", RequestID: "req_1", UserAgent: "test"}
		if err := db.InsertClientError(ctx, e); err != nil {
			t.Fatal(err)
		}
		if e.ID == 0 || !e.CreatedAt.Equal(now) {
			t.Errorf("inserted %+v", e)
		}
		got, err := db.ListClientErrors(ctx, chorus.ClientErrorFilter{}, chorus.Page{Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || *got[0] != *e {
			t.Fatalf("list = %+v, want only %+v (the old one purged)", got, e)
		}
		for name, f := range map[string]chorus.ClientErrorFilter{
			"User":  {UserID: &user},
			"Route": {Route: "/billing"},
			"Since": {Since: now.Add(-time.Minute)},
		} {
			got, err := db.ListClientErrors(ctx, f, chorus.Page{Limit: 10})
			if err != nil || len(got) != 1 {
				t.Errorf("%s: %d reports (%v), want 1", name, len(got), err)
			}
		}
		other := int64(8)
		if got, _ := db.ListClientErrors(ctx, chorus.ClientErrorFilter{UserID: &other}, chorus.Page{Limit: 10}); len(got) != 0 {
			t.Errorf("another user's filter found %d reports", len(got))
		}
	})
}
