package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/chorusgw/chorus"
)

func TestResponses(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
		db := MustOpenDB(t, b, withNow(func() time.Time { return now }))
		save := func(id, prev string, team int64) {
			t.Helper()
			r := &chorus.StoredResponse{ID: id, TeamID: team, KeyID: 5, UserID: 6, Model: "m", PreviousID: prev,
				Input: []byte(`[{"type":"message","role":"user","content":"` + id + `"}]`), Response: []byte(`{"id":"` + id + `"}`)}
			if err := db.SaveResponse(ctx, r); err != nil {
				t.Fatal(err)
			}
			now = now.Add(time.Second)
		}
		save("resp_a", "", 1)
		save("resp_b", "resp_a", 1)
		save("resp_c", "resp_b", 1)
		save("resp_x", "", 2)

		t.Run("Get", func(t *testing.T) {
			got, err := db.GetResponse(ctx, 1, "resp_b")
			if err != nil {
				t.Fatal(err)
			}
			if got.PreviousID != "resp_a" || string(got.Response) != `{"id":"resp_b"}` || got.KeyID != 5 || got.UserID != 6 {
				t.Errorf("got %+v", got)
			}
			if _, err := db.GetResponse(ctx, 2, "resp_b"); chorus.ErrorCode(err) != chorus.ENOTFOUND {
				t.Errorf("another team's response: %v, want not found", err)
			}
		})
		t.Run("Chain", func(t *testing.T) {
			chain, err := db.ResponseChain(ctx, 1, "resp_c")
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, r := range chain {
				ids = append(ids, r.ID)
			}
			if fmt.Sprint(ids) != "[resp_a resp_b resp_c]" {
				t.Errorf("chain = %v, want oldest first", ids)
			}
			if _, err := db.ResponseChain(ctx, 2, "resp_c"); chorus.ErrorCode(err) != chorus.ENOTFOUND {
				t.Errorf("another team's chain: %v", err)
			}
		})
		t.Run("ErrDuplicate", func(t *testing.T) {
			err := db.SaveResponse(ctx, &chorus.StoredResponse{ID: "resp_a", TeamID: 1, Model: "m", Input: []byte(`[]`), Response: []byte(`{}`)})
			if chorus.ErrorCode(err) != chorus.ECONFLICT {
				t.Errorf("duplicate id: %v", err)
			}
		})
		t.Run("DeleteBreaksChain", func(t *testing.T) {
			if err := db.DeleteResponse(ctx, 2, "resp_b"); chorus.ErrorCode(err) != chorus.ENOTFOUND {
				t.Errorf("delete another team's: %v", err)
			}
			if err := db.DeleteResponse(ctx, 1, "resp_b"); err != nil {
				t.Fatal(err)
			}
			chain, err := db.ResponseChain(ctx, 1, "resp_c")
			if err != nil || len(chain) != 1 {
				t.Errorf("chain after delete = %d (%v), want only resp_c", len(chain), err)
			}
			var ce *chorus.Error
			if err := db.DeleteResponse(ctx, 1, "resp_b"); !errors.As(err, &ce) || ce.Code != chorus.ENOTFOUND {
				t.Errorf("second delete: %v", err)
			}
		})
		t.Run("Purge", func(t *testing.T) {
			n, err := db.PurgeResponses(ctx, time.Date(2026, 12, 1, 12, 0, 2, 500_000_000, time.UTC))
			if err != nil || n != 2 {
				t.Fatalf("purged %d (%v), want resp_a and resp_c", n, err)
			}
			if _, err := db.GetResponse(ctx, 2, "resp_x"); err != nil {
				t.Errorf("resp_x purged too early: %v", err)
			}
		})
	})
}
