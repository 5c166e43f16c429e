package app

import (
	"github.com/chorusgw/chorus/internal/analytics"
	"github.com/chorusgw/chorus/internal/gateway"
	"github.com/chorusgw/chorus/internal/manage"
	"github.com/chorusgw/chorus/internal/meter"
	"github.com/chorusgw/chorus/internal/quality"
	"github.com/chorusgw/chorus/internal/shop"
	"github.com/chorusgw/chorus/internal/store"
	"github.com/chorusgw/chorus/internal/webhook"
)

// The store implements every interface its consumers declare; the wiring,
// the one place that knows both sides, checks it at compile time.
var (
	_ manage.Store            = (*store.DB)(nil)
	_ manage.QualityStore     = (*store.DB)(nil)
	_ meter.Store             = (*store.DB)(nil)
	_ shop.Store              = (*store.DB)(nil)
	_ quality.ScoreStore      = (*store.DB)(nil)
	_ quality.AggregateSource = (*store.DB)(nil)
	_ quality.LearnedStore    = (*store.DB)(nil)
	_ webhook.Store           = (*store.DB)(nil)
	_ analytics.Store         = (*store.DB)(nil)
	_ manage.AnalyticsStore   = (*store.DB)(nil)
	_ quality.FeedbackSource  = (*store.DB)(nil)
	_ gateway.ResponseStore   = (*store.DB)(nil)
)
