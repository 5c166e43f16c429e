package config_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chorusgw/chorus/internal/config"
)

func TestReplicas(t *testing.T) {
	const primary = "postgres://chorus:pw@db1:5432/chorus"
	t.Run("OK", func(t *testing.T) {
		c, err := config.Load("", []string{
			"CHORUS_DATABASE_URL=" + primary,
			"CHORUS_DATABASE_REPLICAS=postgres://chorus:pw@db2:5432/chorus, postgresql://chorus:pw@db3/chorus,",
			"CHORUS_REPLICA_MAX_LAG=2s",
		})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"postgres://chorus:pw@db2:5432/chorus", "postgresql://chorus:pw@db3/chorus"}
		if !slices.Equal(c.DatabaseReplicas, want) || c.ReplicaMaxLag != 2*time.Second {
			t.Errorf("replicas %q, max lag %s", c.DatabaseReplicas, c.ReplicaMaxLag)
		}
	})
	t.Run("Default", func(t *testing.T) {
		if got := config.Default().ReplicaMaxLag; got != 5*time.Second {
			t.Errorf("replica_max_lag = %s", got)
		}
	})
	for _, tc := range []struct {
		name    string
		primary string
		env     []string
		want    string
	}{
		{"ErrSQLitePrimary", "", []string{"CHORUS_DATABASE_REPLICAS=postgres://db2/chorus"}, "need a PostgreSQL primary"},
		{"ErrNotPostgres", primary, []string{"CHORUS_DATABASE_REPLICAS=mysql://db2/chorus"}, "postgres://HOST:PORT/DATABASE"},
		{"ErrNoHost", primary, []string{"CHORUS_DATABASE_REPLICAS=postgres:///chorus"}, "postgres://HOST:PORT/DATABASE"},
		{"ErrPrimary", primary, []string{"CHORUS_DATABASE_REPLICAS=" + primary}, "is the primary"},
		{"ErrTwice", primary, []string{"CHORUS_DATABASE_REPLICAS=postgres://db2/c,postgres://db2/c"}, "listed twice"},
		{"ErrMaxLag", primary, []string{"CHORUS_REPLICA_MAX_LAG=0s"}, "replica_max_lag (CHORUS_REPLICA_MAX_LAG)"},
		{"ErrMaxLagLong", primary, []string{"CHORUS_REPLICA_MAX_LAG=2h"}, "(0, 1h]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := append([]string{"CHORUS_DATABASE_URL=" + tc.primary}, tc.env...)
			_, err := config.Load("", env)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), ":pw@") {
				t.Errorf("error shows a password: %v", err)
			}
		})
	}
}
