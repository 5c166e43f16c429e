package config

import (
	"path"
	"strconv"
	"strings"
)

// Energy configures the energy and carbon estimates (internal/energy,
// docs/energy.md): watt-hours per 1,000 tokens for every model, by model
// family and per deployment, the grid's carbon intensity where each
// deployment runs, Chorus's own footprint, and efficiency targets.
//
// The estimate of one upstream call is
//
//	Wh = (input − cached) / 1000 × input_wh_per_1k
//	   + cached / 1000 × cached_input_wh_per_1k
//	   + output / 1000 × output_wh_per_1k
//	g CO2e = Wh / 1000 × grid_gco2e_per_kwh
//
// Coefficients come from the first deployments entry that matches the
// deployment and sets them, else the first models entry that matches the
// model, else the defaults here; the intensity from the first deployments
// entry that sets a region or an intensity, else the default region.
type Energy struct {
	// Enabled turns the estimates and their metrics on (the default).
	Enabled bool `yaml:"enabled"`
	// InputWhPer1K and OutputWhPer1K are the defaults for every model no
	// entry matches: watt-hours per 1,000 input and output tokens.
	InputWhPer1K  float64 `yaml:"input_wh_per_1k"`
	OutputWhPer1K float64 `yaml:"output_wh_per_1k"`
	// Region is where deployments run unless an entry says otherwise: a
	// key of the built-in table (docs/energy.md: ISO country codes and
	// WORLD) or of Regions.
	Region string `yaml:"region"`
	// GridGCO2ePerKWh, when above 0, is the default intensity instead of
	// Region's (grams CO2e per kWh).
	GridGCO2ePerKWh float64 `yaml:"grid_gco2e_per_kwh"`
	// WattsPerCore is what one busy CPU core of the host running Chorus
	// draws: the process's CPU time × WattsPerCore is Chorus's own energy.
	WattsPerCore float64 `yaml:"watts_per_core"`
	// Regions adds grid intensities (gCO2e/kWh) to the built-in table or
	// replaces its figures, by name. The file only.
	Regions map[string]float64 `yaml:"regions"`
	// Models are defaults by model family, first match wins. The file only.
	Models []EnergyModel `yaml:"models"`
	// Deployments are per-deployment overrides, first match wins. The file only.
	Deployments []EnergyDeployment `yaml:"deployments"`
	// Targets are efficiency targets: Wh per 1,000 tokens (input and
	// output together) by public model name, exported as
	// chorus_energy_target_wh_per_1k_tokens for the alert rules. The file only.
	Targets []EnergyTarget `yaml:"targets"`
}

// EnergyCoefficients are one model's watt-hours per 1,000 tokens; a nil
// field is not set by this entry.
type EnergyCoefficients struct {
	InputWhPer1K  *float64 `yaml:"input_wh_per_1k"`
	OutputWhPer1K *float64 `yaml:"output_wh_per_1k"`
	// CachedInputWhPer1K prices input tokens read from the provider's
	// prompt cache; unset: as InputWhPer1K.
	CachedInputWhPer1K *float64 `yaml:"cached_input_wh_per_1k"`
}

// EnergyModel gives a model family its coefficients. Match is a glob
// (path.Match: *, ?, [a-z]) over the registry model name of the
// deployment that answered (what the model list shows); Provider, when
// set, narrows it to one provider kind.
type EnergyModel struct {
	Match              string `yaml:"match"`
	Provider           string `yaml:"provider"`
	EnergyCoefficients `yaml:",inline"`
	// Source says where the figures come from, for the reader of the file.
	Source string `yaml:"source"`
}

// EnergyDeployment overrides the coefficients, the region or the
// intensity of the deployments whose name matches Match (a glob, as the
// deployment's name in the registry and in x-chorus-deployment).
type EnergyDeployment struct {
	Match              string `yaml:"match"`
	EnergyCoefficients `yaml:",inline"`
	Region             string   `yaml:"region"`
	GridGCO2ePerKWh    *float64 `yaml:"grid_gco2e_per_kwh"`
	Source             string   `yaml:"source"`
}

// EnergyTarget is an efficiency target for one public model.
type EnergyTarget struct {
	Model         string  `yaml:"model"`
	WhPer1KTokens float64 `yaml:"wh_per_1k_tokens"`
}

// DefaultEnergy is the energy section's default: on, the generic
// per-token figures of docs/energy.md, the world average grid.
func DefaultEnergy() Energy {
	return Energy{
		Enabled:       true,
		InputWhPer1K:  DefaultInputWhPer1K,
		OutputWhPer1K: DefaultOutputWhPer1K,
		Region:        "WORLD",
		WattsPerCore:  DefaultWattsPerCore,
	}
}

// The default coefficients (docs/energy.md#sources gives their derivation
// and range).
const (
	// DefaultInputWhPer1K is Epoch AI's 2025 estimate for GPT-4o on H100s
	// (a 10,000-token input ≈ 2.5 Wh beyond a 0.3 Wh query) per 1,000 tokens.
	DefaultInputWhPer1K = 0.2
	// DefaultOutputWhPer1K is Epoch AI's 0.3 Wh for a typical query of
	// about 500 output tokens, per 1,000 tokens.
	DefaultOutputWhPer1K = 0.6
	// DefaultWattsPerCore is a busy server core's share of a host's power.
	DefaultWattsPerCore = 10
)

// maxWhPer1K bounds a coefficient: 1 kWh per 1,000 tokens is far beyond
// any published figure, so a larger value is a unit mistake.
const maxWhPer1K = 1000

func (e Energy) errors() []error {
	var errs problems
	if !e.Enabled {
		return nil
	}
	coef := func(key string, v float64) {
		if v < 0 || v > maxWhPer1K {
			errs.add(key, "must be between 0 and %d watt-hours per 1,000 tokens, got %g", maxWhPer1K, v)
		}
	}
	coef("energy.input_wh_per_1k", e.InputWhPer1K)
	coef("energy.output_wh_per_1k", e.OutputWhPer1K)
	if e.GridGCO2ePerKWh < 0 || e.GridGCO2ePerKWh > maxGridIntensity {
		errs.add("energy.grid_gco2e_per_kwh", "must be between 0 and %d gCO2e/kWh, got %g", maxGridIntensity, e.GridGCO2ePerKWh)
	}
	if e.WattsPerCore < 0 || e.WattsPerCore > 1000 {
		errs.add("energy.watts_per_core", "must be between 0 and 1000, got %g", e.WattsPerCore)
	}
	for name, v := range e.Regions {
		if name == "" || v < 0 || v > maxGridIntensity {
			errs.add("energy.regions", "%q: must be named and between 0 and %d gCO2e/kWh, got %g", name, maxGridIntensity, v)
		}
	}
	known := func(region string) bool { // region names are case-insensitive
		if _, ok := GridIntensity(region); ok {
			return true
		}
		for name := range e.Regions {
			if strings.EqualFold(name, region) {
				return true
			}
		}
		return false
	}
	if e.GridGCO2ePerKWh == 0 && !known(e.Region) {
		errs.add("energy.region", "%q is not in the built-in table (docs/energy.md) nor in energy.regions; add it there or set energy.grid_gco2e_per_kwh", e.Region)
	}
	coefs := func(key string, c EnergyCoefficients) {
		for k, p := range map[string]*float64{"input_wh_per_1k": c.InputWhPer1K, "output_wh_per_1k": c.OutputWhPer1K, "cached_input_wh_per_1k": c.CachedInputWhPer1K} {
			if p != nil {
				coef(key+"."+k, *p)
			}
		}
	}
	for i, m := range e.Models {
		key := "energy.models[" + strconv.Itoa(i) + "]"
		if _, err := path.Match(m.Match, ""); err != nil || m.Match == "" {
			errs.add(key+".match", "must be a glob such as gpt-4o* (path.Match syntax), got %q", m.Match)
		}
		if m.InputWhPer1K == nil && m.OutputWhPer1K == nil && m.CachedInputWhPer1K == nil {
			errs.add(key, "sets no coefficient: give input_wh_per_1k and/or output_wh_per_1k")
		}
		coefs(key, m.EnergyCoefficients)
	}
	for i, d := range e.Deployments {
		key := "energy.deployments[" + strconv.Itoa(i) + "]"
		if _, err := path.Match(d.Match, ""); err != nil || d.Match == "" {
			errs.add(key+".match", "must be a glob such as azure-eu-* (path.Match syntax), got %q", d.Match)
		}
		coefs(key, d.EnergyCoefficients)
		if d.GridGCO2ePerKWh != nil && (*d.GridGCO2ePerKWh < 0 || *d.GridGCO2ePerKWh > maxGridIntensity) {
			errs.add(key+".grid_gco2e_per_kwh", "must be between 0 and %d, got %g", maxGridIntensity, *d.GridGCO2ePerKWh)
		}
		if d.Region != "" && d.GridGCO2ePerKWh == nil && !known(d.Region) {
			errs.add(key+".region", "%q is not in the built-in table (docs/energy.md) nor in energy.regions", d.Region)
		}
	}
	seen := map[string]bool{}
	for i, t := range e.Targets {
		key := "energy.targets[" + strconv.Itoa(i) + "]"
		if t.Model == "" || seen[t.Model] {
			errs.add(key+".model", "must name a model once, got %q", t.Model)
		}
		seen[t.Model] = true
		if t.WhPer1KTokens <= 0 || t.WhPer1KTokens > maxWhPer1K {
			errs.add(key+".wh_per_1k_tokens", "must be above 0 and at most %d, got %g", maxWhPer1K, t.WhPer1KTokens)
		}
	}
	return errs
}

// maxGridIntensity bounds an intensity: the dirtiest grids are about
// 1,000 gCO2e/kWh (coal-only generation), so 2,000 catches unit mistakes.
const maxGridIntensity = 2000

// gridIntensity is the built-in table: lifecycle gCO2e per kWh generated in
// 2023, Ember's Yearly Electricity Data as published by Our World in Data
// ("Carbon intensity of electricity generation") and Ember's Global
// Electricity Review 2024; docs/energy.md lists them with their sources.
// Only figures we checked against those publications are here: other
// regions are the operator's to add (energy.regions).
var gridIntensity = map[string]float64{
	"WORLD": 481,
	"AT":    111, "AU": 549, "BE": 138, "BG": 335, "BR": 98, "CA": 170, "CL": 291,
	"CN": 582, "CZ": 450, "DE": 381, "DK": 152, "FI": 79, "FR": 56, "GR": 337,
	"HU": 204, "IE": 291, "IN": 713, "NO": 30, "PL": 662, "SE": 41,
}

// GridIntensity returns the built-in table's intensity for a region name
// (case-insensitive), and whether it has one.
func GridIntensity(region string) (float64, bool) {
	v, ok := gridIntensity[strings.ToUpper(region)]
	return v, ok
}

// GridRegions lists the built-in table's region names.
func GridRegions() []string {
	out := make([]string, 0, len(gridIntensity))
	for k := range gridIntensity {
		out = append(out, k)
	}
	return out
}
