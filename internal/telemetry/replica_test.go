package telemetry_test

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/telemetry"
)

func TestRegisterReplicas(t *testing.T) {
	m := telemetry.New()
	count := m.RegisterReplicas(func() []telemetry.ReplicaSample {
		return []telemetry.ReplicaSample{
			{Replica: "db2:5432/chorus", Status: chorus.ReplicaOK, LagSeconds: 0.25, LagBytes: 4096},
			{Replica: "db3:5432/chorus", Status: chorus.ReplicaPaused, LagSeconds: 12},
		}
	})
	count("replica", "fresh")
	count("replica", "fresh")
	count("primary", chorus.ReplicaPaused)

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		`chorus_db_replica_lag_seconds{replica="db2:5432/chorus"} 0.25`,
		`chorus_db_replica_lag_seconds{replica="db3:5432/chorus"} 12`,
		`chorus_db_replica_lag_bytes{replica="db2:5432/chorus"} 4096`,
		`chorus_db_replica_status{replica="db2:5432/chorus",status="ok"} 1`,
		`chorus_db_replica_status{replica="db3:5432/chorus",status="ok"} 0`,
		`chorus_db_replica_status{replica="db3:5432/chorus",status="paused"} 1`,
		`chorus_db_replica_reads_total{reason="fresh",target="replica"} 2`,
		`chorus_db_replica_reads_total{reason="paused",target="primary"} 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("scrape lacks %s", want)
		}
	}
}
