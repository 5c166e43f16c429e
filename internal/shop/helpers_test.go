package shop_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // "pgx" driver for creating test schemas

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/config"
	"github.com/chorusgw/chorus/internal/secret"
	"github.com/chorusgw/chorus/internal/shop"
	"github.com/chorusgw/chorus/internal/shop/stripetest"
	"github.com/chorusgw/chorus/internal/store"
)

// eachDB runs fn as the subtests "sqlite" and "postgres", with a function
// that returns a DSN of a fresh database. PostgreSQL runs when
// CHORUS_TEST_POSTGRES_URL is set.
func eachDB(t *testing.T, fn func(t *testing.T, newDSN func(testing.TB) string)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) {
		fn(t, func(tb testing.TB) string { return filepath.Join(tb.TempDir(), "chorus.db") })
	})
	t.Run("postgres", func(t *testing.T) {
		base := os.Getenv("CHORUS_TEST_POSTGRES_URL")
		if base == "" {
			if os.Getenv("CHORUS_REQUIRE_SERVICES") == "1" {
				t.Fatal("PostgreSQL is required (CHORUS_REQUIRE_SERVICES=1): set CHORUS_TEST_POSTGRES_URL")
			}
			t.Skip("PostgreSQL tests skipped: set CHORUS_TEST_POSTGRES_URL")
		}
		fn(t, func(tb testing.TB) string { return postgresDSN(tb, base) })
	})
}

func postgresDSN(tb testing.TB, base string) string {
	tb.Helper()
	admin, err := sql.Open("pgx", base)
	if err != nil {
		tb.Fatal(err)
	}
	defer admin.Close()
	b := make([]byte, 6)
	rand.Read(b)
	schema := "chorus_shop_test_" + hex.EncodeToString(b)
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		tb.Fatalf("create schema: %v", err)
	}
	tb.Cleanup(func() {
		admin, err := sql.Open("pgx", base)
		if err != nil {
			tb.Error(err)
			return
		}
		defer admin.Close()
		if _, err := admin.Exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			tb.Errorf("drop schema: %v", err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// openDB opens (and migrates, the first time) the database at dsn.
func openDB(tb testing.TB, dsn string) *store.DB {
	tb.Helper()
	sealer, err := secret.NewSealer(bytes.Repeat([]byte{7}, secret.KeySize))
	if err != nil {
		tb.Fatal(err)
	}
	db, err := store.Open(context.Background(), dsn, store.Options{Sealer: sealer})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	if err := db.Migrate(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return db
}

// env is a shop on a fresh database with a customer, two products and the
// manual and Stripe providers (Stripe against a local fake).
type env struct {
	dsn    string
	db     *store.DB
	shop   *shop.Service
	stripe *stripetest.Server
	user   *chorus.User
	small  *chorus.Product // 10 credits for 5.00
	large  *chorus.Product // 50 credits for 20.00
}

// stripeConfig returns the Stripe configuration for the fake.
func stripeConfig(fake *stripetest.Server) config.ShopStripe {
	c := config.DefaultShop().Stripe
	c.Enabled, c.SecretKey, c.WebhookSecret = true, stripetest.SecretKey, stripetest.WebhookSecret
	c.SuccessURL, c.CancelURL = "https://chorus.example/shop/done?order={ORDER_ID}", "https://chorus.example/shop/cart"
	c.APIBase = fake.URL
	return c
}

func newEnv(t *testing.T, newDSN func(testing.TB) string, edit ...func(*config.Shop)) *env {
	t.Helper()
	e := &env{dsn: newDSN(t), stripe: stripetest.New(t)}
	e.db = openDB(t, e.dsn)
	cfg := config.DefaultShop()
	cfg.Stripe = stripeConfig(e.stripe)
	for _, f := range edit {
		f(&cfg)
	}
	e.shop = newShop(e.db, cfg)
	e.user = e.newUser(t, "ada@example.com")
	e.small = e.product(t, "Small", 500, 10)
	e.large = e.product(t, "Large", 2000, 50)
	return e
}

// newShop builds the service as shop.New does, with Stripe calls that do
// not retry (the fake's failures are meant).
func newShop(db *store.DB, cfg config.Shop) *shop.Service {
	s := &shop.Service{Store: db, Currency: cfg.Currency, RefundPolicy: cfg.RefundPolicy}
	if cfg.Manual.Enabled {
		s.Providers = append(s.Providers, shop.NewManual(cfg.Manual.Instructions))
	}
	if cfg.Stripe.Enabled {
		zero := int64(0)
		s.Providers = append(s.Providers, shop.NewStripe(cfg.Stripe, shop.StripeOptions{MaxNetworkRetries: &zero}))
	}
	return s
}

func (e *env) newUser(tb testing.TB, email string) *chorus.User {
	tb.Helper()
	u := &chorus.User{Email: email, Name: email, Role: chorus.RoleCustomer}
	if err := e.db.CreateUser(context.Background(), u); err != nil {
		tb.Fatal(err)
	}
	return u
}

func (e *env) product(tb testing.TB, name string, price, credits int64) *chorus.Product {
	tb.Helper()
	p := &chorus.Product{Name: name, Price: price, Credits: credits * chorus.MicroPerCredit, Active: true}
	if err := e.db.CreateProduct(context.Background(), p); err != nil {
		tb.Fatal(err)
	}
	return p
}

// order checks out quantity × product for u with provider.
func (e *env) order(tb testing.TB, u *chorus.User, provider string, p *chorus.Product, quantity int64) *chorus.Order {
	tb.Helper()
	ctx := context.Background()
	if _, err := e.db.AddToCart(ctx, u.ID, p.ID, quantity); err != nil {
		tb.Fatal(err)
	}
	o, created, err := e.shop.Checkout(ctx, shop.CheckoutInput{UserID: u.ID, TeamID: u.TeamID, Provider: provider,
		IdempotencyKey: fmt.Sprintf("key-%d-%d", u.ID, len(e.stripe.Calls())) + randomKey()})
	if err != nil {
		tb.Fatal(err)
	}
	if !created {
		tb.Fatal("no order created")
	}
	return o
}

func randomKey() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (e *env) balance(tb testing.TB, teamID int64) int64 {
	tb.Helper()
	b, err := e.db.Balance(context.Background(), teamID)
	if err != nil {
		tb.Fatal(err)
	}
	return b.Balance
}

func (e *env) get(tb testing.TB, id int64) *chorus.Order {
	tb.Helper()
	o, err := e.db.OrderByID(context.Background(), id)
	if err != nil {
		tb.Fatal(err)
	}
	return o
}

func assertCode(tb testing.TB, err error, want string) {
	tb.Helper()
	if got := chorus.ErrorCode(err); got != want {
		tb.Fatalf("got error %v (code %q), want code %q", err, got, want)
	}
}

func credits(n int64) int64 { return n * chorus.MicroPerCredit }

// waitFor polls cond until it holds, failing the test after 10 seconds.
func waitFor(tb testing.TB, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatal("condition not met within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
