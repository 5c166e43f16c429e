package chorus

import (
	"math"
	"strings"
	"time"
)

// Cost alert scopes and metrics (docs/cost-monitoring.md).
const (
	AlertGlobal = "global" // all traffic
	AlertTeam   = "team"   // one team's
	AlertModel  = "model"  // one public model's

	// AlertCost is what the providers' calls cost (micro-credits).
	AlertCost = "cost"
	// AlertRevenue is what the teams were billed (micro-credits).
	AlertRevenue = "revenue"
	// AlertEnergy is the estimated energy (watt-hours).
	AlertEnergy = "energy_wh"
	// AlertCO2e is the estimated emissions (grams CO2e).
	AlertCO2e = "co2e_g"
	// AlertWhPer1kTokens is an efficiency target: watt-hours per 1,000
	// input and output tokens over the period.
	AlertWhPer1kTokens = "wh_per_1k_tokens" // #nosec G101 -- a metric name, not a credential

	// EventCostAlert: a cost alert's metric went above its threshold in a
	// period (once per alert and period).
	EventCostAlert = "cost_alert.fired"
)

// AlertMetrics lists the metrics a cost alert may watch.
func AlertMetrics() []string {
	return []string{AlertCost, AlertRevenue, AlertEnergy, AlertCO2e, AlertWhPer1kTokens}
}

// CostAlert fires once per UTC day or month when its metric, summed over
// the period's usage rollups in its scope, goes above its threshold: an
// event, a signed webhook when it has a URL, and Prometheus metrics.
type CostAlert struct {
	ID        int64   `json:"id"`
	Name      string  `json:"name"`
	Scope     string  `json:"scope"`             // global, team, model
	TeamID    int64   `json:"team_id,omitempty"` // scope team
	Model     string  `json:"model,omitempty"`   // scope model
	Metric    string  `json:"metric"`            // AlertMetrics
	Period    string  `json:"period"`            // day, month
	Threshold float64 `json:"threshold"`         // in the metric's unit
	// WebhookURL is where firings are POSTed, signed like budget alerts.
	WebhookURL string    `json:"webhook_url,omitempty"`
	Enabled    bool      `json:"enabled"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// Cost alert limits.
const (
	maxAlertName  = 200
	MaxCostAlerts = 1000
)

// Validate checks a cost alert's fields.
func (a *CostAlert) Validate() error {
	a.Name = strings.TrimSpace(a.Name)
	if a.Name == "" || len(a.Name) > maxAlertName {
		return Invalid("name", "name must be 1 to %d characters", maxAlertName)
	}
	switch a.Scope {
	case AlertGlobal:
		if a.TeamID != 0 || a.Model != "" {
			return Invalid("scope", "a global alert names no team_id and no model")
		}
	case AlertTeam:
		if a.TeamID <= 0 || a.Model != "" {
			return Invalid("team_id", "a team alert needs a positive team_id and no model")
		}
	case AlertModel:
		if a.Model == "" || a.TeamID != 0 {
			return Invalid("model", "a model alert needs a model and no team_id")
		}
	default:
		return Invalid("scope", "scope must be %q, %q or %q, got %q", AlertGlobal, AlertTeam, AlertModel, a.Scope)
	}
	ok := false
	for _, m := range AlertMetrics() {
		ok = ok || m == a.Metric
	}
	if !ok {
		return Invalid("metric", "metric must be one of %s, got %q", strings.Join(AlertMetrics(), ", "), a.Metric)
	}
	if a.Period != PeriodDay && a.Period != PeriodMonth {
		return Invalid("period", "period must be %q or %q, got %q", PeriodDay, PeriodMonth, a.Period)
	}
	if math.IsNaN(a.Threshold) || math.IsInf(a.Threshold, 0) || a.Threshold < 0 {
		return Invalid("threshold", "threshold must be a finite number ≥ 0")
	}
	if a.WebhookURL != "" {
		if err := validWebhookURL(a.WebhookURL); err != nil {
			return Invalid("webhook_url", "webhook_url %s", err)
		}
	}
	return nil
}

// PeriodEnd returns the end of the UTC day or month that starts at start.
func PeriodEnd(period string, start time.Time) time.Time {
	if period == PeriodMonth {
		return start.AddDate(0, 1, 0)
	}
	return start.AddDate(0, 0, 1)
}

// CostAlertFiring is one firing: the alert's metric in one period, when it
// first went above the threshold.
type CostAlertFiring struct {
	ID          int64     `json:"id"`
	AlertID     int64     `json:"alert_id"`
	Name        string    `json:"name"`
	Scope       string    `json:"scope"`
	TeamID      int64     `json:"team_id,omitempty"`
	Model       string    `json:"model,omitempty"`
	Metric      string    `json:"metric"`
	Period      string    `json:"period"`
	PeriodStart time.Time `json:"period_start"`
	Value       float64   `json:"value"`
	Threshold   float64   `json:"threshold"`
	EventID     int64     `json:"event_id"`
	FiredAt     time.Time `json:"fired_at"`
}
