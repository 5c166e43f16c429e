package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/chorusgw/chorus"
)

func TestLearned(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := MustOpenDB(t, b)
		scope := fmt.Sprintf("route-%p:learned", t)

		t.Run("Examples", func(t *testing.T) {
			for i := 1; i <= 5; i++ {
				e := &chorus.LearnedExample{Scope: scope, Seq: int64(i), ResponseID: fmt.Sprintf("chatcmpl-%d", i), Model: "m",
					Source: chorus.LearnedFromFeedback, Label: float64(i % 2), Weight: 1, Holdout: i == 3,
					Features: json.RawMessage(`[{"i":1,"v":1}]`), InputTokens: 10, OutputTokens: int64(i)}
				if err := db.InsertLearnedExample(ctx, e); err != nil {
					t.Fatal(err)
				}
			}
			dup := &chorus.LearnedExample{Scope: scope, Seq: 2, Source: "feedback", Label: 1, Features: json.RawMessage(`[]`)}
			if err := db.InsertLearnedExample(ctx, dup); chorus.ErrorCode(err) != chorus.ECONFLICT {
				t.Fatalf("duplicate seq: err = %v", err)
			}
			bad := &chorus.LearnedExample{Scope: scope, Seq: 9, Source: "feedback", Label: 2, Features: json.RawMessage(`[]`)}
			if err := db.InsertLearnedExample(ctx, bad); chorus.ErrorCode(err) != chorus.EINVALID {
				t.Fatalf("label 2: err = %v", err)
			}
			got, err := db.ListLearnedExamples(ctx, scope, 1, 3)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 3 || got[0].Seq != 2 || got[2].Seq != 4 || !got[1].Holdout || got[0].Holdout ||
				string(got[0].Features) != `[{"i":1,"v":1}]` || got[2].OutputTokens != 4 {
				t.Fatalf("listed %+v", got)
			}
			if err := db.DeleteLearnedExamplesAfter(ctx, scope, 2); err != nil {
				t.Fatal(err)
			}
			got, err = db.ListLearnedExamples(ctx, scope, 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 2 {
				t.Fatalf("after delete: %d examples, want 2", len(got))
			}
		})

		t.Run("Models", func(t *testing.T) {
			for v := int64(1); v <= 52; v++ {
				m := &chorus.LearnedModel{Scope: scope, Version: v, Seq: v * 10, Note: fmt.Sprint("v", v), Snapshot: json.RawMessage(`{"z":{}}`)}
				if err := db.SaveLearnedModel(ctx, m); err != nil {
					t.Fatal(err)
				}
			}
			if err := db.SaveLearnedModel(ctx, &chorus.LearnedModel{Scope: scope, Version: 52, Snapshot: json.RawMessage(`{}`)}); chorus.ErrorCode(err) != chorus.ECONFLICT {
				t.Fatalf("duplicate version: err = %v", err)
			}
			list, err := db.ListLearnedModels(ctx, scope)
			if err != nil {
				t.Fatal(err)
			}
			if len(list) != 50 || list[0].Version != 52 || list[49].Version != 3 || list[0].Snapshot != nil {
				t.Fatalf("versions: %d, first %+v", len(list), list[0])
			}
			m, err := db.LearnedModel(ctx, scope, 7)
			if err != nil {
				t.Fatal(err)
			}
			if m.Seq != 70 || string(m.Snapshot) != `{"z":{}}` || m.Note != "v7" {
				t.Fatalf("version 7: %+v", m)
			}
			if _, err := db.LearnedModel(ctx, scope, 1); chorus.ErrorCode(err) != chorus.ENOTFOUND {
				t.Fatalf("pruned version: err = %v", err)
			}
			latest, err := db.LatestLearnedModels(ctx)
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, l := range latest {
				if l.Scope == scope {
					found = l.Version == 52 && len(l.Snapshot) > 0
				}
			}
			if !found {
				t.Fatalf("latest: %+v", latest)
			}
		})
	})
}

// TestLearnedFleetNumbering checks that examples and versions without a
// number are numbered by the store, uniquely, when instances of a fleet
// store them at once; and the scopes and feedback cursor a learner's Sync
// reads.
func TestLearnedFleetNumbering(t *testing.T) {
	eachDB(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := MustOpenDB(t, b)
		scope := fmt.Sprintf("route-%p:learned", t)
		const writers, each = 4, 15
		var wg sync.WaitGroup
		errs := make(chan error, writers*each*2)
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					e := &chorus.LearnedExample{Scope: scope, ResponseID: fmt.Sprintf("chatcmpl-%d-%d", w, i), Source: chorus.LearnedFromFeedback,
						Label: 1, Weight: 1, Features: json.RawMessage(`[]`)}
					if err := db.InsertLearnedExample(ctx, e); err != nil {
						errs <- err
					} else if e.Seq < 1 || e.Seq > writers*each {
						errs <- fmt.Errorf("example numbered %d", e.Seq)
					}
					m := &chorus.LearnedModel{Scope: scope, Seq: 1, Snapshot: json.RawMessage(`{}`)}
					if err := db.SaveLearnedModel(ctx, m); err != nil {
						errs <- err
					} else if m.Version < 1 {
						errs <- fmt.Errorf("version numbered %d", m.Version)
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		got, err := db.ListLearnedExamples(ctx, scope, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != writers*each {
			t.Fatalf("%d examples stored, want %d", len(got), writers*each)
		}
		for i, e := range got {
			if e.Seq != int64(i+1) {
				t.Fatalf("example %d numbered %d: want 1..%d without gaps", i, e.Seq, writers*each)
			}
		}
		versions, err := db.ListLearnedModels(ctx, scope)
		if err != nil {
			t.Fatal(err)
		}
		newest := int64(0)
		for _, v := range versions {
			newest = max(newest, v.Version)
		}
		if newest != writers*each {
			t.Fatalf("newest version %d, want %d (one per save, none lost)", newest, writers*each)
		}
		scopes, err := db.LearnedScopes(ctx)
		if err != nil || !slices.Contains(scopes, scope) {
			t.Fatalf("LearnedScopes = %v, %v; want %s in it", scopes, err, scope)
		}
		if _, err := db.MaxFeedbackID(ctx); err != nil {
			t.Fatal(err)
		}
	})
}
