package store_test

import (
	"context"
	"testing"
)

func TestMeta(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := MustOpenDB(t, b)
		if v, ok, err := db.GetMeta(ctx, "bootstrap_done"); err != nil || ok || v != "" {
			t.Fatalf("missing key: got %q, %v, %v; want \"\", false, nil", v, ok, err)
		}
		if err := db.SetMeta(ctx, "bootstrap_done", "1"); err != nil {
			t.Fatal(err)
		}
		if v, ok, err := db.GetMeta(ctx, "bootstrap_done"); err != nil || !ok || v != "1" {
			t.Fatalf("got %q, %v, %v; want \"1\", true, nil", v, ok, err)
		}
		if err := db.SetMeta(ctx, "bootstrap_done", "2"); err != nil {
			t.Fatal(err)
		}
		if v, _, _ := db.GetMeta(ctx, "bootstrap_done"); v != "2" {
			t.Fatalf("after overwrite: got %q, want \"2\"", v)
		}
		if v, ok, _ := db.GetMeta(ctx, "other"); ok {
			t.Fatalf("other key: got %q", v)
		}
	})
}
