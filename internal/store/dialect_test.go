package store

import (
	"strings"
	"testing"
	"testing/fstest"
	"time"

	sqlite3 "modernc.org/sqlite/lib"
)

func TestRebind(t *testing.T) {
	pg, lite := dialect{name: DialectPostgres}, dialect{name: DialectSQLite}
	tests := []struct{ in, want string }{
		{`SELECT 1`, `SELECT 1`},
		{`a = ? AND b = ?`, `a = $1 AND b = $2`},
		{`x = '?' AND y = ?`, `x = '?' AND y = $1`},
		{`"we?ird" = ? AND z = 'it''s ?' AND w = ?`, `"we?ird" = $1 AND z = 'it''s ?' AND w = $2`},
	}
	for _, tt := range tests {
		if got := pg.rebind(tt.in); got != tt.want {
			t.Errorf("postgres rebind(%q): got %q, want %q", tt.in, got, tt.want)
		}
		if got := lite.rebind(tt.in); got != tt.in {
			t.Errorf("sqlite rebind(%q): got %q, want it unchanged", tt.in, got)
		}
	}
	// Twelve placeholders: $10 and on are two digits.
	if got, want := pg.rebind(strings.Repeat("?,", 11)+"?"), "$1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestTimeArg(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 678901234, time.FixedZone("X", 2*3600))
	if got, want := (dialect{name: DialectSQLite}).arg(at), "2026-01-02T01:04:05.678901Z"; got != want {
		t.Errorf("sqlite: got %v, want %v", got, want)
	}
	got := (dialect{name: DialectPostgres}).arg(&at).(time.Time)
	if want := time.Date(2026, 1, 2, 1, 4, 5, 678901000, time.UTC); got != want {
		t.Errorf("postgres: got %v, want %v", got, want)
	}
	if got := (dialect{name: DialectSQLite}).arg((*time.Time)(nil)); got != nil {
		t.Errorf("nil *time.Time: got %#v, want nil", got)
	}
	// Fixed width: text order is time order, even across a change in the
	// number of significant fractional digits.
	a := (dialect{name: DialectSQLite}).arg(time.Date(2026, 1, 1, 0, 0, 1, 0, time.UTC)).(string)
	b := (dialect{name: DialectSQLite}).arg(time.Date(2026, 1, 1, 0, 0, 1, 100000, time.UTC)).(string)
	if !(a < b) {
		t.Errorf("%q is not before %q", a, b)
	}
	var back time.Time
	if err := scanTime(&back).Scan(b); err != nil || !back.Equal(time.Date(2026, 1, 1, 0, 0, 1, 100000, time.UTC)) {
		t.Errorf("scan %q: got %v, %v", b, back, err)
	}
}

func TestUsageChunkFits(t *testing.T) {
	if n := usageChunk * usageColumnCount; n > sqlite3.SQLITE_MAX_VARIABLE_NUMBER || n > 65535 {
		t.Fatalf("a full usage chunk binds %d parameters: more than a statement may carry", n)
	}
	if got := strings.Count(buildUsageInsert(dialect{name: DialectSQLite}, 3, usageOnConflictNothing), "?"); got != 3*usageColumnCount {
		t.Fatalf("3-record INSERT has %d placeholders, want %d", got, 3*usageColumnCount)
	}
}

func TestMigrations(t *testing.T) {
	fsys := fstest.MapFS{
		"migrations/0001_init.sql":           {Data: []byte("CREATE TABLE a (id {{id}}, at {{timestamp}});")},
		"migrations/0002_tweak.sqlite.sql":   {Data: []byte("-- sqlite")},
		"migrations/0002_tweak.postgres.sql": {Data: []byte("-- postgres")},
	}
	for _, name := range []string{DialectSQLite, DialectPostgres} {
		ms, err := migrations(fsys, dialect{name: name})
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) != 2 || ms[0].version != 1 || ms[1].version != 2 || ms[1].name != "tweak" || ms[1].sql != "-- "+name {
			t.Errorf("%s: got %+v", name, ms)
		}
		if strings.Contains(ms[0].sql, "{{") {
			t.Errorf("%s: placeholders left in %q", name, ms[0].sql)
		}
	}

	for name, fsys := range map[string]fstest.MapFS{
		"Gap":         {"migrations/0001_a.sql": {}, "migrations/0003_c.sql": {}},
		"Duplicate":   {"migrations/0001_a.sql": {}, "migrations/0001_b.sql": {}},
		"BadName":     {"migrations/init.sql": {}},
		"Placeholder": {"migrations/0001_a.sql": {Data: []byte("CREATE TABLE t (x {{uuid}})")}},
	} {
		t.Run("Err"+name, func(t *testing.T) {
			if _, err := migrations(fsys, dialect{name: DialectSQLite}); err == nil {
				t.Fatal("accepted")
			}
		})
	}

	// The embedded migrations load for both dialects.
	for _, name := range []string{DialectSQLite, DialectPostgres} {
		if ms, err := migrations(migrationFS, dialect{name: name}); err != nil || len(ms) == 0 {
			t.Errorf("%s: %d migrations, %v", name, len(ms), err)
		}
	}
}
