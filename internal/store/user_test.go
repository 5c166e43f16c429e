package store_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
)

func TestUsers(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend) {
		ctx := context.Background()

		t.Run("OK", func(t *testing.T) {
			db := MustOpenDB(t, b)
			u := &chorus.User{Email: "  Ada@Example.COM ", Name: "Ada", Role: chorus.RoleAdmin, PasswordHash: "$argon2id$x"}
			if err := db.CreateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
			if u.ID == 0 || u.CreatedAt.IsZero() {
				t.Fatalf("ID or CreatedAt not set: %+v", u)
			}
			if got, want := u.Email, "ada@example.com"; got != want {
				t.Errorf("email: got %q, want %q", got, want)
			}
			got, err := db.UserByID(ctx, u.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, u) {
				t.Errorf("UserByID:\n got %+v\nwant %+v", got, u)
			}
			got, err = db.UserByEmail(ctx, "ADA@example.com")
			if err != nil {
				t.Fatal(err)
			}
			if got.ID != u.ID {
				t.Errorf("UserByEmail: got ID %d, want %d", got.ID, u.ID)
			}
			if n, err := db.CountUsers(ctx); err != nil || n != 1 {
				t.Errorf("CountUsers: got %d, %v; want 1", n, err)
			}
		})

		t.Run("ErrNotFound", func(t *testing.T) {
			db := MustOpenDB(t, b)
			_, err := db.UserByID(ctx, 42)
			assertCode(t, err, chorus.ENOTFOUND)
			_, err = db.UserByEmail(ctx, "nobody@example.com")
			assertCode(t, err, chorus.ENOTFOUND)
			err = db.UpdateUser(ctx, &chorus.User{ID: 42, Email: "x@example.com", Role: chorus.RoleCustomer})
			assertCode(t, err, chorus.ENOTFOUND)
		})

		t.Run("ErrConflict", func(t *testing.T) {
			db := MustOpenDB(t, b)
			mustCreateUser(t, db, "ada@example.com")
			err := db.CreateUser(ctx, &chorus.User{Email: "ADA@example.com", Role: chorus.RoleCustomer})
			assertCode(t, err, chorus.ECONFLICT)
			other := mustCreateUser(t, db, "bob@example.com")
			other.Email = "ada@example.com"
			assertCode(t, db.UpdateUser(ctx, other), chorus.ECONFLICT)
		})

		t.Run("ErrInvalid", func(t *testing.T) {
			db := MustOpenDB(t, b)
			for _, u := range []*chorus.User{
				{Email: "", Role: chorus.RoleCustomer},
				{Email: "not-an-email", Role: chorus.RoleCustomer},
				{Email: "a@example.com", Role: "root"},
			} {
				assertCode(t, db.CreateUser(ctx, u), chorus.EINVALID)
			}
			if n, _ := db.CountUsers(ctx); n != 0 {
				t.Errorf("%d users stored after invalid creates", n)
			}
		})

		t.Run("Update", func(t *testing.T) {
			db := MustOpenDB(t, b)
			u := mustCreateUser(t, db, "ada@example.com")
			created := u.CreatedAt
			at := time.Date(2026, 3, 4, 5, 6, 7, 891234567, time.FixedZone("X", 3600))
			u.Name, u.Role, u.PasswordHash, u.DisabledAt = "Ada L.", chorus.RoleAdmin, "h2", &at
			u.CreatedAt = time.Time{}
			if err := db.UpdateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
			if !u.CreatedAt.Equal(created) {
				t.Errorf("CreatedAt: got %v, want %v", u.CreatedAt, created)
			}
			got, err := db.UserByID(ctx, u.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, u) {
				t.Errorf("after update:\n got %+v\nwant %+v", got, u)
			}
			if want := at.UTC().Truncate(time.Microsecond); !got.DisabledAt.Equal(want) || got.DisabledAt.Location() != time.UTC {
				t.Errorf("DisabledAt: got %v, want %v in UTC", got.DisabledAt, want)
			}
		})

		t.Run("List", func(t *testing.T) {
			db := MustOpenDB(t, b)
			var want []int64
			for i := range 23 {
				want = append(want, mustCreateUser(t, db, fmt.Sprintf("u%d@example.com", i)).ID)
			}
			got := walk(t, 5, func(u *chorus.User) int64 { return u.ID }, func(p chorus.Page) ([]*chorus.User, error) {
				return db.ListUsers(ctx, p)
			})
			if !equalIDs(got, want) {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	})
}
