package backup

import (
	"fmt"
	"os"
	"sort"
	"time"
)

// Retention is how many backups to keep, grandfather-father-son style.
//
// Daily keeps, for each of the Daily most recent UTC days on which a good
// backup was taken, the newest good backup of that day; Weekly does the
// same for ISO weeks (Monday to Sunday, UTC). A backup kept by either rule
// is kept. Days and weeks without a backup do not count, so a schedule
// that stopped never ages its last backups away. The newest good backup is
// always kept, whatever the numbers say.
//
// Good means verified (or taken with verification off). A backup whose
// verification failed fills no slot: it is kept only while it is newer
// than every good backup (so the operator can look at it), and deleted
// once a good one follows.
type Retention struct {
	Daily  int
	Weekly int
}

// Keep returns which of backups (in any order) to keep.
func (r Retention) Keep(backups []*Manifest) map[*Manifest]bool {
	keep := map[*Manifest]bool{}
	var newestGood *Manifest
	for _, m := range backups {
		if m.usable() && (newestGood == nil || m.StartedAt.After(newestGood.StartedAt)) {
			newestGood = m
		}
	}
	if newestGood != nil {
		keep[newestGood] = true
	}
	for _, m := range backups {
		if !m.usable() && (newestGood == nil || m.StartedAt.After(newestGood.StartedAt)) {
			keep[m] = true
		}
	}
	for m := range newestPer(backups, r.Daily, dayOf) {
		keep[m] = true
	}
	for m := range newestPer(backups, r.Weekly, weekOf) {
		keep[m] = true
	}
	return keep
}

// newestPer groups the good backups into periods (period names one) and
// returns the newest backup of each of the n most recent periods.
func newestPer(backups []*Manifest, n int, period func(time.Time) string) map[*Manifest]bool {
	newest := map[string]*Manifest{}
	for _, m := range backups {
		if !m.usable() {
			continue
		}
		p := period(m.StartedAt)
		if cur, ok := newest[p]; !ok || m.StartedAt.After(cur.StartedAt) {
			newest[p] = m
		}
	}
	picked := make([]*Manifest, 0, len(newest))
	for _, m := range newest {
		picked = append(picked, m)
	}
	// Newest periods first: a period's newest backup orders its period.
	sort.Slice(picked, func(i, j int) bool { return picked[i].StartedAt.After(picked[j].StartedAt) })
	out := map[*Manifest]bool{}
	for i := 0; i < len(picked) && i < n; i++ {
		out[picked[i]] = true
	}
	return out
}

// dayOf names t's UTC day.
func dayOf(t time.Time) string { return t.UTC().Format("2006-01-02") }

// weekOf names t's ISO week (UTC).
func weekOf(t time.Time) string {
	y, w := t.UTC().ISOWeek()
	return fmt.Sprintf("%d-W%02d", y, w)
}

// Prune deletes the backups in dir that r does not keep and returns them.
func Prune(dir string, r Retention) ([]*Manifest, error) {
	all, err := List(dir)
	if err != nil {
		return nil, err
	}
	keep := r.Keep(all)
	var removed []*Manifest
	for _, m := range all {
		if keep[m] {
			continue
		}
		if err := os.RemoveAll(m.Dir()); err != nil {
			return removed, fmt.Errorf("prune %s: %w", m.ID, err)
		}
		removed = append(removed, m)
	}
	return removed, nil
}
