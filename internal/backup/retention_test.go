package backup

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// at parses a UTC time.
func at(s string) time.Time {
	t, err := time.Parse("2006-01-02 15:04", s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestRetentionKeep(t *testing.T) {
	good := func(s string) *Manifest {
		return &Manifest{ID: s, StartedAt: at(s), Verification: &Verification{OK: true}}
	}
	bad := func(s string) *Manifest {
		return &Manifest{ID: s, StartedAt: at(s), Verification: &Verification{OK: false}}
	}
	// Twice a day for three weeks, Monday 2026-11-16 to Sunday 2026-12-06.
	var fortnight []*Manifest
	for d := 0; d < 21; d++ {
		day := at("2026-11-16 00:00").AddDate(0, 0, d)
		for _, h := range []int{3, 15} {
			fortnight = append(fortnight, good(day.Add(time.Duration(h)*time.Hour).Format("2006-01-02 15:04")))
		}
	}
	tests := []struct {
		name    string
		r       Retention
		backups []*Manifest
		want    []string
	}{{
		name:    "DailyKeepsNewestOfEachOfTheLastDays",
		r:       Retention{Daily: 3},
		backups: fortnight,
		want:    []string{"2026-12-04 15:00", "2026-12-05 15:00", "2026-12-06 15:00"},
	}, {
		name:    "WeeklyKeepsNewestOfEachWeek",
		r:       Retention{Weekly: 2},
		backups: fortnight,
		want:    []string{"2026-11-29 15:00", "2026-12-06 15:00"},
	}, {
		name:    "DailyAndWeeklyUnion",
		r:       Retention{Daily: 2, Weekly: 3},
		backups: fortnight,
		want:    []string{"2026-11-22 15:00", "2026-11-29 15:00", "2026-12-05 15:00", "2026-12-06 15:00"},
	}, {
		name: "DaysWithoutBackupsDoNotCount",
		r:    Retention{Daily: 2},
		backups: []*Manifest{good("2026-01-01 03:00"), good("2026-01-02 03:00"), good("2026-03-01 03:00"),
			good("2026-03-01 04:00")},
		want: []string{"2026-01-02 03:00", "2026-03-01 04:00"},
	}, {
		name:    "ZeroKeepsTheNewestGood",
		r:       Retention{},
		backups: []*Manifest{good("2026-01-01 03:00"), good("2026-01-02 03:00"), bad("2026-01-01 05:00")},
		want:    []string{"2026-01-02 03:00"},
	}, {
		name:    "FailedNewerThanEveryGoodIsKept",
		r:       Retention{Daily: 1},
		backups: []*Manifest{good("2026-01-01 03:00"), bad("2026-01-02 03:00"), bad("2026-01-03 03:00")},
		want:    []string{"2026-01-01 03:00", "2026-01-02 03:00", "2026-01-03 03:00"},
	}, {
		name:    "FailedFillsNoSlot",
		r:       Retention{Daily: 2},
		backups: []*Manifest{good("2026-01-01 03:00"), bad("2026-01-02 03:00"), good("2026-01-03 03:00")},
		want:    []string{"2026-01-01 03:00", "2026-01-03 03:00"},
	}, {
		name:    "Unverified counts as good",
		r:       Retention{Daily: 1},
		backups: []*Manifest{{ID: "2026-01-01 03:00", StartedAt: at("2026-01-01 03:00")}, {ID: "2026-01-02 03:00", StartedAt: at("2026-01-02 03:00")}},
		want:    []string{"2026-01-02 03:00"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keep := tt.r.Keep(tt.backups)
			var got []string
			for _, m := range tt.backups {
				if keep[m] {
					got = append(got, m.ID)
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("kept %q, want %q", got, tt.want)
			}
		})
	}
}

// TestPruneWithFakeClock takes a backup every day for 60 days of a fake
// clock, pruning after each as the schedule does, and checks what is left:
// the last 7 days and the newest of each of the last 4 weeks.
func TestPruneWithFakeClock(t *testing.T) {
	db, dsn := openSQLite(t)
	seed(t, db, "prune", 1)
	clk := newClock()
	dir := t.TempDir()
	b := New(Options{Dir: dir, DSN: dsn, Now: clk.Now})
	r := Retention{Daily: 7, Weekly: 4}
	for i := 0; i < 60; i++ {
		if _, err := b.Run(testContext(t), db, false, r); err != nil {
			t.Fatal(err)
		}
		clk.Advance(24 * time.Hour)
	}
	left, err := List(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range left {
		got = append(got, m.StartedAt.Format("2006-01-02 Mon"))
	}
	// The last day is Thu 2027-02-04; the weeks end on the Sundays
	// before it.
	want := []string{"2027-01-17 Sun", "2027-01-24 Sun", "2027-01-29 Fri", "2027-01-30 Sat", "2027-01-31 Sun",
		"2027-02-01 Mon", "2027-02-02 Tue", "2027-02-03 Wed", "2027-02-04 Thu"}
	if !slices.Equal(got, want) {
		t.Errorf("left %q, want %q", got, want)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != len(want) {
		t.Errorf("the directory holds %d entries, want %d backups and nothing else", len(entries), len(want))
	}
	if _, err := os.Stat(filepath.Join(dir, left[0].ID, "chorus.db")); err != nil {
		t.Errorf("a kept backup lost its data file: %v", err)
	}
}

func TestScheduleSlot(t *testing.T) {
	tests := []struct {
		name string
		s    Schedule
		now  string
		want string
	}{
		{"DailyAt3Before", Schedule{Every: 24 * time.Hour, At: 3 * time.Hour}, "2026-12-07 02:59", "2026-12-06 03:00"},
		{"DailyAt3On", Schedule{Every: 24 * time.Hour, At: 3 * time.Hour}, "2026-12-07 03:00", "2026-12-07 03:00"},
		{"DailyAt3After", Schedule{Every: 24 * time.Hour, At: 3 * time.Hour}, "2026-12-07 23:00", "2026-12-07 03:00"},
		{"Every6h", Schedule{Every: 6 * time.Hour}, "2026-12-07 13:10", "2026-12-07 12:00"},
		{"Hourly", Schedule{Every: time.Hour}, "2026-12-07 13:59", "2026-12-07 13:00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.s.Slot(at(tt.now)); !got.Equal(at(tt.want)) {
				t.Errorf("Slot(%s) = %s, want %s", tt.now, got.Format("2006-01-02 15:04"), tt.want)
			}
		})
	}
}
