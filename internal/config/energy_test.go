package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chorusgw/chorus/internal/config"
)

func TestEnergy(t *testing.T) {
	t.Run("Defaults", func(t *testing.T) {
		e := config.Default().Energy
		if !e.Enabled || e.InputWhPer1K != 0.2 || e.OutputWhPer1K != 0.6 || e.Region != "WORLD" || e.WattsPerCore != 10 {
			t.Errorf("defaults %+v", e)
		}
		if v, ok := config.GridIntensity("world"); !ok || v != 481 {
			t.Errorf("GridIntensity(world) = %v, %v", v, ok)
		}
		if len(config.GridRegions()) < 10 {
			t.Errorf("GridRegions = %v", config.GridRegions())
		}
	})
	t.Run("Env", func(t *testing.T) {
		c, err := config.Load("", []string{"CHORUS_ENERGY_REGION=fr", "CHORUS_ENERGY_WATTS_PER_CORE=15", "CHORUS_ENERGY_OUTPUT_WH_PER_1K=1.2"})
		if err != nil {
			t.Fatal(err)
		}
		if e := c.Energy; e.Region != "fr" || e.WattsPerCore != 15 || e.OutputWhPer1K != 1.2 {
			t.Errorf("env not applied: %+v", e)
		}
	})
	t.Run("File", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "chorus.yaml")
		yaml := `energy:
  region: eu-north
  regions: {eu-north: 35}
  models:
    - {match: "gpt-4o-mini*", input_wh_per_1k: 0.05, output_wh_per_1k: 0.15, source: "our measurement"}
  deployments:
    - {match: "onprem-*", output_wh_per_1k: 2, cached_input_wh_per_1k: 0.01, grid_gco2e_per_kwh: 0}
  targets:
    - {model: gpt-4o, wh_per_1k_tokens: 0.8}
`
		if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := config.Load(p, nil)
		if err != nil {
			t.Fatal(err)
		}
		e := c.Energy
		if len(e.Models) != 1 || *e.Models[0].InputWhPer1K != 0.05 || e.Models[0].Source != "our measurement" {
			t.Errorf("models %+v", e.Models)
		}
		if len(e.Deployments) != 1 || *e.Deployments[0].OutputWhPer1K != 2 || *e.Deployments[0].GridGCO2ePerKWh != 0 ||
			*e.Deployments[0].CachedInputWhPer1K != 0.01 || e.Deployments[0].InputWhPer1K != nil {
			t.Errorf("deployments %+v", e.Deployments)
		}
		if len(e.Targets) != 1 || e.Targets[0].WhPer1KTokens != 0.8 {
			t.Errorf("targets %+v", e.Targets)
		}
	})
	neg, big := -1.0, 5000.0
	for _, tt := range []struct {
		name string
		edit func(e *config.Energy)
		key  string
	}{
		{"ErrInput", func(e *config.Energy) { e.InputWhPer1K = -1 }, "energy.input_wh_per_1k"},
		{"ErrOutput", func(e *config.Energy) { e.OutputWhPer1K = 5000 }, "energy.output_wh_per_1k"},
		{"ErrGrid", func(e *config.Energy) { e.GridGCO2ePerKWh = 3000 }, "energy.grid_gco2e_per_kwh"},
		{"ErrWatts", func(e *config.Energy) { e.WattsPerCore = -5 }, "energy.watts_per_core"},
		{"ErrRegion", func(e *config.Energy) { e.Region = "atlantis" }, "energy.region"},
		{"ErrRegions", func(e *config.Energy) { e.Regions = map[string]float64{"x": -3} }, "energy.regions"},
		{"ErrModelMatch", func(e *config.Energy) {
			e.Models = []config.EnergyModel{{Match: "[", EnergyCoefficients: config.EnergyCoefficients{InputWhPer1K: &big}}}
		}, "energy.models[0].match"},
		{"ErrModelCoefficient", func(e *config.Energy) {
			e.Models = []config.EnergyModel{{Match: "x*", EnergyCoefficients: config.EnergyCoefficients{InputWhPer1K: &big}}}
		}, "energy.models[0].input_wh_per_1k"},
		{"ErrModelEmpty", func(e *config.Energy) { e.Models = []config.EnergyModel{{Match: "x*"}} }, "energy.models[0]"},
		{"ErrDeploymentMatch", func(e *config.Energy) { e.Deployments = []config.EnergyDeployment{{}} }, "energy.deployments[0].match"},
		{"ErrDeploymentGrid", func(e *config.Energy) {
			e.Deployments = []config.EnergyDeployment{{Match: "d", GridGCO2ePerKWh: &neg}}
		}, "energy.deployments[0].grid_gco2e_per_kwh"},
		{"ErrDeploymentRegion", func(e *config.Energy) {
			e.Deployments = []config.EnergyDeployment{{Match: "d", Region: "mars"}}
		}, "energy.deployments[0].region"},
		{"ErrTargetModel", func(e *config.Energy) {
			e.Targets = []config.EnergyTarget{{Model: "m", WhPer1KTokens: 1}, {Model: "m", WhPer1KTokens: 1}}
		}, "energy.targets[1].model"},
		{"ErrTargetValue", func(e *config.Energy) { e.Targets = []config.EnergyTarget{{Model: "m"}} }, "energy.targets[0].wh_per_1k_tokens"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := config.Default()
			tt.edit(&c.Energy)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.key+" (") {
				t.Errorf("got %v, want an error about %s", err, tt.key)
			}
		})
	}
	t.Run("DisabledSkipsChecks", func(t *testing.T) {
		c := config.Default()
		c.Energy.Enabled, c.Energy.Region = false, "atlantis"
		if err := c.Validate(); err != nil {
			t.Errorf("Validate = %v", err)
		}
	})
	t.Run("OperatorRegion", func(t *testing.T) {
		c := config.Default()
		c.Energy.Region, c.Energy.Regions = "us-east-1", map[string]float64{"us-east-1": 380}
		c.Energy.Deployments = []config.EnergyDeployment{{Match: "d", Region: "US-EAST-1"}}
		if err := c.Validate(); err != nil {
			t.Errorf("Validate = %v", err)
		}
	})
}

func TestLedgerCheckInterval(t *testing.T) {
	if d := config.Default().LedgerCheckInterval; d != time.Hour {
		t.Errorf("default %v, want 1h", d)
	}
	for _, tc := range []struct {
		name string
		d    time.Duration
		ok   bool
	}{{"Off", 0, true}, {"Minute", time.Minute, true}, {"ErrShort", time.Second, false}, {"ErrNegative", -time.Minute, false}} {
		t.Run(tc.name, func(t *testing.T) {
			c := config.Default()
			c.LedgerCheckInterval = tc.d
			err := c.Validate()
			if (err == nil) != tc.ok || (err != nil && !strings.Contains(err.Error(), "ledger_check_interval (")) {
				t.Errorf("Validate(%v) = %v", tc.d, err)
			}
		})
	}
}
