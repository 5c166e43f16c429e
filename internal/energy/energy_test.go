package energy_test

import (
	"math"
	"sync"
	"testing"

	"github.com/chorusgw/chorus"
	"github.com/chorusgw/chorus/internal/config"
	"github.com/chorusgw/chorus/internal/energy"
)

func f(v float64) *float64 { return &v }

func near(t *testing.T, what string, got, want float64) {
	t.Helper()
	if math.Abs(got-want) > 1e-9*math.Max(1, math.Abs(want)) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func testConfig() config.Energy {
	cfg := config.DefaultEnergy()
	cfg.Regions = map[string]float64{"ppa": 0, "us-east": 400}
	cfg.Models = []config.EnergyModel{
		{Match: "gpt-4o-mini*", EnergyCoefficients: config.EnergyCoefficients{InputWhPer1K: f(0.02), OutputWhPer1K: f(0.1)}},
		{Match: "claude-*", Provider: chorus.ProviderAnthropic, EnergyCoefficients: config.EnergyCoefficients{OutputWhPer1K: f(1.5)}},
		{Match: "claude-*", EnergyCoefficients: config.EnergyCoefficients{InputWhPer1K: f(0.3), CachedInputWhPer1K: f(0.03)}},
	}
	cfg.Deployments = []config.EnergyDeployment{
		{Match: "onprem-*", EnergyCoefficients: config.EnergyCoefficients{OutputWhPer1K: f(2)}, Region: "ppa"},
		{Match: "onprem-gpu1", EnergyCoefficients: config.EnergyCoefficients{InputWhPer1K: f(0.5), OutputWhPer1K: f(9)}, GridGCO2ePerKWh: f(100)},
		{Match: "eu-*", Region: "fr"},
		{Match: "us-*", Region: "us-east"},
	}
	cfg.Targets = []config.EnergyTarget{{Model: "gpt-4o", WhPer1KTokens: 0.5}}
	return cfg
}

func TestRates(t *testing.T) {
	m := energy.New(testConfig())
	for _, tc := range []struct {
		name, provider, deployment, model string
		want                              energy.Rates
	}{
		{"Default", "openai", "oai-1", "gpt-4o", energy.Rates{InputWhPer1K: 0.2, CachedInputWhPer1K: 0.2, OutputWhPer1K: 0.6, GCO2ePerKWh: 481}},
		{"ModelFamily", "openai", "oai-1", "gpt-4o-mini-2024", energy.Rates{InputWhPer1K: 0.02, CachedInputWhPer1K: 0.02, OutputWhPer1K: 0.1, GCO2ePerKWh: 481}},
		// Each coefficient from the first entry that sets it: output from
		// the anthropic-only entry, input and cached from the general one.
		{"ModelFamilyPerCoefficient", chorus.ProviderAnthropic, "a-1", "claude-x", energy.Rates{InputWhPer1K: 0.3, CachedInputWhPer1K: 0.03, OutputWhPer1K: 1.5, GCO2ePerKWh: 481}},
		{"ProviderNarrows", "bedrock", "b-1", "claude-x", energy.Rates{InputWhPer1K: 0.3, CachedInputWhPer1K: 0.03, OutputWhPer1K: 0.6, GCO2ePerKWh: 481}},
		// The deployment's output wins over the family's; the family's input stays.
		{"DeploymentOverModel", chorus.ProviderAnthropic, "onprem-a", "claude-x", energy.Rates{InputWhPer1K: 0.3, CachedInputWhPer1K: 0.03, OutputWhPer1K: 2, GCO2ePerKWh: 0}},
		// The first deployment entry's output and region win; the second's input fills in.
		{"FirstDeploymentEntryWins", "openai", "onprem-gpu1", "gpt-4o", energy.Rates{InputWhPer1K: 0.5, CachedInputWhPer1K: 0.5, OutputWhPer1K: 2, GCO2ePerKWh: 0}},
		{"RegionBuiltIn", "openai", "eu-west", "gpt-4o", energy.Rates{InputWhPer1K: 0.2, CachedInputWhPer1K: 0.2, OutputWhPer1K: 0.6, GCO2ePerKWh: 56}},
		{"RegionOperator", "openai", "us-1", "gpt-4o", energy.Rates{InputWhPer1K: 0.2, CachedInputWhPer1K: 0.2, OutputWhPer1K: 0.6, GCO2ePerKWh: 400}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := m.Rates(tc.provider, tc.deployment, tc.model)
			if got != tc.want {
				t.Errorf("Rates = %+v, want %+v", got, tc.want)
			}
			if again := m.Rates(tc.provider, tc.deployment, tc.model); again != got {
				t.Errorf("cached Rates = %+v, want %+v", again, got)
			}
		})
	}
}

func TestRatesWh(t *testing.T) {
	r := energy.Rates{InputWhPer1K: 0.2, CachedInputWhPer1K: 0.02, OutputWhPer1K: 0.6, GCO2ePerKWh: 500}
	near(t, "Wh", r.Wh(1000, 0, 500), 0.2+0.3)
	near(t, "Wh cached", r.Wh(2000, 1000, 0), 0.2+0.02)
	near(t, "Wh cached > in", r.Wh(1000, 5000, 0), 0.02)
	near(t, "CO2e", r.CO2e(2), 1) // 2 Wh at 500 g/kWh
}

func TestFill(t *testing.T) {
	m := energy.New(testConfig())
	t.Run("Attempts", func(t *testing.T) {
		u := chorus.Usage{Model: "route", Deployment: "eu-west", Provider: "openai", InputTokens: 3000, OutputTokens: 1000,
			Attempts: []chorus.UsageAttempt{
				// A hedge's loser consumed energy too; it is counted.
				{Model: "gpt-4o", Deployment: "us-1", Provider: "openai", Outcome: "canceled", InputTokens: 1000, OutputTokens: 500},
				{Model: "gpt-4o", Deployment: "eu-west", Provider: "openai", Outcome: "ok", InputTokens: 2000, OutputTokens: 500},
				{Model: "gpt-4o", Deployment: "eu-west", Provider: "openai", Outcome: "error"},
			}}
		m.Fill(&u)
		wUS, wEU := 0.2+0.3, 0.4+0.3
		near(t, "EnergyWh", u.EnergyWh, wUS+wEU)
		near(t, "CO2eGrams", u.CO2eGrams, wUS/1000*400+wEU/1000*56)
		lines := m.Lines(&u)
		if len(lines) != 3 || lines[0].Deployment != "us-1" || lines[2].Wh != 0 {
			t.Fatalf("Lines = %+v", lines)
		}
		m.Fill(&u) // idempotent
		near(t, "EnergyWh again", u.EnergyWh, wUS+wEU)
	})
	t.Run("CacheHit", func(t *testing.T) {
		u := chorus.Usage{Model: "gpt-4o", Deployment: "eu-west", Provider: "openai", InputTokens: 3000, OutputTokens: 1000,
			Attempts: []chorus.UsageAttempt{{Model: "gpt-4o", Deployment: "eu-west", Provider: "openai", Outcome: "cache_hit", InputTokens: 3000, OutputTokens: 1000}}}
		m.Fill(&u)
		if u.EnergyWh != 0 || u.CO2eGrams != 0 || len(m.Lines(&u)) != 0 {
			t.Errorf("a cache hit consumed nothing upstream: %v Wh, %v g", u.EnergyWh, u.CO2eGrams)
		}
	})
	t.Run("NoAttempts", func(t *testing.T) {
		u := chorus.Usage{Model: "gpt-4o-mini", Deployment: "oai-1", Provider: "openai", InputTokens: 1000, CachedInputTokens: 0, OutputTokens: 1000}
		m.Fill(&u)
		near(t, "EnergyWh", u.EnergyWh, 0.02+0.1)
		near(t, "CO2eGrams", u.CO2eGrams, 0.12/1000*481)
	})
	t.Run("RefusedBeforeADeployment", func(t *testing.T) {
		u := chorus.Usage{Model: "gpt-4o", Status: 400, EnergyWh: 7}
		m.Fill(&u)
		if u.EnergyWh != 0 || u.CO2eGrams != 0 {
			t.Errorf("EnergyWh, CO2eGrams = %v, %v, want 0", u.EnergyWh, u.CO2eGrams)
		}
	})
}

func TestNew(t *testing.T) {
	t.Run("Disabled", func(t *testing.T) {
		cfg := config.DefaultEnergy()
		cfg.Enabled = false
		if energy.New(cfg) != nil {
			t.Error("New returned a model for a disabled configuration")
		}
	})
	t.Run("ExplicitGrid", func(t *testing.T) {
		cfg := config.DefaultEnergy()
		cfg.GridGCO2ePerKWh = 123
		if got := energy.New(cfg).Default().GCO2ePerKWh; got != 123 {
			t.Errorf("default intensity = %v, want 123", got)
		}
	})
	t.Run("Targets", func(t *testing.T) {
		m := energy.New(testConfig())
		got := m.Targets()
		if len(got) != 1 || got["gpt-4o"] != 0.5 {
			t.Errorf("Targets = %v", got)
		}
		got["gpt-4o"] = 9
		if m.Targets()["gpt-4o"] != 0.5 {
			t.Error("Targets returned the model's own map")
		}
	})
}

func TestConcurrent(t *testing.T) {
	m := energy.New(testConfig())
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 200; j++ {
				u := chorus.Usage{Model: "gpt-4o", Deployment: "eu-west", Provider: "openai", InputTokens: 1000, OutputTokens: 1000}
				m.Fill(&u)
				if u.EnergyWh != 0.8 {
					t.Errorf("EnergyWh = %v", u.EnergyWh)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func BenchmarkLines(b *testing.B) {
	m := energy.New(testConfig())
	u := chorus.Usage{Attempts: []chorus.UsageAttempt{{Model: "gpt-4o", Deployment: "eu-west", Provider: "openai", Outcome: "ok", InputTokens: 1000, OutputTokens: 300}}}
	b.ReportAllocs()
	for b.Loop() {
		_ = m.Lines(&u)
	}
}
